"""Chunk seams of ``predict_head_motion`` (Phi without noise) vs one call over the whole audio, warm-up 0 vs 32:
``PYTHONPATH=$PWD python seam_probe.py`` (shipped checkpoints/motion, 1300 frames of record audio, 3 chunks)."""

import types

import numpy as np


def main() -> None:
    import torch

    import toolkit.pipeline.models as models
    from toolkit.data.records import done_clip_ids
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.motion import MotionLearner
    from toolkit.paths import checkpoints_dir
    from toolkit.pipeline.config import GenerationConfig

    torch.set_num_threads(1)
    root = "/work/runs11_i17/records"
    clips = load_clip_data(root, done_clip_ids(root)[:40])
    audio = np.concatenate([c.audio for c in clips if c.audio is not None])
    n = min(len(audio) // 640, 1300)
    audio, ref = audio[: n * 640], clips[0]
    phi = MotionLearner.load(checkpoints_dir() / "motion")
    phi.net.config.reference_drift_match = False

    class Deterministic:
        def predict(self, *a, **k):
            return phi.predict(*a, **{**k, "stochastic": False})

    class Pose:  # the pipeline's ref.pose.motion is a new array at every access
        @property
        def motion(self):
            return ref.motion[:64].copy()

    models.motion_learner = lambda c: Deterministic()  # type: ignore[assignment]
    reference = types.SimpleNamespace(size=256, pose=Pose(), audio=ref.audio[: 64 * 640])
    print("frames", n, "chunks at", list(range(0, n, models.MOTION_CHUNK)))
    for w in (0, 32):
        phi.net.config.warmup_frames = w
        chunked = models.predict_head_motion(reference, audio, n, GenerationConfig())  # type: ignore[arg-type]
        whole = phi.predict(ref.motion[:64], ref.audio[: 64 * 640], audio, n_frames=n, stochastic=False)
        d = np.degrees(np.abs(chunked[:, :3] - whole[:, :3])).mean(axis=1)
        for s in range(models.MOTION_CHUNK, n, models.MOTION_CHUNK):
            seam = d[s : s + 32]
            print(f"warmup {w} seam {s}: mean |chunked - whole| deg over [s, s+32): {seam.mean():.3f}, "
                  f"max {seam.max():.3f}")  # fmt: skip
        floor = np.concatenate([d[100:468], d[600:968], d[1100:1248]]).mean()
        last = d[-20:].mean()
        print(f"warmup {w}: floor (frames 100-468, 600-968, 1100-1248) {floor:.3f}; last 20 frames {last:.3f}")


if __name__ == "__main__":
    main()
