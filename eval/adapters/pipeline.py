"""The whole audio-driven pipeline as a method of the benchmarking suite: ``pipeline``.

For one benchmark clip it runs :class:`~toolkit.pipeline.TalkingHeadPipeline`
on the clip's reference frames (the benchmark's K frames plus t_M) and the
driving audio: head motion from the motion learner Phi (conditioned on the
reference motion and audio), expression from the expression learner Psi,
frames from the 3D-aware module or the learned generator (``renderer``), the
face pasted back into the matched full reference frame so the output has the
ground truth's framing. Nothing from the ground truth is used (audio-driven).

:func:`methods` gives :mod:`eval.methods` its built-in methods: ``pipeline``
(the product as configured by default), ``ours`` / ``ours-landmark`` (the learned
generator, audio- / landmark-driven), ``3d-warp-audio`` / ``3d-warp-landmark`` (the
same inputs rendered by the 3D-aware module alone) and ``ours-<ablation>`` for the
shipped generator ablations (landmark-driven). In the landmark-driven setting the
head motion and expression come from the ground-truth video, not from Phi and Psi.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from toolkit.errors import ToolkitError

#: the landmark-driven setting: head motion and expression tracked from the ground-truth video
DRIVINGS: tuple[str, ...] = ("audio", "landmarks")


class PipelineMethod:
    """``pipeline``: audio -> learned motion + expression -> 3D-aware render (or generator), pasted back.

    ``driving="landmarks"`` is the paper's landmark-driven setting: head motion and expression are
    tracked from the benchmark's ground-truth video (the runner hands it over because
    ``uses_driving_video`` is set) instead of predicted from the audio by Phi and Psi.
    """

    name = "pipeline"

    def __init__(
        self,
        renderer: str = "auto",
        motion: str = "learned",
        expression: str = "audio",
        driving: str = "audio",
        generator_checkpoint: str | None = None,
        finetune_steps: int | None = None,
        name: str = "pipeline",
        single_image: bool = False,
        **_: Any,
    ) -> None:
        from toolkit.pipeline.config import GenerationConfig
        from toolkit.pipeline.renderers import resolve_renderer

        if driving not in DRIVINGS:
            raise ToolkitError(f"Unknown driving '{driving}'.", f"Use one of: {', '.join(DRIVINGS)}.")
        self.name = name
        self.uses_driving_video = driving == "landmarks"
        #: only the first of the K reference frames, as a photo: no reference motion or audio (Phi's prior, tau = 1)
        self.single_image = single_image
        self.config = GenerationConfig(
            renderer=renderer,
            motion=motion,
            expression=expression,
            output="paste-back",
            max_seconds=0,
            allow_silent_audio=True,  # a benchmark clip may have an empty sound track: a still mouth
            generator_checkpoint=generator_checkpoint,
        )
        if finetune_steps is not None:
            self.config = dataclasses.replace(self.config, finetune_steps=int(finetune_steps))
        self.config.validate()
        if self.uses_driving_video:
            source = "head motion and expression tracked from the ground-truth video (landmark-driven)"
        elif single_image:
            source = f"a single reference frame as a photo (Phi's learned prior, tau = 1), head motion '{motion}', "
            source += f"expression '{expression}' (audio-driven)"
        else:
            source = f"head motion '{motion}', expression '{expression}' (audio-driven)"
        rendered_by = resolve_renderer(self.config)
        if rendered_by == "generator":
            from toolkit.pipeline.renderers import generator_checkpoint as checkpoint_of

            rendered_by = (
                f"generator ({checkpoint_of(self.config)}, {self.config.finetune_steps} fine-tuning steps "
                "on the reference frames)"
            )
        self.description = (
            f"the pipeline: {source}, renderer {rendered_by}, face pasted back into the matched reference frame"
        )

    def generate(self, inputs: Any) -> Iterator[np.ndarray]:
        """The pipeline's frames, straight from the renderer (nothing encoded: the runner applies the
        benchmark's one codec setting to every method alike). Landmark-driven: the ground-truth frames
        are tracked once, in memory, and drive both head motion and expression."""
        from toolkit.pipeline.pipeline import TalkingHeadPipeline

        frames = np.asarray(inputs.reference_frames)
        reference_indices, reference_audio = list(inputs.reference_indices), inputs.reference_audio
        if self.single_image:
            frames, reference_indices, reference_audio = frames[reference_indices[:1]], [0], None
        cfg = self.config.with_overrides(
            seed=int(getattr(inputs, "seed", 0)),
            reference_frames=len(frames),
            k=max(1, len(reference_indices)),
            max_paste_side=max(256, *frames.shape[1:3]),
        )
        driving = None
        if self.uses_driving_video:
            driving = getattr(inputs, "driving_frames", None)
            if driving is None:
                raise ToolkitError(
                    f"Method '{self.name}' is landmark-driven but got no driving video.",
                    "Run it through `toolkit evaluate`, which hands landmark-driven methods the ground truth.",
                )
        h, w = frames.shape[1:3]
        out = TalkingHeadPipeline(cfg).generate_frames(
            frames,
            inputs.driving_audio,
            reference_indices=reference_indices,
            reference_audio=reference_audio,
            driving_frames=driving,
        )
        for i, frame in enumerate(out):
            if i >= inputs.n_frames:
                break
            yield frame[:h, :w] if frame.shape[:2] != (h, w) else frame


#: generator ablations with a built-in method; their weights go in ``checkpoints/generator_ablations/<name>``
ABLATION_CHECKPOINTS: tuple[str, ...] = ("no-3d-aware", "no-nonlinear-composition")


def _methods() -> dict[str, dict[str, Any]]:
    """Built-in names -> PipelineMethod options (the settings of the generator's leaderboard)."""
    from toolkit.paths import checkpoints_dir

    methods: dict[str, dict[str, Any]] = {
        # the product as shipped (auto: the generator when checkpoints/generator exists)
        "pipeline": {},
        "ours": {"renderer": "generator"},
        "ours-landmark": {"renderer": "generator", "driving": "landmarks"},
        "3d-warp-audio": {"renderer": "3d-warp"},
        "3d-warp-landmark": {"renderer": "3d-warp", "driving": "landmarks"},
        # the product from one photo: the first benchmark reference frame only (head motion: Phi's prior)
        "pipeline-single-image": {"single_image": True},
    }
    for ablation in ABLATION_CHECKPOINTS:
        # generator ablations isolate the generator: driven by the real landmarks (Table 3)
        methods[f"ours-{ablation}"] = {
            "renderer": "generator",
            "driving": "landmarks",
            "generator_checkpoint": str(checkpoints_dir() / "generator_ablations" / ablation),
        }
    return methods


def methods() -> dict[str, Callable[..., PipelineMethod]]:
    """The built-in methods this module adds to :mod:`eval.methods` (name -> factory)."""

    def factory(name: str, options: dict[str, Any]) -> Callable[..., PipelineMethod]:
        return lambda **given: PipelineMethod(**{**options, **given, "name": name})

    return {name: factory(name, options) for name, options in _methods().items()}
