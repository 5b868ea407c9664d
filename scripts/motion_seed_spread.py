"""Seed-to-seed spread of Phi's pose error: how much one benchmark seed can move a mean over clips.

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_seed_spread.py --data RECORDS CHECKPOINT... [--seeds 8]

For each checkpoint, on its validation people's clips with at least 64 + 50 frames (scripts/eval_learners.py's
``_validation_people_clips``), Phi predicts up to 136 frames after the first 64 (the benchmark's length) for
each seed; prints the mean over seeds of the clip-mean rotation (deg) and translation (px) errors, their
seed-to-seed std and range.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAU, FRAMES = 64, 136


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by `toolkit preprocess`")
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args(argv)

    import torch

    from scripts.eval_learners import _validation_people_clips
    from toolkit.constants import SAMPLES_PER_FRAME as S
    from toolkit.learners.evaluation import motion_scores
    from toolkit.learners.motion import MotionLearner

    torch.set_num_threads(1)
    for path in args.checkpoints:
        learner = MotionLearner.load(path)
        clips = [c for c in _validation_people_clips(Path(args.data), learner.info) if c.has_audio]
        clips = [c for c in clips if c.n_frames >= TAU + 50]
        per_seed = []
        for seed in range(args.seeds):
            rows = []
            for c in clips:
                n = min(FRAMES, c.n_frames - TAU)
                pred = learner.predict(c.motion[:TAU], c.audio[: TAU * S], c.audio[TAU * S :], seed=seed, n_frames=n)
                rows.append(motion_scores(pred, c.motion[TAU : TAU + n], None))
            per_seed.append([np.mean([r["rot_err_deg"] for r in rows]), np.mean([r["trans_err_px"] for r in rows])])
        a = np.array(per_seed)
        print(
            f"{path}: {len(clips)} clips x {args.seeds} seeds; rotation / translation error: "
            f"mean {a.mean(0).round(3)}, "
            f"seed-to-seed std {a.std(0, ddof=1).round(3)}, range {a.min(0).round(2)} - {a.max(0).round(2)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
