"""Many generations from one CSV: ``toolkit generate --batch LIST.csv``.

The CSV has a header row. Required columns: ``reference``, ``audio``, ``out``;
optional ``id`` and any :class:`~toolkit.pipeline.config.GenerationConfig`
field (``k``, ``motion``, ``expression``, ``expression_scale``, ``seed``...)
to override the command line's options for that row; blank cells keep them.
Relative paths are resolved against the CSV's folder.

A failed job never stops the batch: its error is recorded and the next job
runs. The report (CSV, written atomically, one row per job) gives the status,
the error code and message, the output, frames and timings of each job.
"""

from __future__ import annotations

import csv
import io
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.atomic import write_text_atomic
from toolkit.io.csvsafe import safe_dict
from toolkit.pipeline.config import EXPRESSION_SOURCES, MOTION_SOURCES, GenerationConfig
from toolkit.pipeline.progress import STAGES

#: motion / expression cells that name a source rather than a file (not resolved against the CSV's folder)
NAMED_SOURCES: frozenset[str] = frozenset(MOTION_SOURCES + EXPRESSION_SOURCES)

REQUIRED_COLUMNS: tuple[str, ...] = ("reference", "audio", "out")
_PATH_COLUMNS: tuple[str, ...] = ("reference", "audio", "out", "motion", "expression")


@dataclass
class BatchJob:
    job_id: str
    reference: Path
    audio: Path
    out: Path
    overrides: dict[str, str]
    line: int


@dataclass
class BatchOutcome:
    job: BatchJob
    status: str  # "done" | "failed"
    error_code: str = ""
    message: str = ""
    n_frames: int = 0
    seconds: float = 0.0
    real_time_factor: float = 0.0
    timings: dict[str, float] | None = None


def read_batch(path: str | os.PathLike[str]) -> list[BatchJob]:
    """Parse and check the batch CSV (every row), raising InputFileError with the line for bad rows."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"The batch list '{path}' does not exist.", "Give a CSV with reference,audio,out columns.")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputFileError(
            f"The batch list '{path.name}' lacks the column(s) {', '.join(missing)}.",
            "The first row must be a header with at least: reference,audio,out.",
        )
    known = set(GenerationConfig().to_dict()) - {"tags"}
    unknown = [c for c in columns if c not in known and c not in (*REQUIRED_COLUMNS, "id")]
    if unknown:
        raise InputFileError(
            f"The batch list '{path.name}' has unknown column(s) {', '.join(unknown)}.",
            f"Allowed besides reference,audio,out,id: {', '.join(sorted(known))}.",
        )
    base = path.parent
    jobs: list[BatchJob] = []
    for n, row in enumerate(reader, start=2):
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        if any(not cells.get(c) for c in REQUIRED_COLUMNS):
            raise InputFileError(
                f"Line {n} of '{path.name}' leaves reference, audio or out empty.", "Fill all three for every job."
            )
        for c in _PATH_COLUMNS:
            value = cells.get(c, "")
            if value and c in ("motion", "expression") and value.lower() in NAMED_SOURCES:
                continue
            if value and not Path(value).expanduser().is_absolute():
                cells[c] = str(base / value)
        overrides = {k: v for k, v in cells.items() if k in known and v != ""}
        jobs.append(
            BatchJob(
                job_id=cells.get("id") or f"job{len(jobs) + 1}",
                reference=Path(cells["reference"]),
                audio=Path(cells["audio"]),
                out=Path(cells["out"]),
                overrides=overrides,
                line=n,
            )
        )
    if not jobs:
        raise InputFileError(f"The batch list '{path.name}' has no jobs.", "Add one row per video to make.")
    return jobs


def run_job(job: BatchJob, base_config: GenerationConfig) -> BatchOutcome:
    """One job; its failure becomes the outcome (never raised). The unit of work in a process or a Ray task."""
    from toolkit.pipeline.pipeline import TalkingHeadPipeline

    started = time.perf_counter()
    try:
        cfg = base_config.with_overrides(**job.overrides).validate()
        cfg.tags = {**cfg.tags, "job": job.job_id}
        result = TalkingHeadPipeline(cfg).generate(job.reference, job.audio, job.out)
        return BatchOutcome(
            job,
            "done",
            n_frames=result.n_frames,
            seconds=time.perf_counter() - started,
            real_time_factor=result.real_time_factor,
            timings=result.timings,
            message="; ".join(f"warning: {w}" for w in result.warnings),  # reference problems, in the report
        )
    except ToolkitError as exc:
        return BatchOutcome(job, "failed", exc.code, str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:  # an unexpected bug must not sink the other jobs either
        traceback.print_exc(limit=6)
        message = f"{type(exc).__name__}: {exc}"
        return BatchOutcome(job, "failed", "internal-error", message, seconds=time.perf_counter() - started)


def _echo_outcome(echo, i: int, total: int, outcome: BatchOutcome) -> None:
    job = outcome.job
    if outcome.status == "done":
        echo(f"[{i}/{total}] {job.job_id}: done -> {job.out} ({outcome.n_frames} frames)")
    elif outcome.error_code == "internal-error":
        echo(f"[{i}/{total}] {job.job_id}: FAILED (internal error) {outcome.message}")
    else:
        echo(f"[{i}/{total}] {job.job_id}: FAILED ({outcome.error_code}) {outcome.message}")


def finished_jobs(report_path: str | os.PathLike[str] | None) -> dict[tuple[str, str], BatchOutcome]:
    """(id, out) -> outcome of the jobs a previous run's report lists as done whose output still exists."""
    if report_path is None or not Path(report_path).is_file():
        return {}
    done = {}
    for row in csv.DictReader(io.StringIO(Path(report_path).read_text(encoding="utf-8"))):
        if row.get("status") == "done" and Path(row.get("out", "")).is_file():
            job = BatchJob(
                row["id"],
                Path(row["reference"]),
                Path(row["audio"]),
                Path(row["out"]),
                overrides={},
                line=int(row["line"]),
            )
            timings = {s: float(row.get(f"{s}_s") or 0) for s in STAGES}
            done[(row["id"], row["out"])] = BatchOutcome(
                job,
                "done",
                n_frames=int(row["frames"] or 0),
                seconds=float(row["seconds"] or 0),
                real_time_factor=float(row["real_time_factor"] or 0),
                timings=timings,
            )
    return done


