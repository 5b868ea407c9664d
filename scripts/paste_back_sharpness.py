"""Paste-back sharpness: the face rendered at 256 vs at its size in the frame (size 0, auto), beside the real one.

Landmark-driven self-reenactment on a high-resolution shared clip (the first 64 frames are the reference, the
next ``--frames`` frames drive it with their own tracked head motion and expression, so the real frames are the
ground truth), pasted back into the full-resolution frame by the pipeline (``toolkit.pipeline``, 3D-warp
renderer) once with ``size=256`` (the old default) and once with ``size=0`` (the face's size in the frame:
256 or 512). For each it prints, inside the real face's landmark box at native resolution:

* sharpness: mean absolute Laplacian of the output / that of the real frame (1 = as sharp as the frame);
* SSIM against the real frame (grey, the face box at native resolution);
* render seconds per frame (loaded machine: compare the two in the same run only).

and writes a PNG of face crops (real | size 256 | auto) at native pixels::

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python scripts/paste_back_sharpness.py \
        --clip av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4 --png docs/img/paste_back_sharpness.png
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TAU = 64


def _render(ref: np.ndarray, drv: np.ndarray, size: int) -> tuple[np.ndarray, float, int]:
    """(output frames at the reference's resolution, seconds, face size rendered)."""
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline

    cfg = GenerationConfig(
        renderer="3d-warp",
        output="paste-back",
        size=size,
        k=8,
        max_seconds=0,
        allow_silent_audio=True,
        reference_frames=len(ref),
        max_paste_side=max(ref.shape[1:3]),
    )
    pipe = TalkingHeadPipeline(cfg)
    t0 = time.perf_counter()
    out = list(
        pipe.generate_frames(
            ref,
            np.zeros(len(drv) * SAMPLES_PER_FRAME, np.float32),
            reference_indices=list(range(0, len(ref), len(ref) // 8)),
            driving_frames=drv,
            driving_same_camera=True,
        )
    )
    seconds = time.perf_counter() - t0
    return np.stack(out)[: len(drv)], seconds, pipe.prepare(ref).size  # the face size rendered


def _face_boxes(frames: np.ndarray) -> np.ndarray:
    """(T, 4) x0, y0, x1, y1 of the real face (dlib 68 points) at native resolution."""
    from eval.landmarks68 import Dlib68

    pts = Dlib68().video(frames).points
    return np.concatenate([np.nanmin(pts, axis=1), np.nanmax(pts, axis=1)], axis=1)


def _sharpness(img: np.ndarray) -> float:
    import cv2

    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4", help="shared clip")
    ap.add_argument("--frames", type=int, default=25, help="driving frames rendered")
    ap.add_argument("--png", type=Path, help="crop comparison image to write")
    ap.add_argument("--show", type=int, default=12, help="driving frame shown in the image")
    args = ap.parse_args(argv)
    import warnings

    import cv2

    from eval.metrics.ssim_psnr import ssim_frames
    from eval.video import read_native_frames
    from toolkit.paths import shared_data_dir

    warnings.simplefilter("ignore")
    frames = read_native_frames(shared_data_dir() / args.clip, 0, TAU + args.frames)
    ref, real = frames[:TAU], frames[TAU:]
    print(f"{args.clip}: {ref.shape[2]}x{ref.shape[1]}, {len(real)} driven frames; load {os.getloadavg()}")
    boxes = _face_boxes(real)
    results = {}
    for label, size in (("size 256", 256), ("auto", 0)):
        out, seconds, used = _render(ref, real, size)
        sharp, ssim = [], []
        for o, r, b in zip(out, real, boxes):
            if not np.isfinite(b).all():
                continue
            x0, y0, x1, y1 = np.rint(b).astype(int)
            sharp.append(_sharpness(o[y0:y1, x0:x1]) / max(_sharpness(r[y0:y1, x0:x1]), 1e-9))
            g = [cv2.cvtColor(v[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)[None, ..., None].repeat(3, -1) for v in (o, r)]
            ssim.append(float(ssim_frames(g[0], g[1])[0]))
        results[label] = out
        print(
            f"{label:9s} (face rendered at {used} px): sharpness {np.mean(sharp):.3f} of the real frame's, "
            f"face SSIM {np.mean(ssim):.4f}, {seconds / len(out):.3f} s/frame",
            flush=True,
        )
    if args.png:
        from toolkit.io.atomic import write_bytes_atomic

        i = min(args.show, len(real) - 1)
        x0, y0, x1, y1 = np.rint(boxes[i]).astype(int)
        pad = (x1 - x0) // 6
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), x1 + pad, y1 + pad
        tiles = [real[i][y0:y1, x0:x1], results["size 256"][i][y0:y1, x0:x1], results["auto"][i][y0:y1, x0:x1]]
        for t, text in zip(tiles, ("real frame", "rendered at 256, pasted", "rendered at the face's size, pasted")):
            cv2.putText(t, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        strip = np.concatenate(tiles, axis=1)
        note = np.full((28, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(
            note,
            f"scripts/paste_back_sharpness.py, {Path(args.clip).stem}, native pixels; 2-core CPU, loaded: other jobs",
            (6, 19),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        _, png = cv2.imencode(".png", cv2.cvtColor(np.concatenate([strip, note]), cv2.COLOR_RGB2BGR))
        write_bytes_atomic(args.png, png.tobytes())
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
