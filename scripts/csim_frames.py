"""Where the identity goes: per-frame CSIM of ``static`` and ``3d-warp-landmark`` on a benchmark, against the
real frames, with what each frame shows (mouth opening, head turn).

Reads the evaluation frames ``toolkit evaluate`` stored for the two methods (``OUT/frames/<method>/<clip>_256.npy``,
``--encode none``), the ground-truth frames from the clip, dlib 68 points on all three and the CSIM network of the
evaluation (substitute, labelled). Per clip: CSIM of each method, and how the per-frame drop (static minus warp)
goes with the real frame's mouth opening (inner-lip gap / mouth width) and head turn (nose offset from the jaw's
midpoint / jaw width), and with the rendered frame's mouth-opening error. Writes one JSON.

    PYTHONPATH=$PWD .venv/bin/python scripts/csim_frames.py --results OUT --out csim_frames.json \
        [--benchmark eval/benchmarks/shared_val8_k8.json] [--methods static 3d-warp-landmark]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def mouth_open(points: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap (61-63 to 65-67) / mouth width (48-54), dlib 68 points."""
    gap = np.linalg.norm(points[:, [61, 62, 63]] - points[:, [67, 66, 65]], axis=-1).mean(axis=1)
    return gap / np.maximum(np.linalg.norm(points[:, 48] - points[:, 54], axis=-1), 1e-9)


def turn(points: np.ndarray) -> np.ndarray:
    """(T,) |nose tip x - jaw midpoint x| / jaw width (0 = facing the camera)."""
    mid = 0.5 * (points[:, 0, 0] + points[:, 16, 0])
    return np.abs(points[:, 30, 0] - mid) / np.maximum(np.abs(points[:, 16, 0] - points[:, 0, 0]), 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="the toolkit evaluate --out folder")
    ap.add_argument("--benchmark", default=str(ROOT / "eval/benchmarks/shared_val8_k8.json"))
    ap.add_argument("--methods", nargs="+", default=["static", "3d-warp-landmark"])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from eval.benchmark import load_benchmark
    from eval.landmarks68 import Dlib68
    from eval.metrics.csim import CsimConfig, cosine_per_frame, describe, make_embedder
    from eval.video import read_native_frames, to_eval_frame

    bench = load_benchmark(args.benchmark)
    dlib = Dlib68()
    embedder = make_embedder(CsimConfig())
    out: dict = {"csim": describe(embedder, "ground-truth"), "benchmark": args.benchmark, "clips": {}}
    for clip in bench.clips:
        stored = {m: Path(args.results) / "frames" / m / f"{clip.clip_id}_256.npy" for m in args.methods}
        if not all(p.is_file() for p in stored.values()):
            print(f"{clip.clip_id}: not evaluated yet, skipped", flush=True)
            continue
        start, stop = clip.tau, clip.tau + clip.n_driving
        gt = np.stack([to_eval_frame(f) for f in read_native_frames(clip.video, start, stop)])
        lm_gt = dlib.video(gt).points
        e_gt = embedder.embed(gt, lm_gt)
        row: dict = {"gt_mouth": mouth_open(lm_gt).tolist(), "gt_turn": turn(lm_gt).tolist()}
        for m, path in stored.items():
            frames = np.load(path)
            lm = dlib.video(frames).points
            row[m] = {
                "cos": cosine_per_frame(embedder.embed(frames, lm), e_gt).tolist(),
                "mouth": mouth_open(lm).tolist(),
                "turn": turn(lm).tolist(),
            }
        out["clips"][clip.clip_id] = row
        a, b = (np.asarray(row[m]["cos"], float) for m in args.methods[:2])
        ok = np.isfinite(a) & np.isfinite(b)
        drop = a - b
        gm, gtn = np.asarray(row["gt_mouth"]), np.asarray(row["gt_turn"])
        merr = np.abs(np.asarray(row[args.methods[1]]["mouth"]) - gm)

        def corr(x: np.ndarray, ok: np.ndarray = ok, drop: np.ndarray = drop) -> float:
            k = ok & np.isfinite(x)
            return float(np.corrcoef(drop[k], x[k])[0, 1]) if k.sum() > 3 else float("nan")

        print(
            f"{clip.clip_id[:45]:45s} {args.methods[0]} {np.nanmean(a):.3f} {args.methods[1]} {np.nanmean(b):.3f} "
            f"drop {np.nanmean(drop):+.3f}; corr(drop, real mouth) {corr(gm):+.2f}, (drop, real turn) "
            f"{corr(gtn):+.2f}, (drop, mouth error) {corr(merr):+.2f}",
            flush=True,
        )
    Path(args.out).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
