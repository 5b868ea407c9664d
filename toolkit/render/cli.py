"""`toolkit render-demo`: controllable re-rendering of a reference clip with the 3D-warp (paper Fig. 16).

    toolkit render-demo REF.mp4 --synthetic nod --out nod.mp4
    toolkit render-demo REF.mp4 --motion-from OTHER.mp4 --out moved.mp4
    toolkit render-demo REF.mp4 --expression-from OTHER.mp4 --side-by-side --out talk.mp4

Every input video is preprocessed once (face crop, tracking, head motion) into
a cache folder (``--cache``, default ``$TOOLKIT_CACHE/render-demo``) and reused.
The reference frames are the first ``--reference-frames`` frames (tau = 64,
the paper's 3-second reference video).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

from toolkit.constants import TAU, VIDEO_FPS
from toolkit.errors import InputFileError, ToolkitError


def register(sub: argparse._SubParsersAction) -> None:
    from toolkit.render.controls import SYNTHETIC_KINDS
    from toolkit.render.rasterize import BACKENDS

    p = sub.add_parser(
        "render-demo",
        help="re-render a reference clip with another clip's head motion/expression or a synthetic nod/shake "
        "(3D-warp, paper Fig. 16)",
        description="Builds the textured face mesh of the reference clip's most frontal frame, poses it with the "
        "chosen head motion, drives its mouth with the chosen expression and composes it over the reference frame "
        "with the nearest head motion (paper Sec. 4.1).",
    )
    p.add_argument("reference", help="video of the person to re-render")
    p.add_argument("--out", required=True, help="output .mp4")
    p.add_argument("--motion-from", default=None, help="video whose head motion drives the reference")
    p.add_argument("--synthetic", choices=SYNTHETIC_KINDS, default=None, help="synthetic head motion")
    p.add_argument("--amplitude", type=float, default=15.0, help="synthetic motion amplitude, degrees")
    p.add_argument("--period", type=float, default=2.0, help="synthetic motion period, seconds")
    p.add_argument("--expression-from", default=None, help="video whose expression (mouth, jaw) drives the reference")
    p.add_argument("--expression-gain", type=float, default=1.0, help="expression intensity (1 = as in the video)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the output")
    p.add_argument("--reference-frames", type=int, default=TAU, help="reference frames y_1..tau (mesh + matcher)")
    p.add_argument("--backend", choices=("auto", *BACKENDS), default="auto", help="rasteriser")
    p.add_argument("--side-by-side", action="store_true", help="output | rendered face | matched reference")
    p.add_argument("--cache", default=None, help="folder for preprocessed inputs")
    p.set_defaults(func=_run)


def _record(video: str, cache: Path) -> Any:
    """Preprocess ``video`` into ``cache`` once; return its ClipRecord."""
    from toolkit.data.preprocess import PreprocessConfig, clip_id_for, preprocess_clip
    from toolkit.data.records import clip_dir, load_clip

    path = Path(video)
    if not path.is_file():
        raise InputFileError(f"Video '{video}' not found.", "Give the path of an existing video file.")
    clip_id = clip_id_for(path)
    if not (clip_dir(cache, clip_id) / "meta.json").exists():
        print(f"preprocessing {path.name} (face crop, tracking, head motion) ...", flush=True)
        preprocess_clip(path, cache, PreprocessConfig(jobs=1))
    return load_clip(cache, clip_id)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from toolkit.io.media import write_video
    from toolkit.paths import cache_dir
    from toolkit.render.controls import Pose, retarget_motion, synthetic_motion, transfer_expression
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, baseline_config, compose

    if args.motion_from and args.synthetic:
        raise ToolkitError("--motion-from and --synthetic both set the head motion.", "Give only one of them.")
    if args.seconds <= 0 or args.reference_frames < 1:
        raise ToolkitError("--seconds and --reference-frames must be positive.", "")
    cache = Path(args.cache) if args.cache else cache_dir() / "render-demo"
    ref = _record(args.reference, cache)
    n_ref = min(args.reference_frames, ref.n_frames)
    frames = ref.frames()
    ids = np.arange(n_ref)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warp = Warp3D(frames[ids], ReferenceTrack.from_any(ref, ids), baseline_config(backend=args.backend))
    for w in caught:
        print(f"warning: {w.message}")
    mesh = warp.mesh
    n = int(round(args.seconds * VIDEO_FPS))

    motion: Pose | None = None
    if args.motion_from:
        drv = _record(args.motion_from, cache)
        k = drv.frontal_index
        driving = np.concatenate([drv.rotation, drv.translation], axis=1)
        source_pose = np.concatenate([mesh.source_rotation, mesh.source_translation])
        moved, moved_scale = retarget_motion(
            driving, drv.scale, driving[k], float(drv.scale[k]), source_pose, float(mesh.source_scale)
        )
        motion = Pose(moved[:, :3], moved[:, 3:], moved_scale)
        n = min(n, len(motion))
    elif args.synthetic:
        motion = synthetic_motion(
            args.synthetic,
            n,
            mesh.source_rotation,
            mesh.source_translation,
            mesh.source_scale,
            amplitude_deg=args.amplitude,
            period_frames=args.period * VIDEO_FPS,
        )
    expression = None
    if args.expression_from:
        src = _record(args.expression_from, cache)
        from toolkit.pipeline.stages import scale_expression

        # the reference's neutral face: the median of its frames (as the pipeline's --expression VIDEO)
        expression = scale_expression(
            transfer_expression(src.frontal68, ref.frontal68[ids]), warp.rig.reference68, args.expression_gain
        )
        n = min(n, len(expression))
    if motion is None:
        motion = Pose(
            np.repeat(mesh.source_rotation[None], n, 0),
            np.repeat(mesh.source_translation[None], n, 0),
            np.full(n, mesh.source_scale, np.float32),
        )
    t0 = time.perf_counter()
    gi = warp.generator_inputs(
        motion.rotation[:n], motion.translation[:n], motion.scale[:n], None if expression is None else expression[:n]
    )
    out = compose(gi)
    seconds = time.perf_counter() - t0
    if args.side_by_side:
        out = np.concatenate([out, gi.rendered, gi.matched], axis=2)
    path = write_video(args.out, out, fps=VIDEO_FPS)
    print(
        f"wrote {path}: {n} frames, mesh from reference frame {warp.frontal_index}, "
        f"{int(gi.clamped.sum())} pose(s) clamped to the limits, rendering {n / max(seconds, 1e-9):.0f} frames/s"
    )
    return 0
