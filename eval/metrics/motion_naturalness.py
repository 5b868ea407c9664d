"""Motion-naturalness metrics: does the generated head move, and does the frame change, like a real one?

Head motion that has the right spread (pose diversity) can still jitter frame to
frame; these metrics measure that. Every value is computed the same way for the
generated and the ground-truth video of a clip; the leaderboard shows ratios of
the means over clips (1 = as the real person).

* **velocity ratio** / **acceleration ratio**: mean absolute first / second
  difference over frames of the head pose (rotation: the three axis-angle
  components in degrees; translation: the three components in pixels of the
  evaluation frame), generated / ground truth, for rotation and translation
  separately; the reported ratio is the mean of the two.
* **high-frequency share**: share of the pose's spectral power above 3 Hz
  (periodogram with a Hann window of the linearly detrended curve, powers
  summed over the three components, frequencies > 0 only); the mean of the
  rotation and the translation share. Real head motion has little power there.
* **jaw-outline change**: the 68 landmarks of every frame are aligned onto a
  fixed template (the ground truth's median face) by a 2D similarity fitted on
  the rigid points (eye corners and nose, 27-35, 36, 39, 42, 45), which removes
  in-plane head motion and scale (a 2D frontalisation); the change is the mean
  distance a jaw point (0-16) moves between consecutive frames, in template
  pixels. A flickering face shape gives a ratio above 1.
* **background jump rate**: for every pair of consecutive frames, the mean
  absolute grey-level change (0-255) outside the face mask (the convex hull of
  both frames' landmarks, grown by 15 % of the face size; the whole frame when
  no face was found); the threshold is the 99th percentile of the ground
  truth's changes; the rate is the share of pairs above it (the ground truth's
  own rate is about 0.01 by construction). A matcher that switches reference
  frames abruptly makes jumps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FPS: float = 25.0
HF_CUTOFF_HZ: float = 3.0
JUMP_PERCENTILE: float = 99.0
MASK_GROWTH: float = 0.15
RIGID_POINTS: tuple[int, ...] = (27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)
JAW_POINTS: tuple[int, ...] = tuple(range(17))

# leaderboard column names
VELOCITY_RATIO = "Velocity / GT"
ACCELERATION_RATIO = "Accel. / GT"
HF_SHARE = "HF share (>3 Hz)"
GT_HF_SHARE = "GT HF share (>3 Hz)"
JAW_RATIO = "Jaw change / GT"
BG_JUMP = "BG jump rate"
GT_BG_JUMP = "GT BG jump rate"
COLUMNS: tuple[str, ...] = (VELOCITY_RATIO, ACCELERATION_RATIO, HF_SHARE, JAW_RATIO, BG_JUMP)


def mean_abs_difference(curve: np.ndarray, order: int) -> float:
    """Mean over frames and components of |the ``order``-th difference| of a (T, C) curve; NaN if too short."""
    x = np.asarray(curve, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = x[np.isfinite(x).all(axis=1)] if x.size else x
    if len(x) <= order:
        return float("nan")
    return float(np.abs(np.diff(x, n=order, axis=0)).mean())


def high_frequency_share(curve: np.ndarray, fps: float = FPS, cutoff_hz: float = HF_CUTOFF_HZ) -> float:
    """Share of the spectral power of a (T, C) curve above ``cutoff_hz`` (detrended, Hann window, f > 0)."""
    from scipy.signal import periodogram

    x = np.asarray(curve, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if len(x) < 8 or not np.isfinite(x).all():
        return float("nan")
    f, p = periodogram(x, fs=fps, window="hann", detrend="linear", axis=0)
    p = p.sum(axis=1)
    total = p[f > 0].sum()
    if total <= 0:
        return float("nan")
    return float(p[f > cutoff_hz].sum() / total)


def pose_statistics(rotation: np.ndarray, translation: np.ndarray) -> dict[str, float]:
    """Velocity, acceleration and high-frequency share of one pose curve (rotation in radians, translation px)."""
    rot = np.degrees(np.asarray(rotation, np.float64))
    trans = np.asarray(translation, np.float64)
    return {
        "rot_velocity": mean_abs_difference(rot, 1),
        "trans_velocity": mean_abs_difference(trans, 1),
        "rot_acceleration": mean_abs_difference(rot, 2),
        "trans_acceleration": mean_abs_difference(trans, 2),
        "rot_hf_share": high_frequency_share(rot),
        "trans_hf_share": high_frequency_share(trans),
    }


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares 2D similarity (scale, rotation R, translation t) with dst ~ s * src @ R.T + t."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, d]) @ vt
    s = float((sig * np.array([1.0, d])).sum() / max((a**2).sum(), 1e-12))
    return s, r, mu_d - s * mu_s @ r.T


def aligned_jaw(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """(T, 17, 2) jaw points of (T, 68, 2) landmarks aligned onto ``template`` (68, 2) on the rigid points."""
    lm = np.asarray(landmarks, np.float64)
    out = np.full((len(lm), len(JAW_POINTS), 2), np.nan)
    rigid = list(RIGID_POINTS)
    for i, pts in enumerate(lm):
        if not np.isfinite(pts).all():
            continue
        s, r, t = _similarity(pts[rigid], template[rigid])
        out[i] = s * pts[list(JAW_POINTS)] @ r.T + t
    return out


def jaw_change(landmarks: np.ndarray, template: np.ndarray) -> float:
    """Mean distance (template px) a jaw point moves between consecutive frames, after the 2D frontalisation."""
    jaw = aligned_jaw(landmarks, template)
    step = np.linalg.norm(np.diff(jaw, axis=0), axis=2).mean(axis=1)
    step = step[np.isfinite(step)]
    return float(step.mean()) if step.size else float("nan")


def landmark_template(landmarks: np.ndarray) -> np.ndarray | None:
    """The per-point median of the frames with a face, or None when no frame has one."""
    lm = np.asarray(landmarks, np.float64)
    ok = np.isfinite(lm).all(axis=(1, 2))
    return np.median(lm[ok], axis=0) if ok.any() else None


def _grey(frames: np.ndarray) -> np.ndarray:
    f = np.asarray(frames, np.float32)
    if f.ndim == 4:
        f = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    return f


def _face_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the convex hull of the landmarks, grown by MASK_GROWTH of the face size."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    if not np.isfinite(points).all():
        return mask.astype(bool)
    centre = points.mean(0)
    size = float(np.ptp(points, axis=0).max())
    grown = centre + (points - centre) * (1.0 + MASK_GROWTH)
    grown[:, 1] -= MASK_GROWTH * size  # the forehead above the eyebrows
    hull = cv2.convexHull(np.concatenate([points, grown]).astype(np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def background_changes(frames: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(T-1,) mean absolute grey change between consecutive frames outside both frames' face masks."""
    grey = _grey(frames)
    n = len(grey)
    if n < 2:
        return np.zeros(0)
    shape = grey.shape[1:3]
    masks = (
        [_face_mask(np.asarray(p, np.float64), shape) for p in landmarks]
        if landmarks is not None
        else [np.zeros(shape, bool)] * n
    )
    out = np.empty(n - 1)
    for i in range(n - 1):
        outside = ~(masks[i] | masks[i + 1])
        d = np.abs(grey[i + 1] - grey[i])
        out[i] = float(d[outside].mean()) if outside.any() else float(d.mean())
    return out


