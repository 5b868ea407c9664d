"""Does a generator checkpoint improve on its 3D-warp input for people it has not seen?

    .venv/bin/python scripts/generator_heldout_check.py --config RUN.yaml --weights RUN/model \
        [--data RECORDS] [--renders CACHE] gap [--json FILE]
    .venv/bin/python scripts/generator_heldout_check.py --config RUN.yaml --weights RUN/model \
        [--data RECORDS] [--renders CACHE] finetune [--steps 100] [--lr 1e-4]

Both work at the generator's own size on preprocessed records (the config's ``data``), with the
training monitor's SSIM (``toolkit.generator.losses.ssim``, 7x7 uniform window, on [-1, 1]):

* ``gap``: 12 fixed batches of 4 frames (K = 8) from the training clips and from the held-out
  speakers; prints the SSIM of the generator's output, of its flow-warped base (residual models)
  and of the plain 3D-warp composite ``m y~_t + (1 - m) y_ts`` on the same frames.
* ``finetune``: per held-out clip, targets after the first tau = 64 frames with references from
  those 64 only (the benchmark's protocol); the composite, the checkpoint, and the checkpoint
  after ``--steps`` of ``toolkit.generator.finetune``-style training on pairs inside the first
  64 frames (nothing after them is used for training).

No augmentation on the scored frames. Prints numbers only; the README's generator section
quotes them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAU = 64


def _composite(batch):
    m = batch["render_mask"]
    return m * batch["rendered"] + (1 - m) * batch["matched"]


def gap(cfg, weights: str, json_out: dict | None = None) -> None:
    """Output, warped-base and composite SSIM (whole frame) and L1 in the mouth box, on training
    clips and held-out speakers; for residual models also the mean |correction| and the synthesis weight a."""
    import torch

    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.data import GeneratorDataset
    from toolkit.generator.losses import ssim
    from toolkit.generator.train import INPUT_KEYS, make_val_batches, mouth_box_mask

    g = load_generator(weights).eval()
    size = cfg.generator.image_size
    for split in ("train", "val"):
        ds = GeneratorDataset(cfg.data, size, cfg.generator.ablation.resolved(), split)
        batches = make_val_batches(ds, 12, 4, k=8)
        sums: dict[str, list[float]] = {}
        with torch.no_grad():
            for b in batches:
                out = g(**{k: b[k] for k in INPUT_KEYS}, return_aux=True)
                base = out.base if out.base is not None else out.image
                box = mouth_box_mask(b["target_points"], size)
                for name, image in (("output", out.image), ("warped base", base), ("3D-warp composite", _composite(b))):
                    sums.setdefault(name, []).append(float(ssim(image, b["target"])))
                    mouth_l1 = ((image - b["target"]).abs() * box).sum() / (box.sum() * 3)
                    sums.setdefault(f"{name} mouth L1", []).append(float(mouth_l1))
                if out.base is not None:  # residual models: how much the decoder changes its input
                    sums.setdefault("|correction|", []).append(float(out.raw.abs().mean()))
                    in_box = (out.raw.abs() * box).sum() / (box.sum() * 3)
                    sums.setdefault("|correction| mouth", []).append(float(in_box))
                if out.synthesis_weight is not None:  # mouth synthesis: where its weight a is used
                    a = out.synthesis_weight
                    sums.setdefault("a mouth", []).append(float((a * box).sum() / box.sum()))
                    sums.setdefault("a elsewhere", []).append(float((a * (1 - box)).sum() / (1 - box).sum()))
        acc = {k: float(np.mean(v)) for k, v in sums.items()}
        name = "training clips" if split == "train" else "held-out speakers"
        print(f"{name:18s} " + "  ".join(f"{k} {v:.4f}" for k, v in acc.items()) + f"  ({len(ds.clips)} clips)")
        if json_out is not None:
            json_out[name] = {**acc, "clips": len(ds.clips)}


def _score(g, batches) -> tuple[float, float]:
    """Mean SSIM of the generator's output and of the 3D-warp composite over ``batches``."""
    import torch

    from toolkit.generator.losses import ssim
    from toolkit.generator.train import INPUT_KEYS

    g.eval()
    with torch.no_grad():
        out = [float(ssim(g(**{k: b[k] for k in INPUT_KEYS}), b["target"])) for b in batches]
    comp = [float(ssim(_composite(b), b["target"])) for b in batches]
    return float(np.mean(out)), float(np.mean(comp))


def finetune(cfg, weights: str, steps: int, lr: float) -> None:
    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.data import GeneratorDataset, collate
    from toolkit.generator.train import GeneratorTrainer

    ds = GeneratorDataset(cfg.data, cfg.generator.image_size, cfg.generator.ablation.resolved(), "val")
    base = load_generator(weights)
    for ci, clip in enumerate(ds.clips):
        n = clip.record.n_frames
        if n < TAU + 40:
            continue
        rng = np.random.default_rng(3)
        window = np.arange(TAU)
        later = np.arange(TAU, n)
        # 3 batches of 4 later targets, each with references from the first tau frames only
        scored = [
            collate([ds.sample(rng, 8, ci, int(t), frames=np.r_[window, t]) for t in rng.choice(later, 4, False)])
            for _ in range(3)
        ]
        trainer = GeneratorTrainer(cfg)
        trainer.G.load_state_dict(base.state_dict())
        for group in trainer.opt_g.param_groups:
            group["lr"] = lr
        before, composite = _score(trainer.G, scored)
        for _ in range(steps):
            trainer.train_step(collate([ds.sample(rng, 8, ci, frames=window) for _ in range(4)]))
        after, _ = _score(trainer.G, scored)
        print(f"{clip.clip_id[:48]:48s} composite {composite:.4f}  checkpoint {before:.4f}  fine-tuned {after:.4f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="the run's training config (its data section is used)")
    ap.add_argument("--weights", required=True, help="a generator folder (model.safetensors + config.json)")
    ap.add_argument("--data", help="records folder (overrides data.records)")
    ap.add_argument("--renders", help="frame/render cache folder (overrides data.renders)")
    ap.add_argument("mode", choices=("gap", "finetune"))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="gap: also write the numbers here")
    args = ap.parse_args()

    import torch

    from toolkit.generator.config import load_config

    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if args.data:
        cfg.data.records = args.data
    if args.renders:
        cfg.data.renders = args.renders
    cfg.data.colour_jitter = 0.0  # scored frames as they are
    if args.mode == "gap":
        report: dict = {"weights": args.weights}
        gap(cfg, args.weights, report)
        if args.json:
            from toolkit.io.atomic import write_json_atomic

            write_json_atomic(args.json, report)
    else:
        cfg.data.hflip_prob = 0.0
        finetune(cfg, args.weights, args.steps, args.lr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