def run_batch(
    jobs: list[BatchJob],
    base_config: GenerationConfig,
    report_path: str | os.PathLike[str] | None = None,
    echo=print,
    resume: bool = False,
    ray=None,
) -> list[BatchOutcome]:
    """Run every job; a failure is recorded and the batch goes on. Writes the report if asked.

    ``resume``: jobs the existing report lists as done (output present) are kept, not rerun.
    ``ray`` (:class:`toolkit.distributed.RayOptions`): the jobs run as Ray tasks, each worker
    keeping its models loaded between jobs; the report is rewritten as each job finishes.
    """
    previous = finished_jobs(report_path) if resume else {}
    outcomes: dict[int, BatchOutcome] = {}
    todo = []
    for i, job in enumerate(jobs):
        kept = previous.get((job.job_id, str(job.out)))
        if kept is not None:
            outcomes[i] = BatchOutcome(
                job,
                "done",
                n_frames=kept.n_frames,
                seconds=kept.seconds,
                real_time_factor=kept.real_time_factor,
                timings=kept.timings,
            )
            echo(f"[{i + 1}/{len(jobs)}] {job.job_id}: done in an earlier run -> {job.out}")
        else:
            todo.append(i)

    def record(i: int, outcome: BatchOutcome) -> None:
        outcomes[i] = outcome
        _echo_outcome(echo, i + 1, len(jobs), outcome)
        if report_path is not None:  # rewritten after every job: a killed batch still has its report
            write_report([outcomes[k] for k in sorted(outcomes)], report_path)

    if ray is None:
        for i in todo:
            record(i, run_job(jobs[i], base_config))
    elif todo:
        from toolkit.distributed import TASK_RETRIES, init_ray

        ray_module = init_ray(ray)
        task = ray_module.remote(num_cpus=1, max_retries=TASK_RETRIES)(run_job)
        pending = {task.remote(jobs[i], base_config): i for i in todo}
        while pending:
            done, _ = ray_module.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            record(i, ray_module.get(done[0]))
    return [outcomes[k] for k in sorted(outcomes)]


def write_report(outcomes: list[BatchOutcome], path: str | os.PathLike[str]) -> None:
    buf = io.StringIO()
    fields = [
        "id",
        "line",
        "status",
        "error_code",
        "message",
        "reference",
        "audio",
        "out",
        "frames",
        "seconds",
        "real_time_factor",
        *[f"{s}_s" for s in STAGES],
    ]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for o in outcomes:
        row = {
            "id": o.job.job_id,
            "line": o.job.line,
            "status": o.status,
            "error_code": o.error_code,
            "message": o.message,
            "reference": str(o.job.reference),
            "audio": str(o.job.audio),
            "out": str(o.job.out),
            "frames": o.n_frames,
            "seconds": f"{o.seconds:.2f}",
            "real_time_factor": f"{o.real_time_factor:.3f}",
        }
        for s in STAGES:
            row[f"{s}_s"] = f"{(o.timings or {}).get(s, 0.0):.3f}"
        w.writerow(safe_dict(row))  # paths, ids and messages come from the user's batch list
    write_text_atomic(path, buf.getvalue())


def default_report_path(batch_csv: str | os.PathLike[str]) -> Path:
    p = Path(batch_csv)
    return p.with_name(p.stem + ".report.csv")
