"""`toolkit survey build|serve|aggregate|export`: blind user studies of talking-head videos (paper Sec. 6, B.4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.errors import InputFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "survey",
        help="user studies: build a blind rating study, serve it to raters, aggregate the answers",
        description="Blind user studies like the paper's Fig. 11: shuffled, unlabelled videos scored 0-10 for "
        "realism and lip sync (or A/B forced choice), with attention checks, durable answers and bootstrap CIs.",
    )
    s = p.add_subparsers(dest="survey_command", metavar="STEP")
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])

    from eval.survey.build import StudyConfig
    from eval.survey.encode import EncodeSettings

    d, e = StudyConfig(), EncodeSettings()
    b = s.add_parser(
        "build",
        help="make a study folder from method folders of <clip-id>.mp4 videos",
        description="Select clips, re-encode every video to one codec under an opaque name, shuffle per rater "
        "with a recorded seed, add attention checks, and write STUDY/ (the key goes to STUDY/private/, never served).",
    )
    b.add_argument("--method", action="append", default=[], metavar="NAME=DIR", required=True,
                   help="a method and its folder of <clip-id>.mp4, or the name of a built-in baseline of "
                        "the benchmarking suite (static, reference-loop; needs --benchmark); repeatable")  # fmt: skip
    b.add_argument("--benchmark", type=Path, help="benchmark JSON (`toolkit benchmark make`): clips, driving audio, "
                   "ground truth, reference frames")  # fmt: skip
    b.add_argument("--data-root", type=Path, help="folder the benchmark's clip paths are relative to")
    b.add_argument("--out", type=Path, required=True, help="the study folder to create")
    b.add_argument("--design", choices=["rating", "ab"], default=d.design, help="score each video, or A/B choice")
    b.add_argument("--raters", type=int, default=d.n_raters, help="number of rater links (paper: 20)")
    b.add_argument("--per-rater", type=int, help="items per rater (default: all), attention checks come on top")
    b.add_argument("--clips", type=int, help="use a random subset of this many clips")
    b.add_argument("--seed", type=int, help="shuffling seed (default: random, recorded in private/build.json)")
    b.add_argument("--scale", default=f"{d.scale_min}-{d.scale_max}", help="score range MIN-MAX (paper 0-10; MOS 1-5)")
    b.add_argument("--side-by-side", action="store_true", help="show each clip's reference left of the video")
    b.add_argument("--reference-dir", type=Path, help="folder of <clip-id>.mp4/.png references for --side-by-side")
    b.add_argument("--include-ground-truth", action="store_true", help="rate the benchmark's ground truth too")
    b.add_argument("--anchor", action="append", default=[], choices=["frozen", "blur", "copy"],
                   help="add a known-bad anchor made from --anchor-source (repeatable)")  # fmt: skip
    b.add_argument("--anchor-source", help="method the anchors are made from (default: the first)")
    b.add_argument(
        "--check-method", help="method whose video gets the audio-offset check (default: ground truth or first)"
    )
    b.add_argument("--offset", type=float, default=d.offset_seconds, help="audio offset of the check video (s)")
    b.add_argument("--title", default=d.title, help="page title shown to raters")
    b.add_argument("--instructions", help="instructions shown to raters (default: a standard text)")
    b.add_argument("--size", type=int, default=e.size, help="video panel size in pixels")
    b.add_argument("--fps", type=int, default=e.fps, help="frame rate of every study video")
    b.add_argument("--max-seconds", type=float, help="cut videos to this length")
    b.add_argument("--jobs", type=int, default=d.jobs, help="ffmpeg processes at once")
    b.set_defaults(func=_build)

    v = s.add_parser("serve", help="serve the study to raters (localhost by default)",
                     description="A small web app: raters open /r/<token> (STUDY/private/raters.csv).")  # fmt: skip
    v.add_argument("study", type=Path)
    v.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: this machine only)")
    v.add_argument("--port", type=int, default=8000, help="port (0 = any free port, printed)")
    v.add_argument("--allowed-host", action="append", default=None,
                   help="Host header accepted when serving on a network interface (repeatable; required "
                        "with a --host other than 127.0.0.1/localhost/::1)")  # fmt: skip
    v.add_argument("--access-log", action="store_true", help="log every request (URLs contain rater tokens)")
    v.set_defaults(func=_serve)

    a = s.add_parser("aggregate", help="join answers with the key: scores, CIs, A/B tests, CSV, Markdown, PNG")
    a.add_argument("study", type=Path)
    a.add_argument("--out", type=Path, required=True, help="folder for the results")
    a.add_argument("--answers", type=Path, nargs="*", default=[], help="answer files downloaded from a static package")
    a.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates")
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a.add_argument("--repeat-tolerance", type=int, help="points a repeated video may move (default: from the build)")
    a.set_defaults(func=_aggregate)

    x = s.add_parser("export", help="write the study as a static package (HTML + videos + downloadable answers)")
    x.add_argument("study", type=Path)
    x.add_argument("--out", type=Path, required=True, help="package folder to create (outside the study)")
    x.add_argument("--rater", action="append", help="export only these rater ids (repeatable)")
    x.set_defaults(func=_export)


def _scale(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
        raise InputFileError(f"--scale {text!r} is not MIN-MAX.", "Write e.g. --scale 0-10.")
    return int(lo), int(hi)


def _build(args: argparse.Namespace) -> int:
    from eval.survey.build import StudyConfig, build_study
    from eval.survey.encode import EncodeSettings
    from eval.survey.sources import parse_method_arg

    methods = [parse_method_arg(m) for m in args.method]
    lo, hi = _scale(args.scale)
    config = StudyConfig(
        design=args.design,
        n_raters=args.raters,
        per_rater=args.per_rater,
        n_clips=args.clips,
        seed=args.seed,
        scale_min=lo,
        scale_max=hi,
        side_by_side=args.side_by_side,
        include_ground_truth=args.include_ground_truth,
        anchors=tuple(args.anchor),
        anchor_source=args.anchor_source,
        check_method=args.check_method,
        offset_seconds=args.offset,
        title=args.title,
        instructions=args.instructions,
        encode=EncodeSettings(size=args.size, fps=args.fps, max_seconds=args.max_seconds),
        jobs=args.jobs,
    )
    summary = build_study(
        methods, args.out, config, benchmark=args.benchmark, data_root=args.data_root, reference_dir=args.reference_dir
    )
    print(summary.text())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from eval.survey.server import serve_study

    serve_study(args.study, args.host, args.port, allowed_hosts=args.allowed_host, access_log=args.access_log)
    return 0


def _aggregate(args: argparse.Namespace) -> int:
    from eval.survey.aggregate import AggregateConfig, aggregate_study

    config = AggregateConfig(n_boot=args.n_boot, seed=args.seed, repeat_tolerance=args.repeat_tolerance)
    result = aggregate_study(args.study, args.out, args.answers, config)
    print(result.text())
    return 0


def _export(args: argparse.Namespace) -> int:
    from eval.survey.export import export_static

    print(export_static(args.study, args.out, args.rater).text())
    return 0
