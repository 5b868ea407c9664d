"""The size of the codec effect on SSIM / PSNR: the same method's frames under three protocols.

For each clip of a benchmark, a built-in method generates its frames once; SSIM and PSNR
against the ground truth are then computed for

* ``none``: the frames as generated (the suite's protocol now, ``--encode none``);
* ``h264-crf10``: encoded once (``--encode h264-crf10``);
* ``old``: the protocol before this change: the pipeline-based methods encoded their output
  to H.264 at crf 12, the runner decoded it and re-encoded at crf 10 (two encodes), while
  ``static`` / ``reference-loop`` / ``3d-warp`` were encoded once at crf 10.

    PYTHONPATH=$PWD python scripts/bench/codec_effect.py --benchmark eval/benchmarks/shared_val8_k8.json \\
        --method 3d-warp-landmark --method static [--max-clips N]

Encodes run on the method's native-size frames, as the runner's did; the metrics on the
256x256 evaluation frames. ``--frames-dir RESULTS/frames`` (the frames a ``toolkit evaluate
--encode none`` run kept) skips generating: the encodes then run on the 256x256 evaluation
frames (the same as native for the 256x256 clips; stated in the output).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

#: methods the old protocol encoded twice (their own crf-12 file, then the runner's crf 10)
OLD_DOUBLE_ENCODED = ("pipeline", "ours", "ours-landmark", "3d-warp-audio", "3d-warp-landmark")


def encode_decode(frames: np.ndarray, crf: int, tmp: Path) -> np.ndarray:
    """Native-size frames through one H.264 encode (write_video, as the runner) and back."""
    from eval.video import read_native_frames
    from toolkit.io.media import write_video

    path = tmp / f"crf{crf}.mp4"
    write_video(path, frames, crf=crf)
    return read_native_frames(path)


def main() -> None:
    from eval.benchmark import load_benchmark
    from eval.methods import make_method
    from eval.metrics.ssim_psnr import psnr_frames, ssim_frames
    from eval.runner import _ClipData
    from eval.video import to_eval_frame

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", required=True)
    ap.add_argument("--method", action="append", required=True)
    ap.add_argument("--max-clips", type=int, default=0)
    ap.add_argument("--frames-dir", help="frames/ of an --encode none run: encode those 256x256 frames")
    args = ap.parse_args()
    bench = load_benchmark(args.benchmark)
    clips = bench.clips[: args.max_clips] if args.max_clips else bench.clips
    for name in args.method:
        sums: dict[str, list[np.ndarray]] = {k: [] for k in ("ssim_none", "psnr_none", "ssim_crf10", "psnr_crf10",
                                                               "ssim_old", "psnr_old")}  # fmt: skip
        for clip in clips:
            data = _ClipData(clip, 256)
            gt = data.ground_truth()
            stored = Path(args.frames_dir) / name / f"{clip.clip_id}_256.npy" if args.frames_dir else None
            if stored is not None:
                if not stored.is_file():
                    continue  # not generated (yet) by the run: left out, counted below
                native = np.load(stored)  # evaluation-size frames
            else:
                method = make_method(name)
                inputs = data.method_inputs(0, bool(getattr(method, "uses_driving_video", False)))
                native = np.stack(list(method.generate(inputs)))
            with tempfile.TemporaryDirectory() as tmp:
                once = encode_decode(native, 10, Path(tmp))
                twice = encode_decode(encode_decode(native, 12, Path(tmp)), 10, Path(tmp))
            old = twice if name in OLD_DOUBLE_ENCODED else once
            n = min(len(native), len(gt))
            for tag, f in (("none", native), ("crf10", once), ("old", old)):
                ev = np.stack([to_eval_frame(x, 256) for x in f[:n]])
                sums[f"ssim_{tag}"].append(ssim_frames(ev, gt[:n]))
                sums[f"psnr_{tag}"].append(psnr_frames(ev, gt[:n]))
        m = {k: float(np.concatenate(v).mean()) for k, v in sums.items()}
        used = len(sums["ssim_none"])
        old_is = "two encodes" if name in OLD_DOUBLE_ENCODED else "one encode"
        if args.frames_dir:
            old_is += ", encoded at 256x256 from stored frames"
        print(
            f"{name} ({used} of {len(clips)} clips of {bench.name}, {sum(len(x) for x in sums['ssim_none'])} frames; "
            f"old = {old_is}):"
            f" SSIM none {m['ssim_none']:.4f} / crf10 once {m['ssim_crf10']:.4f} / old {m['ssim_old']:.4f} "
            f"(old - none {m['ssim_old'] - m['ssim_none']:+.4f}); PSNR none {m['psnr_none']:.3f} / crf10 once "
            f"{m['psnr_crf10']:.3f} / old {m['psnr_old']:.3f} (old - none {m['psnr_old'] - m['psnr_none']:+.3f} dB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
