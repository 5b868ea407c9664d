"""Chunk seams of predict_head_motion (deterministic Phi) vs one call over the whole audio, warm-up 0 vs 32."""
import sys, types
import numpy as np
from pathlib import Path
sys.path.insert(0, str(Path.cwd()))
import torch
torch.set_num_threads(1)
from toolkit.learners.data import load_clip_data
from toolkit.data.records import done_clip_ids
from toolkit.learners.motion import MotionLearner
from toolkit.paths import checkpoints_dir
import toolkit.pipeline.models as M
from toolkit.pipeline.config import GenerationConfig

root = "/work/runs11_i17/records"
ids = done_clip_ids(Path(root))[:40]
clips = load_clip_data(root, ids)
audio = np.concatenate([c.audio for c in clips if c.audio is not None])
n = min(len(audio) // 640, 1300)
audio = audio[: n * 640]
ref = clips[0]
phi = MotionLearner.load(checkpoints_dir() / "motion")
phi.net.config.reference_drift_match = False
class W:
    def predict(self, *a, **k):
        k["stochastic"] = False
        return phi.predict(*a, **k)
M.motion_learner = lambda c: W()
pose = types.SimpleNamespace(motion=ref.motion[:64].copy())
R = types.SimpleNamespace(size=256, pose=pose, audio=ref.audio[: 64 * 640])
pose_prop = R
cfg = GenerationConfig()
print("frames", n, "chunks at", list(range(0, n, M.MOTION_CHUNK)))
for w in (0, 32):
    phi.net.config.warmup_frames = w
    R.pose = types.SimpleNamespace(motion=ref.motion[:64].copy())
    class P:  # ref.pose.motion returns a new array each access in the pipeline
        @property
        def motion(self):
            return ref.motion[:64].copy()
    R.pose = P()
    chunked = M.predict_head_motion(R, audio, n, cfg)
    whole = phi.predict(ref.motion[:64], ref.audio[: 64 * 640], audio, n_frames=n, stochastic=False)
    d = np.degrees(np.abs(chunked[:, :3] - whole[:, :3])).mean(axis=1)
    for s in range(M.MOTION_CHUNK, n, M.MOTION_CHUNK):
        print(f"warmup {w} seam {s}: mean |chunked - whole| deg over [s, s+32): {d[s:s+32].mean():.3f}, max {d[s:s+32].max():.3f}")
    print(f"warmup {w}: floor (frames 100-468, 600-968, 1100-1248) {np.concatenate([d[100:468], d[600:968], d[1100:1248]]).mean():.3f}; last 20 frames {d[-20:].mean():.3f}")
