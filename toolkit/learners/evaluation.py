"""Validation numbers for the learners, reusing the benchmark suite's metric definitions.

* mouth LMD: ``toolkit.metrics.lmd`` (the author's variant: mouth points 48-67,
  each set centred on its mean, per-frame *sum* of the 20 distances, mean over
  frames), applied here to frontalised 68-point landmarks (x, y) in the
  canonical frame of ``toolkit.motion`` instead of dlib points on video
  frames: the learners output landmarks, not images.
* head-motion diversity and beat alignment: ``eval.metrics`` (the field's
  definitions, see ../shared/docs/field.md). Where that module is missing
  the numbers are NaN, never a second definition.
* pose error (not a field metric, the learners' own regression error): mean
  geodesic angle between predicted and true rotations (degrees) and mean
  Euclidean translation error (pixels of the 256 px crop).
"""

from __future__ import annotations

import numpy as np


def mouth_lmd(pred: np.ndarray, gt: np.ndarray) -> float:
    """The author's LMD on the mouth (toolkit.metrics.lmd.LMD_AUTHOR) of two (T, 68, 3) landmark arrays."""
    from toolkit.metrics.lmd import LMD_AUTHOR, lmd

    return float(lmd(np.asarray(pred)[..., :2], np.asarray(gt)[..., :2], LMD_AUTHOR))


def mouth_opening(landmarks68: np.ndarray) -> np.ndarray:
    """(T,) mean vertical inner-lip gap in landmark units (``toolkit.metrics.lipsync.mouth_opening_px``)."""
    from toolkit.metrics.lipsync import mouth_opening_px

    return mouth_opening_px(landmarks68)


def frame_energy_db(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(T,) RMS level of each 40 ms video frame of audio, in dB."""
    from toolkit.constants import SAMPLES_PER_FRAME

    a = np.zeros(n_frames * SAMPLES_PER_FRAME, np.float64)
    k = min(a.size, np.asarray(audio).size)
    a[:k] = np.asarray(audio, np.float64)[:k]
    rms = np.sqrt(np.mean(a.reshape(n_frames, SAMPLES_PER_FRAME) ** 2, axis=1))
    return 20.0 * np.log10(rms + 1e-5)


def rotation_error_deg(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T,) geodesic angle between axis-angle rotations, degrees."""
    from scipy.spatial.transform import Rotation

    rp = Rotation.from_rotvec(np.asarray(pred, np.float64)[:, :3])
    rg = Rotation.from_rotvec(np.asarray(gt, np.float64)[:, :3])
    return np.degrees((rp * rg.inv()).magnitude())


def reference_loop(ref_motion: np.ndarray, n: int) -> np.ndarray:
    """The reference motion replayed back and forth from its last frame: tau-1, tau-2, ..., 1, 2, ..."""
    from toolkit.timeline import back_and_forth

    tau = len(ref_motion)
    return np.asarray(ref_motion)[tau - 1 - back_and_forth(n, tau, start=1)]  # mirrored: from the last frame


def head_motion_metrics():  # -> module or None
    try:
        from toolkit.metrics import head_motion
    except ImportError:
        return None
    return head_motion


def motion_scores(pred: np.ndarray, gt: np.ndarray, audio: np.ndarray | None) -> dict[str, float]:
    """Pose error, diversity ratios to the ground truth and (with audio) beat alignment of one clip.

    ``audio``: the driving audio of exactly these frames (len(pred) * 640 samples), or None.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    out = {
        "rot_err_deg": float(rotation_error_deg(pred, gt).mean()),
        "trans_err_px": float(np.linalg.norm(pred[:, 3:] - gt[:, 3:], axis=1).mean()),
    }
    hm = head_motion_metrics()
    nan = float("nan")
    if hm is None:
        out.update(rot_div_ratio=nan, trans_div_ratio=nan)
        return out
    rot_p, trans_p = hm.pose_diversity(pred[:, :3], pred[:, 3:])
    rot_g, trans_g = hm.pose_diversity(gt[:, :3], gt[:, 3:])
    out["rot_div_deg"] = rot_p
    out["rot_div_ratio"] = hm.ratio(rot_p, rot_g)
    out["trans_div_ratio"] = hm.ratio(trans_p, trans_g)
    if audio is not None:
        from toolkit.audio.features import audio_onsets

        onsets = audio_onsets(audio, len(pred))
        out["beat_align"] = hm.beat_alignment(hm.motion_beats(pred[:, :3]), onsets)
        out["beat_align_gt"] = hm.beat_alignment(hm.motion_beats(gt[:, :3]), onsets)
    return out
