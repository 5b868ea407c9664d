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
    n_ctrl = ctrl.shape[0]
    # polyharmonic spline system [[Phi, P], [P^T, 0]] with phi(r) = r
    phi = np.linalg.norm(ctrl[:, None] - ctrl[None], axis=-1)
    poly = np.concatenate([ctrl, np.ones((n_ctrl, 1))], axis=1)
    system = np.zeros((n_ctrl + 4, n_ctrl + 4))
    system[:n_ctrl, :n_ctrl] = phi
    system[:n_ctrl, n_ctrl:] = poly
    system[n_ctrl:, :n_ctrl] = poly.T
    # a little regularisation: MediaPipe's jaw points can nearly coincide on small faces
    scale = float(np.mean(phi)) or 1.0
    system[:n_ctrl, :n_ctrl] += np.eye(n_ctrl) * 1e-6 * scale
    # which controls carry the target's displacement (anchors carry zero)
    select = np.zeros((n_ctrl, 68))
    for k in DRIVEN_68:
        select[k, k] = 1.0
    rhs = np.zeros((n_ctrl + 4, 68))
    rhs[:n_ctrl] = select
    coeff = np.linalg.solve(system, rhs)  # (n_ctrl + 4, 68)
    verts = mesh.vertices.astype(np.float64)
    phi_v = np.linalg.norm(verts[:, None] - ctrl[None], axis=-1)
    basis = np.concatenate([phi_v, verts, np.ones((len(verts), 1))], axis=1)
    weights = (basis @ coeff) * mesh.lower_face[:, None]
    return ExpressionRig(weights=weights.astype(np.float32), reference68=ref.astype(np.float32))
