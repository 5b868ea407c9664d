"""Frozen self-reenactment benchmarks as JSON files (``toolkit benchmark make``).

For each clip (decoded at 25 fps):

* reference = frames ``[0, tau)`` (tau = 64, the paper's 3-second reference
  video); ``K`` of them are sampled (sorted, without replacement, recorded
  seed) as the appearance references a few-shot method may use; the most
  frontal reference frame (minimum sum of |axis-angle rotation|, the paper's
  t_M) is recorded as the source frame;
* driving audio and ground truth = frames ``[tau, n_frames)`` and the audio
  under them (16 kHz mono, 640 samples per frame).

Clips are identified by ``<stem>-<sha256[:8]>`` and their files' sha256 are
stored, so a changed file is caught. Paths are relative to a data root
(``--data-root``, default ``$TOOLKIT_DATA`` or ``../shared/data``); no media
is copied into the file.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.video import EVAL_SIZE, count_frames, read_eval_frames
from toolkit.constants import AUDIO_SAMPLE_RATE, TAU, VIDEO_FPS
from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.atomic import write_json_atomic
from toolkit.io.hashing import file_sha256
from toolkit.paths import shared_data_dir

BENCHMARK_FORMAT = "rhythmic-talking-head-benchmark"
BENCHMARK_VERSION = 1
DATA_ROOT_ENV = "TOOLKIT_DATA"


@dataclass(frozen=True)
class BenchmarkConfig:
    tau: int = TAU
    k: int = 8
    seed: int = 0
    #: clips shorter than tau + this many frames are skipped (too little to evaluate)
    min_driving_frames: int = 50
    #: cap on the clip length in seconds (0 = whole clip); a capped clip keeps its first frames
    max_seconds: float = 0.0
    eval_size: int = EVAL_SIZE


@dataclass
class BenchmarkClip:
    clip_id: str
    video: Path  # resolved path
    audio: Path | None  # None = the video's own sound track
    video_sha256: str
    audio_sha256: str | None
    n_frames: int
    tau: int
    reference_indices: tuple[int, ...]
    frontal_index: int
    speaker: str
    entry: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def n_driving(self) -> int:
        return self.n_frames - self.tau

    def gt_key(self, size: int) -> str:
        """Feature-cache key of the ground-truth frames [tau, n_frames) at the evaluation size."""
        return f"gt-{self.video_sha256[:24]}-{self.tau}-{self.n_frames}-{VIDEO_FPS}fps-{size}"

    def verify(self) -> None:
        """Raise if the clip's files are missing or changed since the benchmark was made."""
        for path, sha, what in ((self.video, self.video_sha256, "video"), (self.audio, self.audio_sha256, "audio")):
            if path is None:
                continue
            if not path.is_file():
                raise InputFileError(
                    f"Benchmark {what} {path} for clip {self.clip_id} not found.",
                    f"Point --data-root (or ${DATA_ROOT_ENV}) at the folder the benchmark was made from.",
                )
            if file_sha256(path) != sha:
                raise InputFileError(
                    f"Benchmark {what} {path} for clip {self.clip_id} has changed (sha256 differs).",
                    "Use the original file, or make a new benchmark.",
                )


@dataclass
class Benchmark:
    path: Path
    data: dict[str, Any]
    data_root: Path
    clips: list[BenchmarkClip]

    @property
    def name(self) -> str:
        return str(self.data.get("name", self.path.stem))

    @property
    def protocol(self) -> dict[str, Any]:
        return dict(self.data["protocol"])


def _relative(path: Path, root: Path) -> tuple[str, bool]:
    try:
        return str(path.resolve().relative_to(root.resolve())), True
    except ValueError:
        return str(path.resolve()), False


