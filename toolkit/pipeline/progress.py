"""Per-stage timing and progress reporting for the generation pipeline.

The stages are the ones the benchmark reports: ``load`` (decoding the inputs),
``tracking`` (face tracking and motion disentangling of the reference and of
any driving video), ``learners`` (expression learner Psi and head motion
learner Phi), ``render`` (the 3D-aware module: projection, motion matcher,
3D-warp composition), ``generator`` (the learned generator, when used) and
``encode`` (H.264 + AAC). Time is CPU-wall time spent inside each stage.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

STAGES: tuple[str, ...] = ("load", "tracking", "learners", "render", "generator", "encode")

#: rough share of the total run time of each stage, for one overall progress fraction
_STAGE_WEIGHTS: dict[str, float] = {
    "load": 0.04,
    "tracking": 0.16,
    "learners": 0.10,
    "render": 0.40,
    "generator": 0.0,
    "encode": 0.30,
}


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``fraction`` is within ``stage``, ``overall`` across the whole run."""

    stage: str
    fraction: float
    overall: float
    message: str


ProgressFn = Callable[[ProgressEvent], None]


class StageClock:
    """Accumulates seconds per stage and forwards progress to an optional callback.

    Rendering and encoding interleave chunk by chunk (frames are written as
    they are made), so a stage may be entered many times; its time adds up.
    """

    def __init__(self, progress: ProgressFn | None = None, uses_generator: bool = False) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._progress = progress
        weights = dict(_STAGE_WEIGHTS)
        if uses_generator:
            weights["generator"] = 0.35
        total = sum(weights.values())
        self._weights = {k: v / total for k, v in weights.items()}
        self._done: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in self.seconds:
            raise KeyError(f"unknown stage {name!r}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def report(self, stage: str, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        self._done[stage] = max(self._done[stage], fraction)
        if self._progress is None:
            return
        overall = sum(self._weights[s] * self._done[s] for s in STAGES)
        self._progress(ProgressEvent(stage, fraction, min(1.0, overall), message or stage))

    def finish(self) -> None:
        for s in STAGES:
            self._done[s] = 1.0
        if self._progress is not None:
            self._progress(ProgressEvent("encode", 1.0, 1.0, "done"))
