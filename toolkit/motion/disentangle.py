"""Motion disentangler (paper Sec. 3.3, 4.1): tracked landmarks -> head motion + expression.

For every frame t, a similarity transform maps the canonical face onto the
tracked landmarks, fitted on the stable points only (Umeyama; Kabsch plus a
scale)::

    l_t ~= s_t * R_t @ canonical + T_t

* head motion h_t = [axis-angle(R_t) (3, radians), T_t (3, pixels)]
  (docs/ARCHITECTURE.md), scale s_t kept separately;
* frontalised landmarks p_t = R_t^T (l_t - T_t) / s_t carry only the
  expression (and the person's identity shape), in canonical units;
* the most frontal frame t_M = argmin_t sum |r_t| (sum of absolute axis-angle
  components, as the paper's code).

Why a similarity (with scale) and not the paper's rigid Kabsch: the trackers
are weak-perspective, so a face that moves towards the camera simply gets
bigger in pixels. With a rigid fit that size change has nowhere to go but into
p_t (the "expression" would grow and shrink with distance) and into the
residual of the rotation fit. Fitting the scale takes it out of p_t, and
keeping s_t separate (not folded into h_t) leaves h_t exactly the paper's six
numbers. The paper's crops were tight around a fixed-size face, where s_t ~= 1
and both choices agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.motion.canonical import load_canonical
from toolkit.motion.pose import HeadPose, PoseViews
from toolkit.motion.rigid import axis_angle_to_matrix, matrix_to_axis_angle, umeyama


@dataclass
class HeadMotion(PoseViews):
    """Disentangled head motion and expression of one clip.

    ``frontal`` / ``frontal68`` are in the canonical frame: origin inside the
    head (x = 0 on the face's midline, y = 0 near the nose), units about the
    pixels of a 256x256 crop, x right, y down, z away. To draw them on a
    256x256 canvas, add (128, 128, 0), or re-pose them with ``apply_motion(frontal, pose)``.
    """

    pose: HeadPose  # rotation (T, 3) axis-angle radians, translation (T, 3) pixels, scale (T,)
    frontal: np.ndarray  # (T, N, 3) float32 frontalised landmarks, canonical units
    frontal68: np.ndarray  # (T, 68, 3) float32 iBUG-68 view of ``frontal``
    frontal_index: int  # t_M
    stable_indices: np.ndarray  # (K,) int: the points the alignment used
    residual: np.ndarray  # (T,) float32 weighted RMS distance of the stable points after alignment (px)


def disentangle(landmarks: np.ndarray, valid: np.ndarray | None = None, with_scale: bool = True) -> HeadMotion:
    """Split tracked landmarks (T, N, 3) (N = 478, 468 or 68) into head motion and expression.

    ``valid`` (T,) bool restricts the choice of the most frontal frame (e.g.
    ``track.reliable``); every frame is still disentangled.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[-1] != 3 or lm.shape[0] == 0:
        raise ToolkitError(
            f"Landmarks of shape {np.shape(landmarks)} cannot be disentangled; expected (T, N, 3) with T >= 1.",
            "Pass FaceTrack.landmarks from toolkit.tracking.",
        )
    if not np.isfinite(lm).all():
        bad = np.flatnonzero(~np.isfinite(lm).all(axis=(1, 2)))
        from toolkit.errors import frame_ranges

        raise ToolkitError(
            f"Landmarks contain NaN/inf in frames {frame_ranges(bad)}.",
            "Use the tracker's output (gaps are filled there) or drop those frames.",
        )
    canon = load_canonical()
    canonical, stable, weights = canon.for_points(lm.shape[1])
    scale, rot, trans = umeyama(canonical[stable], lm[:, stable], weights, with_scale=with_scale)
    frontal = np.einsum("tji,tnj->tni", rot, lm - trans[:, None, :]) / scale[:, None, None]
    fitted = scale[:, None, None] * np.einsum("tij,nj->tni", rot, canonical[stable]) + trans[:, None, :]
    residual = np.sqrt(np.einsum("n,tn->t", weights / weights.sum(), ((fitted - lm[:, stable]) ** 2).sum(-1)))
    rotation = matrix_to_axis_angle(rot)
    frontal68 = _to68(frontal)
    return HeadMotion(
        pose=HeadPose(rotation, trans, scale),
        frontal=frontal.astype(np.float32),
        frontal68=frontal68.astype(np.float32),
        frontal_index=frontal_frame_index(rotation, valid),
        stable_indices=np.asarray(stable, np.int64),
        residual=residual.astype(np.float32),
    )


def frontal_frame_index(rotation: np.ndarray, valid: np.ndarray | None = None) -> int:
    """t_M = argmin_t sum_k |r_t,k| over (valid) frames; ``rotation`` is (T, 3) axis-angle."""
    r = np.abs(np.asarray(rotation, np.float64)).sum(axis=-1)
    if valid is not None:
        valid = np.asarray(valid, bool)
        if valid.shape != r.shape:
            raise ToolkitError(
                f"valid has shape {valid.shape}, rotation {np.shape(rotation)}.", "Give one flag per frame."
            )
        if valid.any():
            r = np.where(valid, r, np.inf)
    return int(np.argmin(r))


def apply_motion(frontal: np.ndarray, pose: HeadPose) -> np.ndarray:
    """Re-pose frontalised landmarks: l_t = s_t * R_t @ p_t + T_t (inverse of :func:`disentangle`).

    ``frontal`` is (T, N, 3) or one (N, 3) shape (broadcast over the pose's T frames). Returns
    (T, N, 3) float32 in pixels.
    """
    p = np.asarray(frontal, np.float64)
    n_frames = len(pose)
    if p.ndim == 2:
        p = np.broadcast_to(p, (n_frames, *p.shape))
    if p.shape[0] != n_frames:
        raise ToolkitError(
            f"apply_motion got {p.shape[0]} landmark frames and {n_frames} head poses.",
            "Give one head pose per frame.",
        )
    s = pose.scale.astype(np.float64)
    t = pose.translation.astype(np.float64)
    rot = axis_angle_to_matrix(pose.rotation.astype(np.float64))
    out = s[:, None, None] * np.einsum("tij,tnj->tni", rot, p) + t[:, None, :]
    return out.astype(np.float32)


def _to68(points: np.ndarray) -> np.ndarray:
    if points.shape[1] == 68:
        return points
    from toolkit.tracking.landmarks68 import mediapipe_to_68

    return mediapipe_to_68(points)
