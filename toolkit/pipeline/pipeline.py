"""The one generation pipeline: reference + audio -> talking-head mp4 with the audio.

``TalkingHeadPipeline(config).generate(reference, audio, out_path)`` runs the
paper's inference path (Fig. 2):

1. the reference (a video of any length, or one image) is cropped, tracked and
   disentangled into head motion h_{1:tau} and expression; its most frontal
   frame t_M gives the identity landmarks p_{t,M} and the 3D mesh;
2. head motion for the new audio comes from the motion learner Phi (or is held
   still, replayed from the reference, or taken from another video or file),
   expression from the expression learner Psi (or another video: Fig. 16);
3. frames are made chunk by chunk by the 3D-aware module (mesh projected at
   h_t, motion matcher, 3D-warp composition), or by the learned generator when
   its checkpoint exists, and written at once through the streaming video
   writer, so memory stays bounded whatever the audio length.

The output appears atomically: a failed or interrupted run leaves no partial
file behind.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.io.atomic import check_output_file, remove_stale_temp_files
from toolkit.motion.pose import HeadPose
from toolkit.pipeline.config import GenerationConfig
from toolkit.pipeline.inputs import AudioInput, load_audio
from toolkit.pipeline.progress import STAGES, ProgressFn, StageClock
from toolkit.pipeline.stages import (
    Reference,
    expression_from_track,
    expression_from_video,
    motion_from_source,
    motion_from_track,
    prepare_reference,
    read_motion_file,
    scale_expression,
    scale_motion,
    track_driving_video,
)
from toolkit.pipeline.views import RenderedChunk

ReferenceLike = str | os.PathLike[str] | np.ndarray
AudioLike = str | os.PathLike[str] | np.ndarray


@dataclass
class _Plan:
    """What ``generate`` / ``generate_frames`` prepare before making frames."""

    ref: Reference
    speech: AudioInput
    renderer: Any
    pose: HeadPose
    expression: np.ndarray
    warnings: list[str]
    clock: StageClock


@dataclass
class GenerationResult:
    """What one generation produced, with per-stage timings."""

    out_path: Path
    n_frames: int
    renderer: str
    #: seconds of compute per stage (see toolkit.pipeline.progress.STAGES)
    timings: dict[str, float]
    #: the head poses (n,) and expression landmarks (n, 68, 3) the video was made from
    pose: HeadPose
    expression68: np.ndarray
    reference_frames: int
    config: GenerationConfig
    views_path: Path | None = None
    pose_plot_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: the reference frame whose face textures the video (the renderer's texture frame: near-frontal, eyes open,
    #: mouth near neutral; t_M unless that one blinks or opens its mouth wide), as the face crop (size, size, 3)
    reference_face: np.ndarray | None = None

    @property
    def head_motion(self) -> np.ndarray:
        """The paper's head motion h_t (n, 6): rotation (axis-angle) and translation of ``pose``."""
        return self.pose.motion

    @property
    def seconds(self) -> float:
        """Duration of the generated video."""
        return self.n_frames / VIDEO_FPS

    @property
    def compute_seconds(self) -> float:
        return float(sum(self.timings.values()))

    @property
    def real_time_factor(self) -> float:
        """Seconds of compute per second of video."""
        return self.compute_seconds / max(self.seconds, 1e-9)

    def stage_real_time_factors(self) -> dict[str, float]:
        return {k: v / max(self.seconds, 1e-9) for k, v in self.timings.items()}

    def summary(self) -> str:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items() if v > 0.0005)
        return (
            f"{self.out_path}: {self.n_frames} frames ({self.seconds:.1f} s) with the {self.renderer} renderer in "
            f"{self.wall_seconds:.1f} s, real-time factor {self.real_time_factor:.2f} ({stages})"
        )