def jump_rate(changes: np.ndarray, threshold: float) -> float:
    """Share of frame pairs whose background change exceeds ``threshold``."""
    c = np.asarray(changes, np.float64)
    return float((c > threshold).mean()) if c.size else float("nan")


def clip_values(
    gen_rotation: np.ndarray,
    gen_translation: np.ndarray,
    gt_rotation: np.ndarray,
    gt_translation: np.ndarray,
    gen_landmarks: np.ndarray | None = None,
    gt_landmarks: np.ndarray | None = None,
) -> dict[str, float]:
    """The raw per-clip values (``gen_*`` and ``gt_*``) of the pose and jaw metrics."""
    out: dict[str, float] = {}
    for who, stats in (
        ("gen", pose_statistics(gen_rotation, gen_translation)),
        ("gt", pose_statistics(gt_rotation, gt_translation)),
    ):
        out.update({f"{who}_{k}": v for k, v in stats.items()})
    if gen_landmarks is not None and gt_landmarks is not None:
        template = landmark_template(gt_landmarks)
        if template is not None:
            out["gen_jaw_change"] = jaw_change(gen_landmarks, template)
            out["gt_jaw_change"] = jaw_change(gt_landmarks, template)
    return out


def background_values(
    gen_frames: np.ndarray, gt_frames: np.ndarray, gen_landmarks: np.ndarray, gt_landmarks: np.ndarray
) -> dict[str, float]:
    """Background jump rates of the generated and the ground-truth frames (threshold from the ground truth)."""
    gt_changes = background_changes(gt_frames, gt_landmarks)
    gen_changes = background_changes(gen_frames, gen_landmarks)
    if gt_changes.size == 0:
        return {}
    threshold = float(np.percentile(gt_changes, JUMP_PERCENTILE))
    return {
        "bg_threshold": threshold,
        "gen_bg_jump_rate": jump_rate(gen_changes, threshold),
        "gt_bg_jump_rate": jump_rate(gt_changes, threshold),
        "gen_bg_change_max": float(gen_changes.max()) if gen_changes.size else float("nan"),
        "gt_bg_change_max": float(gt_changes.max()),
    }


