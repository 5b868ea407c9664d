"""Generator speed (frames/s) and peak memory at 256x256, against a baseline measured in the same run.

    nice -n 10 .venv/bin/python scripts/bench/generator_speed.py [--config configs/generator_small.yaml]
        [--weights checkpoints/generator] [--k 8] [--batch 8] [--repeat 5] [--device cpu|cuda] [--full]

How the pipeline runs the generator on a video: the K references are encoded once
(``Generator.encode_references``), then frames are generated one at a time (batch 1) or in
batches (``Generator.generate``). Frames/s counts generated frames per wall-clock second of
``generate`` (median of --repeat runs), the one-off reference encoding is reported separately.

Cases, each in a fresh process so that its peak resident memory (CPU) is its own:

* the shipped model (``--weights``; else the config's network with random weights - same cost);
* baseline: the same network sizes with every ablation switch on (Table 3's "Baseline": no
  render branch, no hybrid attention, no flow, image matting) - the ratio shows what the paper's
  modules cost on top;
* ``--full``: the paper-scale config (configs/generator_full.yaml), for reference;
* ``--end-to-end``: the whole pipeline (``toolkit.pipeline``: decode, tracking, learners, render,
  generator, encode) on a real reference video and real speech, once with ``renderer=3d-warp`` (the
  baseline) and once with ``renderer=generator`` (``--weights``), each in a fresh process, same
  inputs and options; prints both wall times, the ratio, the frames/s of the frame-making stages
  (render + generator) and peak memory.

Real inputs are not needed for timing; inputs are random tensors of the right shapes.
The CPU of this machine is shared: run with ``nice -n 10`` and read the ratios, not only the
absolute numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from toolkit.paths import shared_data_dir  # noqa: E402

DEFAULT_REFERENCE = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"
DEFAULT_AUDIO = shared_data_dir() / "speech" / "OpenTalker__SadTalker__RD_Radio31_000.wav"


def _measure(spec: dict, queue: mp.Queue) -> None:
    import resource

    import torch

    from toolkit.generator.config import AblationConfig, load_config
    from toolkit.generator.model import Generator

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    if spec.get("weights"):
        from toolkit.generator.checkpoint import load_generator

        g = load_generator(spec["weights"])
    else:
        cfg = load_config(spec["config"]).generator
        if spec.get("image_size"):
            cfg = dataclasses.replace(cfg, image_size=spec["image_size"])
        if spec["baseline"]:
            cfg = dataclasses.replace(cfg, ablation=AblationConfig(baseline=True))
        torch.manual_seed(0)
        g = Generator(cfg)
    g = g.to(device).eval()
    if spec.get("frames_at"):
        queue.put(_measure_frames(g, spec, rss0=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        return
    s, k = g.config.image_size, spec["k"]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gen = torch.Generator().manual_seed(0)

    def rand(*shape: int, signed: bool = True) -> torch.Tensor:
        t = torch.rand(*shape, generator=gen)
        return (t * 2 - 1 if signed else t).to(device)

    refs, ref_lmk = rand(1, k, 3, s, s), rand(1, k, 1, s, s, signed=False)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    on_gpu = device.type == "cuda"
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else torch.autocast("cpu", enabled=False)
    results = {}
    with torch.inference_mode(), amp:
        t = time.perf_counter()
        cache = g.encode_references(refs, ref_lmk)
        sync()
        results["encode_references_ms"] = (time.perf_counter() - t) * 1000
        for b in spec["batches"]:
            inp = (
                rand(b, 1, s, s, signed=False),
                rand(b, 3, s, s),
                torch.ones(b, 1, s, s, device=device),
                rand(b, 3, s, s),
                rand(b, 1, s, s, signed=False),
                rand(b, 1, s, s, signed=False),
            )
            g.generate(cache, *inp)  # warm-up
            sync()
            times, cpu = [], []
            for _ in range(spec["repeat"]):
                t, c = time.perf_counter(), time.process_time()
                g.generate(cache, *inp)
                sync()
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            results[f"fps_batch{b}"] = b / statistics.median(times)
            # CPU seconds of this process spread over its threads: what the wall time would be on
            # an otherwise idle machine (the shared CPU inflates wall time, much less CPU time)
            results[f"fps_cpu_batch{b}"] = b / (statistics.median(cpu) / torch.get_num_threads())
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["rss_before_inputs_mb"] = rss0
    if device.type == "cuda":
        results["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    results["params_m"] = sum(p.numel() for p in g.parameters()) / 1e6
    results["threads"] = torch.get_num_threads()
    queue.put(results)


def _measure_frames(g, spec: dict, rss0: float) -> dict:
    """End to end as the pipeline calls it: uint8 frames at ``frames_at`` in, uint8 frames out.

    ``toolkit.generator.infer.synthesize_frames`` resizes the inputs to the generator's size,
    rasterises the landmark images, generates, and - for a residual generator trained at a lower
    size - applies the flows and the correction to the full-size render and matched frame.
    """
    import resource

    import numpy as np
    import torch

    from toolkit.generator.infer import synthesize_frames

    size, k, n = spec["frames_at"], spec["k"], 8 * max(spec["batches"])
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 256, (k, size, size, 3), dtype=np.uint8)
    # a plausible face layout: 68 points inside the central square, jittered per frame
    base = rng.uniform(0.3 * size, 0.7 * size, (68, 2)).astype(np.float32)
    lm = base[None] + rng.normal(0, 2, (max(n, k), 68, 2)).astype(np.float32)
    rendered = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    mask = np.zeros((n, size, size), np.float32)
    mask[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    matched = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    results = {}
    for b in spec["batches"]:
        synthesize_frames(g, refs, lm[:k], lm[:b], rendered[:b], mask[:b], matched[:b], batch_size=b)  # warm-up
        times, cpu = [], []
        for _ in range(spec["repeat"]):
            t, c = time.perf_counter(), time.process_time()
            out = synthesize_frames(g, refs, lm[:k], lm[:n], rendered, mask, matched, batch_size=b)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        assert out.shape == (n, size, size, 3)
        # per video: the K references are encoded once per call, as the pipeline does per chunk
        results[f"fps_batch{b}"] = n / statistics.median(times)
        results[f"fps_cpu_batch{b}"] = n / (statistics.median(cpu) / torch.get_num_threads())
    results["encode_references_ms"] = float("nan")
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["rss_before_inputs_mb"] = rss0
    results["params_m"] = sum(p.numel() for p in g.parameters()) / 1e6
    results["threads"] = torch.get_num_threads()
    return results


def _measure_pipeline(spec: dict, queue: mp.Queue) -> None:
    """One whole generation with ``spec["renderer"]``: wall time, stage timings, peak memory."""
    import resource
    import tempfile

    import torch

    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    config = GenerationConfig(
        k=spec["k"], max_seconds=0, renderer=spec["renderer"], generator_checkpoint=spec.get("weights") or None
    )
    with tempfile.TemporaryDirectory(prefix="gen-speed-") as tmp:
        cpu0, t = time.process_time(), time.perf_counter()
        result = TalkingHeadPipeline(config).generate(spec["reference"], spec["audio"], str(Path(tmp) / "out.mp4"))
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu0
    frame_making = result.timings.get("render", 0.0) + result.timings.get("generator", 0.0)
    queue.put(
        {
            "renderer": result.renderer,
            "frames": result.n_frames,
            "video_seconds": result.seconds,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "timings": result.timings,
            "frame_making_fps": result.n_frames / max(frame_making, 1e-9),
            "end_to_end_fps": result.n_frames / wall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def end_to_end(args: argparse.Namespace, weights: str) -> int:
    """``--end-to-end``: the pipeline with the 3D warp (baseline) and with the generator, same run."""
    base = {"k": args.k, "threads": args.threads, "reference": args.reference, "audio": args.audio}
    load0 = os.getloadavg()[0]
    runs = {}
    for name, renderer in (("3d-warp (baseline)", "3d-warp"), ("generator", "generator")):
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_measure_pipeline, args=({**base, "renderer": renderer, "weights": weights}, q))
        p.start()
        runs[name] = q.get()
        p.join()
    warp, gen = runs["3d-warp (baseline)"], runs["generator"]
    print(
        f"end to end: {Path(args.reference).name} + {Path(args.audio).name}, K={args.k}, 256x256 crops, "
        f"generator weights {weights or '(shipped default)'}"
    )
    print(f"{'case':20s} {'frames':>6s} {'wall s':>7s} {'cpu s':>7s} {'RTF':>6s} {'fps e2e':>8s} "
          f"{'fps render+gen':>14s} {'peak MB':>8s}")  # fmt: skip
    for name, r in runs.items():
        print(
            f"{name:20s} {r['frames']:6d} {r['wall_seconds']:7.1f} {r['cpu_seconds']:7.1f} "
            f"{r['wall_seconds'] / r['video_seconds']:6.2f} {r['end_to_end_fps']:8.1f} {r['frame_making_fps']:14.1f} "
            f"{r['peak_rss_mb']:8.0f}"
        )
        print("    stages: " + ", ".join(f"{k} {v:.2f}s" for k, v in r["timings"].items() if v > 0.0005))
    print(
        f"generator / 3d-warp end to end: wall {gen['wall_seconds'] / warp['wall_seconds']:.2f}x, "
        f"cpu {gen['cpu_seconds'] / warp['cpu_seconds']:.2f}x (target <= 1.3x); generator end-to-end "
        f"{gen['end_to_end_fps']:.1f} frames/s (target >= 25)"
    )
    print(f"1-min load average before / after: {load0:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        from toolkit.io.atomic import write_json_atomic

        write_json_atomic(args.json, {"end_to_end": runs, "load_before": load0, "load_after": os.getloadavg()[0]})
    return 0


def run_case(spec: dict) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measure, args=(spec, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "generator_small.yaml"))
    ap.add_argument("--weights", default=str(ROOT / "checkpoints" / "generator"))
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--full", action="store_true", help="also time the paper-scale config")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--end-to-end", action="store_true", help="time the whole pipeline: 3d-warp vs generator")
    ap.add_argument("--reference", default=str(DEFAULT_REFERENCE), help="--end-to-end: reference video")
    ap.add_argument("--audio", default=str(DEFAULT_AUDIO), help="--end-to-end: driving speech")
    args = ap.parse_args()

    weights = args.weights if (Path(args.weights) / "model.safetensors").exists() else ""
    if args.end_to_end:
        return end_to_end(args, weights)
    base = {
        "device": args.device,
        "k": args.k,
        "batches": [1, args.batch],
        "repeat": args.repeat,
        "threads": args.threads,
    }
    shipped_size = 0
    if weights:
        shipped_size = int(json.loads((Path(weights) / "config.json").read_text())["generator"]["image_size"])
    shipped = bool(weights) and Path(weights).resolve() == (ROOT / "checkpoints" / "generator").resolve()
    label = "shipped" if shipped else (f"weights {Path(weights).name}" if weights else "small (random weights)")
    cases = {
        label: {
            **base,
            "config": args.config,
            "weights": weights,
            "baseline": False,
        },
        # the same network sizes at the same resolution, every module of the paper switched off
        "baseline ablation (same sizes)": {
            **base,
            "config": args.config,
            "weights": "",
            "baseline": True,
            "image_size": shipped_size,
        },
    }
    if weights:
        # what the pipeline gets: 256x256 frames out (a model trained at 128 corrects 256x256 inputs)
        cases[f"{label}, 256x256 frames end to end"] = {**base, "weights": weights, "baseline": False, "frames_at": 256}
        if shipped_size != 256:
            cases["small architecture at 256 (random weights)"] = {
                **base,
                "config": args.config,
                "weights": "",
                "baseline": False,
                "image_size": 256,
            }
    if args.full:
        cases["paper-scale (full config)"] = {
            **base,
            "config": str(ROOT / "configs" / "generator_full.yaml"),
            "weights": "",
            "baseline": False,
            "repeat": max(2, args.repeat // 2),
        }
    results = {}
    for name, spec in cases.items():
        results[name] = run_case(spec)
    first = next(iter(results))
    ref = results["baseline ablation (same sizes)"]
    print(
        f"generator speed, K={args.k}, device={args.device} (median of {args.repeat}); network size: "
        f"{shipped_size or 'config'}x{shipped_size or 'config'} unless the case says otherwise"
    )
    b = args.batch
    hdr = (
        f"{'case':34s} {'params M':>8s} {'enc refs ms':>11s} {'fps b=1':>8s} {f'fps b={b}':>9s} "
        f"{'cpu-fps b=1':>11s} {f'cpu-fps b={b}':>12s} {'peak MB':>8s}"
    )
    print(hdr)
    for name, r in results.items():
        mem = r.get("peak_gpu_mb", r["peak_rss_mb"])
        print(
            f"{name:34s} {r['params_m']:8.2f} {r['encode_references_ms']:11.1f} {r['fps_batch1']:8.1f} "
            f"{r[f'fps_batch{b}']:9.1f} {r['fps_cpu_batch1']:11.1f} {r[f'fps_cpu_batch{b}']:12.1f} {mem:8.0f}"
        )
    print("fps = frames per wall-clock second; cpu-fps = frames per (process CPU seconds / torch threads)")
    load = os.getloadavg()[0]
    print(f"1-min load average at the end: {load:.1f} on {os.cpu_count()} CPUs (wall fps is only meaningful near idle)")
    main_r = results.get(f"{label}, 256x256 frames end to end", results[first])
    main_first = results[first]
    print(
        f"ratio {first} / baseline: batch 1 {main_first['fps_batch1'] / ref['fps_batch1']:.2f}x, "
        f"batch {args.batch} {main_first[f'fps_batch{args.batch}'] / ref[f'fps_batch{args.batch}']:.2f}x "
        f"(the cost of the render branch, hybrid attention, flow and non-linear composition)"
    )
    target = 10.0
    which = "end to end" if main_r is not main_first else first
    print(
        f"target >= {target:.0f} fps at 256x256 ({which}): batch 1 {main_r['fps_batch1'] / target:.2f}x target, "
        f"batch {args.batch} {main_r[f'fps_batch{args.batch}'] / target:.2f}x target; torch threads {main_r['threads']}"
    )
    if args.json:
        from toolkit.io.atomic import write_json_atomic

        write_json_atomic(args.json, {"k": args.k, "device": args.device, "results": results})
    else:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
