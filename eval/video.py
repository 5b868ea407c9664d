"""Decoding videos and audio for evaluation.

Every video (ground truth or generated, any resolution and frame rate) is
decoded at 25 fps and brought to the evaluation frame: centre square crop (a
no-op for the square face crops benchmarks use) and area resize to
``size`` x ``size`` (256 by default). All metrics read these frames, so the
numbers do not depend on the resolution a method writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.defaults import EVAL_SIZE
from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS


def to_eval_frame(frame: np.ndarray, size: int = EVAL_SIZE) -> np.ndarray:
    """Centre square crop, then area-resize to ``size`` x ``size`` (uint8 RGB)."""
    import cv2

    h, w = frame.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = frame[y0 : y0 + side, x0 : x0 + side]
    if side == size:
        return np.ascontiguousarray(square)
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def read_eval_frames(path: str | Path, start: int = 0, stop: int | None = None, size: int = EVAL_SIZE) -> np.ndarray:
    """Frames ``[start, stop)`` of a video at 25 fps as evaluation frames, (N, size, size, 3) uint8."""
    from toolkit.io.media import iter_frames

    out = []
    for i, frame in enumerate(iter_frames(path, fps=VIDEO_FPS, max_frames=stop)):
        if i >= start:
            out.append(to_eval_frame(frame, size))
    if not out:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack(out)


def read_native_frames(path: str | Path, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``[start, stop)`` at 25 fps in the file's own resolution."""
    from toolkit.io.media import iter_frames

    frames = [f for i, f in enumerate(iter_frames(path, fps=VIDEO_FPS, max_frames=stop)) if i >= start]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def count_frames(path: str | Path) -> int:
    """Exact number of frames at 25 fps (decodes the video)."""
    from toolkit.io.media import iter_frames

    return sum(1 for _ in iter_frames(path, fps=VIDEO_FPS))


def clip_audio(video: str | Path, audio: str | Path | None, n_frames: int) -> np.ndarray:
    """The clip's speech, 16 kHz mono, exactly ``n_frames * 640`` samples, aligned with frame 0.

    ``audio`` None = the video's own sound track (with the stream start offset applied,
    as :func:`toolkit.io.media.load_av` does); a separate file starts at frame 0.
    """
    from toolkit.io.media import fit_audio, probe, read_audio, stream_offset

    offset = 0
    if audio is None:
        source = Path(video)
        if probe(source).has_audio:
            offset = round(stream_offset(source) * AUDIO_SAMPLE_RATE)
    else:
        source = Path(audio)
    return fit_audio(read_audio(source, sr=AUDIO_SAMPLE_RATE), n_frames * SAMPLES_PER_FRAME, offset)
