"""Last 20 of 96 predicted frames (Phi without noise) of 5 record clips, saved for comparing two trees:
``PYTHONPATH=TREE python endcheck.py WARMUP_FRAMES OUT.npy`` (main with 32 vs this branch with 0)."""

import sys
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from toolkit.data.records import done_clip_ids
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.motion import MotionLearner

    torch.set_num_threads(1)
    root = Path("/work/runs11_i17/records")
    clips = [c for c in load_clip_data(root, done_clip_ids(root)[:6]) if c.audio is not None and c.n_frames >= 200]
    phi = MotionLearner.load("/work/runs12_i17/v3dev/model")
    phi.net.config.warmup_frames = int(sys.argv[1])
    out = [
        phi.predict(c.motion[:64], c.audio[: 64 * 640], c.audio[64 * 640 :], n_frames=96, stochastic=False)[-20:]
        for c in clips
    ]
    np.save(sys.argv[2], np.array(out))


if __name__ == "__main__":
    main()
