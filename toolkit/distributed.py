"""Ray for the toolkit's scale-out paths (``toolkit generate --batch --ray``, ``toolkit evaluate --ray``).

Single-process stays the default and never imports Ray. ``--ray`` starts a local Ray on demand
(``--ray-workers N`` worker processes, one CPU each); ``--ray-address ADDR`` uses an existing
cluster (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others;
docs/EVALUATION.md, "Scale-out on Ray"). Tasks are resubmitted when their worker dies.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError

#: tasks are resubmitted this many times when their worker dies (kill -9, OOM, node lost)
TASK_RETRIES = 3
#: tries to start a local Ray
LOCAL_START_ATTEMPTS = 3


@dataclass(frozen=True)
class RayOptions:
    """Where the work runs: a local Ray started on demand (address None) or an existing cluster."""

    address: str | None = None
    #: worker processes of a local Ray (0 = one per core); ignored with an address
    workers: int = 0
    #: threads per worker for numpy / torch / onnxruntime (1 = one core per task)
    threads: int = 1


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise ToolkitError(
            "--ray needs the ray package, which is not installed.", "pip install 'ray[default]==2.60.0'."
        ) from exc
    return ray


def init_ray(options: RayOptions) -> Any:
    """Connect to (or start) Ray for this process; returns the module."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    env = {
        "env_vars": {
            # one core per task; the project's modules importable from the same checkout
            "OMP_NUM_THREADS": str(options.threads),
            "PYTHONPATH": os.pathsep.join(p for p in (str(_project_root()), os.environ.get("PYTHONPATH", "")) if p),
            **{k: v for k, v in os.environ.items() if k.startswith("TOOLKIT_")},
        }
    }
    # a local start waits a fixed 30 s for its raylet (inside Ray): on a busy machine try again before giving up
    attempts = 1 if options.address else LOCAL_START_ATTEMPTS
    # ray.init installs a SIGTERM handler of its own and leaves it after shutdown; the process's own handling
    # (toolkit.io.atomic.interrupt_on_termination: temporary files removed on SIGTERM) is put back after it
    main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    for attempt in range(1, attempts + 1):
        try:
            if options.address:
                ray.init(address=options.address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=options.workers or os.cpu_count() or 1,
                    runtime_env=env,
                    include_dashboard=False,
                    log_to_driver=False,
                )
            if previous_sigterm is not None:
                signal.signal(signal.SIGTERM, previous_sigterm)
            return ray
        except Exception as exc:
            ray.shutdown()
            if attempt == attempts:
                where = options.address or "a local Ray"
                raise ToolkitError(
                    f"Could not start or reach {where} ({attempts} attempt(s)): {exc}",
                    "Check `ray status` / the address; on a busy machine retry when the load is lower.",
                ) from exc
    return ray


def _project_root() -> Path:
    from toolkit.paths import PROJECT_ROOT

    return PROJECT_ROOT


def add_ray_arguments(parser: argparse.ArgumentParser, unit: str) -> None:
    """--ray / --ray-address / --ray-workers (shared by evaluate and generate --batch)."""
    group = parser.add_argument_group("Ray (scale-out; default: one process, no Ray)")
    group.add_argument("--ray", action="store_true", help=f"run the {unit} as tasks on a local Ray started on demand")
    group.add_argument("--ray-address", help="run on an existing Ray cluster (e.g. HEAD_IP:6379, or 'auto')")
    group.add_argument(
        "--ray-workers", type=int, default=0, help="worker processes of the local Ray (default: one per core)"
    )


def ray_options_from_args(args: argparse.Namespace) -> RayOptions | None:
    """RayOptions when --ray or --ray-address was given, else None (single process)."""
    if not (getattr(args, "ray", False) or getattr(args, "ray_address", None)):
        return None
    return RayOptions(address=args.ray_address, workers=args.ray_workers)
