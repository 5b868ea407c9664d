"""Real-time factor and peak memory of the generation pipeline on long audio.

Runs ``toolkit.pipeline`` twice, each in a fresh process (so peak RSS is that
run's own): a 30 s baseline and the 10-minute target, same reference, same
options (256x256 face, K = 8, learned motion and expression). Prints, per
stage (load, tracking, learners, render, generator, encode), seconds of
compute per second of video, the peak resident memory of the Python process
(and of it plus its ffmpeg encoders, sampled), and the ratios of the long run to the baseline
(memory ratio ~1 = memory does not grow with the audio length).

The 10-minute audio is real speech: the project's example plus the shared
speech clips, concatenated and looped.

    nice -n 10 .venv/bin/python scripts/bench/realtime_factor.py [--minutes 10] [--baseline-seconds 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from toolkit.constants import AUDIO_SAMPLE_RATE  # noqa: E402
from toolkit.paths import shared_data_dir  # noqa: E402

REFERENCE = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"


def make_long_speech(seconds: float, out: Path) -> Path:
    import numpy as np

    from toolkit.io.media import read_audio, write_wav

    parts = [read_audio(ROOT / "assets" / "example_speech.wav", sr=AUDIO_SAMPLE_RATE)]
    speech_dir = shared_data_dir() / "speech"
    if speech_dir.is_dir():
        for p in sorted(speech_dir.iterdir())[:12]:
            try:
                parts.append(read_audio(p, sr=AUDIO_SAMPLE_RATE))
            except Exception:
                continue
    joined = np.concatenate(parts)
    n = int(seconds * AUDIO_SAMPLE_RATE)
    audio = np.tile(joined, int(np.ceil(n / joined.size)))[:n]
    return write_wav(out, audio)


class MemorySampler:
    """Peak resident memory of this process and of this process plus its children (ffmpeg), sampled."""

    def __init__(self, every: float = 0.05) -> None:
        import threading

        import psutil

        self.proc = psutil.Process()
        self.peak_self = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                own = self.proc.memory_info().rss
                kids = 0
                for child in self.proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        kids += child.memory_info().rss
                self.peak_self = max(self.peak_self, own)
                self.peak_total = max(self.peak_total, own + kids)
            except psutil.Error:
                pass
            self._stop.wait(self._every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_one(reference: str, audio: str, out: str, k: int) -> dict:
    """Child process body: one generation, then timings and peak memory as JSON on stdout."""
    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline

    config = GenerationConfig(k=k, max_seconds=0)
    with MemorySampler() as memory:
        started = time.perf_counter()
        result = TalkingHeadPipeline(config).generate(reference, audio, out)
        wall = time.perf_counter() - started
    return {
        "frames": result.n_frames,
        "video_seconds": result.seconds,
        "wall_seconds": wall,
        "timings": result.timings,
        "renderer": result.renderer,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_total_mb": memory.peak_total / 2**20,
    }


def measure(reference: Path, seconds: float, k: int, work: Path) -> dict:
    audio = make_long_speech(seconds, work / f"speech_{int(seconds)}s.wav")
    out = work / f"out_{int(seconds)}s.mp4"
    cmd = [sys.executable, __file__, "--child", str(reference), str(audio), str(out), str(k)]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"run of {seconds:.0f} s failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    # the whole fresh process (interpreter, imports, model loading, exit), not only the pipeline's stages
    data["process_wall_seconds"] = time.perf_counter() - started
    data["load_before"] = load
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--baseline-seconds", type=float, default=30.0)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--reference", default=str(REFERENCE))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ref, audio, out, k = args.child
        print(json.dumps(run_one(ref, audio, out, int(k))))
        return
    reference = Path(args.reference)
    if not reference.exists():
        raise SystemExit(f"reference clip not found: {reference} (set TOOLKIT_DATA)")
    print(f"machine: {os.cpu_count()} CPU cores; reference {reference.name}; K={args.k}; 256x256")
    with tempfile.TemporaryDirectory(prefix="rtf-bench-") as tmp:
        work = Path(tmp)
        base = measure(reference, args.baseline_seconds, args.k, work)
        long = measure(reference, args.minutes * 60, args.k, work)
    stages = list(base["timings"])
    print(f"\n{'stage':<10} {'RTF 30 s':>10} {'RTF long':>10} {'ratio':>7}")
    for s in stages:
        rb = base["timings"][s] / base["video_seconds"]
        rl = long["timings"][s] / long["video_seconds"]
        ratio = f"{rl / rb:7.2f}" if rb > 1e-4 else "      -"
        print(f"{s:<10} {rb:10.3f} {rl:10.3f} {ratio}")
    tb = sum(base["timings"].values()) / base["video_seconds"]
    tl = sum(long["timings"].values()) / long["video_seconds"]
    print(f"{'total':<10} {tb:10.3f} {tl:10.3f} {tl / tb:7.2f}")
    print(
        f"\nfresh process, start to exit: {base['process_wall_seconds']:.1f} s for {base['video_seconds']:.0f} s of "
        f"video (load average before {base['load_before']:.1f}), {long['process_wall_seconds']:.1f} s for "
        f"{long['video_seconds']:.0f} s (load average before {long['load_before']:.1f}); load average now "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"wall: {base['wall_seconds']:.1f} s for {base['video_seconds']:.0f} s of video; "
        f"{long['wall_seconds']:.1f} s for {long['video_seconds']:.0f} s ({long['frames']} frames, "
        f"renderer {long['renderer']})"
    )
    print(
        f"peak RSS of the Python process: {base['peak_rss_mb']:.0f} MB (baseline) vs {long['peak_rss_mb']:.0f} MB "
        f"(long), ratio {long['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
    )
    print(
        f"peak RSS with its ffmpeg encoders (sampled every 50 ms): {base['peak_total_mb']:.0f} MB vs "
        f"{long['peak_total_mb']:.0f} MB, ratio {long['peak_total_mb'] / base['peak_total_mb']:.2f}"
    )
    peak = max(long["peak_rss_mb"], long["peak_total_mb"])
    print(
        f"target: peak RSS < 2048 MB -> {'OK' if peak < 2048 else 'OVER'} ({peak:.0f} MB); "
        f"real-time factor < 4 -> {'OK' if tl < 4 else 'OVER'} ({tl:.2f})"
    )


if __name__ == "__main__":
    main()
