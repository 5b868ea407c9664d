"""Throughput of the tracking front end: decode, track, disentangle, end to end.

    nice -n 10 .venv/bin/python scripts/bench/tracking_throughput.py [--clips 8] [--seconds 8] [--processes 2]

On 256x256 shared clips (resampled to 25 fps), for every available backend,
prints frames/s for

* decode        toolkit.io.media.iter_frames (ffmpeg pipe), frames kept in memory
* track         tracker.track on decoded frames
* disentangle   toolkit.motion.disentangle on the tracks
* end to end    decode + track + disentangle, one clip after another, one process
* end to end xP the same with clips spread over P worker processes (what the
                dataset builder does), wall-clock over all frames

and ratios against the single-process end-to-end baseline measured in the
same run, plus the target (60 frames/s). Tracker variants (one face instead
of two, no blendshapes, no smoothing) are measured on the track stage.
Wall-clock numbers depend on what else runs on the machine; the CPU-time
columns (this process and its finished children) do much less.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_FPS = 60.0


def pick_clips(n: int) -> list[Path]:
    from toolkit.paths import shared_data_dir

    data = shared_data_dir()
    manifest = data / "MANIFEST.tsv"
    if not manifest.is_file():
        raise SystemExit(f"shared data not found at {data} (set TOOLKIT_DATA)")
    clips = []
    for line in manifest.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 4 and cols[4] == "256x256" and cols[0].endswith(".mp4") and float(cols[3]) >= 4.0:
            clips.append(data / cols[0])
    # spread over sources/people: take every k-th
    step = max(1, len(clips) // n)
    return clips[::step][:n]


def decode(path: Path, max_frames: int) -> np.ndarray:
    from toolkit.io.media import read_video

    return read_video(path, max_frames=max_frames)


def end_to_end(args: tuple[str, str, int, dict]) -> int:
    """decode + track + disentangle one clip; returns its frame count (runs in a worker too)."""
    from toolkit.io.media import iter_frames
    from toolkit.motion import disentangle
    from toolkit.tracking import make_tracker

    path, backend, max_frames, options = args
    track = make_tracker(backend, **options).track(iter_frames(path, max_frames=max_frames))
    disentangle(track.landmarks, valid=track.reliable)
    return len(track)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg decoders, pool workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Timer:
    """Wall-clock and CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu


def fps(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else float("inf")


def line(name: str, frames: int, timer: Timer, baseline: float | None) -> None:
    f = fps(frames, timer.wall)
    ratio = f" x{f / baseline:5.2f} vs baseline" if baseline else " " * 17
    target = "meets" if f >= TARGET_FPS else "below"
    print(
        f"  {name:34s} {f:8.1f} frames/s wall{ratio} [{target} {TARGET_FPS:.0f}] | "
        f"CPU {1000 * timer.cpu / frames:6.2f} ms/frame = {fps(frames, timer.cpu):7.1f} frames/s per core"
    )


def bench_backend(backend: str, clips: list[Path], max_frames: int, processes: int) -> None:
    from toolkit.errors import ToolkitError
    from toolkit.motion import disentangle
    from toolkit.tracking import make_tracker

    try:
        tracker = make_tracker(backend)
    except ToolkitError as exc:
        print(f"backend {backend}: unavailable ({type(exc).__name__}: {exc.problem})")
        return
    print(f"backend {backend}: {len(clips)} clips x up to {max_frames} frames, 256x256 @ 25 fps")
    # warm up (imports, model load) outside the timings
    end_to_end((str(clips[0]), backend, 10, {}))

    with Timer() as t_decode:
        videos = [decode(p, max_frames) for p in clips]
    n = sum(len(v) for v in videos)

    with Timer() as t_track:
        tracks = [tracker.track(v) for v in videos]

    with Timer() as t_dis:
        for tr in tracks:
            disentangle(tr.landmarks, valid=tr.reliable)

    jobs = [(str(p), backend, max_frames, {}) for p in clips]
    with Timer() as t_e2e:
        n_e2e = sum(end_to_end(j) for j in jobs)
    baseline = fps(n_e2e, t_e2e.wall)

    # workers are started and warmed up (imports, model load: once per dataset build) before timing
    warm_jobs = [(str(clips[0]), backend, 5, {})] * processes
    with (
        Timer() as t_pool,
        ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),  # MediaPipe holds threads: no fork
        ) as pool,
    ):
        list(pool.map(end_to_end, warm_jobs))
        with Timer() as t_par:
            n_par = sum(pool.map(end_to_end, jobs))
    # workers' CPU is only counted once they exit: charge the whole pool's CPU (start-up included)
    t_par.cpu = t_pool.cpu

    line("decode", n, t_decode, baseline)
    line("track", n, t_track, baseline)
    line("disentangle", n, t_dis, baseline)
    line("end to end, 1 process (baseline)", n_e2e, t_e2e, None)
    line(f"end to end, {processes} processes (*)", n_par, t_par, baseline)
    print("  (*) warm workers; its CPU column includes starting and warming the workers")
    ideal = processes * fps(n_e2e, t_e2e.cpu)
    print(f"  end to end on {processes} idle cores (CPU-time bound): about {ideal:.0f} frames/s")

    if backend == "mediapipe":
        variants = (
            ("track, max_faces=1", {"max_faces": 1}),
            ("track, no blendshapes", {"output_blendshapes": False}),
            ("track, no smoothing", {"smooth_window": 0}),
        )
        for label, options in variants:
            variant = make_tracker(backend, **options)
            with Timer() as t_var:
                for v in videos:
                    variant.track(v)
            line(label, n, t_var, fps(n, t_track.wall))
        print("  (variant ratios are against the default 'track' line)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per clip (25 fps)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=["mediapipe", "fan"])
    args = parser.parse_args(argv)
    clips = pick_clips(args.clips)
    print(f"machine: {os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")
    for backend in args.backends:
        bench_backend(backend, clips, int(args.seconds * 25), args.processes)
    print(f"load average after: {os.getloadavg()[0]:.2f} (other jobs on the machine skew the numbers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
