"""`toolkit train expression|motion`: train the learners (``register_train``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.paths import configs_dir

MODELS = {
    "expression": "expression learner Psi: audio window + reference landmarks -> expression (paper Sec. 3.2)",
    "motion": "head motion learner Phi: reference motion + audio -> head motion (paper Sec. 3.3)",
}


def register_train(train_sub: argparse._SubParsersAction) -> None:
    for model, text in MODELS.items():
        p = train_sub.add_parser(
            model,
            help=text,
            description=f"Train the {text}. Resumes automatically when --out already holds a run of this model. "
            "For several CPU processes: torchrun --nproc_per_node 2 -m toolkit train ... (DDP, gloo).",
        )
        p.add_argument("--data", required=True, help="folder written by `toolkit preprocess` (manifest.json + clips/)")
        p.add_argument("--out", required=True, help="run folder: checkpoints, logs, curves, exported model/")
        p.add_argument(
            "--config",
            default=str(configs_dir() / f"{model}.yaml"),
            help=f"YAML config (default: configs/{model}.yaml of the checkout)",
        )
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.steps=500")
        p.add_argument("--steps", type=int, help="shortcut for --set optim.steps=N")
        p.add_argument("--seed", type=int, help="shortcut for --set seed=N")
        p.add_argument("--no-resume", action="store_true", help="start from scratch even if --out holds a run")
        p.add_argument("--max-minutes", type=float, default=0.0, help="stop (checkpointed) after this long; 0 = off")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(func=_run, model=model)


def _run(args: argparse.Namespace) -> int:
    import json
    import shutil

    from toolkit.learners.config import load_config
    from toolkit.learners.train import train

    overrides = list(args.set)
    if args.steps is not None:
        overrides.append(f"optim.steps={args.steps}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    config_path = Path(args.config) if args.config else None
    if (
        config_path is not None
        and not config_path.exists()
        and args.config == str(configs_dir() / f"{args.model}.yaml")
    ):
        config_path = None  # installed without the configs folder: dataclass defaults
    config = load_config(args.model, config_path, overrides, data=args.data)
    out = Path(args.out)
    if args.no_resume and (out / "state").exists():
        shutil.rmtree(out / "state")
    summary = train(config, out, resume=not args.no_resume, progress=not args.quiet, max_minutes=args.max_minutes)
    if summary is not None:
        print(json.dumps(summary, indent=2))
    return 0
