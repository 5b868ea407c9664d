"""Why a photo's head motion that moves as much as a real head is further from it: Phi's rotation error split.

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_photo_error_split.py --data RECORDS --motion RUN/model \
        [--setting SCALE:GAIN ...] [--seeds 3] [--max-frames 136] [--json OUT]

On the dev people's clips (``expression_dev_split.DEV_GROUPS``; the checkpoint must hold them out, as for
scripts/motion_dev_amplitude.py) Phi predicts the frames after the first 64 from one frame (tau = 1, the photo)
for each prior setting ``SCALE:GAIN`` (the median reference amplitude x SCALE, ``prior_drift_gain`` GAIN;
``0:1`` = what Phi v3 does with a photo: amplitude 0), from the 64-frame video reference, and as the photo's pose
held still. The mean squared rotation difference (axis-angle, degrees^2, summed over the 3 axes, per clip and
seed over the predicted frames) is split exactly as

    E|x - y|^2 = |mean x - mean y|^2 + var x + var y - 2 cov(x, y)

(x generated, y real): the offset between the generated and the real mean pose, the generated motion's own
variance, the real motion's (the same for every row) and their covariance. A generator whose motion does not
follow the real one (cov about 0) adds its own variance to the error: more spread, more pose error, whatever
the amplitude's origin. Printed with the correlation ``cov / sqrt(var x var y)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAU = 64


def split(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """(T, 3) generated and real rotation (degrees) -> the terms of the mean squared difference (module doc)."""
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    var_x, var_y = float((xc**2).sum(1).mean()), float((yc**2).sum(1).mean())
    cov = float((xc * yc).sum(1).mean())
    return {
        "mse": float(((x - y) ** 2).sum(1).mean()), "offset": float(((mx - my) ** 2).sum()), "var_gen": var_x,
        "var_real": var_y, "cov": cov, "corr": cov / max(np.sqrt(var_x * var_y), 1e-12),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by `toolkit preprocess`")
    ap.add_argument("--motion", required=True, help="checkpoint trained with the dev people held out")
    ap.add_argument("--setting", action="append", default=[], help="SCALE:GAIN (repeatable)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-frames", type=int, default=136)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import torch

    from scripts.eval_learners import _split_clips
    from scripts.expression_dev_split import DEV_GROUPS
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.errors import ToolkitError
    from toolkit.learners.motion import MotionLearner
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.learners.tasks import reference_amplitude

    torch.set_num_threads(1)
    learner = MotionLearner.load(args.motion)
    learner.net.config.calibrate_min_frames = 2
    dev_groups = {split_group(g) for g in DEV_GROUPS}
    held_out = {split_group(g) for g in learner.info["train_config"]["data"]["val_speakers"]}
    if not dev_groups <= held_out or learner.net.config.prior_amplitude_frames <= 0:
        raise ToolkitError(f"{args.motion} was trained on dev people or has no prior amplitude.", "See the doc.")
    train, held = _split_clips(Path(args.data), learner.info)
    validation = {split_group(g) for g in DEFAULT_VAL_GROUPS}
    dev = [c for c in held if split_group(c.speaker) in dev_groups and c.has_audio and c.n_frames >= 2 * TAU]
    assert dev and not any(split_group(c.speaker) in validation for c in dev)
    if not learner.info["train_config"].get("use_silent_clips", True):
        train = [c for c in train if c.has_audio]
    base = reference_amplitude(train, TAU, learner.net.motion_std.numpy(), "median")

    def rows(predict) -> dict[str, float]:
        out = []
        for c in dev:
            n = min(c.n_frames - TAU, args.max_frames)
            real = np.degrees(c.motion[TAU : TAU + n, :3])
            for s in range(args.seeds):
                out.append(split(np.degrees(predict(c, s, n)[:, :3]), real))
        return {k: round(float(np.mean([o[k] for o in out])), 3) for k in out[0]}

    drive = lambda c: c.audio[TAU * SAMPLES_PER_FRAME :]  # noqa: E731
    table = {
        "photo pose held still": rows(lambda c, s, n: np.repeat(c.motion[TAU - 1 : TAU], n, 0)),
        "video reference (tau = 64)": rows(
            lambda c, s, n: learner.predict(c.motion[:TAU], c.audio[: TAU * SAMPLES_PER_FRAME], drive(c), s, n)
        ),
    }
    for setting in args.setting:
        scale, gain = (float(v) for v in setting.split(":"))
        learner.net.prior_amplitude.copy_(torch.from_numpy(base * scale))
        learner.net.config.prior_drift_gain = gain
        table[f"photo, amplitude x {scale:g}, drift gain {gain:g}"] = rows(
            lambda c, s, n: learner.predict(c.motion[TAU - 1 : TAU], None, drive(c), s, n)
        )
    print(f"{len(dev)} dev clips, {args.seeds} seeds; rotation, deg^2 (mse = offset + var_gen + var_real - 2 cov)")
    for name, r in table.items():
        print(f"{name:45s}", r)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"checkpoint": args.motion, "seeds": args.seeds, "rows": table}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
