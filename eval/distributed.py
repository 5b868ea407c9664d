"""Scale-out on Ray: ``toolkit evaluate --ray`` / ``--ray-address ADDR`` and ``toolkit generate --batch --ray``.

Single-process stays the default and imports nothing from Ray. With ``--ray`` a local Ray is
started on demand (``--ray-workers N`` processes, one CPU each); with ``--ray-address`` the
work goes to an existing cluster (``ray start --head`` on one machine, ``ray start --address``
on the others; docs/EVALUATION.md).

Evaluation: the unit of work is one benchmark clip (all methods, so the ground truth is
decoded and its features computed once), run by :meth:`eval.runner.Runner.evaluate_clip` in
a Ray task. Each worker process keeps one :class:`~eval.runner.Runner` per run (built on the
first task, reused by the next: the dlib, Inception, face and pose models are loaded once per
worker). A task writes each finished (method, clip) record to ``OUT/clips/`` at once and the
feature cache as it goes, exactly as the single-process runner does, so the same cache and
resumability hold: clips whose records are current are not even submitted, a worker killed
mid-clip loses only that clip (Ray resubmits the task, ``max_retries``), and a killed run
rerun recomputes only the unfinished clips. The driver aggregates the records in benchmark
order, so results are identical to a single-process run.

On a multi-node cluster every node needs the project installed at the same path (or
importable), the data root and the ``--out`` / ``--cache`` folders on a shared filesystem.
"""

from __future__ import annotations

import os
import time
from typing import Any

from toolkit.distributed import TASK_RETRIES, RayOptions, init_ray

# ---------------------------------------------------------------------------------------------- evaluate
#: per worker process: run key -> Runner (models stay loaded between tasks of the same run)
_WORKER_RUNNERS: dict[str, Any] = {}


def _worker_runner(run_key: str, benchmark: str, data_root: str | None, methods: list[Any], out: str,
                   config: Any, threads: int) -> Any:  # fmt: skip
    runner = _WORKER_RUNNERS.get(run_key)
    if runner is None:
        import torch

        from eval.benchmark import load_benchmark
        from eval.runner import Runner

        torch.set_num_threads(max(1, threads))
        _WORKER_RUNNERS.clear()  # one run per worker at a time
        runner = Runner(load_benchmark(benchmark, data_root), methods, out, config)
        _WORKER_RUNNERS[run_key] = runner
    return runner


def _evaluate_clip_task(run_key: str, benchmark: str, data_root: str | None, methods: list[Any], out: str,
                        config: Any, threads: int, index: int) -> dict[str, Any]:  # fmt: skip
    """Ray task body: one clip, all methods; returns its records and this task's counts."""
    runner = _worker_runner(run_key, benchmark, data_root, methods, out, config, threads)
    before = (runner.clips_computed, runner.clips_reused)
    clip = runner.benchmark.clips[index]
    records = runner.evaluate_clip(clip)
    return {
        "records": records,
        "computed": runner.clips_computed - before[0],
        "reused": runner.clips_reused - before[1],
        "pid": os.getpid(),
    }


def evaluate_on_ray(
    benchmark: str | os.PathLike[str],
    methods: list[Any],
    out_dir: str | os.PathLike[str],
    config: Any,
    options: RayOptions,
    data_root: str | os.PathLike[str] | None = None,
    echo: Any = print,
) -> dict[str, Any]:
    """``toolkit evaluate`` with the clips as Ray tasks; the same files and numbers as ``eval.runner.evaluate``."""
    import dataclasses
    import hashlib
    import json

    from eval.benchmark import load_benchmark
    from eval.methods import MethodSpec, parse_method
    from eval.runner import Runner

    started = time.perf_counter()
    bench = load_benchmark(benchmark, data_root)
    specs = [m if isinstance(m, MethodSpec) else parse_method(m) for m in methods]
    runner = Runner(bench, specs, out_dir, config)  # the driver: checks, cached records, aggregation
    runner.out.mkdir(parents=True, exist_ok=True)
    records: dict[str, list[dict[str, Any] | None]] = {m.name: [None] * len(bench.clips) for m in specs}
    todo = []
    for i, clip in enumerate(bench.clips):
        cached = runner.cached_records(clip)
        if cached is None:
            todo.append(i)
            continue
        for name, record in cached.items():
            records[name][i] = record
        runner.clips_reused += len(cached)
    echo(f"ray: {len(todo)} of {len(bench.clips)} clips to compute ({len(bench.clips) - len(todo)} complete)")
    workers: set[int] = set()
    if todo:
        ray = init_ray(options)
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(_evaluate_clip_task)
        run = [str(bench.path), [dataclasses.asdict(s) for s in specs], str(out_dir), dataclasses.asdict(config)]
        run_key = hashlib.sha256(json.dumps(run, default=str).encode()).hexdigest()[:16]
        root = str(data_root) if data_root is not None else str(bench.data_root)
        pending = {
            task.remote(run_key, str(bench.path), root, specs, str(out_dir), config, options.threads, i): i
            for i in todo
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            result = ray.get(done[0])
            workers.add(result["pid"])
            runner.clips_computed += result["computed"]
            runner.clips_reused += result["reused"]
            for name, record in result["records"].items():
                records[name][i] = record
            echo(f"ray: clip {bench.clips[i].clip_id} done ({len(todo) - len(pending)}/{len(todo)})")
    complete = {name: [r for r in recs if r is not None] for name, recs in records.items()}
    results = runner.finish(complete, time.perf_counter() - started)
    results["run"]["ray"] = {
        "address": options.address or "local",
        "workers_used": len(workers),
        "clips_submitted": len(todo),
        "task_retries": TASK_RETRIES,
    }
    from eval.runner import _clean
    from toolkit.io.atomic import write_json_atomic

    write_json_atomic(runner.out / "results.json", _clean(results))
    return results
