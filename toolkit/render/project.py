"""3D projector (paper Sec. 4.1, Eq. 1): the face mesh at any head pose, rendered.

``V_t = s_t R_t (c + d_t) + T_t`` places the canonical mesh ``c`` (built from
the frontal frame, :mod:`toolkit.render.mesh`) at the head pose of frame
``t``; for the frontal frame's own vertices ``c = R_tM^T (V_tM - T_tM) / s_tM``
this is exactly the paper's ``V_t = R_t^-1 (R_tM V_tM + T_tM - T_t)`` with the
tracker's pose convention ``l = s R c + T`` (the paper's ``R, T`` map the other
way) and an explicit scale. ``d_t`` are optional expression offsets
(:mod:`toolkit.render.rig`). The posed mesh is rasterised orthographically (the
tracker's camera model) with a z-buffer at the output resolution, giving the
rendered face ``y~_t``, its blending mask and its depth.

Extreme target poses are clamped relative to the frontal frame's pose
(:class:`PoseLimits`): beyond them the frontal frame holds no texture for what
would be shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.motion.rigid import axis_angle_to_matrix, matrix_to_axis_angle
from toolkit.render.mesh import FaceMesh
from toolkit.render.rasterize import Fragments, pick_backend, rasterize, shade_textured


@dataclass
class PoseLimits:
    """Largest head poses rendered, relative to the frontal frame's pose (degrees / ratios).

    Intrinsic yaw (about the image's vertical axis), pitch (horizontal axis),
    roll (viewing axis). Past about 55 degrees of yaw the far half of the face
    was never seen by the frontal frame; past 35 degrees of pitch the chin or
    the top of the forehead covers the mesh's own texture.
    """

    yaw_deg: float = 55.0
    pitch_deg: float = 35.0
    roll_deg: float = 45.0
    min_scale_ratio: float = 0.5
    max_scale_ratio: float = 2.0
    #: the posed mesh's centre is kept within this margin outside the frame (fraction of the frame size)
    max_outside: float = 0.25


@dataclass
class ClampReport:
    """Which frames were clamped, and by how much (degrees / ratio / pixels before clamping)."""

    clamped: np.ndarray  # (T,) bool
    yaw_pitch_roll_deg: np.ndarray  # (T, 3) relative to the frontal frame, before clamping
    scale_ratio: np.ndarray  # (T,)

    @property
    def n_clamped(self) -> int:
        return int(self.clamped.sum())


@dataclass
class ProjectionBuffers:
    """Arrays a batch of ``B`` projections at ``H x W`` is written into (:func:`project_mesh`'s ``into``).

    ``image`` (B, H, W, 3) uint8 and ``mask`` (B, H, W) float32 must be all zeros (slices of the caller's
    ``np.zeros`` outputs); ``depth`` (B, H, W) float32, ``triangle`` (B, H, W) int32 and ``barycentric``
    (B, H, W, 3) float32 may hold anything (scratch, overwritten; one set serves batch after batch).
    """

    image: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    triangle: np.ndarray
    barycentric: np.ndarray


@dataclass
class ProjectedFace:
    """The rendered face ``y~_t`` for a batch of ``T`` poses at ``H x W``.

    ``mask`` is the blending weight of the rendered face over a background
    frame: 1 inside the face, fading to 0 across the outer ring and where the
    frontal frame had no reliable texture; 0 off the mesh. ``coverage`` is the
    hard silhouette of the whole mesh (ring included); ``depth`` is in output
    pixels (+inf off the mesh).
    """

    image: np.ndarray  # (T, H, W, 3) uint8, black off the mesh
    mask: np.ndarray  # (T, H, W) float32 in [0, 1]
    coverage: np.ndarray  # (T, H, W) bool
    depth: np.ndarray  # (T, H, W) float32
    vertices: np.ndarray  # (T, V, 3) float32 posed vertices in output pixels
    clamp: ClampReport | None = None
    #: the rasteriser's per-pixel triangle ids and barycentrics (the mouth interior is painted from them)
    fragments: Fragments | None = None

    def __len__(self) -> int:
        return int(self.image.shape[0])


def euler_yaw_pitch_roll(mats: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` -> ``(T, 3)`` intrinsic yaw (about y), pitch (about x), roll (about z), radians.

    ``R = R_y(yaw) R_x(pitch) R_z(roll)`` (scipy's ``"YXZ"`` convention), written out
    so that the per-frame projector does not pay for scipy's Rotation objects.
    """
    m = np.asarray(mats, np.float64).reshape(-1, 3, 3)
    pitch = np.arcsin(np.clip(-m[:, 1, 2], -1.0, 1.0))
    yaw = np.arctan2(m[:, 0, 2], m[:, 2, 2])
    roll = np.arctan2(m[:, 1, 0], m[:, 1, 1])
    return np.stack([yaw, pitch, roll], axis=1)


def from_yaw_pitch_roll(angles: np.ndarray) -> np.ndarray:
    """Inverse of :func:`euler_yaw_pitch_roll`: ``(T, 3)`` radians -> ``(T, 3, 3)``."""
    a = np.asarray(angles, np.float64).reshape(-1, 3)
    cy, sy = np.cos(a[:, 0]), np.sin(a[:, 0])
    cp, sp = np.cos(a[:, 1]), np.sin(a[:, 1])
    cr, sr = np.cos(a[:, 2]), np.sin(a[:, 2])
    one, zero = np.ones_like(cy), np.zeros_like(cy)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], 1).reshape(-1, 3, 3)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], 1).reshape(-1, 3, 3)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], 1).reshape(-1, 3, 3)
    return ry @ rx @ rz


