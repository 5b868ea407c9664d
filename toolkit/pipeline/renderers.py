"""Frame makers behind the pipeline: the 3D warp and the learned generator.

``config.renderer`` picks one: ``3d-warp`` (the 3D-aware module of Sec. 4.1
on its own: mesh of the most frontal reference frame projected at h_t with the
target expression, composed over the background frame the motion matcher
chose), ``generator`` (the full 3D-aware generative network of Sec. 4.2-4.3,
fed with the same warped inputs; the shipped CPU checkpoint unless a
default or explicit one exists), or ``auto``: the generator only when its
checkpoint (the given one, else the default slot ``checkpoints/generator``)
records that it beats the 3D warp on the held-out validation people
(:func:`toolkit.generator.checkpoint.beats_3d_warp`, from the model card's
benchmark), else the 3D warp. Both implement :class:`FrameRenderer`, so the
pipeline never knows which one runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from toolkit.errors import WeightsNotFoundError
from toolkit.motion.disentangle import apply_motion
from toolkit.motion.pose import HeadPose
from toolkit.pipeline.config import GenerationConfig
from toolkit.pipeline.progress import StageClock
from toolkit.pipeline.stages import Reference
from toolkit.pipeline.views import RenderedChunk


class FrameRenderer(Protocol):
    name: str
    #: the reference frame whose face textures the output (the 3D-aware mesh's texture frame)
    texture_index: int

    def render(self, pose: HeadPose, expression68: np.ndarray, clock: StageClock) -> RenderedChunk: ...


#: the generator the project ships (checkpoints/<this>/MODEL_CARD.md): trained on this data on a CPU, it does not
#: beat the 3D warp on held-out people, so only an explicit ``renderer="generator"`` uses it
SHIPPED_GENERATOR = "generator_cpu128"


def generator_checkpoint(config: GenerationConfig) -> Path | None:
    """The generator checkpoint to use, or None when there is none.

    ``generator_checkpoint`` when given; else ``checkpoints/generator`` (the default slot: ``auto``
    renders with it whenever it exists); else, when the generator is asked for explicitly, the
    shipped ``checkpoints/generator_cpu128``.
    """
    from toolkit.paths import checkpoints_dir

    if config.generator_checkpoint:
        return Path(config.generator_checkpoint)
    candidates = [checkpoints_dir() / "generator"]
    if config.renderer == "generator":
        candidates.append(checkpoints_dir() / SHIPPED_GENERATOR)
    return next((c for c in candidates if (c / "model.safetensors").is_file()), None)


#: what the CLI and the app say, in one line, when ``auto`` renders with the 3D warp
GENERATOR_OPTION_NOTE = (
    "Made with the 3D-aware warp. The learned generator (--renderer generator) is experimental: slower, and "
    "trained here on a CPU it does not beat the warp on unseen people (checkpoints/generator_cpu128/MODEL_CARD.md)."
)


def resolve_renderer(config: GenerationConfig) -> str:
    """'3d-warp' or 'generator' for this config.

    ``auto``: the generator only when its checkpoint records that it beats the 3D warp on the
    validation people (:func:`toolkit.generator.checkpoint.beats_3d_warp`): a default that loses
    is never used.
    """
    if config.renderer == "auto":
        from toolkit.generator.checkpoint import beats_3d_warp

        found = generator_checkpoint(config)
        return "generator" if found is not None and beats_3d_warp(found) else "3d-warp"
    if config.renderer == "generator" and generator_checkpoint(config) is None:
        raise WeightsNotFoundError(
            f"The generator checkpoint is missing (checkpoints/generator or checkpoints/{SHIPPED_GENERATOR}).",
            "Train it with `toolkit train generator`, pass --generator-checkpoint, or use --renderer 3d-warp.",
        )
    given = Path(config.generator_checkpoint) if config.generator_checkpoint else None
    if given is not None and not (given.is_file() or (given / "model.safetensors").is_file()):
        # refused before any tracking, not when the first frames are rendered
        raise WeightsNotFoundError(
            f"Generator checkpoint {given} not found (no model.safetensors there).",
            "Point --generator-checkpoint at a folder written by `toolkit train generator` (its generator/).",
        )
    return config.renderer


def make_renderer(name: str, ref: Reference, config: GenerationConfig) -> FrameRenderer:
    if name == "generator":
        return GeneratorRenderer(ref, config)
    return Warp3DRenderer(ref, config)


class Warp3DRenderer:
    """The 3D-aware module alone (the paper's generator-free flavour): ``toolkit.render.Warp3D``.

    The mesh comes from the reference frame chosen by ``toolkit.render.warp3d.choose_texture_frame``
    (near-frontal, eyes open, mouth near neutral); the motion matcher chooses the background among the
    K sampled reference frames (t_M included).
    """

    name = "3d-warp"

    def __init__(self, ref: Reference, config: GenerationConfig, baseline: bool = True) -> None:
        """``baseline``: the 3D-warp output itself (False: the learned generator's inputs, masks as trained)."""
        import warnings

        from toolkit.render.matcher import MatchState
        from toolkit.render.mesh import HairOverForeheadWarning
        from toolkit.render.warp3d import ReferenceTrack, Warp3D, Warp3DConfig, baseline_config, choose_texture_frame

        self.ref = ref
        detected = ref.detected
        full = ReferenceTrack(landmarks=ref.landmarks, pose=ref.pose, frontal68=ref.frontal68, detected=detected)
        # the mesh's texture frame: frontal, eyes open, mouth near neutral, among all reference frames; when it
        # is not one of the K frames it is appended last and never matched as a background (paste-back has
        # full frames of the K only), so matched indices stay indices into k_indices
        self.texture_index = choose_texture_frame(ref.crops, full).index
        idx = ref.k_indices
        self.extra = -1
        if self.texture_index not in idx:
            idx = np.append(idx, self.texture_index)
            self.extra = len(idx) - 1
        frontal = int(np.flatnonzero(idx == self.texture_index)[0])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make = baseline_config if baseline else Warp3DConfig
            self.warp = Warp3D(ref.crops[idx], ReferenceTrack.from_any(full, idx), make(frontal_index=frontal))
        # the mesh's hair note repeats the reference check the pipeline reports before rendering
        # (toolkit.render.checks.reference_warnings): one message per problem
        self.warnings = [str(w.message) for w in caught if not issubclass(w.category, HairOverForeheadWarning)]
        self.match_state = MatchState()  # the output video's matcher state, carried from chunk to chunk
        if self.warp.mouth is not None and len(ref.crops) > len(idx):
            from toolkit.render.mouth import MouthInterior

            # the mouth interior may come from any reference frame (the matcher's backgrounds stay the K): with
            # K = 1 one frame's interior filled every opening and thin ones read as open (landmark-driven V-Express
            # AOC at K = 1: 20 % closed frames by dlib, real 40 %; 40 % with every reference frame's interior).
            # The K frames only at K = 8 (session 9, README) gave kim_7s_raw's dlib-read lip gap back but fewer
            # teeth than the real frames: mouth SSIM 0.718 -> 0.708, not kept. The generator's render gets the same
            # interior (with the K frames' only, its mouth SSIM was 0.0045 below the warp's on shared_val8_k8)
            self.warp.mouth = MouthInterior.from_references(
                self.warp.mesh,
                ref.crops,
                ref.landmarks,
                ref.frontal68,
                detected,
                self.warp.config.mesh.open_mouth_min_area,
            )

    def inputs(self, pose: HeadPose, expression68: np.ndarray, continuous: bool = False):
        """The 3D-aware module's products for these targets (``toolkit.render.warp3d.GeneratorInputs``);
        ``continuous``: the next frames of the output video (matcher hysteresis and cross-fade)."""
        state = self.match_state if continuous else None
        exclude = None if self.extra < 0 else np.full(len(pose), self.extra, np.int64)
        return self.warp.generator_inputs(pose, expression68, exclude=exclude, match_state=state)

    def render(self, pose: HeadPose, expression68: np.ndarray, clock: StageClock) -> RenderedChunk:
        from toolkit.render.warp3d import compose

        with clock.stage("render"):
            inputs = self.inputs(pose, expression68, continuous=True)
            frames = compose(inputs, in_place=True)  # over the chunk's own background (not kept)
            lmk = apply_motion(expression68, pose)[..., :2]  # the target landmarks l_t, crop pixels
        return RenderedChunk(
            frames=frames,
            matched=self.ref.k_indices[inputs.matched_index],
            landmarks2d=lmk,
            rendered=inputs.rendered,
            mask=inputs.mask,
            background_flow=inputs.background_flow,
        )


class GeneratorRenderer:
    """The learned generator (Sec. 4.2-4.3) on the 3D-aware module's warped inputs.

    Inputs per target frame, as ``toolkit.generator.infer.synthesize_frames`` takes them: the K
    reference crops with their 68 landmarks, the target landmarks l_t (expression p_t posed by
    h_t), the render y~_t with its mask, and the matched reference y_ts with its landmarks.
    """

    name = "generator"

    def __init__(self, ref: Reference, config: GenerationConfig) -> None:
        from toolkit.generator.checkpoint import load_generator

        self.warp = Warp3DRenderer(ref, config, baseline=False)
        self.warnings = self.warp.warnings
        self.texture_index = self.warp.texture_index
        self.ref = ref
        checkpoint = generator_checkpoint(config)
        # one load per checkpoint even when the app runs two jobs at once
        with _generators_lock:
            if str(checkpoint) not in _generators:
                _generators[str(checkpoint)] = load_generator(checkpoint)
            self.model = _generators[str(checkpoint)]
        self.finetune_steps = int(config.finetune_steps)
        self.seed = int(config.seed)
        self._adapted = self.finetune_steps == 0
        self._reference_cache = None  # the K references' embedding: computed once per video

    def _adapt(self) -> None:
        """Fine-tune a copy of the generator on the reference frames (toolkit.generator.finetune)."""
        from toolkit.generator.finetune import FinetuneConfig, finetune_generator

        ref, idx = self.ref, self.ref.k_indices
        inputs = self.warp.inputs(ref.pose, ref.frontal68)
        drive = apply_motion(ref.frontal68, ref.pose)
        self.model = finetune_generator(
            self.model, ref.crops, ref.landmarks68, idx, drive, inputs.rendered, inputs.mask, inputs.matched,
            ref.landmarks68[idx][inputs.matched_index],
            FinetuneConfig(steps=self.finetune_steps, seed=self.seed),
        )  # fmt: skip
        self._adapted = True

    def render(self, pose: HeadPose, expression68: np.ndarray, clock: StageClock) -> RenderedChunk:
        from toolkit.generator.infer import encode_references, synthesize_frames

        ref, idx = self.ref, self.ref.k_indices
        with clock.stage("render"):
            inputs = self.warp.inputs(pose, expression68, continuous=True)
            target = apply_motion(expression68, pose)
        with clock.stage("generator"):
            if not self._adapted:
                self._adapt()
                self._reference_cache = None
            if self._reference_cache is None:
                self._reference_cache = encode_references(self.model, ref.crops[idx], ref.landmarks68[idx])
            frames = synthesize_frames(
                self.model,
                ref.crops[idx],
                ref.landmarks68[idx],
                target,
                inputs.rendered,
                inputs.mask,
                # the matched frame as the 3D warp uses it, moved with the head (toolkit.render.align) when it is:
                # with the unmoved one the generator lost 0.011 CSIM to the warp on shared_val8_k8, with it 0.0005
                inputs.background if inputs.background is not None else inputs.matched,
                render_landmarks68=target,
                matched_landmarks68=ref.landmarks68[idx][inputs.matched_index],
                reference_cache=self._reference_cache,
            )
        return RenderedChunk(
            frames=frames,
            matched=idx[inputs.matched_index],
            landmarks2d=target[..., :2],
            rendered=inputs.rendered,
            mask=inputs.mask,  # paste-back as for the 3D warp: the full-resolution frame outside the render
            background_flow=inputs.background_flow,
        )


#: loaded generators, shared by every pipeline in the process (keyed by checkpoint path)
_generators: dict[str, object] = {}
_generators_lock = threading.Lock()
