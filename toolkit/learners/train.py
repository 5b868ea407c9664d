"""The one training loop of every learned part: ``toolkit train expression|motion|generator``.

One loop for the expression and motion learners and the generator; what is model-specific is a
task (:class:`TrainingTask`: ``train_step`` / ``validate`` / ``export``; the learners' in ``tasks.py``,
the generator's GAN step, per-step K and sample grids in ``toolkit.generator.train.GeneratorTask``):

* **configs**: typed dataclasses (``config.py``) loaded from ``configs/<model>.yaml``
  and dotted ``--set`` overrides; the resolved config is written to the run folder.
* **seeds**: the networks are initialised from ``seed``; every training step
  draws its batch and its dropout from generators seeded by (seed, rank, step),
  so a resumed run continues exactly as an uninterrupted one would.
* **checkpoints + resume**: every checkpoint interval the run folder gets
  ``state/`` (weights, optimiser moments, step; safetensors + JSON, ``toolkit.io.checkpoint``) and
  ``model/`` (the inference checkpoint). Rerunning the same command resumes (for every model; the
  CLIs' ``--no-resume`` deletes ``state/`` first); a run folder of another model, or for the generator
  of another network config (the image size may change), is refused.
* **logs**: ``train.log`` (text), ``metrics.jsonl`` (one JSON object per log
  or validation event; training rows are means over the logging interval), a tqdm progress bar,
  ``curves.png`` (metric curves).
* **DistributedDataParallel**: under ``torchrun --nproc_per_node N`` (env vars
  RANK/WORLD_SIZE) the networks are wrapped in DDP (gloo on the CPU, nccl on CUDA);
  each rank draws its own batches, gradients are averaged, rank 0 validates
  and writes. ``spawn_local`` runs the same on N local processes without torchrun.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.io.atomic import write_json_atomic, write_text_atomic
from toolkit.learners.config import TrainConfig
from toolkit.viz.figure import save_figure

if TYPE_CHECKING:
    import torch

    from toolkit.generator.config import GeneratorTrainConfig

METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"
MODEL_DIR = "model"


def init_distributed(device: str = "cpu") -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; joins the process group when world > 1.

    The one DDP set-up of both trainers (the learners' loop here, the generator's toolkit.generator.train):
    gloo on the CPU, nccl on CUDA devices.
    """
    import torch.distributed as dist

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", rank=rank, world_size=world)
    return rank, world, local_rank


@dataclass(frozen=True)
class LoopSettings:
    """What the loop reads of a recipe (each config family names these its own way)."""

    model: str
    data: str  # the `toolkit preprocess` folder
    steps: int
    seed: int
    log_every: int
    val_every: int
    ckpt_every: int
    #: cosine decay of the learning rate to this share (after a warm-up); None = constant (the generator, Sec. 5)
    final_lr_ratio: float | None
    #: torch CPU threads (0 = torch's default)
    threads: int = 0
    #: trained on a CUDA device when there is one (the generator); else on the CPU
    cuda: bool = False


def loop_settings(config: TrainConfig | GeneratorTrainConfig) -> LoopSettings:
    from toolkit.generator.config import GeneratorTrainConfig

    if isinstance(config, GeneratorTrainConfig):
        t = config.train
        return LoopSettings(
            "generator", config.data.records, t.steps, t.seed, t.log_every, t.sample_every, t.checkpoint_every,
            None, t.threads, cuda=True,
        )  # fmt: skip
    return LoopSettings(
        config.model, config.data.data, config.optim.steps, config.seed, config.log.log_every, config.log.val_every,
        config.log.ckpt_every, config.optim.final_lr_ratio,
    )  # fmt: skip


