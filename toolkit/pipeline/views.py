"""The paper's intermediate products, for people to look at.

- the landmark image l_t (Sec. 4.2: expression p_t and head motion h_t combined
  and drawn as a grey-scale line image),
- the 3D render y~_t of the reference mesh at the target pose (Sec. 4.1),
- the head-motion curves of the generated video next to the reference's
  (Fig. 3b style).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class RenderedChunk:
    """Frames made for a run of consecutive output frames, with their intermediate products."""

    frames: np.ndarray  # (n, S, S, 3) uint8: the output face crops
    matched: np.ndarray  # (n,) int: reference frame chosen by the motion matcher (Eq. 2)
    landmarks2d: np.ndarray  # (n, 68, 2) float: target landmarks l_t in crop pixels
    rendered: np.ndarray | None = None  # (n, S, S, 3) uint8: the 3D render y~_t
    #: (n, S, S) float32 blending weight of the render over the matched frame (0 = the matched frame itself):
    #: paste-back keeps the full-resolution frame wherever it is 0 (sharp hair, neck, background)
    mask: np.ndarray | None = None
    #: (n, G, G, 2) coarse flow that moved the matched frame with the head (toolkit.render.align), in crop
    #: pixels: paste-back moves the full-resolution frame by it too
    background_flow: np.ndarray | None = None


def landmark_image(points68: np.ndarray, size: int) -> np.ndarray:
    """The landmark image l_t as the generator sees it (toolkit.generator.landmark_image), (size, size, 3) uint8."""
    from toolkit.generator.landmark_image import landmark_image as grey_landmark_image

    grey = np.round(grey_landmark_image(points68, size) * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def compose_view(chunk: RenderedChunk, i: int) -> np.ndarray:
    """One frame of the views video: landmark image | 3D render | output."""
    import cv2

    frame = chunk.frames[i]
    size = frame.shape[0]
    lmk = landmark_image(chunk.landmarks2d[i], size)
    if chunk.rendered is not None:
        render = chunk.rendered[i]
    else:
        render = np.zeros_like(frame)
    panel = np.concatenate([lmk, render, frame], axis=1)
    for j, label in enumerate(("landmarks l_t", "3D render", "output")):
        cv2.putText(panel, label, (j * size + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 220, 80), 1, cv2.LINE_AA)
    return panel


def plot_pose_curves(head_motion: np.ndarray, out: str | Path, reference_motion: np.ndarray | None = None) -> Path:
    """Head-motion curves of the generated video (and the reference's), Fig. 3b style, as a PNG."""
    from toolkit.constants import VIDEO_FPS
    from toolkit.viz.motion_plot import plot_head_motion

    series = pose_curve_series(head_motion, reference_motion)
    seconds = max(len(head_motion), len(reference_motion) if reference_motion is not None else 0) / VIDEO_FPS
    plot_head_motion(series, out, max_seconds=min(seconds, 60.0), title="Head motion: reference vs generated")
    return Path(out)


def pose_curve_series(head_motion: np.ndarray, reference_motion: np.ndarray | None = None) -> list:
    """The curves of :func:`plot_pose_curves`: the reference's (a photo's one pose held flat) and the generated."""
    from toolkit.viz.motion_plot import MotionSeries

    series = [MotionSeries(np.asarray(head_motion), "generated", "output")]
    if reference_motion is not None and len(reference_motion) > 1:
        series.insert(0, MotionSeries(np.asarray(reference_motion), "reference", "reference video"))
    elif reference_motion is not None and len(reference_motion) == 1:
        # a photo has one pose: drawn as a flat line over the generated clip's length
        held = np.repeat(np.asarray(reference_motion), len(head_motion), axis=0)
        series.insert(0, MotionSeries(held, "reference (photo: one pose)", "reference photo"))
    return series
