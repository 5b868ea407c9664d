"""What the stage-by-stage analysis scripts share (scripts/lips_mlmd_stages.py, scripts/motion_spread_stages.py):
their benchmark / cache / clip options, the clips a run covers, and the per-clip cache of each stage's array.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


def add_stage_arguments(ap: argparse.ArgumentParser, out_help: str) -> None:
    """--benchmark, --out (the cache folder and stages.json), --fresh and --clips."""
    ap.add_argument("--benchmark", default="eval/benchmarks/shared_val8_k8.json")
    ap.add_argument("--out", required=True, help=out_help)
    ap.add_argument("--fresh", default="", help="comma-separated stages to recompute")
    ap.add_argument("--clips", default="", help="comma-separated clip-id prefixes (default: all)")


def comma_set(text: str) -> set[str]:
    return {s for s in text.split(",") if s}


def selected_clips(clips: Iterable[Any], prefixes: str) -> list[Any]:
    """The benchmark clips whose id starts with one of the comma-separated ``prefixes`` (all when empty)."""
    wanted = [p for p in prefixes.split(",") if p]
    return [c for c in clips if not wanted or any(c.clip_id.startswith(p) for p in wanted)]


class StageCache:
    """One clip's stage arrays, each computed once and kept as ``<folder>/<clip_id>.<stage>.npy`` (float32);
    stages named in ``fresh`` are recomputed."""

    def __init__(self, folder: Path, clip_id: str, fresh: set[str]) -> None:
        self.folder, self.clip_id, self.fresh = folder, clip_id, fresh
        self.values: dict[str, np.ndarray] = {}

    def __call__(self, name: str, compute: Callable[[], Any]) -> None:
        path = self.folder / f"{self.clip_id}.{name}.npy"
        if path.exists() and name not in self.fresh:
            self.values[name] = np.load(path)
            return
        value = np.asarray(compute(), np.float32)
        np.save(path, value)
        self.values[name] = value
