"""How much of the real frame's mouth interior the generator's training render already holds.

    .venv/bin/python scripts/generator_render_leak.py --data RECORDS --cache OLD_CACHE [--heldout-cache CACHE]

Inner-mouth L1 (0-255, the box of the inner-lip points 60-67) between the cached render ``y~_t`` and the real
frame, at the cache's size: for the per-clip cache of ``build_cache`` (references = the clip's first tau frames)
split into targets inside that window and after it, and for ``build_heldout_cache`` (targets always after the
references). Every ``--every``-th frame. With the target among the references the render's mouth interior is
painted from the target itself, so its error is low where it would not be at inference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def inner_mouth_l1(frame: np.ndarray, render: np.ndarray, points: np.ndarray) -> float | None:
    lo = np.floor(points.min(axis=0)).astype(int)
    hi = np.ceil(points.max(axis=0)).astype(int) + 1
    if (hi - lo).min() < 3:  # closed mouth: no interior to compare
        return None
    box = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    return float(np.abs(frame[box].astype(np.float64) - render[box].astype(np.float64)).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="records folder (`toolkit preprocess`)")
    ap.add_argument("--cache", required=True, help="build_cache folder (frames_S.npy, render_S.npy per clip)")
    ap.add_argument("--heldout-cache", help="build_heldout_cache folder (heldout_render_S.npy, heldout_S.json)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--tau", type=int, default=64)
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args()

    from toolkit.data.records import done_clip_ids, load_clip

    s = args.size
    errors: dict[str, list[float]] = {"inside the first tau frames": [], "after them": [], "held-out cache": []}
    for cid in done_clip_ids(args.data):
        rec = load_clip(args.data, cid)
        scale = s / float(rec.meta.get("crop_size", 256))
        folder = Path(args.cache) / cid
        frames = np.load(folder / f"frames_{s}.npy", mmap_mode="r")
        render = np.load(folder / f"render_{s}.npy", mmap_mode="r")
        for t in range(0, rec.n_frames, args.every):
            e = inner_mouth_l1(frames[t], render[t], rec.landmarks68[t, 60:68, :2] * scale)
            if e is not None:
                errors["inside the first tau frames" if t < args.tau else "after them"].append(e)
        if args.heldout_cache:
            held = Path(args.heldout_cache) / cid
            meta = json.loads((held / f"heldout_{s}.json").read_text())
            held_render = np.load(held / f"heldout_render_{s}.npy", mmap_mode="r")
            for j, t in list(enumerate(meta["targets"]))[:: args.every]:
                e = inner_mouth_l1(frames[t], held_render[j], rec.landmarks68[t, 60:68, :2] * scale)
                if e is not None:
                    errors["held-out cache"].append(e)
    for name, values in errors.items():
        if values:
            print(f"{name:30s} frames {len(values):5d}  inner-mouth L1 mean {np.mean(values):6.2f}  median "
                  f"{np.median(values):6.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