class TrainingTask:
    """What one model brings to the loop: its networks and optimisers, one training step, validation
    on the speaker-disjoint split, and the export of an inference checkpoint.

    Subclasses implement ``modules``, ``optimizers``, ``wrap_ddp``, ``set_lr``, ``train_step``,
    ``validate`` and ``export``; the defaults below fit the learners.
    """

    kind: str
    data_summary: dict[str, Any]
    #: validate the untrained networks too (step 0 of a new run: the curve's first point)
    validate_at_start: bool = False
    #: validation metrics containing one of these are printed under the progress bar
    progress_keys: tuple[str, ...] = ("_psi", "_phi_", "ratio")

    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def wrap_ddp(self) -> None:
        raise NotImplementedError

    def set_lr(self, factor: float) -> float:
        """Scale the learning rates by ``factor``; returns the main one."""
        raise NotImplementedError

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def validate(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def export(self, folder: Path, extra: dict[str, Any]) -> Path:
        raise NotImplementedError

    def check_resume(self, saved: dict[str, Any], run_dir: Path, model: str) -> None:
        """Refuse to resume a run folder whose saved config (``config.json``) is of another model
        (a generator recipe has no ``model`` key)."""
        if saved.get("model", "generator") != model:
            raise ToolkitError(
                f"{run_dir} holds a run of model '{saved.get('model', 'generator')}'.",
                "Use another --out folder or --no-resume.",
            )


def _step_seed(seed: int, rank: int, step: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, rank, step])


def lr_factor(step: int, total: int, final_ratio: float, warmup: int = 50) -> float:
    """Linear warm-up, then cosine decay to ``final_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * p))


def _make_logger(run_dir: Path, rank: int) -> logging.Logger:
    log = logging.getLogger(f"toolkit.learners.train.{run_dir}.{rank}")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
    if rank == 0:
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(fh)
    return log


def _read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(run_dir / METRICS_NAME, "".join(json.dumps(r) + "\n" for r in rows))


#: methods compared in validation rows (``val_<metric>_<method>`` or ``val_<method>_<metric>``), one line each
_VAL_METHODS = (
    "psi_10db", "psi_single", "psi", "still_ref", "still_mean", "val_mean", "phi", "still", "ref_loop", "3dwarp",
)  # fmt: skip


def _val_panel(key: str) -> tuple[str, str]:
    """'val_phi_rot_err_deg' -> ('rot_err_deg', 'phi'); 'val_mouth_lmd_psi_10db' -> ('mouth_lmd', 'psi_10db')."""
    name = key[4:] if key.startswith("val_") else key
    for m in _VAL_METHODS:
        if name.startswith(m + "_"):
            return name[len(m) + 1 :], m
        if name.endswith("_" + m):
            return name[: -len(m) - 1], m
    return name, ""


def plot_curves(rows: list[dict[str, Any]], out: Path, title: str) -> Path | None:
    """Training losses against the step (one panel each) and validation metrics (one panel per metric,
    one line per method: the learner and its baselines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in rows if r.get("event") == "train"]
    val = [r for r in rows if r.get("event") == "val"]
    skip = {"event", "step", "seconds", "lr", "tau", "k", "grad_norm", "noisy_fraction"}
    train_keys = sorted({k for r in train for k in r if k not in skip})
    val_groups: dict[str, list[tuple[str, str]]] = {}
    for k in sorted({k for r in val for k in r if k not in skip and isinstance(r[k], int | float)}):
        metric, method = _val_panel(k)
        val_groups.setdefault(metric, []).append((method, k))
    # all training losses share one panel (log scale); one panel per validation metric
    panels: list[tuple[str, str, list[tuple[str, str]]]] = []
    if train_keys:
        panels.append(("train", "losses", [(k, k) for k in train_keys]))
    panels += [("val", metric, lines) for metric, lines in val_groups.items()]
    if not panels:
        return None
    cols = min(4, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), squeeze=False)
    for ax, (kind, name, lines) in zip(axes.flat, panels):
        src = train if kind == "train" else val
        for label, key in lines:
            pts = [(r["step"], r[key]) for r in src if key in r and r[key] is not None and np.isfinite(r[key])]
            if pts:
                x, y = map(np.array, zip(*pts))
                ax.plot(x, y, ".-" if kind == "val" else "-", lw=1, ms=3, label=label or None)
        if len(lines) > 1:
            ax.legend(fontsize=6)
        if kind == "train" and all(r[k] > 0 for r in src for _, k in lines if k in r):
            ax.set_yscale("log")
        ax.set_title(f"{kind}: {name}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out, dpi=90)
    return out


def hardware_summary() -> dict[str, Any]:
    import torch

    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def _set_up_process(settings: LoopSettings, device: str | None) -> tuple[str, int, int]:
    """(device, rank, world size): checks the data folder, joins the process group, sets torch's threads."""
    import torch

    if not settings.data or not Path(settings.data).is_dir():
        raise ToolkitError(
            f"Training data folder '{settings.data}' does not exist.",
            "Pass --data DIR, a folder written by `toolkit preprocess`.",
        )
    if device is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local_rank}" if settings.cuda and torch.cuda.is_available() else "cpu"
    rank, world, _ = init_distributed(device)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    if world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if settings.threads:
        torch.set_num_threads(settings.threads)
    return device, rank, world