def sample_reference_indices(tau: int, k: int, seed: int, video_sha256: str) -> list[int]:
    """K sorted distinct frame indices in [0, tau), from the seed and the clip's hash (order-independent)."""
    if k > tau:
        raise ToolkitError(f"K = {k} reference frames cannot be sampled from tau = {tau} frames.", "Use K <= tau.")
    rng = np.random.default_rng([seed, int(video_sha256[:8], 16)])
    return sorted(int(i) for i in rng.choice(tau, size=k, replace=False))


def frontal_reference_index(reference_frames: np.ndarray, backend: str = "mediapipe") -> int:
    """t_M among the reference frames: the paper's most frontal frame (minimum sum of |rotation|)."""
    from toolkit.motion.disentangle import disentangle
    from toolkit.tracking import make_tracker

    track = make_tracker(backend).track(reference_frames)
    return int(disentangle(track.landmarks, track.reliable).frontal_index)


def make_clip_entry(
    video: Path, root: Path, config: BenchmarkConfig, pose_backend: str = "mediapipe"
) -> dict[str, Any]:
    from toolkit.data.preprocess import clip_id_for
    from toolkit.data.speakers import speaker_of
    from toolkit.io.media import find_paired_audio, probe

    info = probe(video)
    if not info.has_video:
        raise InputFileError(f"'{video.name}' has no video stream.", "Give talking-head videos.")
    audio: Path | None = None
    if not info.has_audio:
        audio = find_paired_audio(video)
        if audio is None:
            raise InputFileError(
                f"'{video.name}' has no sound track and no audio file of the same name beside it.",
                "A self-reenactment benchmark needs the speech: add '<stem>.wav' beside the video.",
            )
    sha = file_sha256(video)
    total = count_frames(video)
    n_frames = total
    if config.max_seconds > 0:
        n_frames = min(total, int(round(config.max_seconds * VIDEO_FPS)))
    if n_frames < config.tau + config.min_driving_frames:
        raise ToolkitError(
            f"'{video.name}' has {n_frames} frames at {VIDEO_FPS} fps; at least tau + {config.min_driving_frames} = "
            f"{config.tau + config.min_driving_frames} are needed.",
            "Use a longer clip (or lower --min-driving-frames).",
        )
    reference = read_eval_frames(video, 0, config.tau, config.eval_size)
    frontal = frontal_reference_index(reference, pose_backend)
    rel_video, inside = _relative(video, root)
    entry: dict[str, Any] = {
        "clip_id": clip_id_for(video, sha),
        "video": rel_video,
        "video_sha256": sha,
        "audio": None,
        "audio_sha256": None,
        "speaker": speaker_of(video),
        "source_size": [info.width, info.height],
        "source_fps": info.fps,
        "source_n_frames": total,
        "n_frames": n_frames,
        "reference": [0, config.tau],
        "reference_indices": sample_reference_indices(config.tau, config.k, config.seed, sha),
        "frontal_index": frontal,
        "driving": [config.tau, n_frames],
        "driving_seconds": round((n_frames - config.tau) / VIDEO_FPS, 3),
    }
    if audio is not None:
        entry["audio"], inside_audio = _relative(audio, root)
        entry["audio_sha256"] = file_sha256(audio)
        inside = inside and inside_audio
    if not inside:
        entry["absolute_paths"] = True
    return entry


