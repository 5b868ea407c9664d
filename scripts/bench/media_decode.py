"""Decode speed of toolkit.io.media on shared clips, against baselines measured in the same run.

    nice -n 10 .venv/bin/python scripts/bench/media_decode.py [--repeat 3]

Cases: a 256x256 clip decoded whole at 25 fps, and a 1920x1080 clip decoded at 25 fps,
cropped (a 600x600 face box) and resized to 256x256. Baselines: ``ffmpeg -f null``
(pure decode, no conversion or pipe: the ceiling) and ``imageio_ffmpeg.read_frames``
(full frames, native rate, rgb24 through a pipe: what a plain imageio user gets).
Frames per second are output frames per wall-clock second (best of --repeat).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from toolkit.io.media import ffmpeg_exe, iter_frames, probe
from toolkit.paths import shared_data_dir

CLIP_256 = "av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4"
CLIP_1080 = "av/jixinya__EAMM__M030_sad_3_001.mp4"


def best_of(repeat: int, fn) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t)
    return best, n


def ffmpeg_null(path: Path) -> int:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
         "-f", "null", "-"],
        check=True,
    )  # fmt: skip
    return probe(path).n_frames


def imageio_frames(path: Path) -> int:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    next(gen)  # metadata
    return sum(1 for _ in gen)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = shared_data_dir()
    cases = [
        ("256x256 clip, whole, 25 fps", data / CLIP_256, {}),
        ("1920x1080 clip, crop 600 -> 256, 25 fps", data / CLIP_1080, {"crop": (660, 100, 1260, 700), "size": 256}),
    ]
    for label, path, kw in cases:
        if not path.is_file():
            print(f"skip {label}: {path} not found (set TOOLKIT_DATA)")
            continue
        info = probe(path)
        t_ours, n_ours = best_of(args.repeat, lambda p=path, k=kw: sum(1 for _ in iter_frames(p, **k)))
        t_null, n_null = best_of(args.repeat, lambda p=path: ffmpeg_null(p))
        t_iio, n_iio = best_of(args.repeat, lambda p=path: imageio_frames(p))
        print(f"{label}: {path.name} ({info.width}x{info.height} {info.video_codec} {info.fps:g} fps)")
        print(f"  toolkit iter_frames          {n_ours:5d} frames  {n_ours / t_ours:8.1f} frames/s  ({t_ours:.2f} s)")
        print(
            f"  baseline ffmpeg -f null      {n_null:5d} frames  {n_null / t_null:8.1f} frames/s"
            f"  (toolkit time / baseline = {t_ours / t_null:.2f})"
        )
        print(
            f"  baseline imageio read_frames {n_iio:5d} frames  {n_iio / t_iio:8.1f} frames/s"
            f"  (toolkit time / baseline = {t_ours / t_iio:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
