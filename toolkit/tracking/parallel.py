"""Track several video files in parallel worker processes.

MediaPipe's landmarker runs on one core (about 6 ms per 256x256 frame), so on
an n-core machine n clips tracked side by side give about n times the
throughput of one (see scripts/bench/tracking_throughput.py). Each worker
decodes (toolkit.io.media, 25 fps), tracks and, optionally, disentangles its
clip; results come back in input order, failures as the ToolkitError that
stopped that clip (one bad clip never stops the others).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.tracking.base import FaceTrack


@dataclass
class TrackedFile:
    path: Path
    track: FaceTrack | None
    motion: Any = None  # toolkit.motion.HeadMotion when disentangle=True
    error: ToolkitError | None = None


def _track_one(job: tuple[str, str, float | None, int | None, bool, dict[str, Any]]) -> TrackedFile:
    from toolkit.io.media import iter_frames
    from toolkit.tracking import make_tracker

    path, backend, fps, max_frames, with_motion, options = job
    try:
        track = make_tracker(backend, **options).track(iter_frames(path, fps=fps, max_frames=max_frames))
        motion = None
        if with_motion:
            from toolkit.motion import disentangle

            motion = disentangle(track.landmarks, valid=track.reliable)
        return TrackedFile(Path(path), track, motion)
    except ToolkitError as exc:
        return TrackedFile(Path(path), None, None, exc)


def track_files(
    paths: Sequence[str | os.PathLike[str]],
    backend: str = "mediapipe",
    processes: int | None = None,
    fps: float | None = 25.0,
    max_frames: int | None = None,
    disentangle: bool = False,
    **options: Any,
) -> list[TrackedFile]:
    """Decode + track (+ disentangle) every file; ``processes`` defaults to the CPU count."""
    jobs = [(str(p), backend, fps, max_frames, disentangle, {"fps": fps or 25.0, **options}) for p in paths]
    workers = max(1, min(processes or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        return [_track_one(j) for j in jobs]
    # "spawn", not fork: MediaPipe (and torch) start threads, and forking a process that holds
    # threads can deadlock the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_track_one, jobs))