def make_benchmark(
    videos: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: BenchmarkConfig | None = None,
    data_root: str | os.PathLike[str] | None = None,
    name: str | None = None,
    pose_backend: str = "mediapipe",
    progress: bool = True,
) -> dict[str, Any]:
    """Freeze a benchmark from ``videos`` into the JSON file ``out``; returns its content.

    Unusable clips (no audio, too short, no face) are listed under ``skipped`` with the reason.
    """
    from tqdm import tqdm

    from toolkit.data.preprocess import discover_inputs

    config = config or BenchmarkConfig()
    root = Path(data_root) if data_root else shared_data_dir()
    sources = discover_inputs(videos)
    if not sources:
        raise InputFileError("No videos were given to the benchmark maker.", "Give video files or folders.")
    clips, skipped = [], []
    for video in tqdm(sources, desc="benchmark", unit="clip", disable=not progress):
        try:
            clips.append(make_clip_entry(Path(video), root, config, pose_backend))
        except ToolkitError as exc:
            skipped.append({"video": _relative(Path(video), root)[0], "reason": str(exc), "error": exc.code})
    ids = [c["clip_id"] for c in clips]
    if len(set(ids)) != len(ids):
        raise ToolkitError("The same video was given twice.", "Give each clip once.")
    if not clips:
        reasons = "; ".join(f"{s['video']}: {s['reason']}" for s in skipped)
        raise ToolkitError(
            f"No usable clip for the benchmark ({reasons}).", "Give longer talking-head videos with speech."
        )
    from toolkit.io.media import ffmpeg_exe

    data = {
        "format": BENCHMARK_FORMAT,
        "version": BENCHMARK_VERSION,
        "name": name or Path(out).stem,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data_root": {
            "env": DATA_ROOT_ENV,
            "default": "../shared/data (beside the project checkout)",
            "note": f"clip paths are relative to the data root: --data-root, else ${DATA_ROOT_ENV}, else the default",
        },
        "protocol": {
            "task": "self-reenactment: reference frames + driving audio -> the rest of the clip",
            "fps": VIDEO_FPS,
            "sample_rate": AUDIO_SAMPLE_RATE,
            "tau": config.tau,
            "k": config.k,
            "seed": config.seed,
            "reference_rule": "first tau frames; K sampled without replacement, sorted, "
            "numpy default_rng([seed, int(video_sha256[:8], 16)])",
            "source_frame_rule": f"most frontal reference frame: argmin sum |axis-angle| ({pose_backend} tracker + "
            "toolkit.motion)",
            "ground_truth": "frames [tau, n_frames) at 25 fps (ffmpeg fps filter from the first frame)",
            "max_seconds": config.max_seconds,
            "min_driving_frames": config.min_driving_frames,
            "eval_size": config.eval_size,
            "eval_frame": f"centre square crop, area resize to {config.eval_size}x{config.eval_size}",
        },
        "software": {"python": platform.python_version(), "ffmpeg": Path(ffmpeg_exe()).name},
        "clips": clips,
        "skipped": skipped,
    }
    write_json_atomic(out, data)
    return data


def load_benchmark(path: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None) -> Benchmark:
    """Read a benchmark file; clip paths are resolved against ``data_root`` (see module doc)."""
    import json

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"Benchmark file {path} not found.", "Make one with `toolkit benchmark make`.")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(f"Benchmark file {path} is not readable JSON ({exc}).", "Remake it.") from exc
    if data.get("format") != BENCHMARK_FORMAT:
        raise InputFileError(f"{path} is not a benchmark file.", "Make one with `toolkit benchmark make`.")
    if int(data.get("version", 0)) > BENCHMARK_VERSION:
        raise InputFileError(
            f"{path} has benchmark format version {data['version']}; this toolkit reads up to {BENCHMARK_VERSION}.",
            "Update the toolkit.",
        )
    root = Path(data_root) if data_root else shared_data_dir()
    tau = int(data["protocol"]["tau"])
    clips = []
    for c in data["clips"]:
        video = Path(c["video"]) if c.get("absolute_paths") else root / c["video"]
        audio = None
        if c.get("audio"):
            audio = Path(c["audio"]) if c.get("absolute_paths") else root / c["audio"]
        clips.append(
            BenchmarkClip(
                clip_id=c["clip_id"],
                video=video,
                audio=audio,
                video_sha256=c["video_sha256"],
                audio_sha256=c.get("audio_sha256"),
                n_frames=int(c["n_frames"]),
                tau=tau,
                reference_indices=tuple(int(i) for i in c["reference_indices"]),
                frontal_index=int(c["frontal_index"]),
                speaker=str(c.get("speaker", c["clip_id"])),
                entry=c,
            )
        )
    return Benchmark(path=path, data=data, data_root=root, clips=clips)