def clamp_pose(
    mesh: FaceMesh,
    rotation: np.ndarray,
    translation: np.ndarray,
    scale: np.ndarray,
    frame_size: tuple[int, int],
    limits: PoseLimits | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, ClampReport]:
    """Clamp target poses to :class:`PoseLimits` relative to the mesh's source pose.

    Args:
        frame_size: ``(H, W)`` of the tracker's pixel space (the frames the poses were tracked on).

    Returns:
        ``(rotation (T, 3), translation (T, 3), scale (T,), report)``.
    """
    lim = limits or PoseLimits()
    rot = np.asarray(rotation, np.float64).reshape(-1, 3)
    trans = np.asarray(translation, np.float64).reshape(-1, 3).copy()
    n = rot.shape[0]
    s = np.broadcast_to(np.asarray(scale, np.float64).reshape(-1), (n,)).copy()
    src = axis_angle_to_matrix(mesh.source_rotation[None])[0]
    rel = axis_angle_to_matrix(rot) @ src.T[None]
    ypr = euler_yaw_pitch_roll(rel)
    bound = np.radians([lim.yaw_deg, lim.pitch_deg, lim.roll_deg])
    ypr_c = np.clip(ypr, -bound, bound)
    ratio = s / mesh.source_scale
    ratio_c = np.clip(ratio, lim.min_scale_ratio, lim.max_scale_ratio)
    rot_changed = np.any(np.abs(ypr_c - ypr) > 1e-9, axis=1)
    out_rot = rot.copy()
    if rot_changed.any():
        out_rot[rot_changed] = matrix_to_axis_angle(from_yaw_pitch_roll(ypr_c[rot_changed]) @ src[None])
    h, w = frame_size
    lo = np.array([-lim.max_outside * w, -lim.max_outside * h])
    hi = np.array([(1 + lim.max_outside) * w, (1 + lim.max_outside) * h])
    centre = trans[:, :2]  # the canonical origin sits near the face centre
    centre_c = np.clip(centre, lo, hi)
    moved = np.any(np.abs(centre_c - centre) > 1e-9, axis=1)
    trans[:, :2] = centre_c
    clamped = rot_changed | (np.abs(ratio_c - ratio) > 1e-9) | moved
    report = ClampReport(clamped, np.degrees(ypr).astype(np.float32), ratio.astype(np.float32))
    out_scale = (ratio_c * mesh.source_scale).astype(np.float32)
    return out_rot.astype(np.float32), trans.astype(np.float32), out_scale, report


