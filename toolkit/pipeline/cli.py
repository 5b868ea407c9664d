"""``toolkit generate``: one video, or many with ``--batch LIST.csv``."""

from __future__ import annotations

import argparse
import sys

from toolkit.errors import InputFileError, TooLongError
from toolkit.io.atomic import interrupt_on_termination
from toolkit.pipeline.config import add_config_arguments, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="make a talking-head video from a reference video/image and speech",
        description="Reference (video or one image) + audio (any format, any rate) -> mp4 with the audio. "
        "Head motion comes from the motion learner (or --motion still|reference|VIDEO|FILE), expression "
        "from the expression learner (or --expression VIDEO).",
    )
    p.add_argument("--reference", "-r", help="reference video or image of the person")
    p.add_argument("--audio", "-a", help="driving speech (wav, mp3, m4a, or a video's audio track)")
    p.add_argument("--out", "-o", help="output mp4")
    p.add_argument("--batch", metavar="LIST.csv", help="CSV of jobs (columns reference,audio,out[,id,options...])")
    p.add_argument("--report", metavar="REPORT.csv", help="batch report (default: LIST.report.csv)")
    p.add_argument(
        "--resume", action="store_true", help="batch: keep the jobs the report lists as done (output present)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also show the native libraries' start-up logs (MediaPipe, TensorFlow Lite)",
    )
    add_config_arguments(p.add_argument_group("generation options"))
    from toolkit.distributed import add_ray_arguments

    add_ray_arguments(p, "batch jobs")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the temporary files of the output are removed
    with interrupt_on_termination():
        try:
            return _generate(args)
        except TooLongError as exc:  # the library's message names no flag; here the flag is the fix
            raise TooLongError(exc.problem, f"{exc.fix} Or raise the limit with --max-seconds (0 = none).") from None


def _generate(args: argparse.Namespace) -> int:
    if args.verbose:
        from toolkit.native_logs import show_native_logs

        show_native_logs()
    config = config_from_args(args).validate()
    if args.batch:
        if args.reference or args.audio or args.out:
            raise InputFileError("--batch cannot be combined with --reference/--audio/--out.", "Use one or the other.")
        from toolkit.pipeline.batch import default_report_path, read_batch, run_batch

        jobs = read_batch(args.batch)
        report = args.report or default_report_path(args.batch)
        from toolkit.distributed import ray_options_from_args

        outcomes = run_batch(
            jobs,
            config,
            report,
            echo=(lambda *a, **k: None) if args.quiet else print,
            resume=args.resume,
            ray=ray_options_from_args(args),
        )
        failed = [o for o in outcomes if o.status != "done"]
        if not args.quiet:
            print(f"batch: {len(outcomes) - len(failed)} done, {len(failed)} failed; report: {report}")
        for o in failed:
            print(f"  {o.job.job_id} (line {o.job.line}): {o.error_code}: {o.message}", file=sys.stderr)
        return 1 if failed else 0
    missing = [name for name in ("reference", "audio", "out") if not getattr(args, name)]
    if missing:
        raise InputFileError(
            f"Missing {', '.join('--' + m for m in missing)}.",
            "Usage: toolkit generate --reference R --audio A --out O.mp4 (or --batch LIST.csv).",
        )
    from toolkit.pipeline.pipeline import TalkingHeadPipeline

    progress = None if args.quiet else _console_progress()
    result = TalkingHeadPipeline(config).generate(args.reference, args.audio, args.out, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.quiet:
        return 0
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {result.summary()}")
    if config.renderer == "auto" and result.renderer == "3d-warp":
        from toolkit.pipeline.renderers import GENERATOR_OPTION_NOTE

        print(GENERATOR_OPTION_NOTE)
    if result.views_path:
        print(f"views: {result.views_path}, pose curves: {result.pose_plot_path}")
    return 0


def _console_progress():
    last = {"text": ""}

    def show(event) -> None:
        text = f"\r[{event.overall * 100:5.1f}%] {event.stage:<9} {event.message[:50]:<50}"
        if text != last["text"]:
            last["text"] = text
            sys.stderr.write(text)
            sys.stderr.flush()

    return show