class TalkingHeadPipeline:
    """Audio-driven talking-head generation with rhythmic head motion (Chen et al., ECCV 2020).

    One object serves the CLI, the batch mode, the app and the notebooks.
    Models are loaded once per process and shared by every pipeline object
    (see :mod:`toolkit.pipeline.models`), so creating one per request is cheap.
    """

    def __init__(self, config: GenerationConfig | None = None) -> None:
        self.config = (config or GenerationConfig()).validate()

    # ------------------------------------------------------------------ main entry
    def generate(
        self,
        reference: ReferenceLike,
        audio: AudioLike,
        out_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        *,
        reference_indices: Sequence[int] | None = None,
        reference_audio: np.ndarray | None = None,
    ) -> GenerationResult:
        """Make ``out_path`` (mp4, H.264 + AAC) from a reference video/image and driving audio.

        ``reference_indices`` fixes the K reference frames (e.g. a benchmark's; t_M is always
        added) instead of sampling them; ``reference_audio`` (16 kHz, aligned with the reference
        frames) is for references given as arrays, whose sound the pipeline cannot read itself.
        """
        started = time.perf_counter()
        # before any work: a folder or an input as the output would fail (or destroy it) after the whole run
        out_path = check_output_file(out_path, {"reference": reference, "audio": audio})
        for path in (out_path, _views_path(out_path), _pose_plot_path(out_path)):
            remove_stale_temp_files(path)  # left by a run of this output that was killed
        plan = self._plan(reference, audio, progress, reference_indices, reference_audio)
        ref, speech, renderer, clock, warnings = plan.ref, plan.speech, plan.renderer, plan.clock, plan.warnings
        pose, expression = plan.pose, plan.expression
        cfg = self.config
        views_path = _views_path(out_path) if cfg.views else None
        pose_plot = _pose_plot_path(out_path) if cfg.views else None
        self._write(ref, speech, renderer, pose, expression, out_path, views_path, clock)
        if pose_plot is not None:
            from toolkit.pipeline.views import plot_pose_curves

            plot_pose_curves(pose.motion, pose_plot, reference_motion=ref.pose.motion)
        clock.finish()
        return GenerationResult(
            out_path=out_path,
            n_frames=speech.n_frames,
            renderer=renderer.name,
            timings={k: round(v, 4) for k, v in clock.seconds.items()},
            pose=pose,
            expression68=expression,
            reference_frames=ref.n_frames,
            config=cfg,
            views_path=views_path,
            pose_plot_path=pose_plot,
            warnings=warnings,
            wall_seconds=time.perf_counter() - started,
            reference_face=ref.crops[renderer.texture_index],
        )

    def generate_frames(
        self,
        reference: ReferenceLike,
        audio: AudioLike,
        progress: ProgressFn | None = None,
        *,
        reference_indices: Sequence[int] | None = None,
        reference_audio: np.ndarray | None = None,
        driving_frames: np.ndarray | None = None,
        driving_same_camera: bool = False,
    ) -> Iterator[np.ndarray]:
        """The output frames (uint8 RGB, as ``generate`` would encode them) without encoding anything.

        The array-in / frames-out entry point of the benchmarking suite, so that every method's
        frames meet the same (or no) codec. ``driving_frames`` (T, H, W, 3) is a driving video
        given as frames: tracked once, its head motion and expression drive the output
        (landmark-driven reenactment), whatever the config's motion / expression say; with
        ``driving_same_camera`` (self-reenactment: the reference clip's own continuation) the head is put
        where it is in the driving frames, not relative to each clip's median position.
        """
        plan = self._plan(
            reference, audio, progress, reference_indices, reference_audio, driving_frames, driving_same_camera
        )
        chunks = self._chunks(plan.ref, plan.renderer, plan.pose, plan.expression, plan.clock)
        for _, _, _, frames in chunks:
            yield from frames
        plan.clock.finish()

    def _plan(
        self,
        reference: ReferenceLike,
        audio: AudioLike,
        progress: ProgressFn | None,
        reference_indices: Sequence[int] | None,
        reference_audio: np.ndarray | None,
        driving_frames: np.ndarray | None = None,
        driving_same_camera: bool = False,
    ) -> _Plan:
        """Everything before the frames: audio, reference, head motion, expression, renderer."""
        from toolkit.io.heap import keep_freed_buffers
        from toolkit.pipeline import models, renderers

        keep_freed_buffers()  # per-chunk frame arrays reuse the heap instead of faulting in fresh pages
        cfg = self.config
        renderer_name = renderers.resolve_renderer(cfg)
        models.warm_up(cfg)  # torch, learners and render kernels load while the reference is tracked
        clock = StageClock(progress, uses_generator=renderer_name == "generator")

        # cheap checks first: a silent or over-long audio is refused before any tracking
        with clock.stage("load"):
            speech = load_audio(audio, cfg.max_seconds, cfg.allow_silent_audio)
        clock.report("load", 0.2, "audio read")
        motion_source = cfg.motion_source()
        if motion_source.kind == "file" and driving_frames is None:  # refused before any tracking
            read_motion_file(motion_source.path)  # type: ignore[arg-type]
        ref = prepare_reference(reference, cfg, clock, reference_indices, reference_audio)
        warnings = list(_reference_warnings(ref))

        if driving_frames is not None:  # tracked once, shared by motion and expression
            drv = track_driving_video(np.asarray(driving_frames), cfg, speech.n_frames, clock)
            pose = self._scaled_motion(
                ref, motion_from_track(drv, ref, speech.n_frames, same_camera=driving_same_camera)
            )
            expression = scale_expression(
                expression_from_track(drv, ref, speech.n_frames), ref.identity68, cfg.expression_scale
            )
        else:
            pose = self.plan_motion(ref, speech, clock)
            expression = self.plan_expression(ref, speech, clock)
        clock.report("learners", 1.0, "motion and expression ready")

        with clock.stage("render"):
            renderer = renderers.make_renderer(renderer_name, ref, cfg)
        warnings += list(getattr(renderer, "warnings", []))
        return _Plan(ref, speech, renderer, pose, expression, warnings, clock)

    # ------------------------------------------------------------------ planning
    def prepare(
        self,
        reference: ReferenceLike,
        progress: ProgressFn | None = None,
        *,
        reference_indices: Sequence[int] | None = None,
        reference_audio: np.ndarray | None = None,
    ) -> Reference:
        """Only the reference stage (crop, track, disentangle): for notebooks that re-render many times."""
        return prepare_reference(reference, self.config, StageClock(progress), reference_indices, reference_audio)

    def plan_motion(self, ref: Reference, speech: AudioInput, clock: StageClock | None = None) -> HeadPose:
        """The head pose of every output frame (``.motion``: the paper's h_t)."""
        from toolkit.pipeline import models

        clock = clock or StageClock()
        cfg = self.config
        n = speech.n_frames

        def learned() -> HeadPose:
            with clock.stage("learners"):
                motion = models.predict_head_motion(ref, speech.samples, n, cfg)
            clock.report("learners", 0.5, "head motion learned")
            return HeadPose.from_motion(motion, ref.frontal_pose.scale)  # Phi moves the head, not its size

        return self._scaled_motion(ref, motion_from_source(cfg.motion_source(), ref, n, cfg, clock, learned))

    def _scaled_motion(self, ref: Reference, pose: HeadPose) -> HeadPose:
        return scale_motion(pose, ref.frontal_pose, self.config.motion_scale)

    def plan_expression(self, ref: Reference, speech: AudioInput, clock: StageClock | None = None) -> np.ndarray:
        """Frontalised 68-point expression landmarks (n, 68, 3) for every output frame."""
        from toolkit.pipeline import models

        clock = clock or StageClock()
        cfg = self.config
        n = speech.n_frames
        source = cfg.expression_source()
        if source.kind == "reference":
            expression = np.repeat(ref.identity68[None], n, axis=0)
        elif source.kind == "video":
            expression = expression_from_video(source.path, ref, n, cfg, clock)  # type: ignore[arg-type]
        else:
            # Psi works frame by frame on its audio window: chunks keep its feature memory bounded
            parts = []
            step = models.EXPRESSION_CHUNK
            for start in range(0, n, step):
                stop = min(n, start + step)
                with clock.stage("learners"):
                    parts.append(models.predict_expression(ref, speech.samples, start, stop, cfg))
                clock.report("learners", 0.5 + 0.5 * stop / n, "expression from audio")
            expression = np.concatenate(parts)
        return scale_expression(expression, ref.identity68, cfg.expression_scale)

    def render(self, ref: Reference, pose: HeadPose, expression68: np.ndarray) -> RenderedChunk:
        """Frames for given head poses (n,) and expression (n, 68, 3), in memory (notebooks, Fig. 16).

        The renderer of a reference is built once per configuration and kept on it, so sliders re-render
        quickly, and a pipeline with another configuration (renderer, size, checkpoint) does not reuse it.
        """
        from toolkit.pipeline import renderers

        expression = np.asarray(expression68, np.float32).reshape(-1, 68, 3)
        key = ("renderer", repr(sorted(self.config.to_dict().items())))
        renderer = ref.cache.get(key)
        if renderer is None:
            renderer = renderers.make_renderer(renderers.resolve_renderer(self.config), ref, self.config)
            ref.cache[key] = renderer
        return renderer.render(pose, expression, StageClock())

    # ------------------------------------------------------------------ streaming render + encode
    def _write(
        self,
        ref: Reference,
        speech: AudioInput,
        renderer: Any,
        pose: HeadPose,
        expression: np.ndarray,
        out_path: Path,
        views_path: Path | None,
        clock: StageClock,
    ) -> None:
        from toolkit.io.media import VideoWriter
        from toolkit.pipeline.views import compose_view

        cfg = self.config
        n = speech.n_frames
        writers = []
        with clock.stage("encode"):
            writer = VideoWriter(out_path, fps=VIDEO_FPS, audio=speech.samples, sr=AUDIO_SAMPLE_RATE, crf=cfg.crf)
            writers.append(writer)
            views_writer = None
            if views_path is not None:
                views_writer = VideoWriter(views_path, fps=VIDEO_FPS, audio=speech.samples, sr=AUDIO_SAMPLE_RATE)
                writers.append(views_writer)
        ok = False
        try:
            for start, stop, chunk, frames in self._chunks(ref, renderer, pose, expression, clock):
                with clock.stage("encode"):
                    for frame in frames:
                        writer.write(frame)
                    if views_writer is not None:
                        for i in range(stop - start):
                            views_writer.write(compose_view(chunk, i))
                clock.report("encode", stop / n, f"frame {stop}/{n}")
            ok = True
        finally:
            with clock.stage("encode"):
                for w in writers:
                    if ok:
                        w.close()
                    else:
                        w.abort()

    def _chunks(
        self,
        ref: Reference,
        renderer: Any,
        pose: HeadPose,
        expression: np.ndarray,
        clock: StageClock,
    ) -> Iterator[tuple[int, int, Any, list[np.ndarray]]]:
        """(start, stop, rendered chunk, output frames) chunk by chunk: rendered, pasted back if configured."""
        from toolkit.pipeline.paste import PasteBack

        cfg = self.config
        n = len(pose)
        paste = PasteBack(ref, cfg.max_paste_side) if cfg.output == "paste-back" else None
        for start in range(0, n, cfg.chunk_frames):
            stop = min(n, start + cfg.chunk_frames)
            chunk = renderer.render(pose[start:stop], expression[start:stop], clock)
            frames = list(chunk.frames)
            if paste is not None:
                with clock.stage("render"):
                    masks = chunk.mask if chunk.mask is not None else [None] * len(frames)
                    flows = chunk.background_flow if chunk.background_flow is not None else [None] * len(frames)
                    frames = [paste.apply(f, int(m), a, d) for f, m, a, d in zip(frames, chunk.matched, masks, flows)]
            clock.report("render", stop / n, f"frame {stop}/{n}")
            yield start, stop, chunk, frames


