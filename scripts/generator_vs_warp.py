"""The generator against the 3D warp on a speaker-disjoint benchmark: paired differences with bootstrap intervals.

Reads the outputs of ``toolkit evaluate`` (``OUT/clips/<method>/<clip>.json`` and the generated frames
``OUT/frames/<method>/<clip>_256.npy``) for a baseline and a candidate method, possibly from two
``--out`` folders (the 3D warp is deterministic: the same frames whichever run made them), and prints
per metric the frame-weighted means, the paired difference (candidate - baseline) and its 95 %
percentile bootstrap interval over clips (clips resampled with replacement, 10,000 replicates).

Metrics: PSNR, LMD and CSIM as ``toolkit evaluate`` computed them (per-clip rows); the full-frame SSIM
likewise; plus two region SSIMs computed here with the evaluation's own SSIM (``eval.metrics.ssim_psnr``)
on boxes from the ground truth's dlib 68 points (the evaluation's cached landmarks):

* face SSIM: the box of all 68 points, widened by 10 % each side, resized to 128x128 (area);
* mouth SSIM: the box of points 48-67, widened by 25 % each side, resized to 64x64 (area).

FID: the one number ``toolkit evaluate`` wrote for the method over all its frames (``OUT/results.json``;
no interval: it is not a per-clip mean).

``--grid PNG`` also draws held-out frames with open mouths (the widest inner-lip opening of the ground
truth per clip): baseline, each candidate and the real frame, each with its mouth enlarged below
(``--grid-clips`` keeps the clips whose id contains one of its comma-separated words).

A method may be given a label (``OUT:method=LABEL``), so that the same method from several folders
(checkpoints after different numbers of training steps) can be compared in one table.

    python scripts/generator_vs_warp.py --benchmark eval/benchmarks/shared_val8_k8.json \\
        --baseline OUT_A:3d-warp-landmark --candidate OUT_B:ours-landmark[=LABEL] [--json FILE] [--grid PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HIGHER_IS_BETTER = {"face SSIM": True, "mouth SSIM": True, "SSIM": True, "PSNR": True, "LMD": False, "CSIM": True}


def region_ssim(generated: np.ndarray, truth: np.ndarray, points: np.ndarray, part: slice, margin: float, size: int):
    """Per-frame SSIM of the box around ``points[:, part]`` (NaN where the ground truth has no face)."""
    import cv2

    from eval.metrics.ssim_psnr import ssim_frames

    out = np.full(len(truth), np.nan)
    h, w = truth.shape[1:3]
    for i, (g, t, p) in enumerate(zip(generated, truth, points)):
        pts = p[part]
        if not np.isfinite(pts).all():
            continue
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = (hi - lo) * margin
        x0, y0 = np.floor(np.maximum(lo - pad, 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(hi + pad, [w, h])).astype(int)
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        crops = [cv2.resize(im[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA) for im in (g, t)]
        out[i] = float(ssim_frames(crops[0][None], crops[1][None])[0])
    return out


def clip_rows(out_dir: Path, method: str, benchmark, extractor) -> dict[str, dict[str, float]]:
    """clip id -> {metric: clip mean, "n": frames} for one method's evaluation folder."""
    from eval.video import read_eval_frames

    rows = {}
    for clip in benchmark.clips:
        path = out_dir / "clips" / method / f"{clip.clip_id}.json"
        if not path.exists():
            print(f"note: {method} has no result for {clip.clip_id} in {out_dir} yet: clip left out", file=sys.stderr)
            continue
        doc = json.loads(path.read_text())
        if doc.get("status") != "ok":
            raise SystemExit(f"{method} has no result for {clip.clip_id} in {out_dir} (status {doc.get('status')})")
        metrics = doc["metrics"]
        csim = next(v for k, v in metrics.items() if k.startswith("CSIM"))
        row = {"SSIM": metrics["SSIM"], "PSNR": metrics["PSNR"], "LMD": metrics["LMD"], "CSIM": csim}
        frames = np.load(out_dir / "frames" / method / f"{clip.clip_id}_{benchmark_size(doc)}.npy", mmap_mode="r")

        def truth(clip=clip) -> np.ndarray:
            return read_eval_frames(clip.video, clip.tau, clip.n_frames, 256)

        gt = truth()
        feats = extractor.video(doc["gt_key"], lambda gt=gt: gt, parts=())
        n = min(len(frames), len(gt))
        points = feats.landmarks[:n]
        row["face SSIM"] = float(np.nanmean(region_ssim(frames[:n], gt[:n], points, slice(0, 68), 0.1, 128)))
        row["mouth SSIM"] = float(np.nanmean(region_ssim(frames[:n], gt[:n], points, slice(48, 68), 0.25, 64)))
        row["n"] = n
        rows[clip.clip_id] = row
    return rows


