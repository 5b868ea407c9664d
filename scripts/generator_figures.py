"""Figures of the shipped generator from a finished evaluation run (docs/img/generator_*.png).

    .venv/bin/python scripts/generator_figures.py --run /work/runs_eval/val8_k8 \
        --benchmark eval/benchmarks/shared_val8_k8.json [--out docs/img]

Reads the videos ``toolkit evaluate`` wrote (``<run>/videos/<method>/<clip-id>.mp4``) and the
ground truth from the benchmark's clips, all as the suite sees them (centre square crop, area
resize). Writes:

* ``generator_samples.png``: one frame of each validation clip (rows): the most frontal
  reference frame, the 3D-warp render and ``ours`` (both landmark-driven), ``ours`` audio-driven,
  and the real frame;
* ``generator_validation_video.png``: one validation clip as a video strip (every 4th frame of
  its first 32 driving frames): real, 3D-warp, ours (landmark-driven), ours (audio-driven).

Nothing here is a shared clip's pixels alone: every row but "real" and "reference" is generated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = (
    ("reference t_M", None),
    ("3D-warp (landmark-driven)", "3d-warp-landmark"),
    ("ours (landmark-driven)", "ours-landmark"),
    ("ours (audio-driven)", "ours"),
    ("real", "real"),
)


def _frames(run: Path, method: str, clip, size: int) -> np.ndarray:
    from eval.video import read_eval_frames

    if method == "real":
        return read_eval_frames(clip.video, clip.tau, clip.n_frames, size)
    return read_eval_frames(run / "videos" / method / f"{clip.clip_id}.mp4", 0, None, size)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="results folder of toolkit evaluate")
    ap.add_argument("--benchmark", required=True)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--frame", type=int, default=40, help="driving frame shown in the samples grid")
    ap.add_argument("--video-clip", default="", help="clip id of the video strip (default: the first clip)")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eval.benchmark import load_benchmark
    from eval.video import read_eval_frames

    bench = load_benchmark(args.benchmark)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    s = args.size

    rows = []
    for clip in bench.clips:
        t = min(args.frame, clip.n_driving - 1)
        row = []
        for _, method in COLUMNS:
            if method is None:
                ref = read_eval_frames(clip.video, clip.frontal_index, clip.frontal_index + 1, s)
                row.append(ref[0])
            else:
                row.append(_frames(run, method, clip, s)[t])
        rows.append(row)
    fig, axes = plt.subplots(len(rows), len(COLUMNS), figsize=(2.0 * len(COLUMNS), 2.0 * len(rows)))
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            ax = axes[i, j]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(COLUMNS[j][0], fontsize=8)
    title = f"{bench.name}: driving frame {args.frame} of each held-out clip (speakers unseen in training)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "generator_samples.png", dpi=80)
    plt.close(fig)

    clip = next((c for c in bench.clips if c.clip_id == args.video_clip), bench.clips[0])
    times = list(range(0, min(32, clip.n_driving), 4))
    strip = [(name, _frames(run, m, clip, s)) for name, m in COLUMNS[1:]]
    strip = [strip[-1], *strip[:-1]]  # real first
    fig, axes = plt.subplots(len(strip), len(times), figsize=(1.6 * len(times), 1.7 * len(strip)))
    for i, (name, frames) in enumerate(strip):
        for j, t in enumerate(times):
            ax = axes[i, j]
            ax.imshow(frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=7)
            if i == 0:
                ax.set_title(f"t = {t}", fontsize=7)
    fig.suptitle(f"validation video {clip.clip_id} (every 4th frame)", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "generator_validation_video.png", dpi=80)
    plt.close(fig)
    print(f"wrote {out / 'generator_samples.png'} and {out / 'generator_validation_video.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
