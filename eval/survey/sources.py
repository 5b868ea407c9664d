"""Where a study's videos come from: method folders and, optionally, a benchmark.

A method is a folder of ``<clip-id>.mp4`` files (what the benchmarking suite's
runner writes). A benchmark file adds, per clip, the dataset it belongs to (for
per-dataset breakdowns), the driving audio (muxed in when a method wrote silent
videos), the reference (for side-by-side studies) and the ground truth (which
can be rated as a method of its own).

Everything that knows the benchmarking suite (``eval``) is in this module:
:func:`load_benchmark_clips`, :func:`prepare_benchmark_clip` (ground truth,
driving audio and source frame cut out of a self-reenactment clip) and
:func:`generate_builtin_videos` (the suite's built-in baselines, e.g.
``static``), so a change of the benchmark format touches one file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolkit.errors import InputFileError
from toolkit.io.atomic import atomic_path

METHOD_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class BenchmarkClip:
    """What the study needs to know about one benchmark clip.

    For the benchmarking suite's self-reenactment benchmarks the ground truth,
    the driving audio and the reference frame are segments of one source video;
    :func:`prepare_benchmark_clip` cuts them into files (``source`` holds the
    suite's own clip record until then).
    """

    clip_id: str
    dataset: str = "all"
    driving_audio: Path | None = None
    reference: Path | None = None
    ground_truth: Path | None = None
    source: Any = field(default=None, compare=False, repr=False)
    method_seed: int = 0  # the suite's protocol seed, which its runner gives built-in methods


def parse_method_arg(text: str) -> tuple[str, Path | None]:
    """``NAME=DIR`` -> (name, dir); a bare ``NAME`` -> (name, None): a built-in method of the benchmarking suite."""
    name, sep, folder = text.partition("=")
    name = name.strip()
    if not METHOD_NAME_RE.match(name):
        raise InputFileError(
            f"method name {name!r} is not usable.",
            "Use letters, digits and . _ + - (at most 64 characters), starting with a letter or digit.",
        )
    if not sep:
        return name, None
    if not folder:
        raise InputFileError(f"--method {text!r} has no folder after '='.", "Write e.g. --method ours=out/ours.")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputFileError(f"method folder {path} (for {name}) does not exist.", "Check the path.")
    return name, path


def method_videos(folder: Path) -> dict[str, Path]:
    """``{clip_id: path}`` for every ``<clip-id>.mp4`` in ``folder`` (not recursive)."""
    return {p.stem: p for p in sorted(Path(folder).glob("*.mp4")) if p.is_file() and not p.name.startswith(".")}


def load_benchmark_clips(path: Path, data_root: Path | None = None) -> list[BenchmarkClip]:
    """Clips of a benchmark file: the benchmarking suite's format, or a plain JSON clip list.

    Suite format (``eval.benchmark``, ``toolkit benchmark make``): the dataset is
    the clip's ``dataset`` entry if any, else the benchmark's name. Plain format:
    ``{"name": ..., "clips": [{"clip_id", "dataset", "driving_audio", "reference",
    "ground_truth"}]}`` with paths relative to the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"benchmark file {path} does not exist.", "Pass a benchmark JSON file to --benchmark.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"benchmark file {path} is not readable JSON ({exc}).", "Rebuild it.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("clips"), list):
        raise InputFileError(f"benchmark file {path} has no 'clips' list.", "Make it with `toolkit benchmark make`.")
    if data.get("format") == "rhythmic-talking-head-benchmark":
        from eval.benchmark import load_benchmark

        bench = load_benchmark(path, data_root)
        return [
            BenchmarkClip(
                clip_id=c.clip_id,
                dataset=str(c.entry.get("dataset") or bench.name),
                source=c,
                method_seed=int(bench.protocol.get("seed", 0)),
            )
            for c in bench.clips
        ]
    base = path.parent
    default_dataset = str(data.get("dataset") or data.get("name") or "all")
    clips = []
    for entry in data["clips"]:
        clip_id = entry.get("clip_id") or entry.get("id")
        if not clip_id:
            raise InputFileError(f"a clip in {path} has no id.", "Give every clip a 'clip_id'.")
        clips.append(
            BenchmarkClip(
                clip_id=str(clip_id),
                dataset=str(entry.get("dataset") or default_dataset),
                driving_audio=_path(base, entry.get("driving_audio") or entry.get("audio")),
                reference=_path(base, entry.get("reference")),
                ground_truth=_path(base, entry.get("ground_truth")),
            )
        )
    return clips


def _suite_inputs(clip: Any, seed: int = 0) -> Any:
    """The benchmarking suite's MethodInputs for one clip (what its runner gives a built-in method)."""
    from eval.methods import MethodInputs
    from eval.video import clip_audio, read_native_frames

    clip.verify()
    native = read_native_frames(clip.video, 0, clip.n_frames)
    audio = clip_audio(clip.video, clip.audio, clip.n_frames)
    return MethodInputs.for_clip(clip, native, audio, seed), native


def prepare_benchmark_clip(clip: BenchmarkClip, folder: Path, *, need_reference: bool) -> BenchmarkClip:
    """Cut a suite clip's ground truth (frames [tau, n) + their audio), driving audio and source frame into files."""
    if clip.source is None:
        return clip
    from toolkit.io.media import write_video

    folder.mkdir(parents=True, exist_ok=True)
    inputs, native = _suite_inputs(clip.source, clip.method_seed)
    audio_path = folder / "driving.wav"
    _write_wav(audio_path, inputs.driving_audio, inputs.sample_rate)
    gt_path = write_video(folder / "ground_truth.mp4", native[clip.source.tau :], fps=inputs.fps,
                          audio=inputs.driving_audio)  # fmt: skip
    ref_path = None
    if need_reference:
        ref_path = folder / "reference.png"
        _write_png(ref_path, inputs.reference_frames[inputs.frontal_index])
    return replace(clip, driving_audio=audio_path, ground_truth=Path(gt_path), reference=ref_path)


def generate_builtin_videos(method: str, clips: list[BenchmarkClip], folder: Path) -> dict[str, Path]:
    """Run one of the benchmarking suite's built-in methods (e.g. ``static``) on the clips."""
    from eval.methods import make_method
    from toolkit.io.media import write_video

    if any(c.source is None for c in clips):
        raise InputFileError(
            f"built-in method {method!r} needs a benchmark made by `toolkit benchmark make`.",
            "Pass such a file to --benchmark, or give the method's outputs as NAME=DIR.",
        )
    generator = make_method(method)
    out = {}
    for clip in clips:
        inputs, _ = _suite_inputs(clip.source, clip.method_seed)
        out[clip.clip_id] = Path(
            write_video(folder / f"{clip.clip_id}.mp4", generator.generate(inputs), fps=inputs.fps,
                        audio=inputs.driving_audio)
        )  # fmt: skip
    return out


def _write_wav(path: Path, audio: Any, sample_rate: int) -> None:
    import wave

    import numpy as np

    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_path(path, suffix=".wav") as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def _write_png(path: Path, frame: Any) -> None:
    from PIL import Image

    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(frame).save(tmp, format="PNG")


def _path(base: Path, value: Any) -> Path | None:
    if value in (None, ""):
        return None
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base / p)
