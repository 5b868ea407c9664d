"""Paste-back sharpness and seam: the face rendered at 256 vs at its size in the frame (size 0, auto), each with
the seam matching of ``toolkit.pipeline.paste.SeamMatch`` off and on, beside the real one.

Landmark-driven self-reenactment on a high-resolution shared clip (the first 64 frames are the reference, the
next ``--frames`` frames drive it with their own tracked head motion and expression, so the real frames are the
ground truth), pasted back into the full-resolution frame by the pipeline (``toolkit.pipeline``, 3D-warp
renderer) with ``size`` 256 (the old default) and/or 0 (the face's size in the frame: 256 or 512), seam matching
off ("as rendered": the face upscaled and feathered in) and on. For each it prints, inside the real face's
landmark box at native resolution:

* sharpness: mean absolute Laplacian of the output / that of the real frame (1 = as sharp as the frame);
* SSIM against the real frame (grey, the face box at native resolution);
* the seam measures of ``eval/metrics/seam.py`` (docs/EVALUATION.md, "Paste-back seam") on the paste box, with
  the paste's own face weight: seam colour error (Delta E, 0 = no step beyond the real frame's) and seam
  sharpness match across the seam (1 = the face's side as sharp relative to the frame's side as in the real
  frame), and the same for the whole face;
* render seconds per frame (loaded machine: compare in the same run only).

and writes a PNG of face crops (real | each variant) at native pixels::

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


def _render(ref: np.ndarray, drv: np.ndarray, size: int, seam: bool) -> tuple[np.ndarray, float, int, list]:
    """(output frames at the reference's resolution, seconds, face size rendered, (box, face weight) per frame)."""
    from unittest import mock

    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline
    from toolkit.pipeline.paste import PasteBack

    pastes: list = []
    original_apply, original_init = PasteBack.apply, PasteBack.__init__

    def init(self, *args, **kwargs):  # seam matching on or off for this run
        original_init(self, *args, **{**kwargs, "match_seam": seam})

    def apply(self, *args, **kwargs):  # the paste box and face weight of every frame, for the seam measures
        out = original_apply(self, *args, **kwargs)
        pastes.append((self.box, self.last_alpha.copy()))
        return out

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
    with mock.patch.object(PasteBack, "__init__", init), mock.patch.object(PasteBack, "apply", apply):
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
    return np.stack(out)[: len(drv)], seconds, pipe.prepare(ref).size, pastes[: len(drv)]


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
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 0], help="face sizes rendered (0 = auto)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    import warnings

    import cv2

    from eval.metrics.seam import seam_colour_error, seam_sharpness_match
    from eval.metrics.ssim_psnr import ssim_frames
    from eval.video import read_native_frames
    from toolkit.paths import shared_data_dir

    warnings.simplefilter("ignore")
    frames = read_native_frames(shared_data_dir() / args.clip, 0, TAU + args.frames)
    ref, real = frames[:TAU], frames[TAU:]
    print(f"{args.clip}: {ref.shape[2]}x{ref.shape[1]}, {len(real)} driven frames; load {os.getloadavg()}")
    boxes = _face_boxes(real)
    results, numbers = {}, {}
    for size in args.sizes:
        for seam in (False, True):
            label = f"{size or 'auto'} {'seam matched' if seam else 'as rendered'}"
            out, seconds, used, pastes = _render(ref, real, size, seam)
            sharp, ssim, colour, seam_sharp, core_sharp = [], [], [], [], []
            for o, r, b, (pbox, alpha) in zip(out, real, boxes, pastes):
                px0, py0, px1, py1 = pbox
                colour.append(seam_colour_error(o[py0:py1, px0:px1], r[py0:py1, px0:px1], alpha))
                seam_sharp.append(seam_sharpness_match(o[py0:py1, px0:px1], r[py0:py1, px0:px1], alpha))
                core_sharp.append(seam_sharpness_match(o[py0:py1, px0:px1], r[py0:py1, px0:px1], alpha, region="core"))
                if not np.isfinite(b).all():
                    continue
                x0, y0, x1, y1 = np.rint(b).astype(int)
                sharp.append(_sharpness(o[y0:y1, x0:x1]) / max(_sharpness(r[y0:y1, x0:x1]), 1e-9))
                g = [cv2.cvtColor(v[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)[None, ..., None].repeat(3, -1) for v in (o, r)]
                ssim.append(float(ssim_frames(g[0], g[1])[0]))
            results[label] = out
            numbers[label] = {
                "face_size": int(used),
                "sharpness_vs_real": float(np.mean(sharp)),
                "face_ssim": float(np.mean(ssim)),
                "seam_colour_error": float(np.nanmean(colour)),
                "seam_sharpness_match": float(np.nanmean(seam_sharp)),
                "face_core_sharpness_match": float(np.nanmean(core_sharp)),
                "seconds_per_frame": seconds / len(out),
            }
            n = numbers[label]
            print(
                f"{label:22s} (face rendered at {used} px): sharpness {n['sharpness_vs_real']:.3f} of the real "
                f"frame's, face SSIM {n['face_ssim']:.4f}, seam colour error {n['seam_colour_error']:.2f} dE, "
                f"seam sharpness match {n['seam_sharpness_match']:.3f} "
                f"(whole face {n['face_core_sharpness_match']:.3f}), "
                f"{n['seconds_per_frame']:.3f} s/frame "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    if args.json:
        from toolkit.io.atomic import write_json_atomic

        write_json_atomic(args.json, {"clip": args.clip, "frames": len(real), "load": os.getloadavg(), **numbers})
    if args.png:
        from toolkit.io.atomic import write_bytes_atomic

        i = min(args.show, len(real) - 1)
        x0, y0, x1, y1 = np.rint(boxes[i]).astype(int)
        pad = (x1 - x0) // 6
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), x1 + pad, y1 + pad
        tiles = [real[i][y0:y1, x0:x1].copy()] + [v[i][y0:y1, x0:x1].copy() for v in results.values()]
        for t, text in zip(tiles, ["real frame", *results]):
            cv2.putText(t, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        strip = np.concatenate(tiles, axis=1)
        # second row: the left jaw and cheek, where the face meets the frame, enlarged 2x (nearest: real pixels)
        bw, bh = x1 - x0, y1 - y0
        zx0, zy0, nearest = x0, y0 + bh // 2, cv2.INTER_NEAREST
        zoom = [
            cv2.resize(v[i][zy0 : zy0 + bh // 3, zx0 : zx0 + bw // 2], (bw, 2 * (bh // 3)), interpolation=nearest)
            for v in [real, *results.values()]
        ]
        zoom_row = np.concatenate(zoom, axis=1)
        strip = np.concatenate([strip, zoom_row], axis=0)
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
