"""The whole audio-driven pipeline as a method of the benchmarking suite: ``pipeline``.

For one benchmark clip it runs :class:`~toolkit.pipeline.TalkingHeadPipeline`
on the clip's reference frames (the benchmark's K frames plus t_M) and the
driving audio: head motion from the motion learner Phi (conditioned on the
reference motion and audio), expression from the expression learner Psi,
frames from the 3D-aware module or the learned generator (``renderer``), the
face pasted back into the matched full reference frame so the output has the
ground truth's framing. Nothing from the ground truth is used.

Importing this module registers the method with :mod:`eval.methods`
(``toolkit evaluate --method pipeline``; options ``renderer``, ``motion``,
``expression`` as in :class:`~toolkit.pipeline.config.GenerationConfig`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


class PipelineMethod:
    """``pipeline``: audio -> learned motion + expression -> 3D-aware render (or generator), pasted back."""

    name = "pipeline"

    def __init__(self, renderer: str = "auto", motion: str = "learned", expression: str = "audio", **_: Any) -> None:
        from toolkit.pipeline.config import GenerationConfig
        from toolkit.pipeline.renderers import resolve_renderer

        self.config = GenerationConfig(
            renderer=renderer, motion=motion, expression=expression, output="paste-back", max_seconds=0, crf=12,
            allow_silent_audio=True,  # a benchmark clip may have an empty sound track: a still mouth
        ).validate()
        self.description = (
            f"the audio-driven pipeline: head motion '{motion}', expression '{expression}', "
            f"renderer {resolve_renderer(self.config)}, face pasted back into the matched reference frame"
        )

    def generate(self, inputs: Any) -> Iterator[np.ndarray]:
        from toolkit.io.media import iter_frames
        from toolkit.pipeline.pipeline import TalkingHeadPipeline

        frames = np.asarray(inputs.reference_frames)
        cfg = self.config.with_overrides(
            seed=int(getattr(inputs, "seed", 0)),
            reference_frames=len(frames),
            k=max(1, len(inputs.reference_indices)),
            max_paste_side=max(256, *frames.shape[1:3]),
        )
        with tempfile.TemporaryDirectory(prefix="pipeline-method-") as tmp:
            out = Path(tmp) / f"{inputs.clip_id}.mp4"
            result = TalkingHeadPipeline(cfg).generate(
                frames, inputs.driving_audio, out,
                reference_indices=list(inputs.reference_indices), reference_audio=inputs.reference_audio,
            )
            h, w = frames.shape[1:3]
            for i, frame in enumerate(iter_frames(out)):
                if i >= inputs.n_frames:
                    break
                yield frame[:h, :w] if frame.shape[:2] != (h, w) else frame
            for _ in range(int(inputs.n_frames) - result.n_frames):  # never short (cannot happen: same length)
                yield frame


def _register() -> None:
    try:
        from eval.methods import register_method
    except ModuleNotFoundError:  # the toolkit without the evaluation suite
        return
    register_method("pipeline", lambda **options: PipelineMethod(**options), overwrite=True)


_register()
