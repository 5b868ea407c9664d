"""Fixed cost of one ``toolkit generate`` run from a fresh process, stage by stage.

Each measurement is a fresh ``python -X importtime`` process that runs the
``toolkit generate`` command line (the same code path as the console script),
with timers around what a cold process pays once:

* imports of the heavy libraries (torch, mediapipe, scipy, numba, cv2,
  matplotlib, ...), from ``-X importtime`` (cumulative time of each library's
  first import by the project's own code);
* model loading (the expression and motion learners' checkpoints);
* numba (its import; its kernels' cache loading is inside the render stage, or
  the warm-up thread);
* MediaPipe face landmarker creation (how many, and how long);
* the pipeline's own stage timings (load, tracking, learners, render, encode);

and the wall time of the whole process (start to exit). Runs a short (1.5 s)
and a longer (30 s) speech with a video reference, each ``--repeats`` times,
and prints the median and the ratio of the two lengths' wall times; the
machine's load average is printed with every run (the machine may be shared).

    .venv/bin/python scripts/bench/cold_start.py [--seconds 1.5 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

REFERENCE_NAME = "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"
HEAVY = ("torch", "mediapipe", "scipy", "numba", "cv2", "matplotlib", "PIL", "imageio_ffmpeg", "sklearn", "av")
OWN = ("toolkit", "eval", "__main__")


# ---------------------------------------------------------------------------- child process
def _child(argv: list[str]) -> None:
    """Run ``toolkit generate`` with timers; print one JSON line prefixed with BENCH:."""
    started = time.perf_counter()
    started_epoch = time.time()
    timers: dict[str, float] = {"landmarker_create": 0.0, "model_load": 0.0}
    counts: dict[str, int] = {"landmarker_create": 0, "model_load": 0}

    def timed(owner, attr: str, key: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers[key] += time.perf_counter() - t0
                counts[key] += 1

        setattr(owner, attr, wrapper)

    import toolkit.cli
    from toolkit.pipeline import models
    from toolkit.pipeline.pipeline import TalkingHeadPipeline
    from toolkit.tracking import mediapipe_backend

    timers["import_cli"] = time.perf_counter() - started
    timed(mediapipe_backend.MediaPipeTracker, "_open", "landmarker_create")
    timed(models, "_load_uncached", "model_load")
    original_generate = TalkingHeadPipeline.generate

    def capture(self, *args, **kwargs):
        result = original_generate(self, *args, **kwargs)
        report(result)
        return result

    def report(result) -> None:
        print(
            "BENCH:"
            + json.dumps(
                {
                    "to_pipeline_end": time.perf_counter() - started,
                    "timers": timers,
                    "counts": counts,
                    "stages": result.timings if result else {},
                    "pipeline_wall": result.wall_seconds if result else None,
                    "frames": result.n_frames if result else 0,
                    "child_start_epoch": started_epoch,
                    "child_end_epoch": time.time(),
                }
            ),
            flush=True,
        )

    TalkingHeadPipeline.generate = capture  # type: ignore[method-assign]
    # as the console script runs it (argv from the command line: its own exit path included)
    sys.argv = ["toolkit", "generate", "--quiet", *argv]
    sys.exit(toolkit.cli.main())


# ---------------------------------------------------------------------------- parent
def library_import_seconds(importtime_log: str) -> dict[str, float]:
    """Cumulative seconds of each heavy library's first import made directly by the project's code.

    ``-X importtime`` writes one line per module in post-order with the nesting
    as indentation; an import counts when all its ancestors are the project's own
    modules (so torch imported by toolkit.learners counts, scipy imported by torch does not).
    """
    rows = []
    for line in importtime_log.splitlines():
        if not line.startswith("import time:") or "| cumulative |" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, name.strip(), int(cumulative) / 1e6))
    out: dict[str, float] = {}
    stack: list[str] = []
    for depth, name, cumulative in reversed(rows):  # reversed post-order: parents before children
        stack = [*stack[:depth], name]
        root = name.split(".")[0]
        if root in OWN:
            continue
        if all(a.split(".")[0] in OWN for a in stack[:depth]):
            key = root if root in HEAVY else "other"
            out[key] = out.get(key, 0.0) + cumulative
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def run_once(reference: Path, audio: Path, out: Path, checkout: Path = ROOT, extra: tuple[str, ...] = ()) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), COLD_START_CHECKOUT=str(checkout))
    load_before = os.getloadavg()[0]
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, t0_epoch = time.perf_counter(), time.time()
    command = [sys.executable, "-X", "importtime", __file__, "--child"]
    proc = subprocess.run(
        [*command, "-r", str(reference), "-a", str(audio), "-o", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    end_epoch = t0_epoch + wall
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH:")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"child failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    data = json.loads(line[len("BENCH:") :])
    data["process_wall"] = wall
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the run (user + system, its ffmpeg children included): steadier than wall on a shared machine
    data["cpu_seconds"] = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    data["interpreter_start"] = data["child_start_epoch"] - t0_epoch
    data["exit"] = end_epoch - data["child_end_epoch"]
    data["imports"] = library_import_seconds(proc.stderr)
    data["load_before"] = load_before
    return data


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        sys.path.insert(0, os.environ.get("COLD_START_CHECKOUT", str(ROOT)))
        _child(argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[1.5, 30.0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the runs here")
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="another checkout of the project (e.g. `git archive` of an older commit) run alternately with this "
        "one, same inputs: its wall times and the ratio this / baseline are printed",
    )
    args = ap.parse_args(argv)

    from scripts.bench.realtime_factor import make_long_speech
    from toolkit.io.media import read_audio, write_wav
    from toolkit.paths import shared_data_dir

    reference = shared_data_dir() / "av" / REFERENCE_NAME
    print(f"machine: {os.cpu_count()} CPUs, load average now {os.getloadavg()}; reference {reference.name}")
    checkouts = {"this": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    runs: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            audio = Path(tmp) / f"speech_{seconds:g}s.wav"
            example = read_audio(ROOT / "assets" / "example_speech.wav", sr=16000)
            if seconds * 16000 <= example.size:
                write_wav(audio, example[: int(seconds * 16000)])
            else:
                make_long_speech(seconds, audio)
            for i in range(args.repeats):
                for label, checkout in checkouts.items():  # alternate, so both see the same load
                    run = run_once(reference, audio, Path(tmp) / f"out_{label}_{seconds:g}_{i}.mp4", checkout)
                    runs.setdefault((label, f"{seconds:g}"), []).append(run)
                    _print_run(f"[{label}] {seconds:g} s speech, run {i + 1}", run)
    print("\nmedian wall per length (fresh process, video reference):")
    medians = {}
    for (label, key), group in runs.items():
        medians[label, key] = statistics.median(r["process_wall"] for r in group)
        cpu = statistics.median(r["cpu_seconds"] for r in group)
        print(
            f"  [{label}] {key} s speech: {medians[label, key]:.2f} s wall, {cpu:.2f} s CPU (runs: "
            + ", ".join(f"{r['process_wall']:.2f}" for r in group)
            + ")"
        )
    if args.baseline:
        for seconds in args.seconds:
            key = f"{seconds:g}"
            print(f"  ratio this / baseline, {key} s speech: {medians['this', key] / medians['baseline', key]:.2f}")
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]} {k[1]}": v for k, v in runs.items()}, indent=1))


def _print_run(title: str, run: dict) -> None:
    stages = ", ".join(f"{k} {v:.2f}" for k, v in run["stages"].items())
    imports = ", ".join(f"{k} {v:.2f}" for k, v in run["imports"].items() if v >= 0.05)
    print(
        f"{title}: wall {run['process_wall']:.2f} s, CPU {run['cpu_seconds']:.2f} s "
        f"(load avg before {run['load_before']:.2f})\n"
        f"  imports by the project [s]: {imports}\n"
        f"  landmarker created {run['counts']['landmarker_create']}x {run['timers']['landmarker_create']:.2f} s; "
        f"models loaded {run['counts']['model_load']}x {run['timers']['model_load']:.2f} s (incl. their imports); "
        f"import toolkit.cli {run['timers']['import_cli']:.2f} s; interpreter start {run['interpreter_start']:.2f} s, "
        f"after the pipeline to process exit {run['exit']:.2f} s\n"
        f"  pipeline stages [s]: {stages} "
        f"(pipeline {run['pipeline_wall']:.2f} s; process start to pipeline end {run['to_pipeline_end']:.2f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
