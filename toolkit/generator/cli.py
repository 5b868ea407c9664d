"""`toolkit train generator`: adversarial training of the 3D-aware generator (Sec. 4.4)."""

from __future__ import annotations

import argparse

from toolkit.paths import configs_dir

ABLATIONS = ("no_3d_aware", "no_hybrid_attention", "no_nonlinear_composition", "no_warping", "baseline")


def register_train(train_sub: argparse._SubParsersAction) -> None:
    p = train_sub.add_parser(
        "generator",
        help="train the 3D-aware generator (hybrid embedding + non-linear composition)",
        description="Train the generator on `toolkit preprocess` records, in the loop that trains the learners. "
        "Single process, or DDP under `torchrun --nproc_per_node N -m toolkit train generator ...` (gloo on CPU, "
        "nccl on GPU). Resumes the run in --out (--no-resume starts over); writes OUT/state, OUT/model "
        "(shippable), OUT/samples/*.png, OUT/curves.png, OUT/metrics.jsonl, OUT/train.log.",
    )
    p.add_argument(
        "--config",
        default=str(configs_dir() / "generator_small.yaml"),
        help="YAML config (configs/generator_small.yaml: CPU model; configs/generator_full.yaml: paper scale)",
    )
    p.add_argument("--data", help="records folder written by `toolkit preprocess` (overrides data.records)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, samples, curves)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.steps=500")
    p.add_argument("--no-resume", action="store_true", help="start from scratch even if --out holds a run")
    p.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    p.add_argument("--steps", type=int, help="total steps (shortcut for --set train.steps=N)")
    p.add_argument("--max-steps", type=int, help="run at most this many more steps, then stop")
    p.add_argument("--batch-size", type=int, help="shortcut for --set train.batch_size=N")
    p.add_argument("--image-size", type=int, help="shortcut for --set generator.image_size=N")
    p.add_argument("--ablation", action="append", choices=ABLATIONS, default=[], help="ablation switch (repeatable)")
    p.add_argument("--device", help="cpu, cuda, cuda:0 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="torch CPU threads (shortcut for --set train.threads=N)")
    p.add_argument("--build-cache", action="store_true", help="decode frames and render y~_t for every clip first")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from toolkit.generator.config import load_config
    from toolkit.generator.data import build_cache, build_heldout_cache
    from toolkit.learners.train import MODEL_DIR, train

    shortcuts = {  # numbers only: a path given as an override would be parsed as YAML ("yes", "~", "a #b")
        "train.steps": args.steps,
        "train.batch_size": args.batch_size,
        "generator.image_size": args.image_size,
        "train.threads": args.threads,
    }
    overrides = [f"{key}={value}" for key, value in shortcuts.items() if value] + list(args.set)
    overrides += [f"generator.ablation.{a}=true" for a in args.ablation]
    cfg = load_config(args.config, overrides)
    if args.data:
        cfg.data.records = args.data
    out = Path(args.out)
    if args.no_resume and (out / "state").exists():
        shutil.rmtree(out / "state")
    if args.build_cache and cfg.data.heldout_targets:
        build_heldout_cache(cfg.data, cfg.generator.image_size, progress=not args.quiet)
    elif args.build_cache:
        build_cache(
            cfg.data,
            cfg.generator.image_size,
            with_renders=not cfg.generator.ablation.resolved().no_3d_aware,
            progress=not args.quiet,
        )
    summary = train(
        cfg, out, resume=not args.no_resume, progress=not args.quiet, max_steps=args.max_steps, device=args.device
    )
    seconds = summary["wall_seconds"]
    print(f"[generator] {summary['steps']} steps, {seconds:.0f} s this session; weights in {out / MODEL_DIR}")
    return 0
