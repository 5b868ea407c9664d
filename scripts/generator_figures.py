"""The generator's documentation figures: held-out sample grid and a validation video as a frames grid.

    .venv/bin/python scripts/generator_figures.py samples --config RUN.yaml --weights RUN/model \
        [--data RECORDS] [--renders CACHE] --out docs/img/generator_samples.png
    .venv/bin/python scripts/generator_figures.py video --benchmark eval/benchmarks/shared_val8_k8.json \
        --clip andrew_clip_1 --row "3d-warp-landmark=RESULTS/videos/3d-warp-landmark" \
        --row "ours-landmark=RESULTS/videos/ours-landmark" --out docs/img/generator_validation_video.png

``samples``: rows of the training monitor's grid (reference, target landmark image, render y~_t,
matched y_ts, warped render, output, real) for fixed frames of the held-out speakers (K = 8, no
augmentation), at the generator's own size. ``video``: the ground truth and each method's video of
one benchmark clip (the videos ``toolkit evaluate`` keeps in RESULTS/videos/<method>/), at evenly
spaced frames of the driven part, one row per source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.viz.figure import caption, label_bar, write_doc_png  # noqa: E402


def samples(args: argparse.Namespace) -> None:
    import torch

    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.config import load_config
    from toolkit.generator.data import GeneratorDataset
    from toolkit.generator.train import INPUT_KEYS, SAMPLE_COLUMNS, make_val_batches, sample_grid

    cfg = load_config(args.config)
    cfg.data.records = args.data or cfg.data.records
    cfg.data.renders = args.renders or cfg.data.renders
    cfg.data.colour_jitter, cfg.data.hflip_prob = 0.0, 0.0  # frames as they are
    g = load_generator(args.weights).eval()
    ds = GeneratorDataset(cfg.data, cfg.generator.image_size, cfg.generator.ablation.resolved(), "val")
    rows = []
    with torch.no_grad():
        for batch in make_val_batches(ds, args.batches, 2, k=8):
            out = g(**{k: batch[k] for k in INPUT_KEYS}, return_aux=True)
            rows.append(sample_grid(batch, out))
    size = cfg.generator.image_size
    grid = np.concatenate([label_bar(list(SAMPLE_COLUMNS), cell=size), *rows], axis=0)
    write_doc_png(args.out, grid)
    print(f"wrote {args.out}: {sum(len(r) for r in rows) // size} held-out frames from {len(ds.clips)} clips")


def mouths(args: argparse.Namespace) -> None:
    """Mouth crops of open-mouth frames (held-out speakers by default): the 3D-warp composite, each checkpoint,
    its synthesized frame, real; prints the mouth-box L1 of each and the synthesis weight."""
    import dataclasses

    import torch

    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.config import load_config
    from toolkit.generator.data import GeneratorDataset, collate
    from toolkit.generator.train import INPUT_KEYS, masked_l1, mouth_box_mask

    cfg = load_config(args.config)
    cfg.data.records = args.data or cfg.data.records
    cfg.data.renders = args.renders or cfg.data.renders
    data = dataclasses.replace(cfg.data, colour_jitter=0.0, hflip_prob=0.0, open_mouth_prob=1.0)
    size = cfg.generator.image_size
    ds = GeneratorDataset(data, size, cfg.generator.ablation.resolved(), args.split)
    rng = np.random.default_rng(11)
    batch = collate([ds.sample(rng, k=8) for _ in range(args.frames)])
    box = mouth_box_mask(batch["target_points"], size)
    models = [(label, load_generator(path).eval()) for label, path in (w.split("=", 1) for w in args.weights)]

    def u8(t: torch.Tensor) -> np.ndarray:  # (3, S, S) in [-1, 1] -> (S, S, 3) uint8
        return ((t.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()

    def crop(img: np.ndarray, points: np.ndarray) -> np.ndarray:
        c = points[48:68].mean(axis=0)
        half = max(10, int(np.ptp(points[48:68, 0]) * 0.9))
        x0, y0 = (np.clip(c - half, 0, size - 2 * half)).astype(int)
        return img[y0 : y0 + 2 * half, x0 : x0 + 2 * half]

    m = batch["render_mask"]
    columns = {"3d-warp input": m * batch["rendered"] + (1 - m) * batch["matched"]}
    with torch.no_grad():
        for label, g in models:
            out = g(**{k: batch[k] for k in INPUT_KEYS}, return_aux=True)
            columns[label] = out.image
            if out.synthesis is not None:
                columns[f"{label} synthesis"] = out.synthesis
                weight = (out.synthesis_weight * box).sum() / box.sum()
                print(f"{label}: synthesis weight a in the mouth box {float(weight):.4f}, "
                      f"|correction| {float(out.raw.abs().mean()):.5f}")  # fmt: skip
    columns["real"] = batch["target"]
    for label, images in columns.items():
        print(f"{label:28s} mouth-box L1 {float(masked_l1(images, batch['target'], box)):.4f}")
    rows = []
    for i in range(args.frames):
        pts = batch["target_points"][i].numpy()
        rows.append(np.concatenate([caption(crop(u8(v[i]), pts), k, args.cell) for k, v in columns.items()], axis=1))
    write_doc_png(args.out, np.concatenate(rows, axis=0))
    print(f"wrote {args.out}: {args.frames} open-mouth frames of the {args.split} split ({len(ds.clips)} clips)")


def video(args: argparse.Namespace) -> None:
    from eval.benchmark import load_benchmark
    from eval.video import read_eval_frames

    bench = load_benchmark(args.benchmark, args.data_root)
    clips = [c for c in bench.clips if args.clip in c.clip_id]
    if len(clips) != 1:
        raise SystemExit(f"--clip '{args.clip}' matches {len(clips)} clips of {args.benchmark}; give a unique part")
    clip = clips[0]
    start, stop = clip.tau, clip.n_frames
    sources = [("ground truth", read_eval_frames(clip.video, start, stop))]
    for row in args.row:
        label, folder = row.split("=", 1)
        sources.append((label, read_eval_frames(Path(folder) / f"{clip.clip_id}.mp4")))
    n = min(len(frames) for _, frames in sources)
    pick = np.linspace(0, n - 1, args.frames).round().astype(int)
    grid_rows = []
    for label, frames in sources:
        cells = [caption(frames[i], label if j == 0 else f"frame {start + i}", args.cell) for j, i in enumerate(pick)]
        grid_rows.append(np.concatenate(cells, axis=1))
    write_doc_png(args.out, np.concatenate(grid_rows, axis=0))
    print(f"wrote {args.out}: {clip.clip_id}, frames {[int(start + i) for i in pick]}, rows {[s for s, _ in sources]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("samples", help="held-out sample grid of a checkpoint")
    s.add_argument("--config", required=True, help="the run's training config (its data section is used)")
    s.add_argument("--weights", required=True, help="a generator folder (model.safetensors + config.json)")
    s.add_argument("--data", help="records folder (overrides data.records)")
    s.add_argument("--renders", help="frame/render cache folder (overrides data.renders)")
    s.add_argument("--batches", type=int, default=3, help="batches of 2 held-out frames (default %(default)s)")
    s.add_argument("--out", required=True)
    v = sub.add_parser("video", help="one validation clip: ground truth and methods as a frames grid")
    mo = sub.add_parser("mouths", help="mouth crops of held-out open-mouth frames (data.heldout_targets configs)")
    mo.add_argument("--config", required=True, help="a training config with data.heldout_targets")
    mo.add_argument("--weights", action="append", required=True, help="LABEL=generator folder (repeatable)")
    mo.add_argument("--data", help="records folder (overrides data.records)")
    mo.add_argument("--renders", help="frame/render cache folder (overrides data.renders)")
    mo.add_argument("--split", default="val", choices=("val", "train"), help="held-out speakers or training ones")
    mo.add_argument("--frames", type=int, default=6)
    mo.add_argument("--cell", type=int, default=144)
    mo.add_argument("--out", required=True)
    v.add_argument("--benchmark", required=True)
    v.add_argument("--data-root", help="folder the benchmark's clip paths are relative to")
    v.add_argument("--clip", required=True, help="a unique part of the clip id")
    v.add_argument("--row", action="append", default=[], help="LABEL=DIR of <clip_id>.mp4 (repeatable)")
    v.add_argument("--frames", type=int, default=8)
    v.add_argument("--cell", type=int, default=160)
    v.add_argument("--out", required=True)
    args = ap.parse_args()
    {"samples": samples, "mouths": mouths, "video": video}[args.mode](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
