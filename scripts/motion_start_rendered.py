"""The start of rendered videos: mean tracked head pose of the first frames of `toolkit evaluate` runs, relative to
each video's first frame, against the ground truth's (the start transient, issue 17, session 12).

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_start_rendered.py --cache CACHE \
        --run "label=EVAL_DIR" [--run ...] [--json OUT] [--plot OUT.png]

Each ``EVAL_DIR`` is an ``--out`` folder of ``toolkit evaluate`` whose features are in ``--cache`` (the same
``--cache`` as the run: the tracked poses are read from it, nothing is tracked again). Per run: pitch / yaw / roll
(axis-angle x / y / z of the evaluation's MediaPipe pose, degrees) of the first 40 generated frames minus the first
generated frame, averaged over the clips; the mean over the first 20 frames and the pitch curve's minimum; the same
for the clips' ground truth. Runs are plotted in the order given, in pairs of before / after when labelled so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.motion_start_transient import AXES, FIRST, HEAD, offset_summary  # noqa: E402


def start_curves(run: Path, extractor) -> tuple[np.ndarray, np.ndarray, int]:
    """(HEAD, 3) mean generated and ground-truth rotation (degrees, minus frame 0) over a run's clips, clip count."""
    from toolkit.errors import ToolkitError

    def not_cached() -> np.ndarray:
        raise ToolkitError(f"A pose of {run} is not in the cache.", "Give the --cache the evaluation used.")

    gen, real = [], []
    for f in sorted(run.glob("clips/*/*.json")):
        record = json.loads(f.read_text())
        for key, out in ((record["gen_key"], gen), (record["gt_key"], real)):
            rot = extractor.video(key, not_cached, parts=("pose",)).rotation
            out.append(np.degrees(rot[:HEAD] - rot[0]))
    if not gen:
        raise ToolkitError(f"No clip results in {run}.", "Give an --out folder of `toolkit evaluate`.")
    return np.mean(gen, axis=0), np.mean(real, axis=0), len(gen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True, help="the --cache folder of the evaluations")
    ap.add_argument("--run", action="append", required=True, help="LABEL=EVAL_DIR (repeat; the label may hold '=')")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    args = ap.parse_args(argv)

    from eval.features import FeatureCache, FeatureConfig, FeatureExtractor

    extractor = FeatureExtractor(FeatureConfig(), FeatureCache(Path(args.cache)))
    results: dict = {}
    for spec in args.run:
        label, _, folder = spec.rpartition("=")  # the folder after the last "="
        gen, real, n = start_curves(Path(folder), extractor)
        results[label] = {"run": folder, "clips": n, **offset_summary(gen), "curve": gen.round(3).tolist(),
                          "ground_truth": {**offset_summary(real), "curve": real.round(3).tolist()}}  # fmt: skip
        print(label, {k: v for k, v in results[label].items() if k not in ("curve", "ground_truth", "run")},
              "| ground truth", {k: v for k, v in results[label]["ground_truth"].items() if k != "curve"})  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, Path(args.plot))
    return 0


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.viz.figure import save_figure

    labels = list(results)
    pairs = [labels[i : i + 2] for i in range(0, len(labels), 2)]
    fig, axes = plt.subplots(len(pairs), 3, figsize=(13, 2.7 * len(pairs)), squeeze=False)
    t = np.arange(HEAD)
    for row, pair in zip(axes, pairs):
        for i, ax in enumerate(row):
            ax.plot(t, np.array(results[pair[0]]["ground_truth"]["curve"])[:, i], color="0.5", label="ground truth")
            for label, color in zip(pair, ("tab:red", "tab:blue")):
                ax.plot(t, np.array(results[label]["curve"])[:, i], color=color, label=label)
            ax.axhline(0, color="k", lw=0.5)
            ax.axvspan(0, FIRST, color="0.9", zorder=0)
            ax.set_title(f"{AXES[i]}", fontsize=9)
            ax.set_xlabel("rendered frame (25 fps)", fontsize=8)
            ax.set_ylabel("deg from frame 0 (tracked)", fontsize=8)
        row[0].legend(fontsize=7)
    fig.suptitle("Rendered and tracked: mean head pose after the start, validation clips (speaker-disjoint)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
