import sys, numpy as np, torch
from pathlib import Path
torch.set_num_threads(1)
from toolkit.learners.data import load_clip_data
from toolkit.data.records import done_clip_ids
from toolkit.learners.motion import MotionLearner
root = Path("/work/runs11_i17/records")
clips = [c for c in load_clip_data(root, done_clip_ids(root)[:6]) if c.audio is not None and c.n_frames >= 200]
phi = MotionLearner.load("/work/runs12_i17/v3dev/model")
phi.net.config.warmup_frames = int(sys.argv[1])
out = [phi.predict(c.motion[:64], c.audio[:64*640], c.audio[64*640:], n_frames=96, stochastic=False)[-20:] for c in clips]
np.save(sys.argv[2], np.array(out))
