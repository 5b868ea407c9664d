"""A benchmark file with only the clips every given method has finished in a results folder.

For a leaderboard of a run that could not finish in the time available (said so beside the
table): the clips whose per-clip records exist for all methods are written as a new benchmark
file (the same clip entries, so ``toolkit evaluate`` on it with a copy of the ``clips/`` folder
reuses every record and only aggregates).

    PYTHONPATH=$PWD python scripts/bench/finished_subset.py eval/benchmarks/shared_val8_k8.json \\
        RUN_DIR --method static --method ours ... --out subset.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benchmark")
    ap.add_argument("results_dir")
    ap.add_argument("--method", action="append", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = json.loads(Path(args.benchmark).read_text())
    clips_dir = Path(args.results_dir) / "clips"
    kept = []
    for clip in data["clips"]:
        records = [clips_dir / m / f"{clip['clip_id']}.json" for m in args.method]
        if all(r.is_file() and json.loads(r.read_text()).get("status") == "ok" for r in records):
            kept.append(clip)
    data["clips"] = kept
    data["subset_of"] = {"file": args.benchmark, "reason": "clips finished by every method in the time available"}
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(kept)} of {len(json.loads(Path(args.benchmark).read_text())['clips'])} clips: {args.out}")


if __name__ == "__main__":
    main()
