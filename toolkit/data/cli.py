"""`toolkit preprocess`: videos -> training records + manifest.json."""

from __future__ import annotations

import argparse

from toolkit.data.preprocess import PreprocessConfig, build_dataset, summarise


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preprocess",
        help="turn talking-head videos into per-clip records (crops, landmarks, head motion, audio features)",
        description="Preprocess videos (files or folders) into DIR/clips/<clip_id>/ records and DIR/manifest.json. "
        "Resumable: finished clips are not redone; rerun the same command after an interruption.",
    )
    p.add_argument("inputs", nargs="+", help="video files or folders of videos")
    p.add_argument("--out", required=True, help="output folder")
    d = PreprocessConfig()
    p.add_argument("--crop-size", type=int, default=d.crop_size, help="side of the square face crop (pixels)")
    p.add_argument("--backend", default=d.backend, choices=["mediapipe", "fan"], help="face tracking backend")
    p.add_argument("--crop-scale", type=float, default=d.crop_scale, help="crop side / face size")
    p.add_argument("--jobs", type=int, default=d.jobs, help="clips processed in parallel")
    p.add_argument("--max-seconds", type=float, default=d.max_seconds, help="truncate clips longer than this (0 = off)")
    p.add_argument("--retry-skipped", action="store_true", help="retry clips a previous run skipped")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    config = PreprocessConfig(
        crop_size=args.crop_size,
        backend=args.backend,
        crop_scale=args.crop_scale,
        jobs=args.jobs,
        retry_skipped=args.retry_skipped,
        max_seconds=args.max_seconds,
    )
    manifest = build_dataset(args.inputs, args.out, config, progress=not args.quiet)
    print(summarise(manifest))
    return 0
