"""Judge the 3D-aware renderer alone: landmark-driven self-reenactment on the validation benchmarks.

For every clip of a frozen benchmark (``eval/benchmarks/shared_val8_k8.json`` by default) the
``3d-warp-landmark`` method (the real continuation's own tracked head motion and expression, rendered
by the 3D-aware module and pasted back into the matched reference frame) makes the driven frames,
exactly as ``toolkit evaluate`` does, and this script measures them against the real frames at
256x256 with the evaluation suite's metric functions:

* SSIM of the whole frame, of the face region (box of the real frame's dlib 68 points, +10 %) and of
  the mouth region (box of the real mouth points 48-67, +40 %), each region resized to a fixed size;
* PSNR (grey), LMD (mouth, centred, summed), CSIM (substitute model, labelled by the model's name);
* the inner-lip gap: mean distance between dlib's upper (61-63) and lower (65-67) inner-lip points,
  divided by the mouth width (48-54), on the generated and the real frames. A frame counts as
  closed below ``--closed`` (default 0.06 of the mouth width). Per clip: the share of closed frames
  (generated vs real), the amplitude (std of the generated gap / std of the real one) and their
  correlation. dlib's predictor is independent of the MediaPipe tracker that drives the render.

Run (niced; ~1 min per clip on a 2-core CPU)::

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python scripts/render_eval.py --out /tmp/after.json
    PYTHONPATH=$PWD .venv/bin/python scripts/render_eval.py --report /tmp/before.json /tmp/after.json \
        --plot docs/img/lip_gap.png

The "before" numbers come from the same script run with PYTHONPATH pointing at an export of the
earlier commit (``git archive COMMIT | tar -x -C /tmp/before``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EVAL_SIZE = 256
FACE_SIZE = 128
MOUTH_SIZE = 64
CLOSED_DEFAULT = 0.06


def lip_gap(points68: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap / mouth width from (T, 68, 2) dlib points (NaN where no face)."""
    p = np.asarray(points68, np.float64)
    gap = np.linalg.norm(p[:, [61, 62, 63]] - p[:, [67, 66, 65]], axis=-1).mean(axis=1)
    width = np.linalg.norm(p[:, 48] - p[:, 54], axis=-1)
    return gap / np.maximum(width, 1e-6)


