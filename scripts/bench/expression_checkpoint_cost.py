"""Psi's own inference cost per checkpoint: seconds of compute per second of audio, same audio, same run.

    nice -n 10 .venv/bin/python scripts/bench/expression_checkpoint_cost.py [--seconds 30] [--repeats 3] \
        [--checkpoint checkpoints/expression_v4 ...]

The speech features (Whisper) are computed once before timing (they are cached per audio and shared by every
checkpoint), so the numbers are Psi's networks, calibration on the reference audio, pause gate and smoothing: the
part of ``toolkit generate``'s learners stage that a checkpoint changes. The first checkpoint is the baseline;
each row prints its real-time factor and its difference to the baseline's (the issue's budget: the whole
generate real-time factor may grow by at most 0.1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

REFERENCE = "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"


def main(argv: list[str] | None = None) -> int:
    import torch

    from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME
    from toolkit.io.media import read_audio
    from toolkit.learners.expression import ExpressionLearner
    from toolkit.paths import checkpoints_dir, shared_data_dir
    from toolkit.pipeline.config import GenerationConfig
    from toolkit.pipeline.pipeline import TalkingHeadPipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        help="checkpoint folders; the first is the baseline (default: checkpoints/expression, expression_v4)",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    folders = args.checkpoint or [str(checkpoints_dir() / "expression"), str(checkpoints_dir() / "expression_v4")]
    speech = sorted((shared_data_dir() / "speech").glob("*.mp3"))[:12]
    audio = np.concatenate([read_audio(p) for p in speech])
    audio = np.resize(audio, int(args.seconds * AUDIO_SAMPLE_RATE)).astype(np.float32)
    # the reference as the pipeline prepares it: 64 frames with their own speech (calibration)
    cfg = GenerationConfig(output="crop", max_seconds=0).with_overrides(reference_frames=64)
    ref = TalkingHeadPipeline(cfg).prepare(shared_data_dir() / REFERENCE)
    refs, ref_audio = ref.frontal68, np.asarray(ref.audio, np.float32)[: ref.n_frames * SAMPLES_PER_FRAME]
    rows = []
    for folder in folders:
        learner = ExpressionLearner.load(folder)
        learner.predict(audio, refs, ref_audio)  # features cached, kernels warm
        times = []
        for _ in range(args.repeats):
            t0 = time.process_time()
            learner.predict(audio, refs, ref_audio)
            times.append(time.process_time() - t0)
        rows.append((Path(folder).name, float(np.median(times)) / args.seconds))
    base = rows[0][1]
    for name, rtf in rows:
        print(f"{name:24s} Psi real-time factor {rtf:.4f} s/s  (vs {rows[0][0]}: {rtf - base:+.4f}, x{rtf / base:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
