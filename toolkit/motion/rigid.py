"""Rigid / similarity alignment of 3D point sets (Kabsch, Umeyama) and rotation helpers.

All functions are batched over leading axes and use float64 internally (the
SVD of a 3x3 cross-covariance is cheap; precision matters more than speed).
"""

from __future__ import annotations

import numpy as np


def umeyama(
    source: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
    with_scale: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best transform ``target ~= s * R @ source + t`` in the (weighted) least-squares sense.

    Args:
        source: (N, 3) or (..., N, 3) points (e.g. the canonical face).
        target: (..., N, 3) points (e.g. tracked landmarks, one set per frame).
        weights: (N,) non-negative point weights (None = equal).
        with_scale: Umeyama similarity (True) or Kabsch rigid fit with s = 1 (False).

    Returns:
        s (...,), R (..., 3, 3) proper rotations (det +1), t (..., 3).
    """
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    n = dst.shape[-2]
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_src = np.einsum("n,...nd->...d", w, src)
    mu_dst = np.einsum("n,...nd->...d", w, dst)
    src_c = src - mu_src[..., None, :]
    dst_c = dst - mu_dst[..., None, :]
    # cross-covariance: sum_i w_i dst_i src_i^T
    cov = np.einsum("n,...ni,...nj->...ij", w, dst_c, src_c)
    u, sig, vt = np.linalg.svd(cov)
    # reflection guard: flip the smallest singular direction when det(U V^T) < 0
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    diag = np.ones((*cov.shape[:-2], 3))
    diag[..., 2] = d
    rot = u @ (diag[..., :, None] * vt)
    if with_scale:
        var_src = np.einsum("n,...nd->...", w, src_c**2)
        scale = np.einsum("...i,...i->...", sig, diag) / var_src
    else:
        scale = np.ones(cov.shape[:-2])
    trans = mu_dst - scale[..., None] * np.einsum("...ij,...j->...i", rot, mu_src)
    return scale, rot, trans


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle vectors (angle in radians, in [0, pi])."""
    rot = np.asarray(rot, np.float64)
    # via the unit quaternion: numerically safe near 0 and near pi
    quat = matrix_to_quaternion(rot)  # (..., 4) w, x, y, z with w >= 0
    xyz = quat[..., 1:]
    sin_half = np.linalg.norm(xyz, axis=-1)
    angle = 2.0 * np.arctan2(sin_half, quat[..., 0])
    # angle / sin(angle/2) -> 2 as angle -> 0
    factor = np.where(sin_half > 1e-12, angle / np.maximum(sin_half, 1e-12), 2.0)
    return xyz * factor[..., None]


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle vectors -> (..., 3, 3) rotation matrices (Rodrigues)."""
    v = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = v / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape((*v.shape[:-1], 3, 3))
    a = angle[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z), w >= 0 (Shepperd's method)."""
    rot = np.asarray(rot, np.float64)
    m = rot.reshape(-1, 3, 3)
    out = np.empty((m.shape[0], 4))
    tr = np.trace(m, axis1=1, axis2=2)
    diag = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    choice = np.argmax(np.concatenate([tr[:, None], diag], axis=1), axis=1)
    for i in range(m.shape[0]):
        r = m[i]
        c = choice[i]
        if c == 0:
            s = 2.0 * np.sqrt(max(1.0 + tr[i], 1e-300))
            q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
        elif c == 1:
            s = 2.0 * np.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 1e-300))
            q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
        elif c == 2:
            s = 2.0 * np.sqrt(max(1.0 - r[0, 0] + r[1, 1] - r[2, 2], 1e-300))
            q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
        else:
            s = 2.0 * np.sqrt(max(1.0 - r[0, 0] - r[1, 1] + r[2, 2], 1e-300))
            q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
        out[i] = q
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    out *= np.where(out[:, :1] < 0, -1.0, 1.0)
    return out.reshape((*rot.shape[:-2], 4))


def rotation_angle_deg(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the relative rotation between two (batches of) rotation matrices."""
    rel = np.swapaxes(np.asarray(rot_a, np.float64), -1, -2) @ np.asarray(rot_b, np.float64)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
