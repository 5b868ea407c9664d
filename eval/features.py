"""Per-video features for the metrics, computed in batches and cached on disk.

One video's features (dlib 68 points, Inception pool3 activations, face
embeddings, head pose) are computed from its evaluation frames
(:mod:`eval.video`) and saved under ``cache_dir`` in a file named by the
video's key (sha256 of the file, or of the source clip plus the frame range)
and a hash of the configuration that produced it. A rerun, another results
folder or a killed run never recomputes a saved feature; files are written
atomically, so a killed run leaves whole files or none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.defaults import POSE_BACKEND
from eval.landmarks68 import Dlib68, Dlib68Config
from eval.metrics.csim import CsimConfig, FaceEmbedder, make_embedder
from eval.metrics.fid import FidConfig, InceptionFeatures, fid_identity
from eval.metrics.lse import LseConfig
from eval.video import EVAL_SIZE
from toolkit.errors import ToolkitError
from toolkit.io.atomic import atomic_path

CACHE_VERSION = 1
PARTS: tuple[str, ...] = ("inception", "embeddings", "pose")


@dataclass(frozen=True)
class FeatureConfig:
    """What to compute per video; ``None`` switches a feature (and its metrics) off."""

    size: int = EVAL_SIZE
    dlib: Dlib68Config = field(default_factory=Dlib68Config)
    fid: FidConfig | None = field(default_factory=FidConfig)
    csim: CsimConfig | None = field(default_factory=CsimConfig)
    #: head pose through toolkit.tracking + toolkit.motion ("mediapipe" or "fan"); None = off
    pose_backend: str | None = POSE_BACKEND
    #: lip sync with a user-supplied SyncNet (syncnet_v2.model); None = off
    lse: LseConfig | None = None


def _config_hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FeatureCache:
    """``root/<key[:2]>/<key>/<feature>-<config hash>.npz``; counts hits and misses."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits: dict[str, int] = defaultdict(int)
        self.misses: dict[str, int] = defaultdict(int)

    def path(self, key: str, feature: str, config: Any) -> Path:
        return self.root / key[:2] / key / f"{feature}-{_config_hash([CACHE_VERSION, config])}.npz"

    def load(self, key: str, feature: str, config: Any) -> dict[str, np.ndarray] | None:
        path = self.path(key, feature, config)
        if not path.is_file():
            self.misses[feature] += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                out = {k: data[k] for k in data.files}
        except Exception:  # an unreadable cache file is recomputed, never trusted
            self.misses[feature] += 1
            return None
        self.hits[feature] += 1
        return out

    def save(self, key: str, feature: str, config: Any, arrays: dict[str, np.ndarray]) -> None:
        path = self.path(key, feature, config)
        named: dict[str, Any] = dict(arrays)  # np.savez's stubs type **kwds as its own keywords
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **named)

    def summary(self) -> dict[str, dict[str, int]]:
        names = sorted(set(self.hits) | set(self.misses))
        return {n: {"hits": self.hits.get(n, 0), "misses": self.misses.get(n, 0)} for n in names}


@dataclass
class VideoFeatures:
    """Features of one video's evaluation frames (T frames)."""

    n_frames: int
    landmarks: np.ndarray  # (T, 68, 2) float32 px at the evaluation size, NaN where no face
    landmark_source: np.ndarray  # (T,) int8: 0 none, 1 detector, 2 tracked box
    inception: np.ndarray | None = None  # (T, 2048) float32
    embeddings: np.ndarray | None = None  # (T, D) float32, NaN rows where no face
    rotation: np.ndarray | None = None  # (T, 3) float32 axis-angle radians
    translation: np.ndarray | None = None  # (T, 3) float32 px at the evaluation size
    pose_error: str | None = None  # why there is no pose (e.g. no face in most frames)


