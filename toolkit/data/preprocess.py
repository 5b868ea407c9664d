"""Dataset builder: raw talking-head videos -> per-clip training records.

``toolkit preprocess INPUT... --out DIR`` runs, for every video:

1. a cheap first pass that tracks the face on every ``detect_every``-th frame
   to choose one fixed, square crop for the whole clip (the camera is assumed
   still, so head motion inside the crop is the person's own, Sec. 3.3);
2. a second pass that decodes the clip at 25 fps, crops and resizes every
   frame to ``crop_size`` and tracks the face on the crop (full landmark
   precision whatever the source resolution);
3. the motion disentangler (head motion h_t, frontalised landmarks p_t, most
   frontal frame t_M) and the audio features (16 kHz, frame-aligned).

Each record is built in a hidden temporary folder and renamed into place when
complete, so a killed run leaves no half-written record and a rerun skips
finished clips. ``DIR/manifest.json`` lists every input with its status.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.data.records import CLIPS_DIR, MANIFEST_NAME, RECORD_VERSION
from toolkit.data.speakers import speaker_of
from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.atomic import write_json_atomic
from toolkit.io.formats import VIDEO_SUFFIXES
from toolkit.io.hashing import file_sha256

SKIPPED_DIR = "skipped"


@dataclass
class PreprocessConfig:
    """Options of the dataset builder (shared by the CLI and the notebooks)."""

    crop_size: int = 256
    backend: str = "mediapipe"
    #: crop side as a multiple of the face's landmark box (1.0 = tight face)
    crop_scale: float = 1.9
    #: first pass tracks every n-th frame only (it only needs the crop box)
    detect_every: int = 5
    jobs: int = 2
    retry_skipped: bool = False
    #: cap on clip length in seconds (0 = no cap); long clips are truncated, not split
    max_seconds: float = 0.0


def discover_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Video files named directly or found (recursively) in the given folders."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(f"Input '{path}' does not exist.", "Give existing video files or folders of videos.")
    # de-duplicate, keep order
    seen: set[Path] = set()
    unique = []
    for p in found:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            unique.append(p)
    return unique


def clip_id_for(path: str | Path, sha256: str | None = None) -> str:
    """``<sanitised stem>-<first 8 hex of the file's sha256>``: stable and unique."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem).strip("._-")[:80] or "clip"
    return f"{stem}-{(sha256 or file_sha256(path))[:8]}"


def choose_crop_box(boxes: np.ndarray, frame_size: tuple[int, int], crop_scale: float) -> tuple[int, int, int, int]:
    """One square crop (x0, y0, x1, y1) holding the face in every tracked frame.

    ``boxes`` are per-frame landmark boxes (x0, y0, x1, y1). The side is
    ``crop_scale`` times the larger face extent plus the range the face centre
    travels, the centre is the median face centre lifted slightly (hair and
    forehead matter more than the neck). The box is clamped into the frame,
    shrinking it if the frame is too small, so no padding is ever invented.
    """
    h, w = frame_size
    boxes = np.asarray(boxes, np.float64)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    travel = np.ptp(centres, axis=0).max() if len(centres) > 1 else 0.0
    side = crop_scale * float(np.percentile(extent, 90)) + float(travel)
    side = min(side, float(min(h, w)))
    cx, cy = np.median(centres, axis=0)
    cy -= 0.06 * side
    x0 = float(np.clip(cx - side / 2, 0, w - side))
    y0 = float(np.clip(cy - side / 2, 0, h - side))
    s = int(round(side))
    x0i, y0i = int(round(x0)), int(round(y0))
    x0i, y0i = min(x0i, w - s), min(y0i, h - s)
    return x0i, y0i, x0i + s, y0i + s


