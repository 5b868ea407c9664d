"""Give a trained Phi (v3) the prior amplitude for short references, without retraining.

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_add_prior_amplitude.py --data RECORDS \
        --motion checkpoints/motion --out DIR [--frames 8] [--statistic median|mean] [--scale 1.0] [--drift-gain 1.0]

Phi v3 reads a reference's motion amplitude from its own frames; from one frame (a photo) that std is 0, the
amplitude of a person who never moves, so its single-image prior barely moves (scripts/motion_hf_sources.py).
This writes a copy of the checkpoint whose references shorter than ``--frames`` frames get the training set's
typical full-reference amplitude instead (``MotionNetConfig.prior_amplitude_frames``; the value is
``toolkit.learners.tasks.reference_amplitude`` of the checkpoint's own training split). References of at least
``--frames`` frames (the pipeline's video references: 64) give exactly the same motion as before.
``--drift-gain`` also multiplies a short reference's slow drift noise (``MotionNetConfig.prior_drift_gain``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the records the checkpoint was trained on (`toolkit preprocess`)")
    ap.add_argument("--motion", default=str(ROOT / "checkpoints" / "motion"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument(
        "--statistic", choices=["median", "mean"], default="median",
        help="typical amplitude over the training windows: the median person's or the mean (the expected spread)",
    )  # fmt: skip
    ap.add_argument(
        "--scale", type=float, default=1.0,
        help="multiply the statistic (chosen on held-out training people: scripts/motion_dev_amplitude.py)",
    )  # fmt: skip
    ap.add_argument(
        "--calibrate-min-frames", type=int, default=None,
        help="also set net.calibrate_min_frames (the shipped Phi v3: 2); default: keep the checkpoint's",
    )  # fmt: skip
    ap.add_argument(
        "--drift-gain", type=float, default=1.0,
        help="net.prior_drift_gain: a photo's slow drift noise x this (chosen by scripts/motion_dev_amplitude.py)",
    )  # fmt: skip
    args = ap.parse_args(argv)

    import torch

    from scripts.eval_learners import _split_clips
    from toolkit.io.checkpoint import load_model, save_model
    from toolkit.learners.motion import KIND
    from toolkit.learners.tasks import reference_amplitude

    tensors, meta = load_model(args.motion, KIND)
    train, _ = _split_clips(Path(args.data), meta)
    if not meta["train_config"].get("use_silent_clips", True):
        train = [c for c in train if c.has_audio]
    within = tensors["motion_std"].numpy()
    amp = reference_amplitude(train, int(meta["train_config"]["data"]["tau"]), within, args.statistic) * args.scale
    tensors = {**tensors, "prior_amplitude": torch.from_numpy(amp)}
    meta = {k: v for k, v in meta.items() if k not in ("kind", "format_version", "sha256")}
    meta["net"] = {**meta["net"], "prior_amplitude_frames": args.frames, "prior_drift_gain": args.drift_gain}
    if args.calibrate_min_frames is not None:
        meta["net"]["calibrate_min_frames"] = args.calibrate_min_frames
    meta["data"] = {**meta["data"], "prior_amplitude": np.round(amp, 5).tolist()}
    meta["prior_amplitude_added"] = (
        f"scripts/motion_add_prior_amplitude.py --frames {args.frames} --statistic {args.statistic} "
        f"--scale {args.scale:g} --drift-gain {args.drift_gain:g} on "
        f"{args.motion}: references shorter than {args.frames} frames get the training split's typical reference "
        "amplitude; weights unchanged"
    )
    save_model(args.out, tensors, KIND, meta)
    print("prior amplitude (units of the within-clip std):", np.round(amp, 3).tolist(), "->", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
