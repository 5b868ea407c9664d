"""Ray scale-out of ``toolkit evaluate``: identical numbers, kill -9 of a worker, 1 vs 2 workers.

On a small benchmark (default: the first 5 clips of shared_av10 cut to --max-seconds, frozen
into OUT/bench.json) with every metric (FID with the default network, CSIM, LMD, SSIM/PSNR,
head motion), methods static + reference-loop, each run with its own empty feature cache:

1. one process (``eval.runner.evaluate``): the reference numbers;
2. Ray, 1 worker and 2 workers: wall time of each and the ratio (throughput 2 vs 1);
   every per-clip metric and aggregate compared with (1) for exact equality;
3. Ray, 2 workers, and a ``kill -9`` of a worker process while it runs a clip: the run goes
   on (Ray resubmits the task), the numbers equal (1), and a rerun submits nothing.

    PYTHONPATH=$PWD python scripts/bench/ray_eval.py --out /tmp/ray_eval [--clips 5] [--max-seconds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any


def metrics_of(results: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {**{r["clip_id"]: r.get("metrics") for r in m["per_clip"]}, "ALL": m["aggregate"]}
        for name, m in results["methods"].items()
    }


def killer(stop: threading.Event, log: list[str]) -> None:
    """kill -9 the first worker of this run's Ray (a descendant of this process) seen running an evaluation
    task, a few seconds into its clip."""
    import psutil

    me = psutil.Process(os.getpid())
    while not stop.is_set():
        for proc in me.children(recursive=True):
            try:
                cmd = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if cmd.startswith("ray::_evaluate_clip_task"):
                time.sleep(3.0)  # let it get into the clip
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                    log.append(f"kill -9 {proc.pid} ({cmd[:40]}) at {time.strftime('%H:%M:%S')}")
                except ProcessLookupError:
                    continue
                return
        time.sleep(0.5)


def main() -> None:
    from eval.benchmark import BenchmarkConfig, load_benchmark, make_benchmark
    from eval.distributed import evaluate_on_ray
    from eval.features import FeatureConfig
    from eval.metrics.csim import CsimConfig
    from eval.metrics.fid import FidConfig
    from eval.runner import EvalConfig, evaluate
    from toolkit.distributed import RayOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", default="eval/benchmarks/shared_av10.json")
    ap.add_argument("--clips", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=4.0)
    ap.add_argument("--skip", default="", help="comma list of steps to skip: single,ray1,ray2,kill")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    source = load_benchmark(args.source)
    bench = out / "bench.json"
    if not bench.is_file():
        make_benchmark([c.video for c in source.clips[: args.clips]], bench,
                       BenchmarkConfig(max_seconds=args.max_seconds, min_driving_frames=10),
                       data_root=source.data_root, progress=False)  # fmt: skip
    methods = ["static", "reference-loop"]

    def config(tag: str) -> EvalConfig:
        return EvalConfig(
            # every model pinned, so that each run (and each Ray worker) computes the same metrics
            features=FeatureConfig(fid=FidConfig(threads=1), csim=CsimConfig(embedder="expo-mobilefacenet-192")),
            cache_dir=str(out / f"cache-{tag}"),
            progress=False,
        )

    report: dict[str, Any] = {"benchmark": str(bench), "clips": len(load_benchmark(bench).clips), "methods": methods}
    timings: dict[str, float] = {}
    reference = None
    if "single" not in skip:
        t = time.perf_counter()
        reference = evaluate(bench, methods, out / "single", config("single"))
        timings["single"] = time.perf_counter() - t
    else:
        reference = json.loads((out / "single" / "results.json").read_text())
    for workers in (1, 2):
        tag = f"ray{workers}"
        if tag in skip:
            continue
        import ray

        t = time.perf_counter()
        res = evaluate_on_ray(bench, methods, out / tag, config(tag), RayOptions(workers=workers), echo=print)
        timings[tag] = time.perf_counter() - t
        ray.shutdown()
        report[f"{tag}_identical"] = metrics_of(res) == metrics_of(reference)
        report[f"{tag}_workers_used"] = res["run"]["ray"]["workers_used"]
        print(f"{tag}: {timings[tag]:.1f} s wall, identical to one process: {report[f'{tag}_identical']}", flush=True)
    if "ray1" in timings and "ray2" in timings:
        report["throughput_2_vs_1_workers"] = timings["ray1"] / timings["ray2"]
    if "kill" not in skip:
        import ray

        stop, log = threading.Event(), []
        thread = threading.Thread(target=killer, args=(stop, log), daemon=True)
        thread.start()
        t = time.perf_counter()
        res = evaluate_on_ray(bench, methods, out / "kill", config("kill"), RayOptions(workers=2), echo=print)
        timings["kill"] = time.perf_counter() - t
        stop.set()
        again = evaluate_on_ray(bench, methods, out / "kill", config("kill"), RayOptions(workers=2), echo=print)
        ray.shutdown()
        report["kill"] = {
            "killed": log,
            "identical": metrics_of(res) == metrics_of(reference),
            "clips_ok": {m: v["clips_ok"] for m, v in res["methods"].items()},
            "rerun_clips_submitted": again["run"]["ray"]["clips_submitted"],
            "rerun_identical": metrics_of(again) == metrics_of(reference),
        }
        print(f"kill: {report['kill']}", flush=True)
    report["seconds"] = timings
    report["load_average_at_end"] = os.getloadavg()
    (out / "ray_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