def preprocess_clip(source: str | Path, out_root: str | Path, config: PreprocessConfig) -> dict[str, Any]:
    """Build one record; returns its manifest entry. Raises ToolkitError for unusable inputs."""
    from toolkit.audio.features import log_mel
    from toolkit.io.media import (
        find_paired_audio,
        fit_audio,
        iter_frames,
        probe,
        read_audio,
        read_video,
        stream_offset,
        write_video,
        write_wav,
    )
    from toolkit.motion import disentangle
    from toolkit.tracking import make_tracker

    source = Path(source)
    started = time.perf_counter()
    sha = file_sha256(source)
    clip_id = clip_id_for(source, sha)
    info = probe(source)
    if not info.has_video:
        raise InputFileError(f"'{source.name}' has no video stream.", "Give a video file of a talking face.")
    max_frames = int(config.max_seconds * VIDEO_FPS) if config.max_seconds > 0 else None

    # pass 1: crop box from a sparse tracking pass (every detect_every-th frame, downscaled)
    sparse_fps = VIDEO_FPS / config.detect_every
    sparse_max = None if max_frames is None else max(1, max_frames // config.detect_every)
    sparse = list(iter_frames(source, fps=sparse_fps, max_frames=sparse_max))
    if not sparse:
        raise InputFileError(f"'{source.name}' contains no decodable frames.", "Check that the file plays.")
    frame_size = sparse[0].shape[:2]
    coarse = make_tracker(config.backend, max_side=960).track(sparse)
    box = choose_crop_box(coarse.boxes[coarse.detected], frame_size, config.crop_scale)

    # pass 2: ffmpeg crops + resizes every frame at 25 fps; track on the crops
    frames = read_video(source, fps=VIDEO_FPS, crop=box, size=config.crop_size, max_frames=max_frames)
    n_frames = len(frames)
    track = make_tracker(config.backend).track(frames)
    motion = disentangle(track.landmarks, valid=track.reliable)

    # audio: the video's own track (stream start offset applied), else a paired file of the
    # same stem (taken to start with the video), else none (silent clip)
    audio = None
    audio_path: Path | None = None
    offset = 0
    if info.has_audio:
        audio_path = source
        offset = round(stream_offset(source) * AUDIO_SAMPLE_RATE)
    else:
        audio_path = find_paired_audio(source)
    if audio_path is not None:
        audio = fit_audio(read_audio(audio_path, sr=AUDIO_SAMPLE_RATE), n_frames * SAMPLES_PER_FRAME, offset)

    out_root = Path(out_root)
    final = out_root / CLIPS_DIR / clip_id
    tmp = out_root / CLIPS_DIR / f".tmp-{clip_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        write_video(tmp / "frames.mp4", frames, fps=VIDEO_FPS, crf=10)
        if audio is not None:
            write_wav(tmp / "audio.wav", audio)
            np.save(tmp / "mel.npy", log_mel(audio, n_frames).astype(np.float32))
        np.savez(
            tmp / "track.npz",
            landmarks=track.landmarks.astype(np.float32),
            landmarks68=track.landmarks68.astype(np.float32),
            detected=track.detected.astype(bool),
            interpolated=track.interpolated.astype(bool),
            boxes=track.boxes.astype(np.float32),
            rotation=motion.rotation.astype(np.float32),
            translation=motion.translation.astype(np.float32),
            scale=motion.scale.astype(np.float32),
            frontal=motion.frontal.astype(np.float32),
            frontal68=motion.frontal68.astype(np.float32),
            frontal_index=np.int64(motion.frontal_index),
        )
        meta = {
            "version": RECORD_VERSION,
            "clip_id": clip_id,
            "source": str(source),
            "source_sha256": sha,
            "audio_source": str(audio_path) if audio_path is not None else None,
            "has_audio": audio is not None,
            "speaker": speaker_of(source),
            "n_frames": n_frames,
            "fps": VIDEO_FPS,
            "audio_sample_rate": AUDIO_SAMPLE_RATE,
            "crop_size": config.crop_size,
            "crop_box": list(box),
            "source_size": [int(frame_size[1]), int(frame_size[0])],
            "crop_frame_size": [int(frames.shape[2]), int(frames.shape[1])],
            "source_fps": info.fps,
            "backend": track.backend,
            "n_points": int(track.landmarks.shape[1]),
            "frontal_index": int(motion.frontal_index),
            "interpolated_frames": int((~track.detected).sum()),
            "seconds": round(time.perf_counter() - started, 3),
        }
        write_json_atomic(tmp / "meta.json", meta)
        if final.exists():  # a concurrent run finished it first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _entry_from_meta(meta)


def _entry_from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "clip_id": meta["clip_id"],
        "source": meta["source"],
        "audio_source": meta.get("audio_source"),
        "status": "done",
        "reason": None,
        "speaker": meta.get("speaker"),
        "n_frames": meta["n_frames"],
        "fps": meta["fps"],
        "has_audio": meta.get("has_audio", False),
    }


