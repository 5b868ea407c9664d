"""`toolkit render-demo`: controllable re-rendering of a reference clip with the 3D-warp (paper Fig. 16).

    toolkit render-demo REF.mp4 --synthetic nod --out nod.mp4
    toolkit render-demo REF.mp4 --motion-from OTHER.mp4 --out moved.mp4
    toolkit render-demo REF.mp4 --expression-from OTHER.mp4 --side-by-side --out talk.mp4

A front end of the one pipeline (toolkit.pipeline), with no speech learner: the same as
``toolkit generate --renderer 3d-warp --motion nod|shake|tilt|circle|OTHER.mp4 --expression OTHER.mp4``,
so the demo and ``generate`` prepare the reference and apply the Fig. 16 controls the same way. The
output carries the expression video's sound (its mouth moves with it), else a silent track.
All frames of the reference (up to 64: tau, the paper's 3-second reference video) are the
motion matcher's reference frames.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from toolkit.constants import AUDIO_SAMPLE_RATE, SYNTHETIC_KINDS, TAU
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.pipeline.config import GenerationConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render-demo",
        help="re-render a reference clip with another clip's head motion/expression or a synthetic nod/shake "
        "(3D-warp, paper Fig. 16)",
        description="Builds the textured face mesh of the reference clip's most frontal frame, poses it with the "
        "chosen head motion, drives its mouth with the chosen expression and composes it over the reference frame "
        "with the nearest head motion (paper Sec. 4.1). The same as `toolkit generate --renderer 3d-warp` with "
        "the motion and expression given here.",
    )
    p.add_argument("reference", help="video (or photo) of the person to re-render")
    p.add_argument("--out", required=True, help="output .mp4")
    p.add_argument("--motion-from", default=None, help="video whose head motion drives the reference")
    p.add_argument("--synthetic", choices=SYNTHETIC_KINDS, default=None, help="synthetic head motion")
    p.add_argument("--amplitude", type=float, default=15.0, help="synthetic motion amplitude, degrees")
    p.add_argument("--period", type=float, default=2.0, help="synthetic motion period, seconds")
    p.add_argument("--expression-from", default=None, help="video whose expression (mouth, jaw) drives the reference")
    p.add_argument("--expression-gain", type=float, default=1.0, help="expression intensity (1 = as in the video)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the output")
    p.add_argument("--reference-frames", type=int, default=TAU, help="reference frames y_1..tau (mesh + matcher)")
    p.add_argument(
        "--side-by-side", action="store_true", help="also write the views video (landmarks | 3D render | output)"
    )
    p.set_defaults(func=_run)


def demo_config(args: argparse.Namespace) -> GenerationConfig:
    """The pipeline config of a render-demo command line (imported late: the CLI starts fast)."""
    from toolkit.pipeline.config import K_RANGE, GenerationConfig

    if args.motion_from and args.synthetic:
        raise ToolkitError("--motion-from and --synthetic both set the head motion.", "Give only one of them.")
    if args.seconds <= 0 or args.reference_frames < 1:
        raise ToolkitError(
            f"--seconds ({args.seconds}) and --reference-frames ({args.reference_frames}) must be positive.",
            "Use e.g. --seconds 4 --reference-frames 64.",
        )
    return GenerationConfig(
        renderer="3d-warp",
        k=min(args.reference_frames, K_RANGE[1]),
        reference_frames=args.reference_frames,
        motion=args.motion_from or args.synthetic or "still",
        motion_amplitude=args.amplitude,
        motion_period=args.period,
        expression=args.expression_from or "reference",
        expression_scale=args.expression_gain,
        allow_silent_audio=True,
        views=args.side_by_side,
    ).validate()


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from toolkit.pipeline.pipeline import TalkingHeadPipeline

    config = demo_config(args)
    n_samples = int(round(args.seconds * AUDIO_SAMPLE_RATE))
    sound = np.zeros(n_samples, np.float32)
    if args.expression_from:
        from toolkit.io.media import probe, read_audio

        if probe(args.expression_from).has_audio:  # the mouth moves with this sound
            speech = read_audio(args.expression_from, sr=AUDIO_SAMPLE_RATE)[:n_samples]
            sound[: speech.size] = speech
    result = TalkingHeadPipeline(config).generate(args.reference, sound, args.out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {result.summary()}")
    if result.views_path:
        print(f"views: {result.views_path}")
    return 0
