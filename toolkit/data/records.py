"""Reading the per-clip records that ``toolkit preprocess`` writes.

A record folder is complete or absent: the builder writes it under a temporary
name and renames it into place, so anything found under ``clips/<id>/`` with a
``meta.json`` can be read without checks for partial writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputFileError
from toolkit.motion.pose import HeadPose, PoseViews

MANIFEST_NAME = "manifest.json"
CLIPS_DIR = "clips"
RECORD_VERSION = 1


@dataclass
class ClipRecord(PoseViews):
    """One preprocessed clip: face crop frames, audio, tracking and motion."""

    clip_id: str
    root: Path
    meta: dict[str, Any]
    landmarks: np.ndarray  # (T, N, 3) crop pixels
    landmarks68: np.ndarray  # (T, 68, 3)
    pose: HeadPose  # rotation (T, 3) axis-angle radians, translation (T, 3) crop pixels, scale (T,)
    frontal: np.ndarray  # (T, N, 3) frontalised landmarks (canonical frame)
    frontal68: np.ndarray  # (T, 68, 3)
    detected: np.ndarray  # (T,) bool, False where interpolated
    frontal_index: int
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.landmarks.shape[0])

    @property
    def has_audio(self) -> bool:
        return bool(self.meta.get("has_audio"))

    @property
    def speaker(self) -> str:
        return str(self.meta.get("speaker", self.clip_id))

    @property
    def frames_path(self) -> Path:
        return self.root / "frames.mp4"

    @property
    def audio_path(self) -> Path:
        return self.root / "audio.wav"

    def frames(self) -> np.ndarray:
        """Decode the face-crop frames, (T, S, S, 3) uint8."""
        from toolkit.io.media import read_video

        return read_video(self.frames_path)

    def audio(self) -> np.ndarray:
        """16 kHz mono float32, exactly n_frames * 640 samples (zeros for silent clips)."""
        from toolkit.constants import SAMPLES_PER_FRAME

        if not self.has_audio:
            return np.zeros(self.n_frames * SAMPLES_PER_FRAME, np.float32)
        from toolkit.io.media import read_audio

        audio = read_audio(self.audio_path)
        n = self.n_frames * SAMPLES_PER_FRAME
        out = np.zeros(n, np.float32)
        out[: min(n, audio.size)] = audio[:n]
        return out

    def mel(self) -> np.ndarray | None:
        path = self.root / "mel.npy"
        return np.load(path) if path.exists() else None


def clip_dir(root: str | Path, clip_id: str) -> Path:
    return Path(root) / CLIPS_DIR / clip_id


def load_clip(root: str | Path, clip_id: str) -> ClipRecord:
    """Load one record written by ``toolkit preprocess``."""
    folder = clip_dir(root, clip_id)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise InputFileError(
            f"No preprocessed record '{clip_id}' under {Path(root)}.",
            "Run `toolkit preprocess` on the source video first, or check the clip id in manifest.json.",
        )
    meta = json.loads(meta_path.read_text())
    with np.load(folder / "track.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    known = {
        "landmarks",
        "landmarks68",
        "rotation",
        "translation",
        "scale",
        "frontal",
        "frontal68",
        "detected",
        "frontal_index",
    }
    return ClipRecord(
        clip_id=clip_id,
        root=folder,
        meta=meta,
        landmarks=arrays["landmarks"],
        landmarks68=arrays["landmarks68"],
        pose=HeadPose(arrays["rotation"], arrays["translation"], arrays["scale"]),
        frontal=arrays["frontal"],
        frontal68=arrays["frontal68"],
        detected=arrays["detected"].astype(bool),
        frontal_index=int(arrays["frontal_index"]),
        extras={k: v for k, v in arrays.items() if k not in known},
    )


def load_manifest(root: str | Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        raise InputFileError(
            f"{path} does not exist.", "Point --data at a folder written by `toolkit preprocess ... --out DIR`."
        )
    return json.loads(path.read_text())


def done_clip_ids(root: str | Path) -> list[str]:
    """Ids of every complete record, in manifest order where a manifest exists."""
    root = Path(root)
    ids = sorted(
        p.name for p in (root / CLIPS_DIR).glob("*") if (p / "meta.json").exists() and not p.name.startswith(".")
    )
    return ids


def iter_clips(root: str | Path, speakers: set[str] | None = None, with_audio: bool | None = None):
    """Yield every complete record, optionally filtered by speaker and audio presence."""
    for clip_id in done_clip_ids(root):
        rec = load_clip(root, clip_id)
        if speakers is not None and rec.speaker not in speakers:
            continue
        if with_audio is not None and rec.has_audio != with_audio:
            continue
        yield rec
