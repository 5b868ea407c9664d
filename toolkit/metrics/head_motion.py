"""Head-motion metrics: pose diversity and beat alignment, both vs the ground truth.

Poses are the project's head motion h_t (``toolkit.motion``): axis-angle
rotation (radians) and translation (pixels of the 256x256 evaluation frame),
estimated the same way for generated and ground-truth videos.

Diversity (field.md): standard deviation over time of each rotation /
translation component, averaged over the three components; reported in
degrees and pixels and as a ratio to the ground truth's (1 = as lively as the
real person, 0 = frozen).

Beat alignment (field.md): motion beats are the local minima of the velocity
envelope (the angular speed of the head between consecutive frames, smoothed
with a Gaussian of ``envelope_sigma`` frames; only minima the head slowed into
by at least ``min_prominence`` deg/frame, so tracker jitter on a still head
makes no beats); for each motion beat the
distance d (frames) to the nearest audio onset gives exp(-d^2 / (2 sigma^2)),
sigma = 3 frames; the score is the mean over motion beats. Computed for the
generated and for the ground-truth motion against the same driving audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BEAT_SIGMA_FRAMES: float = 3.0
ENVELOPE_SIGMA_FRAMES: float = 1.0
#: a pause counts as a motion beat only if the head slowed down into it by at least this much
#: (prominence of the minimum, degrees per frame): tracker jitter on a still head makes no beats
MIN_BEAT_PROMINENCE_DEG: float = 0.1


@dataclass(frozen=True)
class HeadMotionConfig:
    beat_sigma: float = BEAT_SIGMA_FRAMES
    envelope_sigma: float = ENVELOPE_SIGMA_FRAMES
    min_prominence: float = MIN_BEAT_PROMINENCE_DEG

    def describe(self) -> str:
        return (
            f"beat alignment: motion beats = local minima of the head's angular speed (Gaussian-smoothed, "
            f"sigma {self.envelope_sigma:g} frames; minima with prominence >= {self.min_prominence:g} deg/frame), "
            f"mean of exp(-d^2/(2*{self.beat_sigma:g}^2)) to the nearest audio onset (toolkit.audio.features."
            f"audio_onsets; d in frames at 25 fps)"
        )


def pose_diversity(rotation: np.ndarray, translation: np.ndarray) -> tuple[float, float]:
    """(rotation std in degrees, translation std in pixels): std over time per component, mean over components."""
    rotation = np.asarray(rotation, np.float64)
    translation = np.asarray(translation, np.float64)
    if len(rotation) < 2:
        return float("nan"), float("nan")
    return float(np.degrees(rotation.std(axis=0)).mean()), float(translation.std(axis=0).mean())


def angular_speed(rotation: np.ndarray) -> np.ndarray:
    """(T-1,) angle in degrees of the relative rotation between consecutive frames."""
    from scipy.spatial.transform import Rotation

    rotation = np.asarray(rotation, np.float64)
    if len(rotation) < 2:
        return np.zeros(0)
    r = Rotation.from_rotvec(rotation)
    return np.degrees((r[1:] * r[:-1].inv()).magnitude())


def velocity_envelope(rotation: np.ndarray, sigma: float = ENVELOPE_SIGMA_FRAMES) -> np.ndarray:
    """(T,) smoothed angular speed; entry t is the motion between frames t-1 and t (entry 0 repeats entry 1)."""
    from scipy.ndimage import gaussian_filter1d

    speed = angular_speed(rotation)
    if speed.size == 0:
        return np.zeros(len(rotation))
    speed = np.concatenate([speed[:1], speed])
    return gaussian_filter1d(speed, sigma, mode="nearest") if sigma > 0 else speed


def motion_beats(
    rotation: np.ndarray, sigma: float = ENVELOPE_SIGMA_FRAMES, min_prominence: float = MIN_BEAT_PROMINENCE_DEG
) -> np.ndarray:
    """Frame indices of the local minima of the velocity envelope (the head pauses).

    Only minima with a prominence of at least ``min_prominence`` (deg/frame) count
    (``scipy.signal.find_peaks`` on the negated envelope; 0 = every strict local minimum).
    """
    from scipy.signal import find_peaks

    env = velocity_envelope(rotation, sigma)
    if env.size < 3:
        return np.zeros(0, np.int64)
    if min_prominence <= 0:
        inner = (env[1:-1] < env[:-2]) & (env[1:-1] < env[2:])
        return np.flatnonzero(inner) + 1
    peaks, _ = find_peaks(-env, prominence=min_prominence)
    return peaks.astype(np.int64)


def beat_alignment(beats: np.ndarray, onsets: np.ndarray, sigma: float = BEAT_SIGMA_FRAMES) -> float:
    """Mean over motion beats of exp(-d^2 / (2 sigma^2)), d = distance (frames) to the nearest onset.

    NaN when there are no motion beats (a frozen head) or no audio onsets.
    """
    beats = np.asarray(beats, np.float64).ravel()
    onsets = np.asarray(onsets, np.float64).ravel()
    if beats.size == 0 or onsets.size == 0:
        return float("nan")
    d = np.abs(beats[:, None] - onsets[None, :]).min(axis=1)
    return float(np.exp(-(d**2) / (2.0 * sigma**2)).mean())


def ratio(value: float, reference: float) -> float:
    """value / reference, NaN when the reference is 0 or not finite."""
    if not np.isfinite(value) or not np.isfinite(reference) or reference == 0:
        return float("nan")
    return float(value / reference)
