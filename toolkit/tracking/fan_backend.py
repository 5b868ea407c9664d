"""face-alignment 3D-FAN backend: 68 3D points per face (the paper's tracker).

Runs on the CPU, eagerly (no torch.compile), from weights already on disk:
face-alignment downloads ``3DFAN4-7835d9f11d.pth.tar`` and
``depth-2a464da4ea.pth.tar`` into torch hub's checkpoints folder at first use,
which is impossible offline, so this backend looks for them first (explicit
``weights_dir``, then ``$TOOLKIT_FAN_WEIGHTS``, then the torch hub folder) and
raises WeightsNotFoundError naming the folder and the files when they are
absent. Face boxes come from dlib's HOG detector (no weights) or from the
MediaPipe landmarker; face-alignment's own detectors (S3FD, ...) would need
more downloads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import WeightsNotFoundError
from toolkit.tracking.base import FaceCandidate, FaceTracker, TrackerConfig

WEIGHTS_ENV = "TOOLKIT_FAN_WEIGHTS"
#: file names face-alignment 1.5 downloads (the names encode the weights' hashes)
FAN_FILES: dict[str, str] = {
    "3DFAN-4": "3DFAN4-7835d9f11d.pth.tar",
    "depth": "depth-2a464da4ea.pth.tar",
}
FAN_URLS: dict[str, str] = {
    "3DFAN-4": "https://www.adrianbulat.com/downloads/python-fan/3DFAN4-7835d9f11d.pth.tar",
    "depth": "https://www.adrianbulat.com/downloads/python-fan/depth-2a464da4ea.pth.tar",
}


def torch_hub_checkpoints_dir() -> Path:
    """torch hub's checkpoints folder, computed like torch.hub.get_dir() without importing torch."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        cache = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
        torch_home = os.path.join(cache, "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def find_fan_weights(weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding both 3D-FAN weight files, or WeightsNotFoundError."""
    candidates: list[Path] = []
    for d in (weights_dir, os.environ.get(WEIGHTS_ENV)):
        if d:
            candidates.append(Path(d).expanduser())
    candidates.append(torch_hub_checkpoints_dir())
    for d in candidates:
        if all((d / name).is_file() for name in FAN_FILES.values()):
            return d
    where = candidates[0]
    files = ", ".join(FAN_FILES.values())
    urls = " and ".join(FAN_URLS.values())
    raise WeightsNotFoundError(
        f"The 3D-FAN weights for the 'fan' tracker ({files}) were not found in: "
        f"{', '.join(str(d) for d in candidates)}.",
        f"Put both files in {where} (download them from {urls} on a machine with internet), "
        f"or point weights_dir=... / ${WEIGHTS_ENV} at the folder holding them; "
        f"or use the default 'mediapipe' tracker, which needs no download.",
    )


class FanTracker(FaceTracker):
    name = "fan"
    n_points = 68

    def __init__(self, config: TrackerConfig | None = None) -> None:
        super().__init__(config)
        self.weights_dir = find_fan_weights(self.config.weights_dir)
        self._fa: Any = None
        self._boxer: Callable[[np.ndarray, int], list[np.ndarray]] | None = None
        self._mp: Any = None

    def _load(self) -> None:
        import face_alignment
        import face_alignment.api as fa_api

        def local_file(url: str, *args: object, **kwargs: object) -> str:
            return str(self.weights_dir / url.rsplit("/", 1)[-1])

        # face-alignment fetches its weights by URL into torch hub's folder; during
        # construction, resolve those URLs to the local files instead (never download)
        original = fa_api.load_file_from_url
        fa_api.load_file_from_url = local_file
        try:
            self._fa = face_alignment.FaceAlignment(
                face_alignment.LandmarksType.THREE_D,
                device="cpu",
                face_detector="folder",  # boxes are passed in; the folder detector needs no weights
                compile=False,
                flip_input=False,
            )
        finally:
            fa_api.load_file_from_url = original

    def _open(self) -> None:
        if self._fa is None:
            self._load()
        if self.config.fan_detector == "dlib":
            import dlib

            detector = dlib.get_frontal_face_detector()

            def boxes(frame: np.ndarray, index: int) -> list[np.ndarray]:
                return [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) for r in detector(frame, 0)]

        else:
            from toolkit.tracking.mediapipe_backend import MediaPipeTracker

            mp_tracker = MediaPipeTracker(
                TrackerConfig(fps=self.config.fps, max_faces=self.config.max_faces, model_path=self.config.model_path)
            )
            mp_tracker._open()
            self._mp = mp_tracker

            def boxes(frame: np.ndarray, index: int) -> list[np.ndarray]:
                return [c.box for c in mp_tracker._detect(frame, index)]

        self._boxer = boxes

    def _close(self) -> None:
        mp_tracker = getattr(self, "_mp", None)
        if mp_tracker is not None:
            mp_tracker._close()
            self._mp = None

    def _detect(self, frame: np.ndarray, index: int) -> list[FaceCandidate]:
        assert self._fa is not None and self._boxer is not None
        boxes = self._boxer(frame, index)
        if not boxes:
            return []
        preds = self._fa.get_landmarks_from_image(frame, detected_faces=[np.append(b, 1.0) for b in boxes])
        out = []
        for pts in preds or []:
            pts = np.asarray(pts, np.float32)
            box = np.concatenate([pts[:, :2].min(0), pts[:, :2].max(0)])
            out.append(FaceCandidate(landmarks=pts, box=box))
        return out

    def _to68(self, landmarks: np.ndarray) -> np.ndarray:
        return np.asarray(landmarks, np.float32)
