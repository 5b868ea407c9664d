"""Rasterise 68-point facial landmarks into the generator's grey-scale landmark image.

The paper "combine[s] p_t and h_t to landmark l_t and transfer[s] it to a gray-scale image"
(Sec. 4.2). As in few-shot vid2vid's face dataset, the image is the face parts drawn as
polylines (jaw line, eyebrows, nose bridge and lower nose, closed eyes, closed outer and inner
lips) on black; all parts share one intensity. Lines are anti-aliased and their width scales
with the image size (1 px per 128 px of side, at least 1), so 128x128 and 256x256 images look
alike after resizing.

Input landmarks are in pixel coordinates of an image of side ``source_size`` (x right, y down;
a third column, depth, is ignored); the output is ``float32`` in [0, 1], shape ``(size, size)``
or ``(T, size, size)``.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import ToolkitError

#: (first index, last index inclusive, closed) for the iBUG 68-point layout
FACE_PARTS_68: tuple[tuple[int, int, bool], ...] = (
    (0, 16, False),  # jaw line
    (17, 21, False),  # right eyebrow (image left)
    (22, 26, False),  # left eyebrow
    (27, 30, False),  # nose bridge
    (31, 35, False),  # lower nose (nostrils)
    (36, 41, True),  # right eye
    (42, 47, True),  # left eye
    (48, 59, True),  # outer lip
    (60, 67, True),  # inner lip
)


class LandmarkShapeError(ToolkitError):
    code = "bad-landmarks"


def _polylines(landmarks: np.ndarray) -> list[np.ndarray]:
    lines = []
    for first, last, closed in FACE_PARTS_68:
        pts = landmarks[first : last + 1]
        if closed:
            pts = np.concatenate([pts, pts[:1]])
        lines.append(pts)
    return lines


def landmark_image(landmarks: np.ndarray, size: int, source_size: int | None = None) -> np.ndarray:
    """One (68, 2|3) landmark set -> (size, size) float32 image in [0, 1]."""
    import cv2

    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 68 or lm.shape[1] < 2:
        raise LandmarkShapeError(
            f"Expected 68 landmarks of shape (68, 2) or (68, 3), got {lm.shape}.",
            "Pass the 68-point view of the tracks (ClipRecord.landmarks68).",
        )
    if not np.isfinite(lm[:, :2]).all():
        raise LandmarkShapeError("Landmarks contain NaN or inf.", "Interpolate tracking gaps before rasterising.")
    scale = size / float(source_size or size)
    shift = 4  # cv2 sub-pixel precision: coordinates in 1/16 px
    canvas = np.zeros((size, size), np.uint8)
    thickness = max(1, round(size / 128))
    for pts in _polylines(lm[:, :2] * scale):
        # pixel centres are at integer coordinates in cv2, at +0.5 in our convention
        fixed = np.round((pts - 0.5) * (1 << shift)).astype(np.int32)
        cv2.polylines(canvas, [fixed], False, 255, thickness, cv2.LINE_AA, shift)
    return canvas.astype(np.float32) / 255.0


def landmark_images(landmarks: np.ndarray, size: int, source_size: int | None = None) -> np.ndarray:
    """(T, 68, 2|3) -> (T, size, size) float32 in [0, 1]."""
    lm = np.asarray(landmarks)
    if lm.ndim != 3:
        raise LandmarkShapeError(f"Expected (T, 68, 2|3) landmarks, got {lm.shape}.")
    return (
        np.stack([landmark_image(x, size, source_size) for x in lm])
        if len(lm)
        else np.zeros((0, size, size), np.float32)
    )