def _worker(source: str, out_root: str, config_dict: dict[str, Any]) -> dict[str, Any]:
    config = PreprocessConfig(**config_dict)
    try:
        return preprocess_clip(source, out_root, config)
    except Exception as exc:  # one bad clip must not abort a dataset build
        if isinstance(exc, ToolkitError):
            reason, code = str(exc), exc.code
        else:  # a bug or an unexpected decoder failure: recorded with its type so it can be reported
            reason, code = f"internal error ({type(exc).__name__}: {exc})", "internal-error"
        entry = {
            "clip_id": clip_id_for(source) if Path(source).is_file() else Path(source).stem,
            "source": source,
            "status": "skipped",
            "reason": reason,
            "error": code,
            "n_frames": 0,
            "fps": VIDEO_FPS,
        }
        write_json_atomic(Path(out_root) / SKIPPED_DIR / f"{entry['clip_id']}.json", entry)
        return entry


def build_dataset(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: PreprocessConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Preprocess every input video into ``out``; resumable; returns the manifest."""
    from tqdm import tqdm

    config = config or PreprocessConfig()
    out = Path(out)
    (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    # leftovers of a killed run are never read; remove them
    for stale in (out / CLIPS_DIR).glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    sources = discover_inputs(inputs)
    entries: dict[str, dict[str, Any]] = {}
    todo: list[Path] = []
    for src in sources:
        cid = clip_id_for(src)
        done_meta = out / CLIPS_DIR / cid / "meta.json"
        skipped = out / SKIPPED_DIR / f"{cid}.json"
        if done_meta.exists():
            entries[str(src)] = _entry_from_meta(json.loads(done_meta.read_text()))
        elif skipped.exists() and not config.retry_skipped:
            entries[str(src)] = json.loads(skipped.read_text())
        else:
            todo.append(src)

    def save_manifest() -> dict[str, Any]:
        manifest = {
            "version": RECORD_VERSION,
            "config": asdict(config),
            "clips": [entries[str(s)] for s in sources if str(s) in entries],
        }
        write_json_atomic(out / MANIFEST_NAME, manifest)
        return manifest

    bar = tqdm(
        total=len(sources), initial=len(sources) - len(todo), desc="preprocess", unit="clip", disable=not progress
    )
    cfg = asdict(config)
    if config.jobs <= 1 or len(todo) <= 1:
        for src in todo:
            entries[str(src)] = _worker(str(src), str(out), cfg)
            bar.update(1)
            save_manifest()
    else:
        # spawn, not fork: MediaPipe keeps threads, and forking a threaded process can deadlock
        with ProcessPoolExecutor(max_workers=config.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_worker, str(src), str(out), cfg): src for src in todo}
            for fut in as_completed(futures):
                entries[str(futures[fut])] = fut.result()
                bar.update(1)
                save_manifest()
    bar.close()
    manifest = save_manifest()
    return manifest


def summarise(manifest: dict[str, Any]) -> str:
    clips = manifest["clips"]
    done = [c for c in clips if c["status"] == "done"]
    skipped = [c for c in clips if c["status"] != "done"]
    lines = [f"{len(done)} clips done ({sum(c['n_frames'] for c in done)} frames), {len(skipped)} skipped"]
    for c in skipped:
        lines.append(f"  skipped {Path(c['source']).name}: {c['reason']}")
    return "\n".join(lines)
