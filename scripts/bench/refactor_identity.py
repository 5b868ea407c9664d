"""Same numbers before and after a refactor: a small leaderboard of the built-in methods, compared exactly.

Evaluates the first --clips clips of a benchmark (cut to --max-seconds) with every metric and pinned models
(FID with the default Inception, CSIM with expo-mobilefacenet-192, LMD, SSIM/PSNR, head motion, lip sync)
for ``static``, ``3d-warp``, ``pipeline``, ``3d-warp-audio`` and ``3d-warp-landmark`` (--methods), with an empty
feature cache, and writes
OUT/metrics.json. Run it from two checkouts (before / after) and compare:

    PYTHONPATH=$PWD python scripts/bench/refactor_identity.py --out /tmp/before
    PYTHONPATH=$PWD python scripts/bench/refactor_identity.py --compare /tmp/before /tmp/after

--compare also takes two `toolkit evaluate --out` folders (their results.json), e.g. the published
leaderboards' command run from the two checkouts.

--whole evaluates the --source benchmark itself (every clip, its own length): the published leaderboard's
clips and protocol, not a cut-down copy.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

METHODS = ["static", "3d-warp", "pipeline", "3d-warp-audio", "3d-warp-landmark"]


def run(out: Path, source: str, clips: int, max_seconds: float, methods: list[str], whole: bool = False) -> None:
    from eval.benchmark import BenchmarkConfig, load_benchmark, make_benchmark
    from eval.features import FeatureConfig
    from eval.metrics.csim import CsimConfig
    from eval.metrics.fid import FidConfig
    from eval.runner import EvalConfig, evaluate

    out.mkdir(parents=True, exist_ok=True)
    bench: str | Path = source
    if not whole:
        src = load_benchmark(source)
        bench = out / "bench.json"
        config = BenchmarkConfig(max_seconds=max_seconds, min_driving_frames=10)
        make_benchmark([c.video for c in src.clips[:clips]], bench, config, data_root=src.data_root, progress=False)
    eval_config = EvalConfig(
        features=FeatureConfig(fid=FidConfig(threads=1), csim=CsimConfig(embedder="expo-mobilefacenet-192")),
        cache_dir=str(out / "cache"),
        progress=False,
    )
    res = evaluate(bench, methods, out / "results", eval_config)
    (out / "metrics.json").write_text(json.dumps(_metrics(res), indent=1, sort_keys=True))
    print(f"wrote {out / 'metrics.json'}")


def _metrics(results: dict[str, Any]) -> dict[str, Any]:
    """{method: {clip id: metrics, "ALL": aggregate}} of a runner's results."""
    return {
        name: {**{r["clip_id"]: r.get("metrics") for r in m["per_clip"]}, "ALL": m["aggregate"]}
        for name, m in results["methods"].items()
    }


def _load(folder: Path) -> dict[str, Any]:
    """This script's metrics.json (or a copy of it given as a file), or the results.json of any
    `toolkit evaluate --out` folder."""
    if folder.is_file():
        return json.loads(folder.read_text())
    if (folder / "metrics.json").is_file():
        return json.loads((folder / "metrics.json").read_text())
    return _metrics(json.loads((folder / "results.json").read_text()))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def compare(a_dir: Path, b_dir: Path, subset: bool = False) -> int:
    """Print every number that differs; ``subset``: only AFTER's methods and clips (a run of a few clips)."""
    a, b = _load(a_dir), _load(b_dir)
    differences = 0
    for method in sorted(set(b) if subset else set(a) | set(b)):
        clips = set(b.get(method, {})) - {"ALL"} if subset else set(a.get(method, {})) | set(b.get(method, {}))
        for clip in sorted(clips):
            ma, mb = a.get(method, {}).get(clip) or {}, b.get(method, {}).get(clip) or {}
            for key in sorted(set(ma) | set(mb)):
                if not _same(ma.get(key), mb.get(key)):
                    differences += 1
                    print(f"DIFF {method} {clip} {key}: {ma.get(key)} vs {mb.get(key)}")
    n = sum(
        len(m or {})
        for name, method in (b if subset else a).items()
        for clip, m in method.items()
        if not (subset and clip == "ALL")
    )
    print(f"{differences} differences among {n} numbers ({', '.join(sorted(b if subset else a))})")
    return 1 if differences else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--source", default="eval/benchmarks/shared_av10.json")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--max-seconds", type=float, default=4.0)
    ap.add_argument("--subset", action="store_true", help="with --compare: only AFTER's methods and clips")
    ap.add_argument("--whole", action="store_true", help="evaluate --source as it is (ignores --clips/--max-seconds)")
    ap.add_argument("--methods", nargs="+", default=METHODS, help="methods to evaluate (default: %(default)s)")
    args = ap.parse_args()
    if args.compare:
        raise SystemExit(compare(*args.compare, subset=args.subset))
    if not args.out:
        ap.error("give --out DIR or --compare BEFORE AFTER")
    run(args.out, args.source, args.clips, args.max_seconds, args.methods, whole=args.whole)


if __name__ == "__main__":
    main()
