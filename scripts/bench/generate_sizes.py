"""End-to-end real-time factor of ``toolkit generate`` at face size 512, against 256 in the same run.

Each run is a fresh process running the ``toolkit generate`` command line (the console script's code
path, via ``scripts/bench/cold_start.py``'s child) on the same reference and the same speech
(``--seconds`` of real speech, default 30 s), once per face size, sizes alternating for each repeat so a
change of the machine's load hits both. Prints per run: wall seconds of the whole process, real-time
factor (wall / audio seconds; <= 1 = faster than real time), CPU seconds per audio second (user + system
of the process and its ffmpeg encoders: steadier than wall on a shared machine), the pipeline's stage
timings, and the load average before the run; then the medians and the ratio 512 / 256.

    nice -n 10 .venv/bin/python scripts/bench/generate_sizes.py [--seconds 30] [--sizes 256 512] [--repeats 1]
        [--output crop|paste-back]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="speech length (s)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="face sizes; the first is the baseline")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--output", default="crop", choices=["crop", "paste-back"])
    args = ap.parse_args()

    from scripts.bench.cold_start import REFERENCE_NAME, run_once
    from scripts.bench.realtime_factor import make_long_speech
    from toolkit.paths import shared_data_dir

    reference = shared_data_dir() / "av" / REFERENCE_NAME
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}; reference {reference.name}; "
        f"{args.seconds:g} s of speech; output {args.output}; K=8 (default), learned motion and expression"
    )
    runs: dict[int, list[dict]] = {s: [] for s in args.sizes}
    with tempfile.TemporaryDirectory(prefix="generate-sizes-") as tmp:
        audio = make_long_speech(args.seconds, Path(tmp) / "speech.wav")
        for r in range(args.repeats):
            for size in args.sizes:
                out = Path(tmp) / f"out_{size}_{r}.mp4"
                data = run_once(reference, audio, out, extra=("--size", str(size), "--output", args.output))
                runs[size].append(data)
                stages = ", ".join(f"{k} {v:.1f}" for k, v in data["stages"].items())
                print(
                    f"size {size} run {r}: wall {data['process_wall']:.1f} s "
                    f"(RTF {data['process_wall'] / args.seconds:.2f}), "
                    f"CPU {data['cpu_seconds']:.1f} s ({data['cpu_seconds'] / args.seconds:.2f} per audio s), "
                    f"{data['frames']} frames; stages (s): {stages}; load before {data['load_before']:.1f}",
                    flush=True,
                )
    base = args.sizes[0]
    wall = {s: statistics.median(d["process_wall"] for d in runs[s]) for s in args.sizes}
    cpu = {s: statistics.median(d["cpu_seconds"] for d in runs[s]) for s in args.sizes}
    head = f"{'size':>5} {'RTF (wall)':>11} {'CPU s / audio s':>16} {'wall / ' + str(base):>11}"
    head += f" {'CPU / ' + str(base):>10}"
    print("\n" + head)
    for s in args.sizes:
        print(
            f"{s:>5} {wall[s] / args.seconds:11.2f} {cpu[s] / args.seconds:16.2f} {wall[s] / wall[base]:11.2f} "
            f"{cpu[s] / cpu[base]:10.2f}"
        )
    print(f"load average now {os.getloadavg()}; target: RTF <= 1 at 512")


if __name__ == "__main__":
    main()