def _mean(rows: Sequence[dict[str, float]], key: str) -> float:
    v = [float(r[key]) for r in rows if key in r and math.isfinite(float(r[key]))]
    return float(np.mean(v)) if v else float("nan")


def _ratio(num: float, den: float) -> float:
    return num / den if math.isfinite(num) and math.isfinite(den) and den > 0 else float("nan")


def aggregate(rows: Sequence[dict[str, float] | None]) -> dict[str, float]:
    """Leaderboard values from the per-clip raw values: ratios of the means over clips."""
    rows = [r for r in rows if r]
    if not rows:
        return {}
    out: dict[str, float] = {}
    for name, kind in ((VELOCITY_RATIO, "velocity"), (ACCELERATION_RATIO, "acceleration")):
        parts = [_ratio(_mean(rows, f"gen_{p}_{kind}"), _mean(rows, f"gt_{p}_{kind}")) for p in ("rot", "trans")]
        out[name] = float(np.mean(parts))
    for who, name in (("gen", HF_SHARE), ("gt", GT_HF_SHARE)):
        out[name] = float(np.mean([_mean(rows, f"{who}_rot_hf_share"), _mean(rows, f"{who}_trans_hf_share")]))
    if any("gen_jaw_change" in r for r in rows):
        out[JAW_RATIO] = _ratio(_mean(rows, "gen_jaw_change"), _mean(rows, "gt_jaw_change"))
    if any("gen_bg_jump_rate" in r for r in rows):
        out[BG_JUMP] = _mean(rows, "gen_bg_jump_rate")
        out[GT_BG_JUMP] = _mean(rows, "gt_bg_jump_rate")
    return out


def describe(pose_source: str) -> dict[str, str]:
    """The variant text of each column (what exactly was computed)."""
    return {
        VELOCITY_RATIO: "mean |first difference| over frames of the head pose, generated / ground truth (ratio of "
        "the means over clips), mean of the rotation (deg) and translation (px) ratios; " + pose_source,
        ACCELERATION_RATIO: "the same with the second difference; " + pose_source,
        HF_SHARE: f"share of the pose's spectral power above {HF_CUTOFF_HZ:g} Hz (periodogram, Hann window, linear "
        "detrend, f > 0; mean of rotation and translation shares), mean over clips; " + pose_source,
        JAW_RATIO: "mean frame-to-frame displacement of the 17 jaw-outline points after a 2D similarity alignment "
        "on the rigid points (eyes, nose) to the ground truth's median face, generated / ground truth (ratio of the "
        "means over clips); dlib 68 points",
        BG_JUMP: "share of consecutive frame pairs whose mean absolute grey change outside the face mask (convex "
        f"hull of both frames' dlib landmarks grown by {MASK_GROWTH:.0%}) exceeds the ground truth's "
        f"{JUMP_PERCENTILE:g}th percentile, mean over clips",
    }
