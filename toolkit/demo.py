"""`toolkit demo`: talking-head generation on the embedded example, written to out/demo.mp4.

The embedded example is made by the project: the astronaut portrait that
scikit-image ships and speech synthesised with eSpeak NG (assets/README.md).
The demo runs the one generation pipeline (``toolkit.pipeline``): the
expression learner makes the face speak the audio, the head motion learner
gives it rhythmic head motion (from a single photo: its learned prior), and
the 3D-aware module (or the learned generator, when its checkpoint is there)
renders the frames. Beside the video it writes the intermediate products
(``demo.views.mp4``: landmark image | 3D render | output; ``demo.pose.png``:
head-motion curves) and, with ``--frames``, a strip of frames as a PNG.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.paths import assets_dir

EXAMPLE_SPEECH = assets_dir() / "example_speech.wav"


def example_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The embedded example: (reference image (512, 512, 3) uint8, speech float32 at 16 kHz)."""
    import skimage.data

    from toolkit.io.media import read_audio

    return skimage.data.astronaut(), read_audio(EXAMPLE_SPEECH, sr=AUDIO_SAMPLE_RATE)


def run_demo(out: str | Path = "out/demo.mp4", seconds: float | None = None, frames_png: str | Path | None = None):
    """Generate the demo video; returns the :class:`toolkit.pipeline.GenerationResult`."""
    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline

    image, speech = example_inputs()
    if seconds:
        speech = speech[: int(seconds * VIDEO_FPS) * SAMPLES_PER_FRAME]
    config = GenerationConfig(k=1, views=True, seed=0)
    result = TalkingHeadPipeline(config).generate(image, speech, out, progress=_progress())
    print(file=sys.stderr)
    if frames_png:
        write_frame_strip(result.out_path, frames_png)
    return result


def write_frame_strip(video: str | Path, out_png: str | Path, n: int = 6, views: bool = True) -> Path:
    """``n`` evenly spaced frames of ``video`` side by side (with the views video's panels above)."""
    import cv2

    from toolkit.io.atomic import atomic_path
    from toolkit.io.media import read_video

    frames = read_video(video)
    idx = np.linspace(0, len(frames) - 1, n + 2).round().astype(int)[1:-1]
    rows = [np.concatenate(list(frames[idx]), axis=1)]
    views_path = Path(video).with_name(Path(video).stem + ".views.mp4")
    if views and views_path.exists():
        panels = read_video(views_path)[idx]  # landmark image | 3D render | output
        size = frames.shape[1]
        for p in (0, 1):
            rows.insert(p, np.concatenate([f[:, p * size : (p + 1) * size] for f in panels], axis=1))
    grid = np.concatenate(rows, axis=0)
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        cv2.imwrite(str(tmp), grid[..., ::-1])
    return out_png


def _progress():
    def show(event) -> None:
        sys.stderr.write(f"\r[{event.overall * 100:5.1f}%] {event.stage:<9} {event.message[:40]:<40}")
        sys.stderr.flush()

    return show


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a talking head from the embedded example (writes out/demo.mp4)")
    p.add_argument("--out", default="out/demo.mp4")
    p.add_argument("--seconds", type=float, default=None, help="only the first N seconds of the speech")
    p.add_argument("--frames", default=None, metavar="PNG", help="also write a strip of frames as a PNG")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    result = run_demo(args.out, args.seconds, args.frames)
    print(f"wrote {result.summary()}")
    print(f"intermediate products: {result.views_path}, {result.pose_plot_path}")
    if args.frames:
        print(f"frames: {args.frames}")
    return 0
