"""`toolkit train generator`: adversarial training of the 3D-aware generator (Sec. 4.4)."""

from __future__ import annotations

import argparse
import dataclasses

from toolkit.paths import configs_dir

ABLATIONS = ("no_3d_aware", "no_hybrid_attention", "no_nonlinear_composition", "no_warping", "baseline")


def register_train(train_sub: argparse._SubParsersAction) -> None:
    p = train_sub.add_parser(
        "generator",
        help="train the 3D-aware generator (hybrid embedding + non-linear composition)",
        description="Train the generator on `toolkit preprocess` records. Single process, or DDP under "
        "`torchrun --nproc_per_node N -m toolkit train generator ...` (gloo on CPU, nccl on GPU). "
        "Resumable with --resume; writes OUT/state, OUT/generator (shippable), OUT/samples/*.png, "
        "OUT/loss_curves.png, OUT/log.jsonl.",
    )
    p.add_argument(
        "--config",
        default=str(configs_dir() / "generator_small.yaml"),
        help="YAML config (configs/generator_small.yaml: CPU model; configs/generator_full.yaml: paper scale)",
    )
    p.add_argument("--data", help="records folder written by `toolkit preprocess` (overrides data.records)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, samples, curves)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--steps", type=int, help="total steps (overrides train.steps)")
    p.add_argument("--max-steps", type=int, help="run at most this many more steps, then stop")
    p.add_argument("--batch-size", type=int, help="overrides train.batch_size")
    p.add_argument("--image-size", type=int, help="overrides generator.image_size")
    p.add_argument("--ablation", action="append", choices=ABLATIONS, default=[], help="ablation switch (repeatable)")
    p.add_argument("--device", help="cpu, cuda, cuda:0 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--build-cache", action="store_true", help="decode frames and render y~_t for every clip first")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from toolkit.generator.config import load_config
    from toolkit.generator.data import build_cache
    from toolkit.generator.train import run_training

    cfg = load_config(args.config)
    if args.data:
        cfg.data.records = args.data
    if args.steps:
        cfg.train.steps = args.steps
    if args.batch_size:
        cfg.train.batch_size = args.batch_size
    if args.image_size:
        cfg.generator.image_size = args.image_size
        cfg.generator.validate()
    if args.threads:
        cfg.train.threads = args.threads
    if args.ablation:
        cfg.generator.ablation = dataclasses.replace(cfg.generator.ablation, **{a: True for a in args.ablation})
    if args.build_cache:
        build_cache(
            cfg.data,
            cfg.generator.image_size,
            with_renders=not cfg.generator.ablation.resolved().no_3d_aware,
            progress=not args.quiet,
        )
    info = run_training(
        cfg, args.out, resume=args.resume, device=args.device, max_steps=args.max_steps, progress=not args.quiet
    )
    where = info.out_dir / "generator"
    print(f"[generator] {info.steps_done} steps, {info.seconds:.0f} s this session; weights in {where}")
    return 0
