"""Expression rig: target 68-point expression -> offsets of the mesh's mouth and jaw vertices.

The paper's 3D-aware module renders the frontal frame's expression and leaves
the mouth to the learned generator; the 3D-warp baseline (and the learned
generator's input, if asked) also moves the mouth. The target expression is
given as iBUG-68 landmarks in the canonical head frame (the motion
disentangler's ``frontal68``; or decoded from the 20 expression PCA
coefficients of :mod:`toolkit.expression`). Its displacement from the frontal
frame's own 68 points is spread over the dense mesh by a polyharmonic radial
basis function (``phi(r) = r``, the 3D biharmonic spline, plus an affine
term) fitted to the control points, then restricted to the lower face:

* driven controls: the jaw from 3 to 13 (iBUG numbering, 0-based) and all 20
  mouth points 48-67; their displacement is the target's;
* anchors: brows, eyes, nose and the upper jaw (0-2, 14-16) with zero
  displacement, so the upper face and the temples stay put;
* every dense offset is multiplied by the mesh's ``lower_face`` weight (0 above
  the nose tip, 1 from the upper lip down), so nothing above the nose moves
  even where the spline would overshoot.

The interpolation matrix is computed once per mesh, so the per-frame cost is
one ``(V x 68)`` matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.render.mesh import FaceMesh

#: iBUG-68 points whose motion the target expression sets (0-based)
DRIVEN_68: tuple[int, ...] = tuple(range(3, 14)) + tuple(range(48, 68))
#: iBUG-68 points held still (upper jaw, brows, nose, eyes)
ANCHOR_68: tuple[int, ...] = (0, 1, 2, 14, 15, 16, *range(17, 48))
#: upper / lower lip points (corners 48, 54, 60, 64 belong to both)
UPPER_LIP_68: tuple[int, ...] = (49, 50, 51, 52, 53, 61, 62, 63)
LOWER_LIP_68: tuple[int, ...] = (55, 56, 57, 58, 59, 65, 66, 67)


@dataclass
class ExpressionRig:
    """Precomputed linear map from 68-point displacements to mesh vertex offsets."""

    weights: np.ndarray  # (V, 68) float32: offsets = weights @ displacement68
    reference68: np.ndarray  # (68, 3) float32: the frontal frame's own 68 points, canonical frame

    def offsets(self, target68: np.ndarray, gain: float = 1.0) -> np.ndarray:
        """Canonical-frame vertex offsets ``(T, V, 3)`` for target expressions ``(T, 68, 3)``.

        ``gain`` scales the displacement (expression intensity; 1 = as given).
        """
        tgt = np.asarray(target68, np.float32)
        if tgt.ndim == 2:
            tgt = tgt[None]
        if tgt.shape[1:] != (68, 3):
            raise ToolkitError(
                f"Target expression must be (T, 68, 3) canonical-frame landmarks, got {tgt.shape}.",
                "Pass the motion disentangler's frontal68 (or PCA coefficients decoded to 68 points).",
            )
        if not np.isfinite(tgt).all():
            raise ToolkitError(
                "Target expression contains NaN/inf.", "Interpolate missing frames before driving the mesh."
            )
        disp = (tgt - self.reference68[None]) * np.float32(gain)
        return np.einsum("vk,tkc->tvc", self.weights, disp).astype(np.float32)


def mesh_points_68(mesh: FaceMesh) -> np.ndarray:
    """The iBUG-68 view of the mesh's own vertices (canonical frame), via the tracker's mapping table."""
    from toolkit.tracking.landmarks68 import mediapipe_to_68

    return mediapipe_to_68(mesh.vertices[: mesh.n_landmarks])


def build_expression_rig(mesh: FaceMesh, reference68: np.ndarray | None = None) -> ExpressionRig:
    """Fit the rig to a mesh.

    Args:
        mesh: the face mesh (its vertices are the control points' neighbourhood).
        reference68: the frontal frame's own 68 points in the canonical frame; default the
            mesh's vertices read through the tracker's 478 -> 68 table (identical for the
            MediaPipe tracker). Displacements are measured from these.
    """
    ctrl = mesh_points_68(mesh).astype(np.float64)
    ref = ctrl if reference68 is None else np.asarray(reference68, np.float64).reshape(68, 3)
    verts = mesh.vertices.astype(np.float64)
    # A closed mouth puts each upper inner-lip control on its lower partner: one spline through both
    # cannot pull them apart (the lips of a closed-mouth texture frame would never open). So the upper
    # lip and everything above the mouth line follow a spline without the lower-lip controls, the lower
    # lip, chin and jaw one without the upper-lip controls; the corners are in both, and away from the
    # mouth the two blend smoothly.
    upper = _fit(ctrl, verts, exclude=LOWER_LIP_68)
    lower = _fit(ctrl, verts, exclude=UPPER_LIP_68)
    side = _upper_side(mesh, ctrl)
    weights = (side[:, None] * upper + (1.0 - side[:, None]) * lower) * mesh.lower_face[:, None]
    return ExpressionRig(weights=weights.astype(np.float32), reference68=ref.astype(np.float32))


def _fit(ctrl: np.ndarray, verts: np.ndarray, exclude: tuple[int, ...]) -> np.ndarray:
    """(V, 68) weights of a polyharmonic spline through the 68 controls minus ``exclude``."""
    keep = np.array([k for k in range(68) if k not in exclude])
    pts = ctrl[keep]
    n_ctrl = len(keep)
    # polyharmonic spline system [[Phi, P], [P^T, 0]] with phi(r) = r
    phi = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    poly = np.concatenate([pts, np.ones((n_ctrl, 1))], axis=1)
    system = np.zeros((n_ctrl + 4, n_ctrl + 4))
    system[:n_ctrl, :n_ctrl] = phi
    system[:n_ctrl, n_ctrl:] = poly
    system[n_ctrl:, :n_ctrl] = poly.T
    # a little regularisation: MediaPipe's jaw points can nearly coincide on small faces
    scale = float(np.mean(phi)) or 1.0
    system[:n_ctrl, :n_ctrl] += np.eye(n_ctrl) * 1e-6 * scale
    # which controls carry the target's displacement (anchors carry zero)
    rhs = np.zeros((n_ctrl + 4, 68))
    for row, k in enumerate(keep):
        if k in DRIVEN_68:
            rhs[row, k] = 1.0
    coeff = np.linalg.solve(system, rhs)  # (n_ctrl + 4, 68)
    phi_v = np.linalg.norm(verts[:, None] - pts[None], axis=-1)
    basis = np.concatenate([phi_v, verts, np.ones((len(verts), 1))], axis=1)
    return basis @ coeff


def _upper_side(mesh: FaceMesh, ctrl: np.ndarray) -> np.ndarray:
    """(V,) 1 for vertices on the upper lip's side of the mouth line, 0 below, smooth away from the mouth."""
    from toolkit.render.mesh import INNER_LIP_UPPER, MOUTH_CORNERS, mediapipe_topology

    verts = mesh.vertices.astype(np.float64)
    loop = mediapipe_topology().mouth
    a, b = MOUTH_CORNERS
    corners = ctrl[[60, 64]]
    width = float(np.linalg.norm(corners[0, :2] - corners[1, :2])) or 1.0
    # mouth line: the corners joined through the inner lips' midline (canonical y points down)
    xs = np.linspace(corners[:, 0].min(), corners[:, 0].max(), 9)
    mid = np.array([_midline_y(ctrl, x) for x in xs])
    y_line = np.interp(verts[:, 0], xs, mid)
    centre_x = float(corners[:, 0].mean())
    beyond = np.maximum(0.0, np.abs(verts[:, 0] - centre_x) - width / 2)
    soft = 0.03 * width + 0.6 * beyond
    side = 1.0 / (1.0 + np.exp(-np.clip((y_line - verts[:, 1]) / soft, -50, 50)))
    # the inner-lip loop itself: by which chain between the corners it is on (closed lips share y)
    pos = {int(v): i for i, v in enumerate(loop)}
    i_a, i_b, i_up = pos[a], pos[b], pos[INNER_LIP_UPPER]
    n = len(loop)
    chain = [(i_a + s) % n for s in range((i_b - i_a) % n + 1)]
    upper_chain = chain if i_up in chain else [(i_b + s) % n for s in range((i_a - i_b) % n + 1)]
    side[loop] = 0.0
    side[loop[upper_chain]] = 1.0
    side[[a, b]] = 0.5
    fill = mesh.mouth_fill
    if len(fill) > 1:  # duplicated inner-lip loop of a closed-mouth texture frame: same sides as the loop
        side[fill[1:]] = side[loop]
    return side


def _midline_y(ctrl: np.ndarray, x: float) -> float:
    """Canonical y of the mouth line at ``x``: halfway between the upper and lower inner-lip polylines."""

    def at(ids: list[int]) -> float:
        pts = ctrl[ids]
        order = np.argsort(pts[:, 0])
        return float(np.interp(x, pts[order, 0], pts[order, 1]))

    return 0.5 * (at([60, 61, 62, 63, 64]) + at([60, 67, 66, 65, 64]))