def _reference_warnings(ref: Reference) -> list[str]:
    out = []
    missing = int((~ref.detected).sum()) if ref.detected is not None else 0
    if missing:
        out.append(f"the face was not found in {missing} of {ref.n_frames} reference frames (interpolated)")
    # references that will look bad whatever the renderer does (toolkit.render.checks), said before rendering
    from toolkit.render.checks import reference_warnings

    x0, _, x1, _ = ref.crop_box
    out += reference_warnings(ref.crops, ref.landmarks, ref.pose.rotation, ref.frontal68, (x1 - x0) / max(ref.size, 1))
    for message in out:
        logging.getLogger("toolkit.pipeline").warning("reference: %s", message)
    return out


def _views_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.stem + ".views.mp4")


def _pose_plot_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.stem + ".pose.png")


def generate(
    reference: ReferenceLike,
    audio: AudioLike,
    out_path: str | os.PathLike[str],
    config: GenerationConfig | None = None,
    progress: ProgressFn | None = None,
    **overrides: Any,
) -> GenerationResult:
    """Function form: ``generate(ref, audio, "out.mp4", motion="still", k=1)``."""
    cfg = (config or GenerationConfig()).with_overrides(**overrides) if overrides else config
    return TalkingHeadPipeline(cfg).generate(reference, audio, out_path, progress=progress)


__all__ = ["SAMPLES_PER_FRAME", "STAGES", "GenerationResult", "TalkingHeadPipeline", "generate"]
