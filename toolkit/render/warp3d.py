"""The 3D-warp baseline and the warped inputs of the learned generator (paper Sec. 4.1).

Given ``K`` reference frames of a person (the paper's ``y_1:K`` from the first
``tau`` frames) with their tracks, and target head motions (and optionally
target expressions), :class:`Warp3D`:

1. builds the textured mesh ``M`` from the most frontal reference frame
   ``y_tM`` (:mod:`toolkit.render.mesh`) and its expression rig
   (:mod:`toolkit.render.rig`);
2. renders ``M`` at every target pose (Eq. 1, :mod:`toolkit.render.project`),
   with the mouth and jaw moved by the target expression when one is given:
   ``y~_t`` and its blending mask;
3. picks the reference frame with the nearest head motion (Eq. 2,
   :mod:`toolkit.render.matcher`): ``y_ts``;
4. composes the output frame: the rendered face over ``y_ts`` (background,
   hair, neck) with the mask, which fades to zero across the mesh's outer
   ring, so the face has no hard seam whatever the head does.

:meth:`Warp3D.generator_inputs` returns steps 2-3 as arrays (what the
learned generator consumes); :meth:`Warp3D.render` returns step 4 (the
"w/o generator" baseline); :func:`warp3d_method` is the benchmarking suite's
``3d-warp`` method.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.motion.pose import HeadPose, PoseViews
from toolkit.render.align import FLOW_GRID, background_flow, move_with_flow
from toolkit.render.matcher import MatcherConfig, MatchResult, MatchState, crossfade_pixels, match_motion
from toolkit.render.mesh import (
    FaceMesh,
    MeshConfig,
    build_face_mesh,
    eye_openness,
    mediapipe_topology,
    texture_outliers,
)
from toolkit.render.mouth import MouthInterior
from toolkit.render.project import PoseLimits, ProjectionBuffers, project_mesh
from toolkit.render.rasterize import blend
from toolkit.render.rig import ExpressionRig, build_expression_rig

#: face-oval blending weight of the 3D-warp output (MeshConfig.outline_weight): measured at the true poses of 4
#: clips (AOC, PC-AVS Pose_Source and Audio_Source, andrew_clip_2), face SSIM +0.001..+0.008 over 1.0
BASELINE_OUTLINE_WEIGHT = 0.5
#: pixels rendered per batch (64 frames at 256x256; 16 at 512): bounds the per-batch scratch arrays
BATCH_PIXELS = 64 * 256 * 256


def baseline_config(**options: Any) -> Warp3DConfig:
    """The 3D-warp output's configuration (``Warp3DConfig(**options)`` with the baseline's outline weight)."""
    options.setdefault("mesh", MeshConfig(outline_weight=BASELINE_OUTLINE_WEIGHT))
    return Warp3DConfig(**options)


class TrackLike(Protocol):
    """What a reference track must provide (``ClipRecord``, or :class:`ReferenceTrack`)."""

    landmarks: np.ndarray  # (K, N, 3) pixels of the reference frames
    pose: HeadPose  # (K,)


@dataclass
class ReferenceTrack(PoseViews):
    """Tracking + head poses of the reference frames (arrays aligned with the frames)."""

    landmarks: np.ndarray  # (K, N, 3) float32, MediaPipe layout, reference-frame pixels
    pose: HeadPose  # (K,) head poses
    frontal68: np.ndarray | None = None  # (K, 68, 3) canonical-frame expression (optional)
    detected: np.ndarray | None = None  # (K,) bool; frames not detected are never the mesh source

    @classmethod
    def from_any(cls, track: Any, indices: Sequence[int] | np.ndarray | None = None) -> ReferenceTrack:
        """From a ``ClipRecord``, a ``HeadMotion`` + landmarks bundle, or this class; optionally a subset."""
        idx = slice(None) if indices is None else np.asarray(indices, np.int64)

        def get(name: str) -> np.ndarray | None:
            value = getattr(track, name, None)
            if value is None and isinstance(track, dict):
                value = track.get(name)
            return None if value is None else np.asarray(value)[idx]

        pose = getattr(track, "pose", None)
        if pose is None and all(get(n) is not None for n in ("rotation", "translation", "scale")):
            pose = HeadPose(get("rotation"), get("translation"), get("scale"))  # type: ignore[arg-type]
        elif pose is not None:
            pose = pose[idx]
        missing = [n for n, v in (("landmarks", get("landmarks")), ("head pose", pose)) if v is None]
        if missing:
            raise ToolkitError(
                f"The reference track lacks {', '.join(missing)}.",
                "Pass a ClipRecord (toolkit.data.records.load_clip) or a ReferenceTrack.",
            )
        return cls(
            landmarks=get("landmarks").astype(np.float32),  # type: ignore[union-attr]
            pose=pose,  # type: ignore[arg-type]
            frontal68=None if get("frontal68") is None else get("frontal68").astype(np.float32),  # type: ignore[union-attr]
            detected=None if get("detected") is None else get("detected").astype(bool),  # type: ignore[union-attr]
        )


@dataclass
class Warp3DConfig:
    """Options of the 3D-warp (shared by the baseline, the generator inputs and the demos)."""

    #: output (H, W); None = the reference frames' size
    output_size: tuple[int, int] | None = None
    #: rasteriser backend: auto | numba | numpy | pytorch3d
    backend: str = "auto"
    #: reference frame the mesh is built from; None = most frontal detected reference frame
    frontal_index: int | None = None
    #: the mesh source must have at most this much more occluded face surface than the cleanest
    #: reference frame (fraction of landmarks whose colour is an outlier, see mesh.texture_outliers)
    max_extra_occlusion: float = 0.05
    #: the mesh source's eye openness must be at least this fraction of the references' 80th percentile
    #: (no blinks, no downcast eyes)
    min_eye_openness: float = 0.75
    #: texture frames up to this much more rotated (sum of |axis-angle|, rad) than the most frontal one compete
    #: on mouth closure; one slack of extra rotation costs as much as ``texture_mouth_unit`` of lip gap
    texture_pose_slack: float = 0.09
    #: inner-lip gap / mouth width that costs as much as ``texture_pose_slack`` of rotation. A tie-breaker:
    #: weighted 5x more (0.1) it picked less frontal, closed-mouth frames and lowered CSIM on the validation
    #: clips (AOC 0.857 -> 0.830, PC-AVS Pose_Source 0.727 -> 0.689; scripts/render_eval.py)
    texture_mouth_unit: float = 0.5
    #: move mouth/jaw vertices with the target expression when one is given
    drive_expression: bool = True
    #: expression intensity (1 = as given)
    expression_gain: float = 1.0
    #: paint the mouth interior from the reference frame whose mouth shape is nearest the target's
    #: (toolkit.render.mouth); False keeps the texture frame's own interior
    mouth_from_references: bool = True
    #: move the matched reference frame with the head (its outline onto the rendered one) before the
    #: render is laid over it: no second cheek / jaw contour where the render fades out (toolkit.render.align)
    align_background: bool = True
    #: frames rendered per batch (bounds memory: ~0.5 MB per 256x256 frame and buffer)
    batch_size: int = 64
    mesh: MeshConfig = field(default_factory=MeshConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    limits: PoseLimits = field(default_factory=PoseLimits)


@dataclass
class GeneratorInputs:
    """Per target frame: the rendered face ``y~_t`` (+ mask) and the matched reference ``y_ts``."""

    rendered: np.ndarray  # (T, H, W, 3) uint8, y~_t (black off the face)
    mask: np.ndarray  # (T, H, W) float32 blending weight of y~_t
    matched: np.ndarray  # (T, H, W, 3) uint8, y_ts
    matched_index: np.ndarray  # (T,) int64 index into the reference frames
    match_cost: np.ndarray  # (T,) float32 c_t of Eq. (2)
    depth: np.ndarray  # (T, H, W) float32 output-pixel depth of y~_t (+inf off the face)
    clamped: np.ndarray  # (T,) bool: target pose was beyond the PoseLimits
    #: (T, G, G, 2) coarse backward flow moving y_ts with the head (toolkit.render.align); None = not moved.
    #: ``matched`` stays the reference frame itself (the learned generator's input)
    background_flow: np.ndarray | None = None
    #: (T, H, W, 3) uint8 y_ts moved with the head (each frame of a cross-fade by its own flow, then mixed):
    #: what ``compose`` lays the render over; None = ``matched``
    background: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rendered.shape[0])


class Warp3D:
    """The 3D-aware module for one reference clip (mesh + rig + matcher)."""

    def __init__(
        self,
        reference_frames: np.ndarray,
        reference_track: TrackLike | ReferenceTrack | dict,
        config: Warp3DConfig | None = None,
    ) -> None:
        self.config = config or Warp3DConfig()
        frames = np.asarray(reference_frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ToolkitError(
                f"Reference frames must be uint8 (K, H, W, 3), got {frames.dtype} {frames.shape}.",
                "Decode the reference video with toolkit.io.media.read_video.",
            )
        track = (
            reference_track if isinstance(reference_track, ReferenceTrack) else ReferenceTrack.from_any(reference_track)
        )
        if track.landmarks.shape[0] != frames.shape[0]:
            raise ToolkitError(
                f"{frames.shape[0]} reference frames but {track.landmarks.shape[0]} tracked frames.",
                "Give the track of exactly the reference frames (ReferenceTrack.from_any(record, indices)).",
            )
        self.frames = frames
        self.track = track
        self.frame_size = (int(frames.shape[1]), int(frames.shape[2]))
        self.texture_outliers = np.zeros(frames.shape[0])
        #: reference frames resized to an output size, by size and frame index (see _reference_frames_at)
        self._resized: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        self.frontal_index = self._choose_frontal()
        k = self.frontal_index
        self.mesh: FaceMesh = build_face_mesh(
            frames[k],
            track.landmarks[k],
            track.rotation[k],
            track.translation[k],
            float(track.scale[k]),
            self.config.mesh,
            source_index=k,
        )
        ref68 = None if track.frontal68 is None else track.frontal68[k]
        self.rig: ExpressionRig = build_expression_rig(self.mesh, ref68)
        self.mouth: MouthInterior | None = None
        if self.config.mouth_from_references and track.frontal68 is not None:
            usable = None if track.detected is None else track.detected
            self.mouth = MouthInterior.from_references(
                self.mesh, frames, track.landmarks, track.frontal68, usable, self.config.mesh.open_mouth_min_area
            )

    def _choose_frontal(self) -> int:
        if self.config.frontal_index is not None:
            k = int(self.config.frontal_index)
            if not 0 <= k < self.frames.shape[0]:
                raise ToolkitError(
                    f"frontal_index {k} is outside the {self.frames.shape[0]} reference frames.",
                    "Give an index into the reference frames, or None for the most frontal one.",
                )
            return k
        choice = choose_texture_frame(self.frames, self.track, self.config)
        self.texture_outliers = choice.outliers
        return choice.index

    # ------------------------------------------------------------------ main API

    def generator_inputs(
        self,
        pose: HeadPose,
        expression68: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        rank: int | np.ndarray = 0,
        match_state: MatchState | None = None,
    ) -> GeneratorInputs:
        """``y~_t`` (rendered face + mask) and ``y_ts`` (matched reference) for target poses, batched.

        Args:
            pose: the ``T`` target head poses (reference-frame pixels).
            expression68: optional ``(T, 68, 3)`` canonical-frame target expression (e.g. ``frontal68``).
            exclude, rank, match_state: passed to :func:`toolkit.render.matcher.match_motion`
                (``match_state``: consecutive video frames, with hysteresis and cross-fade).
        """
        rot, trans, s = pose.rotation, pose.translation, pose.scale
        n = len(pose)
        if expression68 is not None and np.asarray(expression68).reshape(-1, 68, 3).shape[0] != n:
            raise ToolkitError(
                f"Target expression has {np.asarray(expression68).shape[0]} frames for {n} target poses.",
                "Give one expression per target frame.",
            )
        h_target = pose.motion
        match = match_motion(
            h_target, self.track.head_motion, self.config.matcher, s, rank=rank, exclude=exclude, state=match_state
        )
        out_size = self.config.output_size or self.frame_size
        oh, ow = out_size
        # frames per batch: the batch's scratch (triangle ids, barycentrics) stays near 64 frames' worth at 256
        bs = max(1, min(int(self.config.batch_size), BATCH_PIXELS // (oh * ow)))
        # written batch by batch by the rasteriser and shader themselves (no per-batch arrays copied in)
        rendered = np.zeros((n, oh, ow, 3), np.uint8)
        mask = np.zeros((n, oh, ow), np.float32)
        depth = np.empty((n, oh, ow), np.float32)  # cleared to +inf by the rasteriser
        triangle = np.empty((min(n, bs), oh, ow), np.int32)  # scratch shared by the batches
        barycentric = np.empty((min(n, bs), oh, ow, 3), np.float32)
        clamped = np.zeros(n, bool)
        flow = np.zeros((n, FLOW_GRID, FLOW_GRID, 2), np.float32) if self.config.align_background else None
        # -1: no cross-fade at that frame (a matcher result without fades has none anywhere)
        fade_from = match.fade_from if match.fade_from is not None else np.full(n, -1, np.int64)
        fading = bool((fade_from >= 0).any())
        fades = np.flatnonzero(fade_from >= 0)
        fade_flow = np.zeros((len(fades), FLOW_GRID, FLOW_GRID, 2), np.float32) if flow is not None else None
        for start in range(0, n, bs):
            sl = slice(start, min(n, start + bs))
            m = sl.stop - sl.start
            offsets = None
            driven = expression68 is not None and self.config.drive_expression
            if driven:
                target68 = np.asarray(expression68, np.float32).reshape(-1, 68, 3)[sl]
                offsets = self.rig.offsets(target68, self.config.expression_gain)
            proj = project_mesh(
                self.mesh,
                rot[sl],
                trans[sl],
                s[sl],
                offsets=offsets,
                output_size=out_size,
                backend=self.config.backend,
                limits=self.config.limits,
                into=ProjectionBuffers(rendered[sl], mask[sl], depth[sl], triangle[:m], barycentric[:m]),
            )
            if driven and self.mouth is not None and proj.fragments is not None:
                self.mouth.paint(
                    proj.image,
                    proj.fragments.triangle,
                    proj.fragments.barycentric,
                    self.mouth.choose(target68),
                    proj.vertices[:, mediapipe_topology().mouth, :2],
                )
            if flow is not None:
                flow[sl] = self._background_flow(match.index[sl], proj.vertices, out_size)
            if fade_flow is not None:
                here = (fades >= sl.start) & (fades < sl.stop)
                if here.any():
                    t = fades[here]
                    fade_flow[here] = self._background_flow(fade_from[t], proj.vertices[t - sl.start], out_size)
            clamped[sl] = proj.clamp.clamped if proj.clamp is not None else False
        own = self._reference_frames_at(match.index, out_size)  # a fresh array: cross-faded in place below
        # only the frames where a cross-fade runs need the frame fading out
        faded = self._reference_frames_at(fade_from[fades], out_size) if fading else None
        background = None
        if flow is not None:
            # each frame of a cross-fade moved by its own flow: the fading-out frame's head sits elsewhere
            background = np.empty_like(own)  # written frame by frame (no list of frames stacked afterwards)
            for i in range(len(own)):
                move_with_flow(own[i], flow[i], out=background[i])
            if faded is not None and fade_flow is not None:
                moved_faded = np.empty_like(faded)
                for j in range(len(fades)):
                    move_with_flow(faded[j], fade_flow[j], out=moved_faded[j])
                _crossfade_in_place(background, moved_faded, match, fades)
        matched = own
        if faded is not None:
            _crossfade_in_place(matched, faded, match, fades)
        return GeneratorInputs(rendered, mask, matched, match.index, match.cost, depth, clamped, flow, background)

    def render(
        self, pose: HeadPose, expression68: np.ndarray | None = None, exclude: np.ndarray | None = None
    ) -> np.ndarray:
        """The 3D-warp baseline: composed output frames ``(T, H, W, 3)`` uint8."""
        return compose(self.generator_inputs(pose, expression68, exclude=exclude))

    def held_pose(self, n: int) -> HeadPose:
        """The texture frame's own pose, held for ``n`` frames (the head as in the mesh's source frame)."""
        mesh = self.mesh
        return HeadPose.held(mesh.source_rotation, mesh.source_translation, mesh.source_scale, n)

    # ------------------------------------------------------------------ helpers

    def _background_flow(self, matched: np.ndarray, posed: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Coarse flow moving each matched frame's face outline (oval + outer ring) onto the posed mesh's."""
        oval = mediapipe_topology().oval
        ring = np.arange(self.mesh.n_vertices - len(oval), self.mesh.n_vertices)
        factor = size[1] / float(self.frame_size[1])
        tr = self.track
        # the ring in the matched frame: the mesh's ring at that frame's pose, riding on its tracked oval
        at_match = self.mesh.posed(tr.rotation[matched], tr.translation[matched], tr.scale[matched])
        tracked_oval = tr.landmarks[matched][:, oval, :2]
        src_ring = at_match[:, ring, :2] + (tracked_oval - at_match[:, oval, :2])
        source = np.concatenate([tracked_oval, src_ring], axis=1) * factor
        target = np.concatenate([posed[:, oval, :2], posed[:, ring, :2]], axis=1)
        # moved whole: the matched head's outline (where it is) and the rendered one (where it goes)
        outline = np.stack([src_ring * factor, posed[:, ring, :2]], axis=1)
        return background_flow(source, target, size, outline=outline)

    def _reference_frames_at(self, index: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A fresh ``(len(index), H, W, 3)`` array of the reference frames ``index`` at ``size``.

        Each reference frame is resized once per size and kept (a few frames; every output frame is one of
        them), not once per output frame.
        """
        index = np.asarray(index, np.int64)
        if size == self.frame_size:
            return self.frames[index]
        import cv2

        resized = self._resized.setdefault(size, {})
        out = np.empty((len(index), size[0], size[1], 3), np.uint8)
        for i, k in enumerate(index.tolist()):
            frame = resized.get(k)
            if frame is None:
                frame = resized[k] = cv2.resize(self.frames[k], (size[1], size[0]), interpolation=cv2.INTER_AREA)
            out[i] = frame
        return out


@dataclass
class TextureChoice:
    """The mesh's texture frame and why (per-frame scores of the reference frames)."""

    index: int
    outliers: np.ndarray  # (K,) fraction of face landmarks whose colour is an outlier (occlusion)
    eyes: np.ndarray  # (K,) eye openness
    mouth: np.ndarray  # (K,) inner-lip gap / mouth width (0 = closed)
    pose_cost: np.ndarray  # (K,) sum of |rotation| (rad)


def choose_texture_frame(
    frames: np.ndarray, track: ReferenceTrack, config: Warp3DConfig | None = None
) -> TextureChoice:
    """The reference frame the mesh is textured from: frontal, unoccluded, eyes open, mouth near neutral.

    The paper's ``t_M`` is the frame of minimum rotation. Its eyes and mouth become every rendered
    frame's (a blink there means closed eyes throughout; an open mouth a stretched one), so among the
    detected, unoccluded frames with open eyes, those within ``texture_pose_slack`` radians of the most
    frontal one compete on pose and mouth closure together.
    """
    cfg = config or Warp3DConfig()
    cost = np.abs(track.rotation.astype(np.float64)).sum(axis=1)
    ok = np.isfinite(track.landmarks).all(axis=(1, 2))
    if track.detected is not None:
        ok &= track.detected
    if not ok.any():
        raise ToolkitError(
            "No reference frame has a detected, finite face track to build the mesh from.",
            "Give reference frames where the face is visible.",
        )
    # not occluded: a frame whose face colours disagree with the other frames' (a hand, a microphone)
    # would bake the occluder into the texture
    outliers = texture_outliers(frames, track.landmarks)
    clean = ok & (outliers <= outliers[ok].min() + cfg.max_extra_occlusion)
    # not blinking: the source frame's eyes are the rendered eyes of every frame
    eyes = np.nan_to_num(eye_openness(track.landmarks), nan=0.0)
    open_eyes = clean & (eyes >= cfg.min_eye_openness * np.percentile(eyes[clean], 80))
    if open_eyes.any():
        clean = open_eyes
    mouth = np.zeros(len(cost))
    if track.frontal68 is not None:
        from toolkit.render.lips import lip_opening

        mouth = lip_opening(np.nan_to_num(track.frontal68.astype(np.float64)))
    near = clean & (cost <= cost[clean].min() + cfg.texture_pose_slack)
    score = cost / max(cfg.texture_pose_slack, 1e-9) + mouth / max(cfg.texture_mouth_unit, 1e-9)
    index = int(np.argmin(np.where(near, score, np.inf)))
    return TextureChoice(index, outliers, eyes, mouth, cost)


def _crossfade_in_place(frames: np.ndarray, faded: np.ndarray, match: MatchResult, rows: np.ndarray) -> None:
    """``frames[rows]`` cross-faded with ``faded`` (one frame per row), frame by frame in place with the
    arithmetic of :func:`toolkit.render.matcher.crossfade_frames` (no copies of the fading frames)."""
    assert match.fade_from is not None and match.fade_weight is not None
    for j, t in enumerate(np.asarray(rows).tolist()):
        crossfade_pixels(frames[t], faded[j], float(match.fade_weight[t]), out=frames[t])


def compose(inputs: GeneratorInputs, use_numba: bool | None = None, in_place: bool = False) -> np.ndarray:
    """Blend the rendered face over the matched reference frame: ``m y~ + (1 - m) y_ts``.

    ``y_ts`` moved with the head (``inputs.background``) when the inputs carry one. ``in_place``: the
    frames are written over that background (for a caller done with the inputs: no new frame buffers).
    """
    background = inputs.matched if inputs.background is None else inputs.background
    out = background if in_place and background.flags.c_contiguous and background.dtype == np.uint8 else None
    return blend(inputs.rendered, inputs.mask, background, use_numba, out=out)


def record_generator_inputs(
    record: Any,
    reference_ids: Sequence[int] | np.ndarray,
    target_ids: Sequence[int] | np.ndarray,
    frames: np.ndarray | None = None,
    drive_expression: bool = True,
    rank: int | np.ndarray = 0,
    config: Warp3DConfig | None = None,
) -> GeneratorInputs:
    """``y~_t``, mask and ``y_ts`` for frames of a preprocessed clip (training / evaluation helper).

    Args:
        record: a ``ClipRecord`` (``toolkit.data.records.load_clip``).
        reference_ids: the reference frames ``y_1..K`` (mesh source and matcher candidates).
        target_ids: frames whose true pose (and, with ``drive_expression``, true ``frontal68``) is rendered.
        frames: the record's decoded frames, if already in memory.
        rank: Eq. (2) rank (0 = nearest; > 0 perturbs ``y_ts`` as the paper does in training).

    A target frame that is itself a reference is never matched to itself.
    """
    ref_ids = np.asarray(reference_ids, np.int64)
    tgt_ids = np.asarray(target_ids, np.int64)
    all_frames = record.frames() if frames is None else frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warp = Warp3D(all_frames[ref_ids], ReferenceTrack.from_any(record, ref_ids), config)
    position = {int(r): i for i, r in enumerate(ref_ids)}
    exclude = np.array([position.get(int(t), -1) for t in tgt_ids], np.int64)
    if len(ref_ids) < 2:
        exclude[:] = -1
    expr = np.asarray(record.frontal68)[tgt_ids] if drive_expression else None
    return warp.generator_inputs(record.pose[tgt_ids], expr, exclude=exclude, rank=rank)


def warp3d_method(
    reference_frames: np.ndarray,
    reference_track: TrackLike | ReferenceTrack | dict,
    target: HeadPose,
    target_expression68: np.ndarray | None = None,
    config: Warp3DConfig | None = None,
) -> np.ndarray:
    """The benchmarking suite's ``3d-warp`` method.

    Args:
        reference_frames: ``(K, H, W, 3)`` uint8, the reference frames ``y_1:K``.
        reference_track: their track and head motion (``ClipRecord`` restricted to the
            reference frames via ``ReferenceTrack.from_any(record, indices)``, or any object /
            dict with ``landmarks``, ``rotation``, ``translation``, ``scale`` and optionally
            ``frontal68``, ``detected``).
        target: the ``T`` target head poses.
        target_expression68: optional ``(T, 68, 3)`` canonical-frame expression (``frontal68``);
            ``None`` keeps the frontal frame's expression (pose-only warp).
        config: :class:`Warp3DConfig`.

    Returns:
        ``(T, H, W, 3)`` uint8 frames at ``config.output_size`` (default: reference size).
    """
    with warnings.catch_warnings():
        # mesh warnings (tiny face, profile-ish frontal frame) are recorded on the mesh
        warnings.simplefilter("ignore")
        warp = Warp3D(reference_frames, reference_track, config or baseline_config())
    return warp.render(target, target_expression68)


__all__ = [
    "BASELINE_OUTLINE_WEIGHT",
    "GeneratorInputs",
    "ReferenceTrack",
    "TextureChoice",
    "Warp3D",
    "Warp3DConfig",
    "baseline_config",
    "choose_texture_frame",
    "compose",
    "record_generator_inputs",
    "warp3d_method",
]