def train(
    config: TrainConfig | GeneratorTrainConfig,
    run_dir: str | Path,
    resume: bool = True,
    progress: bool = True,
    max_minutes: float = 0.0,
    stop_at: int | None = None,
    max_steps: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Train (or resume) one model in ``run_dir``; returns a summary (rank 0) of the run.

    ``max_minutes`` / ``stop_at`` / ``max_steps`` end the run early (checkpointed, resumable) after
    that much time / at that step / after that many more steps, as an interruption would; the
    schedule still spans the recipe's steps. ``device``: the generator's (default: CUDA when there is one).
    """
    import torch
    import torch.distributed as dist

    from toolkit.io.checkpoint import has_train_state, load_train_state, save_train_state
    from toolkit.learners.tasks import make_task

    settings = loop_settings(config)
    device, rank, world = _set_up_process(settings, device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = _make_logger(run_dir, rank)
    t_start = time.perf_counter()
    task = make_task(config, run_dir, rank, world, log, device)
    modules, optimizers = task.modules(), task.optimizers()

    start_step, elapsed_before = 0, 0.0
    rows: list[dict[str, Any]] = []
    if resume and has_train_state(run_dir):
        if (run_dir / "config.json").exists():
            task.check_resume(json.loads((run_dir / "config.json").read_text()), run_dir, settings.model)
        info = load_train_state(run_dir, modules, optimizers)
        start_step = int(info["step"])
        elapsed_before = float(info.get("train_seconds", 0.0))
        rows = [r for r in _read_metrics(run_dir) if r.get("step", 0) <= start_step]
        log.info("resumed at step %d", start_step)
    elif rank == 0:
        rows = []
    if rank == 0:
        write_json_atomic(run_dir / "config.json", asdict(config))
        log.info("data: %s", json.dumps(task.data_summary))
        log.info("world size %d, hardware %s", world, json.dumps(hardware_summary()))
    if world > 1:
        task.wrap_ddp()
    if max_steps is not None:
        stop_at = start_step + max_steps

    total = settings.steps
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start_step, desc=f"train {settings.model}", unit="step", dynamic_ncols=True)
    deadline = time.perf_counter() + max_minutes * 60 if max_minutes > 0 else None
    step = start_step
    t_loop = time.perf_counter()
    running: dict[str, list[float]] = {}

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t_loop

    def checkpoint(at: int, final: bool = False) -> None:
        if rank == 0:
            extra = {"train_seconds": elapsed(), "world_size": world}
            save_train_state(run_dir, at, modules, optimizers, extra)
            task.export(run_dir / MODEL_DIR, _export_meta(at, elapsed(), world, final))
            _write_metrics(run_dir, rows)
            if final or (rows and rows[-1].get("event") == "val" and rows[-1].get("step") == at):
                # matplotlib is slow on a busy 2-core machine: redraw only when there is a new validation
                plot_curves(rows, run_dir / CURVES_NAME, f"{settings.model}, step {at}")
        if world > 1:
            dist.barrier()

    def validate(at: int) -> None:
        if rank == 0:
            t0 = time.perf_counter()
            metrics = task.validate(at)
            row = {"event": "val", "step": at, **{k: round(v, 6) for k, v in metrics.items()}}
            row["seconds"] = round(time.perf_counter() - t0, 2)
            rows.append(row)
            log.info("val step %d %s", at, json.dumps(row))
            if bar is not None:
                bar.write(
                    f"[val {at}] "
                    + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if any(p in k for p in task.progress_keys))
                )
        if world > 1:
            dist.barrier()

    stopped_early = False
    if task.validate_at_start and start_step == 0 and total > 0:
        validate(0)
    while step < total:
        ratio = settings.final_lr_ratio
        lr = task.set_lr(1.0 if ratio is None else lr_factor(step, total, ratio))
        ss = _step_seed(settings.seed, rank, step)
        rng = np.random.default_rng(ss)
        torch.manual_seed(int(ss.generate_state(1)[0]))
        losses = task.train_step(rng)
        step += 1
        for k, v in losses.items():
            running.setdefault(k, []).append(v)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{next(iter(losses.values())):.4f}")
        if rank == 0 and (step % settings.log_every == 0 or step == total):
            row = {"event": "train", "step": step, "lr": lr, "seconds": round(elapsed(), 1)}
            row.update({k: round(float(np.mean(v)), 6) for k, v in running.items()})
            rows.append(row)
            log.info("step %d %s", step, json.dumps(row))
            running = {}
        if step % settings.val_every == 0 or step == total:
            validate(step)
        out_of_time = (deadline is not None and time.perf_counter() > deadline) or (
            stop_at is not None and step >= stop_at
        )
        if world > 1:
            flag = torch.tensor([1.0 if out_of_time else 0.0])
            dist.all_reduce(flag)
            out_of_time = bool(flag.item() > 0)
        if step % settings.ckpt_every == 0 or step == total or out_of_time:
            if out_of_time and step % settings.val_every != 0 and step != total:
                validate(step)
            checkpoint(step, final=step == total)
        if out_of_time and step < total:
            stopped_early = True
            log.info("stopping at step %d (time limit or stop_at); rerun to resume", step)
            break
    if step == start_step and rank == 0 and not (run_dir / MODEL_DIR).exists():
        checkpoint(step, final=True)  # nothing to do (already finished) but no export yet
    if bar is not None:
        bar.close()
    in_sync = _ranks_in_sync(modules) if world > 1 else True
    summary = {
        "model": settings.model,
        "run_dir": str(run_dir),
        "steps": step,
        "stopped_early": stopped_early,
        "train_seconds": round(elapsed(), 1),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "world_size": world,
        "ddp_params_in_sync": in_sync,
        "last_val": next((r for r in reversed(rows) if r.get("event") == "val"), None),
    }
    if rank == 0:
        write_json_atomic(run_dir / "summary.json", summary)
    if world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return summary


def _ranks_in_sync(modules: dict[str, Any]) -> bool:
    """True when every rank holds the same parameters (what DDP's gradient averaging guarantees)."""
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).double() for m in modules.values() for p in m.parameters()])
        sig = torch.stack([flat.sum(), (flat * torch.arange(1, flat.numel() + 1, dtype=torch.float64)).sum()])
    lo, hi = sig.clone(), sig.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return bool(torch.equal(lo, hi))


def _export_meta(step: int, seconds: float, world: int, final: bool) -> dict[str, Any]:
    return {
        "trained": {
            "steps": step,
            "final": final,
            "train_seconds": round(seconds, 1),
            "world_size": world,
            "hardware": hardware_summary(),
        }
    }


# ------------------------------------------------------------ local multi-process (no torchrun)


def _spawn_entry(rank: int, world: int, port: int, config: TrainConfig, run_dir: str, max_minutes: float) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    train(config, run_dir, resume=True, progress=False, max_minutes=max_minutes)
    # Everything is written and the process group is destroyed. Leave without the interpreter's
    # teardown: there gloo's C++ threads are occasionally destroyed while still joinable
    # ("terminate called without an active exception", SIGABRT), failing a finished run.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_local(config: TrainConfig, run_dir: str | Path, world: int = 2, max_minutes: float = 0.0) -> None:
    """Run :func:`train` on ``world`` local CPU processes with DDP/gloo (what torchrun does, in-process)."""
    import torch.multiprocessing as mp

    mp.spawn(_spawn_entry, args=(world, free_port(), config, str(run_dir), max_minutes), nprocs=world, join=True)