def project_mesh(
    mesh: FaceMesh,
    rotation: np.ndarray,
    translation: np.ndarray,
    scale: np.ndarray | float,
    offsets: np.ndarray | None = None,
    output_size: tuple[int, int] | None = None,
    backend: str = "auto",
    limits: PoseLimits | None = None,
    into: ProjectionBuffers | None = None,
) -> ProjectedFace:
    """Render the mesh at ``T`` head poses (Eq. 1 + z-buffer rasterisation).

    Args:
        mesh: from :func:`toolkit.render.mesh.build_face_mesh`.
        rotation: ``(T, 3)`` axis-angle of the target head poses (tracker convention).
        translation: ``(T, 3)`` in the tracker's pixels (the frames the mesh was built from).
        scale: ``(T,)`` or a float.
        offsets: optional ``(T, V, 3)`` canonical-frame expression offsets.
        output_size: ``(H, W)`` of the rendering; default the tracker frame's size. A different
            size rescales the tracker's pixel space uniformly (same aspect ratio expected).
        backend: rasteriser backend (``auto``, ``numba``, ``numpy``, ``pytorch3d``).
        limits: pose clamping (:class:`PoseLimits`); ``None`` = the defaults. Clamping can
            be switched off with ``PoseLimits(yaw_deg=180, pitch_deg=90, roll_deg=180, ...)``.
        into: arrays the image, mask and depth are written into (and scratch for the fragments):
            :class:`ProjectionBuffers`; the result's arrays are then these.
    """
    rot = np.asarray(rotation, np.float32)
    if rot.ndim == 1:
        rot = rot[None]
    n = rot.shape[0]
    trans = np.asarray(translation, np.float32).reshape(-1, 3)
    if trans.shape[0] != n:
        raise ToolkitError(
            f"{n} rotations but {trans.shape[0]} translations were given.", "Give one pose (R, T, s) per frame."
        )
    s = np.broadcast_to(np.asarray(scale, np.float32).reshape(-1), (n,))
    if not (np.isfinite(rot).all() and np.isfinite(trans).all() and np.isfinite(s).all() and (s > 0).all()):
        raise ToolkitError(
            "Target head poses contain NaN/inf or a non-positive scale.",
            "Interpolate missing poses before rendering (the tracker fills short gaps).",
        )
    th, tw = mesh.frame_size
    oh, ow = output_size or (th, tw)
    rot, trans, s, report = clamp_pose(mesh, rot, trans, s, (th, tw), limits)
    verts = mesh.posed(rot, trans, s, offsets)
    factor = ow / float(tw)
    if abs(oh / float(th) - factor) > 0.02:
        raise ToolkitError(
            f"Output size {ow}x{oh} does not have the aspect ratio of the tracked frames ({tw}x{th}).",
            "Render at a size with the same aspect ratio and crop/pad afterwards.",
        )
    verts = verts * np.float32(factor)
    name = pick_backend(backend)
    scratch = None if into is None else Fragments(into.triangle, into.barycentric, into.depth)
    frags = rasterize(verts, mesh.faces, oh, ow, backend=name, into=scratch)
    # the pure-numpy pipeline stays pure (it is the fallback where numba is not installed)
    shaded = None if into is None else (into.image, into.mask)
    image, mask = shade(frags, mesh, use_numba=None if name != "numpy" else False, into=shaded)
    depth = frags.depth
    return ProjectedFace(
        image=image, mask=mask, coverage=frags.covered, depth=depth, vertices=verts, clamp=report, fragments=frags
    )


def shade(
    frags: Fragments,
    mesh: FaceMesh,
    use_numba: bool | None = None,
    into: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Texture lookup and blending weight for rasterised fragments of ``mesh``.

    ``into``: zeroed ``(image, mask)`` arrays to write into (:func:`toolkit.render.rasterize.shade_textured`).
    Returns ``(image (B, H, W, 3) uint8, mask (B, H, W) float32)``.
    """
    return shade_textured(frags, mesh.faces, mesh.uv, mesh.alpha, mesh.texture, use_numba, into)
