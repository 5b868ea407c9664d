"""Inference cost of the head motion learner Phi per second of driving audio: a candidate checkpoint
against a baseline checkpoint, measured in the same run on the same audio.

    nice -n 10 .venv/bin/python scripts/bench/motion_inference.py --baseline DIR [--candidate checkpoints/motion]
        [--audio ../shared/data/av/<clip>.wav] [--repeats 5]

Each checkpoint predicts the motion of the whole audio from the clip's first 64 frames of (zero)
reference motion and their audio, ``--repeats`` times after one warm-up call, alternating the two
checkpoints so load from other jobs hits both alike; prints the median seconds per audio second of
each and the ratio candidate / baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import torch

    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.io.media import read_audio
    from toolkit.learners.motion import MotionLearner
    from toolkit.paths import checkpoints_dir, shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="checkpoint folder of the baseline Phi")
    ap.add_argument("--candidate", default=str(checkpoints_dir() / "motion"))
    ap.add_argument("--audio", default=str(shared_data_dir() / "av" / "FuxiVirtualHuman__styletalk__andrew_clip_1.wav"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    audio = read_audio(Path(args.audio))
    tau = 64
    ref_audio, drive = audio[: tau * SAMPLES_PER_FRAME], audio[tau * SAMPLES_PER_FRAME :]
    ref_motion = np.zeros((tau, 6), np.float32)
    ref_motion[:, 3:] = 128.0
    seconds_audio = drive.size / 16000.0
    learners = {"baseline": MotionLearner.load(args.baseline), "candidate": MotionLearner.load(args.candidate)}
    times: dict[str, list[float]] = {k: [] for k in learners}
    for learner in learners.values():
        learner.predict(ref_motion, ref_audio, drive, seed=0)  # warm-up
    for r in range(args.repeats):
        for name, learner in learners.items():
            t0 = time.perf_counter()
            learner.predict(ref_motion, ref_audio, drive, seed=r)
            times[name].append(time.perf_counter() - t0)
    per_s = {k: statistics.median(v) / seconds_audio for k, v in times.items()}
    print(f"audio: {Path(args.audio).name}, {seconds_audio:.1f} s driving; torch threads {args.threads}")
    for name in learners:
        print(f"{name:9s} {per_s[name] * 1000:8.1f} ms per audio second (median of {args.repeats})")
    print(f"ratio candidate / baseline: {per_s['candidate'] / per_s['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