class FeatureExtractor:
    """Computes (or loads) :class:`VideoFeatures`; models are built on first use."""

    def __init__(self, config: FeatureConfig, cache: FeatureCache, onnx_cache_dir: str | Path | None = None) -> None:
        self.config = config
        self.cache = cache
        self._onnx_cache_dir = onnx_cache_dir or cache.root
        self._dlib: Dlib68 | None = None
        self._inception: InceptionFeatures | None = None
        self._fid_identity: tuple[str, str] | None = None
        self._embedder: FaceEmbedder | None = None
        self._tracker: Any = None
        self._syncnet: Any = None
        self._syncnet_sha256: str | None = None
        #: seconds and frames spent per feature (for the speed report)
        self.seconds: dict[str, float] = defaultdict(float)
        #: CPU seconds of this process (all its threads; ffmpeg decoders are child processes, not counted)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.frames: dict[str, int] = defaultdict(int)

    # -- models --------------------------------------------------------------------------------
    @property
    def dlib(self) -> Dlib68:
        if self._dlib is None:
            self._dlib = Dlib68(self.config.dlib)
        return self._dlib

    @property
    def inception(self) -> InceptionFeatures:
        if self._inception is None:
            assert self.config.fid is not None
            self._inception = InceptionFeatures(self.config.fid, self._onnx_cache_dir)
        return self._inception

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.config.csim or CsimConfig())
        return self._embedder

    def tracker(self) -> Any:
        if self._tracker is None:
            from toolkit.tracking import make_tracker

            self._tracker = make_tracker(self.config.pose_backend or "mediapipe")
        return self._tracker

    # -- configuration keys (what a cached feature depends on) ---------------------------------
    def _key_landmarks(self) -> Any:
        return {"size": self.config.size, "dlib": dataclasses.asdict(self.config.dlib)}

    @property
    def fid_label(self) -> str:
        return self._identity()[0]

    @property
    def fid_engine(self) -> str:
        """The engine in use (requested one until the network is built)."""
        assert self.config.fid is not None
        return self._inception.engine if self._inception is not None else self.config.fid.engine

    def _identity(self) -> tuple[str, str]:
        if self._fid_identity is None:
            assert self.config.fid is not None
            self._fid_identity = fid_identity(self.config.fid)
        return self._fid_identity

    def _key_inception(self) -> Any:
        # the requested engine: onnxruntime and torch agree to ~1e-5 (checked when the ONNX graph is built)
        assert self.config.fid is not None
        return {"size": self.config.size, "weights": self._identity()[1], "engine": self.config.fid.engine}

    def _key_embeddings(self) -> Any:
        emb = self.embedder
        return {"landmarks": self._key_landmarks(), "model": emb.model_sha256, "label": emb.label}

    def _key_pose(self) -> Any:
        tracker = self.tracker()
        return {
            "size": self.config.size,
            "backend": self.config.pose_backend,
            "tracker": dataclasses.asdict(tracker.config),
            "motion": "toolkit.motion.disentangle v1",
        }

    def model_files(self) -> dict[str, Any]:
        """Names and sha256 of every model file behind the numbers (only the ones in use)."""
        from eval.landmarks68 import SHAPE_PREDICTOR_FILE, dlib_model_path
        from toolkit.io.hashing import file_sha256

        files: dict[str, Any] = {
            "dlib_shape_predictor": {
                "file": SHAPE_PREDICTOR_FILE,
                "sha256": file_sha256(dlib_model_path(SHAPE_PREDICTOR_FILE)),
            }
        }
        if self.config.fid is not None:
            files["fid_inception"] = {"label": self.fid_label, "weights": self._identity()[1]}
        if self.config.csim is not None:
            files["csim_embedding"] = {
                "label": self.embedder.label,
                "file": self.embedder.model_file,
                "sha256": self.embedder.model_sha256,
            }
        if self.config.lse is not None:
            files["syncnet"] = {"file": Path(self.config.lse.model).name, "sha256": file_sha256(self.config.lse.model)}
        if self.config.pose_backend == "mediapipe":
            from toolkit.tracking.mediapipe_backend import find_face_landmarker_model

            path = find_face_landmarker_model(self.tracker().config.model_path)
            files["pose_face_landmarker"] = {"file": path.name, "sha256": file_sha256(path)}
        return files

    # -- extraction ----------------------------------------------------------------------------
    def timed(self, name: str, n: int, fn: Callable[[], Any]) -> Any:
        """``fn()``, its wall and CPU seconds and ``n`` frames added to step ``name`` of the speed report."""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.cpu_seconds[name] += time.process_time() - cpu
            self.frames[name] += n

    def video(self, key: str, load_frames: Callable[[], np.ndarray], parts: tuple[str, ...] = PARTS) -> VideoFeatures:
        """Features of the video ``key``; ``load_frames`` is called only if something is not cached.

        ``parts`` limits the work to some of "inception", "embeddings", "pose" (landmarks always).
        """
        cfg = self.config
        frames: np.ndarray | None = None

        def get_frames() -> np.ndarray:
            nonlocal frames
            if frames is None:
                frames = self.timed("decode", 0, load_frames)
                self.frames["decode"] += len(frames)
                if len(frames) == 0:
                    raise ToolkitError("The video has no frames in the evaluated range.", "Check the file.")
            return frames

        def cached(part: str, part_key: str, compute: Callable[[np.ndarray], dict[str, np.ndarray]]) -> dict:
            """The cached arrays of ``part``, else computed from the frames (timed) and cached."""
            found = self.cache.load(key, part, part_key)
            if found is None:
                f = get_frames()
                found = self.timed(part, len(f), lambda: compute(f))
                self.cache.save(key, part, part_key, found)
            return found

        def landmarks(f: np.ndarray) -> dict[str, np.ndarray]:
            result = self.dlib.video(f)
            return {"points": result.points, "source": result.source}

        lm = cached("landmarks", self._key_landmarks(), landmarks)
        feats = VideoFeatures(n_frames=len(lm["points"]), landmarks=lm["points"], landmark_source=lm["source"])

        if cfg.fid is not None and "inception" in parts:
            inc = cached(
                "inception", self._key_inception(), lambda f: {"activations": self.inception(f).astype(np.float32)}
            )
            feats.inception = inc["activations"]

        if cfg.csim is not None and "embeddings" in parts:
            emb = cached(
                "embeddings",
                self._key_embeddings(),
                lambda f: {"embeddings": self.embedder.embed(f, feats.landmarks).astype(np.float32)},
            )
            feats.embeddings = emb["embeddings"]

        if cfg.pose_backend is not None and "pose" in parts:
            pose = cached("pose", self._key_pose(), self._pose)
            if pose["rotation"].size:
                feats.rotation, feats.translation = pose["rotation"], pose["translation"]
            else:
                feats.pose_error = str(pose["error"])
        return feats

    def lip_sync(
        self,
        video_key: str,
        audio_key: str,
        inputs: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]],
    ) -> dict[str, float]:
        """LSE-D, LSE-C and offset of a video against its audio with the user's SyncNet (``--syncnet``), cached.

        ``inputs`` gives (frames RGB, dlib 68 landmarks, 16 kHz audio) and is called only on a cache miss.
        """
        from eval.metrics.lse import load_syncnet, lse

        config = self.config.lse
        if config is None:
            raise ToolkitError("LSE needs SyncNet weights.", "Pass --syncnet syncnet_v2.model to `toolkit evaluate`.")
        key = f"{video_key}-{audio_key}"
        if self._syncnet_sha256 is None:
            from toolkit.io.hashing import file_sha256

            self._syncnet_sha256 = file_sha256(config.model)
        identity = [config, self._syncnet_sha256]
        found = self.cache.load(key, "lse", identity)
        if found is None:
            if self._syncnet is None:
                self._syncnet = load_syncnet(config.model)
            frames, landmarks, audio = inputs()
            result = self.timed("lse", len(frames), lambda: lse(frames, landmarks, audio, self._syncnet, config))
            found = {name: np.asarray(value, np.float64) for name, value in result.items()}
            self.cache.save(key, "lse", identity, found)
        return {name: float(value) for name, value in found.items()}

    def _pose(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        from toolkit.motion.disentangle import disentangle

        try:
            track = self.tracker().track(frames)
            motion = disentangle(track.landmarks, track.reliable)
        except ToolkitError as exc:  # e.g. no face in most frames of a broken output: no pose, say why
            return {
                "rotation": np.zeros((0, 3), np.float32),
                "translation": np.zeros((0, 3), np.float32),
                "error": np.asarray(str(exc)),
            }
        return {
            "rotation": motion.rotation.astype(np.float32),
            "translation": motion.translation.astype(np.float32),
            "reliable": track.reliable,
            "error": np.asarray(""),
        }

    def pair(
        self, key_generated: str, key_reference: str, load: Callable[[], tuple[np.ndarray, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Per-frame SSIM and PSNR of a (generated, ground truth) pair, cached under both keys."""
        from eval.metrics.ssim_psnr import psnr_frames, ssim_frames

        key = hashlib.sha256(f"{key_generated}|{key_reference}".encode()).hexdigest()
        cfg = {"size": self.config.size, "ssim": "skimage-default-7x7", "psnr": "grey601-cap100"}
        out = self.cache.load(key, "ssim_psnr", cfg)
        if out is None:
            gen, ref = load()
            n = min(len(gen), len(ref))
            ssim = self.timed("ssim", n, lambda: ssim_frames(gen[:n], ref[:n]))
            psnr = self.timed("psnr", n, lambda: psnr_frames(gen[:n], ref[:n]))
            out = {"ssim": ssim, "psnr": psnr}
            self.cache.save(key, "ssim_psnr", cfg, out)
        return out