def _region_ssim(gen: np.ndarray, real: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    import cv2

    from eval.metrics.ssim_psnr import ssim_frames

    out = np.full(len(gen), np.nan)
    for i, (g, r, b) in enumerate(zip(gen, real, boxes)):
        if not np.isfinite(b).all():
            continue
        x0, y0, x1, y1 = np.clip(np.rint(b).astype(int), 0, EVAL_SIZE)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        crops = [cv2.resize(f[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA) for f in (g, r)]
        out[i] = ssim_frames(crops[0][None], crops[1][None])[0]
    return out


def _boxes(points68: np.ndarray, idx: list[int], margin: float) -> np.ndarray:
    p = np.asarray(points68, np.float64)[:, idx]
    lo, hi = p.min(axis=1), p.max(axis=1)
    pad = (hi - lo) * margin / 2
    return np.concatenate([lo - pad, hi + pad], axis=1)


def evaluate_clip(
    clip: Any, dlib68: Any, embedder: Any, cache: Path, save_frames: Path | None = None
) -> dict[str, Any]:
    from eval.adapters.pipeline import PipelineMethod
    from eval.metrics.csim import cosine_per_frame
    from eval.metrics.ssim_psnr import psnr_frames, ssim_frames
    from eval.runner import _ClipData
    from eval.video import to_eval_frame
    from toolkit.metrics.lmd import LMD_AUTHOR, per_frame_distance

    data = _ClipData(clip, EVAL_SIZE)
    inputs = data.method_inputs(seed=0, with_driving_video=True)
    method = PipelineMethod(renderer="3d-warp", driving="landmarks", name="3d-warp-landmark")
    t0 = time.perf_counter()
    gen = np.stack([to_eval_frame(f, EVAL_SIZE) for f in method.generate(inputs)])
    seconds = time.perf_counter() - t0
    real = data.ground_truth()[: len(gen)]
    gt_file = cache / f"{clip.clip_id}-dlib.npy"
    if gt_file.is_file():
        real68 = np.load(gt_file)
    else:
        real68 = dlib68.video(real).points
        np.save(gt_file, real68)
    gen68 = dlib68.video(gen).points
    if save_frames is not None:  # a few generated frames and the real ones under them (figures)
        save_frames.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(save_frames / f"{clip.clip_id}.npz", generated=gen[::12], real=real[::12])
    both = np.isfinite(gen68).all(axis=(1, 2)) & np.isfinite(real68).all(axis=(1, 2))
    cs = np.full(len(gen), np.nan)
    if both.any():
        emb_g = embedder.embed(gen[both], gen68[both])
        emb_r = embedder.embed(real[both], real68[both])
        cs[both] = cosine_per_frame(emb_g, emb_r)
    gap_g, gap_r = lip_gap(gen68), lip_gap(real68)
    return {
        "clip_id": clip.clip_id,
        "n_frames": len(gen),
        "seconds": seconds,
        "ssim": float(ssim_frames(gen, real).mean()),
        "psnr": float(psnr_frames(gen, real).mean()),
        "ssim_face": float(np.nanmean(_region_ssim(gen, real, _boxes(real68, list(range(68)), 0.10), FACE_SIZE))),
        "ssim_mouth": float(np.nanmean(_region_ssim(gen, real, _boxes(real68, list(range(48, 68)), 0.40), MOUTH_SIZE))),
        "lmd": float(np.nanmean(per_frame_distance(gen68, real68, LMD_AUTHOR))),
        "csim": float(np.nanmean(cs)),
        "lip_gap_generated": [None if not np.isfinite(v) else round(float(v), 4) for v in gap_g],
        "lip_gap_real": [None if not np.isfinite(v) else round(float(v), 4) for v in gap_r],
    }


def static_csim(clip: Any, dlib68: Any, embedder: Any, cache: Path) -> float:
    """CSIM of the ``static`` method (the benchmark's t_M frame held still) under this script's protocol."""
    from eval.metrics.csim import cosine_per_frame
    from eval.runner import _ClipData
    from eval.video import read_eval_frames

    real = _ClipData(clip, EVAL_SIZE).ground_truth()
    gt_file = cache / f"{clip.clip_id}-dlib.npy"
    real68 = np.load(gt_file) if gt_file.is_file() else dlib68.video(real).points
    still = read_eval_frames(clip.video, clip.frontal_index, clip.frontal_index + 1, EVAL_SIZE)
    still68 = dlib68.video(still).points
    ok = np.isfinite(real68).all(axis=(1, 2))
    if not ok.any() or not np.isfinite(still68).all():
        return float("nan")
    emb_s = embedder.embed(still, still68)
    emb_r = embedder.embed(real[ok], real68[ok])
    return float(np.nanmean(cosine_per_frame(emb_r, emb_s[0])))


def lip_summary(record: dict[str, Any], closed: float) -> dict[str, float]:
    g = np.array([np.nan if v is None else v for v in record["lip_gap_generated"]], np.float64)
    r = np.array([np.nan if v is None else v for v in record["lip_gap_real"]], np.float64)
    ok = np.isfinite(g) & np.isfinite(r)
    g, r = g[ok], r[ok]
    return {
        "closed_generated": float((g < closed).mean() * 100),
        "closed_real": float((r < closed).mean() * 100),
        "closed_error": float(abs((g < closed).mean() - (r < closed).mean()) * 100),
        "amplitude": float(g.std() / max(r.std(), 1e-9)),
        "correlation": float(np.corrcoef(g, r)[0, 1]) if g.std() > 0 and r.std() > 0 else float("nan"),
    }


METRICS = ("ssim", "ssim_face", "ssim_mouth", "psnr", "lmd", "csim")


def report(paths: list[Path], closed: float) -> str:
    lines = []
    for path in paths:
        res = json.loads(path.read_text())
        recs = res["clips"]
        lines.append(f"## {path}  ({res['commit']}, {res['benchmark']}, load {res['load']})")
        lines.append("| clip | " + " | ".join(METRICS) + " | closed gen % | closed real % | amplitude | corr |")
        lines.append("|---" * (len(METRICS) + 5) + "|")
        for rec in recs:
            s = lip_summary(rec, closed)
            vals = " | ".join(f"{rec[m]:.3f}" for m in METRICS)
            lines.append(
                f"| {rec['clip_id'][:28]} | {vals} | {s['closed_generated']:.0f} | {s['closed_real']:.0f} | "
                f"{s['amplitude']:.2f} | {s['correlation']:.2f} |"
            )
        means = " | ".join(f"**{np.mean([r[m] for r in recs]):.3f}**" for m in METRICS)
        summ = [lip_summary(r, closed) for r in recs]
        lines.append(
            f"| mean / median | {means} | median closed-share error "
            f"**{np.median([s['closed_error'] for s in summ]):.1f}** pts | | median amplitude "
            f"**{np.median([s['amplitude'] for s in summ]):.2f}** | "
            f"{np.median([s['correlation'] for s in summ]):.2f} |"
        )
        lines.append("")
    return "\n".join(lines)


def plot(paths: list[Path], out: Path, clips: list[str] | None, closed: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.viz.figure import save_figure

    runs = [(p, json.loads(p.read_text())) for p in paths]
    ids = clips or [r["clip_id"] for r in runs[-1][1]["clips"][:3]]
    fig, axes = plt.subplots(len(ids), 1, figsize=(9, 2.3 * len(ids)), squeeze=False)
    for ax, cid in zip(axes[:, 0], ids):
        for j, (path, res) in enumerate(runs):
            rec = next(r for r in res["clips"] if r["clip_id"].startswith(cid))
            g = np.array([np.nan if v is None else v for v in rec["lip_gap_generated"]])
            if j == 0:
                r = np.array([np.nan if v is None else v for v in rec["lip_gap_real"]])
                ax.plot(r, color="black", lw=1.6, label="real (dlib 68)")
            ax.plot(g, lw=1.1, label=f"rendered: {res.get('label', path.stem)}")
        ax.axhline(closed, color="grey", ls=":", lw=0.8)
        ax.set_title(cid, fontsize=8)
        ax.set_ylabel("inner-lip gap / width", fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("frame (25 fps)")
    fig.text(0.01, 0.005, "scripts/render_eval.py, 2-core CPU (loaded: other jobs running)", fontsize=6)
    fig.tight_layout()
    save_figure(fig, out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark", default="eval/benchmarks/shared_val8_k8.json")
    ap.add_argument("--out", type=Path, help="results JSON to write")
    ap.add_argument("--clips", default="", help="comma-separated clip-id prefixes (default: all)")
    ap.add_argument("--label", default="", help="name of this run in plots")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/render_eval_cache"))
    ap.add_argument("--closed", type=float, default=CLOSED_DEFAULT)
    ap.add_argument("--save-frames", type=Path, help="folder for every 12th generated and real frame (.npz per clip)")
    ap.add_argument("--report", type=Path, nargs="*", help="print tables of earlier result files")
    ap.add_argument("--static-csim", action="store_true", help="only the static method's CSIM (same protocol)")
    ap.add_argument("--plot", type=Path, help="plot rendered vs real lip gap of --plot-clips")
    ap.add_argument("--plot-clips", default="")
    args = ap.parse_args(argv)
    if args.report:
        print(report(args.report, args.closed))
        if args.plot:
            plot(args.report, args.plot, [c for c in args.plot_clips.split(",") if c] or None, args.closed)
        return 0
    import warnings

    from eval.benchmark import load_benchmark
    from eval.landmarks68 import Dlib68
    from eval.metrics.csim import make_embedder

    warnings.simplefilter("ignore")
    bench = load_benchmark(args.benchmark)
    wanted = [c for c in args.clips.split(",") if c]
    clips = [c for c in bench.clips if not wanted or any(c.clip_id.startswith(w) for w in wanted)]
    args.cache.mkdir(parents=True, exist_ok=True)
    dlib68, embedder = Dlib68(), make_embedder()
    import toolkit

    root = Path(toolkit.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    result: dict[str, Any] = {
        "benchmark": args.benchmark,
        "commit": commit.stdout.strip() or str(root),
        "label": args.label,
        "csim_model": getattr(embedder, "label", type(embedder).__name__),
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "clips": [],
    }
    if args.static_csim:
        values = [static_csim(clip, dlib68, embedder, args.cache) for clip in clips]
        for clip, v in zip(clips, values):
            print(f"{clip.clip_id[:40]:40s} static CSIM {v:.3f}")
        print(f"mean static CSIM ({result['csim_model']}): {np.nanmean(values):.3f}")
        return 0
    for clip in clips:
        rec = evaluate_clip(clip, dlib68, embedder, args.cache, args.save_frames)
        result["clips"].append(rec)
        print(clip.clip_id, {m: round(rec[m], 4) for m in METRICS}, lip_summary(rec, args.closed), flush=True)
    if args.out:
        from toolkit.io.atomic import write_text_atomic

        write_text_atomic(args.out, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
