"""What the benchmark's ``3d-warp`` would become on the pipeline's reference preparation.

The small leaderboard of ``refactor_identity.py`` (first 4 clips of shared_av10 cut to 4 s, every metric with
pinned models, empty feature cache) for ``3d-warp`` (eval/adapters/warp3d.py: the benchmark's uncropped frames
tracked and rendered at their own size, the mesh source's own expression) and ``3d-warp-via-pipeline`` (the
pipeline with renderer 3d-warp, motion ``reference`` = the reference poses played back and forth as
reference-loop, expression ``reference`` = t_M's face held; i.e. the pipeline's face crop, 256 render and
paste-back)::

    PYTHONPATH=$PWD python scripts/bench/warp3d_via_pipeline.py --out /tmp/warp3d_probe
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

VIA_PIPELINE: dict[str, Any] = {"renderer": "3d-warp", "motion": "reference", "expression": "reference"}


def main() -> None:
    import refactor_identity

    import eval.adapters.pipeline as adapters

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--source", default="eval/benchmarks/shared_av10.json")
    args = ap.parse_args()
    built_in = adapters._methods
    # a method for this measurement only, not a registered one
    adapters._methods = lambda: {**built_in(), "3d-warp-via-pipeline": VIA_PIPELINE}
    refactor_identity.run(args.out, args.source, 4, 4.0, ["3d-warp", "3d-warp-via-pipeline"])


if __name__ == "__main__":
    main()