def parse_spec(spec: str) -> tuple[Path, str, str]:
    """``OUT:method[=LABEL]`` -> (folder, method, label)."""
    folder, rest = spec.rsplit(":", 1)
    method, _, label = rest.partition("=")
    return Path(folder), method, label or method


def method_fid(folder: Path, method: str) -> float:
    """The FID ``toolkit evaluate`` wrote for ``method`` in ``folder/results.json`` (NaN when absent)."""
    path = folder / "results.json"
    if not path.exists():
        return float("nan")
    aggregate = json.loads(path.read_text()).get("methods", {}).get(method, {}).get("aggregate", {})
    return float(next((v for k, v in aggregate.items() if k.startswith("FID") and v is not None), float("nan")))


def open_mouth_grid(specs: list[tuple[str, Path, str]], benchmark, extractor, ids: list[str], png: str) -> None:
    """One row per clip: its most open ground-truth mouth; columns = methods (method, folder, label), then real."""
    import cv2

    from eval.video import read_eval_frames
    from toolkit.io.atomic import atomic_path

    rows = []
    for clip in benchmark.clips:
        if clip.clip_id not in ids:
            continue
        gt = read_eval_frames(clip.video, clip.tau, clip.n_frames, 256)
        doc = json.loads((specs[0][1] / "clips" / specs[0][0] / f"{clip.clip_id}.json").read_text())
        pts = extractor.video(doc["gt_key"], lambda gt=gt: gt, parts=()).landmarks
        # inner-lip opening (62-66, 61-67, 63-65) over the mouth width (48-54)
        gap = np.linalg.norm(pts[:, [66, 67, 65]] - pts[:, [62, 61, 63]], axis=-1).mean(axis=1)
        opening = gap / np.maximum(np.linalg.norm(pts[:, 54] - pts[:, 48], axis=-1), 1e-6)
        t = int(np.nanargmax(np.where(np.isfinite(opening), opening, -1)))
        mouth = pts[t, 48:68]
        c = mouth.mean(axis=0)
        half = max(12.0, float(np.ptp(mouth[:, 0])) * 0.8)
        x0, y0 = np.clip((c - half).astype(int), 0, 255)
        x1, y1 = np.clip((c + half).astype(int), 1, 256)
        tiles = []
        for method, folder, _ in specs:
            frames = np.load(folder / "frames" / method / f"{clip.clip_id}_256.npy", mmap_mode="r")
            tiles.append(np.asarray(frames[t]))
        tiles.append(gt[t])
        top = np.concatenate(tiles, axis=1)
        crops = [np.ascontiguousarray(f[y0:y1, x0:x1]) for f in tiles]
        zoom = np.concatenate([cv2.resize(f, (256, 256), interpolation=cv2.INTER_CUBIC) for f in crops], axis=1)
        rows.append(np.concatenate([top, zoom], axis=0))
    image = np.concatenate(rows, axis=0)
    header = np.full((28, image.shape[1], 3), 255, np.uint8)
    for i, name in enumerate([label for _, _, label in specs] + ["real"]):
        cv2.putText(header, name, (i * 256 + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    image = np.concatenate([header, image], axis=0)
    with atomic_path(png) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"grid of {len(rows)} held-out open-mouth frames: {png}")


def benchmark_size(doc: dict) -> int:
    return int(str(doc["gt_key"]).rsplit("-", 1)[-1])


def paired_bootstrap(a: np.ndarray, b: np.ndarray, weights: np.ndarray, n_boot: int = 10000, seed: int = 0):
    """Frame-weighted mean of b - a over clips and its 95 % percentile interval (clips resampled)."""
    d = np.asarray(b, float) - np.asarray(a, float)
    w = np.asarray(weights, float)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(d), np.full(len(d), 1 / len(d)), size=n_boot) * w[None]
    reps = (draws @ d) / draws.sum(axis=1)
    return float((w @ d) / w.sum()), float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", required=True)
    ap.add_argument("--baseline", required=True, help="OUT_DIR:method of `toolkit evaluate`")
    ap.add_argument("--candidate", required=True, action="append", help="OUT_DIR:method (repeatable)")
    ap.add_argument("--cache", help="evaluation feature cache (default: $TOOLKIT_CACHE/eval)")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--grid", help="also draw the open-mouth frames grid into this PNG")
    ap.add_argument("--grid-clips", help="comma-separated words: only clips whose id contains one (default: all)")
    args = ap.parse_args()

    from eval.benchmark import load_benchmark
    from eval.features import FeatureCache, FeatureConfig, FeatureExtractor
    from toolkit.paths import cache_dir

    benchmark = load_benchmark(args.benchmark)
    cache = FeatureCache(Path(args.cache) if args.cache else cache_dir() / "eval")
    extractor = FeatureExtractor(FeatureConfig(fid=None, csim=None, pose_backend=None), cache)

    def rows_of(spec: str) -> tuple[str, dict]:
        folder, method, label = parse_spec(spec)
        rows = clip_rows(folder, method, benchmark, extractor)
        fids[label] = method_fid(folder, method)
        return label, rows

    fids: dict[str, float] = {}

    base_name, base = rows_of(args.baseline)
    candidates = [rows_of(spec) for spec in args.candidate]
    ids = [c for c in base if all(c in rows for _, rows in candidates)]  # clips every method has
    weights = np.array([base[c]["n"] for c in ids], float)
    report: dict = {"benchmark": args.benchmark, "baseline": base_name, "clips": ids, "rows": {base_name: base}}
    for name, cand in candidates:
        report["rows"][name] = cand
        print(f"\n{name} vs {base_name} on {Path(args.benchmark).name} ({len(ids)} clips, {int(weights.sum())} frames)")
        print(f"{'metric':12s} {base_name:>18s} {name:>18s} {'diff':>9s} {'95% CI':>20s} {'clips better':>12s}")
        report.setdefault("paired", {})[name] = {}
        for metric, higher in HIGHER_IS_BETTER.items():
            a = np.array([base[c][metric] for c in ids])
            b = np.array([cand[c][metric] for c in ids])
            diff, lo, hi = paired_bootstrap(a, b, weights)
            better = int(((b > a) if higher else (b < a)).sum())
            print(
                f"{metric:12s} {(weights @ a) / weights.sum():18.4f} {(weights @ b) / weights.sum():18.4f} "
                f"{diff:+9.4f} [{lo:+.4f}, {hi:+.4f}] {better:>7d} of {len(ids)}"
            )
            report["paired"][name][metric] = {"diff": diff, "ci": [lo, hi], "clips_better": better}
        fid = {"baseline": fids[base_name], "candidate": fids[name], "diff": fids[name] - fids[base_name]}
        values = f"{fid['baseline']:18.2f} {fid['candidate']:18.2f} {fid['diff']:+9.2f}"
        print(f"{'FID':12s} {values} (all frames, no interval)")
        report["paired"][name]["FID"] = fid
    if args.grid:
        specs = [(m, f, label) for f, m, label in map(parse_spec, [args.baseline, *args.candidate])]
        words = args.grid_clips.split(",") if args.grid_clips else None
        shown = [c for c in ids if words is None or any(w in c for w in words)]
        open_mouth_grid(specs, benchmark, extractor, shown, args.grid)
    if args.json:
        from toolkit.io.atomic import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
