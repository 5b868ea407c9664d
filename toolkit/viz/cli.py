"""`toolkit plot-motion`: the paper's Fig. 3(b) for any clips."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.errors import InputFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot-motion",
        help="plot head-motion coefficients over time for several clips/people (paper Fig. 3b)",
        description="Either --data DIR (a `toolkit preprocess` output; pick clips with --clips or --speakers) "
        "or video files (tracked on the fly).",
    )
    p.add_argument("videos", nargs="*", help="video files to track (instead of --data)")
    p.add_argument("--data", help="preprocessed dataset folder")
    p.add_argument("--clips", nargs="*", default=None, help="clip ids from the dataset")
    p.add_argument("--speakers", nargs="*", default=None, help="plot up to --per-speaker clips of each speaker")
    p.add_argument("--per-speaker", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0, help="length of the plotted window")
    p.add_argument("--out", required=True, help="PNG path")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from toolkit.viz.motion_plot import MotionSeries, plot_head_motion

    series: list[MotionSeries] = []
    if args.data:
        from toolkit.data.records import done_clip_ids, load_clip

        ids = args.clips or done_clip_ids(args.data)
        per: dict[str, int] = {}
        for cid in ids:
            rec = load_clip(args.data, cid)
            if args.speakers and rec.speaker not in args.speakers:
                continue
            if per.get(rec.speaker, 0) >= args.per_speaker:
                continue
            per[rec.speaker] = per.get(rec.speaker, 0) + 1
            series.append(MotionSeries(rec.head_motion, rec.speaker, cid))
    for video in args.videos:
        from toolkit.data.speakers import speaker_of
        from toolkit.io.media import read_video
        from toolkit.motion import disentangle
        from toolkit.tracking import make_tracker

        frames = read_video(video, max_frames=int(args.seconds * 25))
        track = make_tracker("mediapipe").track(frames)
        m = disentangle(track.landmarks)
        import numpy as np

        series.append(MotionSeries(np.concatenate([m.rotation, m.translation], 1), speaker_of(video), Path(video).stem))
    if not series:
        raise InputFileError("No clips to plot.", "Give video files, or --data DIR with matching --clips/--speakers.")
    out = plot_head_motion(series, args.out, max_seconds=args.seconds)
    print(f"wrote {out} ({len(series)} clips)")
    return 0
