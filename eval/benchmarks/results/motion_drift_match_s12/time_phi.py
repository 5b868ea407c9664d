"""Phi's cost per audio second with reference_drift_match off / on (alternating, median of repeats), on one clip's
whole audio with its first 64 frames as the reference (a clip whose matched gain is > 1: all three passes run).

    PYTHONPATH=$PWD python eval/benchmarks/results/motion_drift_match_s12/time_phi.py RECORDS CLIP_ID CK_OFF CK_ON
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.data.records import load_clip
from toolkit.learners.motion import MotionLearner


def main(data: str, clip_id: str, ck_off: str, ck_on: str, repeats: int = 9) -> None:
    torch.set_num_threads(1)
    rec = load_clip(Path(data), clip_id)
    motion, audio = np.asarray(rec.head_motion), np.asarray(rec.audio(), np.float32)
    args = (motion[:64], audio[: 64 * SAMPLES_PER_FRAME], audio)
    seconds = len(audio) / 16000
    learners = {"off": MotionLearner.load(Path(ck_off) / "motion"), "on": MotionLearner.load(Path(ck_on) / "motion")}
    times: dict[str, list[float]] = {k: [] for k in learners}
    for learner in learners.values():
        learner.predict(*args, seed=0)
    for _ in range(repeats):
        for name, learner in learners.items():
            t0 = time.perf_counter()
            learner.predict(*args, seed=0)
            times[name].append((time.perf_counter() - t0) / seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{seconds:.1f} s of audio; gain {learners['on'].last_drift_gain:.2f}; ms per audio second: "
          f"off {1000 * med['off']:.2f}, on {1000 * med['on']:.2f}; on / off {med['on'] / med['off']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
