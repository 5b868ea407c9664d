"""The pipeline's stages, each a thin adapter over the area that implements it.

This file is the seam between the pipeline and the rest of the toolkit: every
call into tracking, motion, the learners, the 3D-aware module and the generator
happens here, so a change in one of those areas is absorbed in one place.

Reference preparation follows the dataset builder (``toolkit.data.preprocess``)
so that the models see crops like the ones they were trained on: one fixed
square crop for the whole reference (chosen from a first tracking pass on the
full frames), frames resized to the output size, tracked again on the crop,
then the motion disentangler (head motion h_t, frontalised landmarks p_t,
most frontal frame t_M).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from toolkit.constants import SAMPLES_PER_FRAME, SYNTHETIC_KINDS, VIDEO_FPS
from toolkit.errors import InputFileError, NoFaceError
from toolkit.io.formats import AUDIO_SUFFIXES
from toolkit.motion.pose import HeadPose
from toolkit.pipeline.config import GenerationConfig, Source
from toolkit.pipeline.inputs import (
    MAX_WORK_SIDE,
    as_frame_array,
    check_file,
    is_image_path,
    limit_side,
    read_image,
)
from toolkit.pipeline.progress import StageClock

#: the first tracking pass (crop box) looks at every n-th reference frame only
_BOX_EVERY: int = 4


@dataclass
class Reference:
    """The prepared reference: face crops, their tracking and motion (typed arrays: no tracker or
    disentangler objects kept beside them), K sampled frames."""

    crops: np.ndarray  # (N, S, S, 3) uint8, the fixed face crop of every reference frame
    landmarks: np.ndarray  # (N, P, 3) float32, crop pixels
    landmarks68: np.ndarray  # (N, 68, 3) float32, crop pixels
    pose: HeadPose  # (N,) head poses of the reference frames (pose.motion: the paper's h_t)
    frontal: np.ndarray  # (N, P, 3) frontalised landmarks (canonical frame)
    frontal68: np.ndarray  # (N, 68, 3)
    frontal_index: int  # t_M, the most frontal frame
    k_indices: np.ndarray  # (K,) int, the reference frames given to the motion matcher / generator
    crop_box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the (possibly scaled) full frame
    frame_size: tuple[int, int]  # (H, W) of the full frame the box refers to
    #: full frames of the K sampled indices, for paste-back (empty otherwise)
    full_frames: dict[int, np.ndarray] = field(default_factory=dict)
    #: the reference's own speech, aligned with its frames (None for images / silent videos)
    audio: np.ndarray | None = None
    source: str = "array"
    is_still: bool = False
    #: (N,) bool: frames where the tracker found the face (the others are interpolated); None = every frame
    detected: np.ndarray | None = None
    #: (N,) bool: detected, or inside a short interpolated gap (FaceTrack.reliable); None = every frame
    reliable: np.ndarray | None = None
    #: objects built from this reference and reused (e.g. its renderer), keyed by name
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.crops.shape[0])

    @property
    def size(self) -> int:
        return int(self.crops.shape[1])

    @property
    def frontal_pose(self) -> HeadPose:
        """The pose of t_M, the most frontal frame (one frame)."""
        return self.pose[self.frontal_index]

    @property
    def identity68(self) -> np.ndarray:
        """p_{t,M}: the frontalised 68 landmarks of the most frontal frame (identity for Psi)."""
        return self.frontal68[self.frontal_index]


# ---------------------------------------------------------------------------- decoding
class _FrameSource:
    """The reference's frames, decoded as each pass needs them (never all at full size at once).

    Pass 1 (crop box) reads frames scaled to at most ``MAX_WORK_SIDE``; pass 2
    reads only the face crop, resized to the output size (ffmpeg crops and
    scales while decoding); paste-back reads the K sampled frames at the
    paste size. Arrays and images are handled the same way in numpy.
    """

    def __init__(self, reference: str | os.PathLike[str] | np.ndarray, limit: int) -> None:
        self.limit = limit
        self.path: Path | None = None
        self.array: np.ndarray | None = None
        self.info = None
        self.is_image = False
        if isinstance(reference, np.ndarray):
            self.array = as_frame_array(reference)[:limit]
            self.name = "array"
            self.is_image = self.array.shape[0] == 1
            self.size = self.array.shape[1:3]
            return
        path = check_file(reference, "reference")
        self.name = path.name
        if path.suffix.lower() in AUDIO_SUFFIXES:
            raise InputFileError(
                f"The reference '{path.name}' is an audio file.", "Give a video or a photo of the person's face."
            )
        if is_image_path(path):
            self.array = read_image(path)[None]
            self.is_image = True
            self.size = self.array.shape[1:3]
            return
        from toolkit.io.media import probe

        info = probe(path)
        if not info.has_video:
            raise InputFileError(
                f"The reference '{path.name}' has no video stream (it is an audio file).",
                "Give a video or a photo of the person's face.",
            )
        self.path, self.info = path, info
        self.is_image = bool(info.is_image)
        self.size = (int(info.height), int(info.width))

    @property
    def has_audio(self) -> bool:
        return self.info is not None and bool(self.info.has_audio) and not self.is_image

    def _scaled_size(self, max_side: int) -> tuple[int, int] | None:
        h, w = self.size
        if max(h, w) <= max_side or not h or not w:
            return None
        f = max_side / max(h, w)
        return max(2, round(w * f)), max(2, round(h * f))

    @property
    def work_to_full(self) -> float:
        """Factor from work-frame pixels (longer side <= MAX_WORK_SIDE) to full-frame pixels."""
        h, w = self.size
        return max(1.0, max(h, w) / MAX_WORK_SIDE)

    def _file(self) -> Path:
        """The reference's file (sources made from an array never read one)."""
        if self.path is None:
            raise RuntimeError("this reference was given as frames in memory; it has no file")
        return self.path

    def work_frames(self):
        """Frames with the longer side at most MAX_WORK_SIDE (see ``work_to_full``)."""
        if self.array is not None:
            for frame in self.array:
                yield limit_side(frame, MAX_WORK_SIDE)[0]
            return
        from toolkit.io.media import iter_frames

        size = self._scaled_size(MAX_WORK_SIDE)
        yield from iter_frames(self._file(), fps=VIDEO_FPS, size=size, max_frames=self.limit)

    def crops(self, box: tuple[int, int, int, int], size: int):
        if self.array is not None:
            for frame in self.array:
                yield _crop_resize(frame, box, size)
            return
        from toolkit.io.media import iter_frames

        yield from iter_frames(self._file(), fps=VIDEO_FPS, size=size, crop=box, max_frames=self.limit)

    def full_frames(self, indices: set[int], max_side: int) -> dict[int, np.ndarray]:
        """The frames at ``indices`` at their full size capped to ``max_side`` (for paste-back)."""
        out: dict[int, np.ndarray] = {}
        if self.array is not None:
            for i in indices:
                out[i] = limit_side(self.array[i], max_side)[0]
            return out
        from toolkit.io.media import iter_frames

        last = max(indices) + 1
        size = self._scaled_size(max_side)
        for i, frame in enumerate(iter_frames(self._file(), fps=VIDEO_FPS, size=size, max_frames=last)):
            if i in indices:
                out[i] = frame
        return out

    def audio(self, n_frames: int) -> np.ndarray | None:
        """The reference's own speech, aligned with its frames (n_frames * 640 samples), or None."""
        if not self.has_audio:
            return None
        from toolkit.constants import AUDIO_SAMPLE_RATE
        from toolkit.io.media import fit_audio, read_audio, stream_offset

        offset = round(stream_offset(self._file()) * AUDIO_SAMPLE_RATE)
        return fit_audio(read_audio(self._file(), sr=AUDIO_SAMPLE_RATE), n_frames * SAMPLES_PER_FRAME, offset)


def _landmark_box(landmarks: np.ndarray) -> np.ndarray:
    xy = landmarks[..., :2]
    return np.concatenate([xy.min(axis=-2), xy.max(axis=-2)], axis=-1)


def _crop_resize(frame: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    import cv2

    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[0] >= size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def prepare_reference(
    reference: str | os.PathLike[str] | np.ndarray,
    config: GenerationConfig,
    clock: StageClock,
    reference_indices: Sequence[int] | None = None,
    reference_audio: np.ndarray | None = None,
) -> Reference:
    """Decode, crop, track and disentangle the reference (image or video).

    ``reference_indices`` fixes the K frames (t_M is added); ``reference_audio`` gives the
    sound of a reference passed as an array (16 kHz, aligned with its frames).
    """
    from toolkit.data.preprocess import choose_crop_box

    with clock.stage("load"):
        source = _FrameSource(reference, config.reference_frames)
        # pass 1: count frames, keep every n-th (at the work size) for the crop box
        sparse: list[np.ndarray] = []
        n = 0
        for i, frame in enumerate(source.work_frames()):
            if i % _BOX_EVERY == 0:
                sparse.append(frame)
            n += 1
        if n == 0:
            raise InputFileError(f"The reference '{source.name}' contains no decodable frames.", "Check that it plays.")
    clock.report("load", 0.5, "reading the reference")

    with clock.stage("tracking"):
        coarse = _track(sparse, config.tracker, what=f"reference '{source.name}'", is_photo=source.is_image)
        detected = np.asarray(coarse.detected, bool)
        boxes = _landmark_box(np.asarray(coarse.landmarks)[detected]) * source.work_to_full
        box = choose_crop_box(boxes, source.size, config.crop_scale)
    del sparse
    clock.report("tracking", 0.3, "finding the face")

    # paste-back: rendered at about the face's size in the written frame (size 0 = auto), not upscaled
    paste_scale = min(1.0, config.max_paste_side / max(source.size))
    face_size = config.face_size((box[2] - box[0]) * paste_scale)
    with clock.stage("load"):
        crops = np.stack(list(source.crops(box, face_size)))[:n]
        ref_audio = source.audio(len(crops))
        if ref_audio is None and reference_audio is not None:
            from toolkit.io.media import fit_audio

            ref_audio = fit_audio(np.asarray(reference_audio, np.float32), len(crops) * SAMPLES_PER_FRAME)
    clock.report("load", 0.8, "reference decoded")

    with clock.stage("tracking"):
        track = _track(list(crops), config.tracker, what=f"reference '{source.name}'", is_photo=source.is_image)
        motion = _disentangle(track.landmarks, track)
    clock.report("tracking", 0.8, "reference tracked")

    frontal_index = int(motion.frontal_index)
    if reference_indices is not None:
        given = {int(i) for i in reference_indices if 0 <= int(i) < len(crops)}
        k_indices = np.array(sorted(given | {frontal_index}), np.int64)
    else:
        k_indices = sample_reference_indices(len(crops), config.k, frontal_index, config.seed)
    full_frames: dict[int, np.ndarray] = {}
    if config.output == "paste-back":
        with clock.stage("load"):
            full_frames = source.full_frames(set(k_indices.tolist()), config.max_paste_side)
    clock.report("load", 1.0, "reference ready")
    return Reference(
        crops=crops,
        landmarks=np.asarray(track.landmarks, np.float32),
        landmarks68=np.asarray(track.landmarks68, np.float32),
        pose=motion.pose,
        frontal=np.asarray(motion.frontal, np.float32),
        frontal68=np.asarray(motion.frontal68, np.float32),
        frontal_index=frontal_index,
        k_indices=k_indices,
        crop_box=tuple(int(v) for v in box),  # type: ignore[arg-type]
        frame_size=(int(source.size[0]), int(source.size[1])),
        full_frames=full_frames,
        audio=ref_audio,
        source=source.name,
        is_still=source.is_image or len(crops) == 1,
        detected=np.asarray(track.detected, bool),
        reliable=np.asarray(track.reliable, bool),
    )


# ---------------------------------------------------------------------------- seams to other areas
def _track(frames: list[np.ndarray], backend: str, what: str, is_photo: bool = False):
    """Face tracking (toolkit.tracking): FaceTrack with landmarks, landmarks68, detected."""
    from toolkit.tracking import make_tracker

    try:
        track = make_tracker(backend).track(frames)
    except NoFaceError as exc:
        if not is_photo:
            raise
        # the tracker speaks of videos and frames; a photo needs its own advice
        raise NoFaceError(
            f"No face was found in the photo {what.removeprefix('reference ')}.",
            "Use a photo where one face is clearly visible, front-on, well lit and not too small "
            "(at least about 100 pixels across).",
            frames=exc.frames,
        ) from None
    detected = np.asarray(track.detected, bool)
    if not detected.any():
        raise NoFaceError(
            f"No face was found in the {what}.",
            "Use a photo or video where one face is clearly visible, front-on and well lit.",
            frames=list(range(len(frames))),
        )
    return track


def _disentangle(landmarks: np.ndarray, track=None):
    """Motion disentangler (toolkit.motion): rotation, translation, scale, frontal(68), frontal_index.

    t_M is chosen among frames where the face was really seen (or inside a short filled gap).
    """
    from toolkit.motion import disentangle

    valid = None if track is None else np.asarray(track.reliable, bool)
    return disentangle(np.asarray(landmarks, np.float32), valid=valid)


def sample_reference_indices(n: int, k: int, frontal_index: int, seed: int) -> np.ndarray:
    """K reference frames (sorted): the most frontal one t_M plus K-1 drawn at random (seeded).

    The paper samples the K frames at random (Sec. 4.1); keeping t_M among them
    lets the motion matcher return the mesh's own frame for near-frontal poses.
    """
    k = min(max(1, k), n)
    others = np.array([i for i in range(n) if i != frontal_index], np.int64)
    rng = np.random.default_rng(seed)
    picked = rng.choice(others, size=k - 1, replace=False) if k > 1 else np.zeros(0, np.int64)
    return np.sort(np.concatenate([[frontal_index], picked]).astype(np.int64))


@dataclass
class DrivingTrack:
    """Head motion and expression taken from another video (motion or expression source)."""

    pose: HeadPose  # (T,)
    frontal68: np.ndarray  # (T, 68, 3)
    frontal_index: int
    source: str
    #: where its crops were cut: x0, y0, x1, y1 in its full frame of frame_size (H, W), crops crop_size px
    crop_box: tuple[int, int, int, int] | None = None
    frame_size: tuple[int, int] | None = None
    crop_size: int = 0


def track_driving_video(
    path: Path | np.ndarray, config: GenerationConfig, max_frames: int, clock: StageClock
) -> DrivingTrack:
    """Track another video (a file, or frames (T, H, W, 3) uint8 RGB) in chunks (bounded memory),
    keeping only its motion and expression."""
    from toolkit.data.preprocess import choose_crop_box

    if not isinstance(path, np.ndarray) and is_image_path(path):
        raise InputFileError(
            f"'{Path(path).name}' is an image.", "Motion or expression can be taken from a video only."
        )
    with clock.stage("load"):
        source = _FrameSource(path, max_frames)
        sparse, n = [], 0
        for i, frame in enumerate(source.work_frames()):
            if i % (_BOX_EVERY * 2) == 0:
                sparse.append(frame)
            n += 1
        if n == 0:
            raise InputFileError(f"'{source.name}' contains no decodable frames.", "Check that the file plays.")
    with clock.stage("tracking"):
        coarse = _track(sparse, config.tracker, what=f"driving video '{source.name}'")
        det = np.asarray(coarse.detected, bool)
        boxes = _landmark_box(np.asarray(coarse.landmarks)[det]) * source.work_to_full
        box = choose_crop_box(boxes, source.size, config.crop_scale)
    del sparse
    poses: list[HeadPose] = []
    fronts: list[np.ndarray] = []
    chunk: list[np.ndarray] = []

    def flush() -> None:
        with clock.stage("tracking"):
            tr = _track(chunk, config.tracker, what=f"driving video '{source.name}'")
            mo = _disentangle(tr.landmarks, tr)
        poses.append(mo.pose)
        fronts.append(np.asarray(mo.frontal68, np.float32))
        chunk.clear()

    crop_size = config.face_size()  # tracking only: the models' size
    crops = source.crops(box, crop_size)
    done = 0
    while True:
        with clock.stage("load"):
            frame = next(crops, None)
        if frame is None:
            break
        chunk.append(frame)
        done += 1
        if len(chunk) >= config.chunk_frames:
            flush()
            clock.report("tracking", 0.8 + 0.2 * done / n, f"tracking {source.name}")
    if chunk:
        flush()
    pose = HeadPose.concat(poses)
    rot_norm = np.linalg.norm(pose.rotation, axis=1)
    return DrivingTrack(
        pose,
        np.concatenate(fronts),
        int(np.argmin(rot_norm)),
        source.name,
        crop_box=tuple(int(v) for v in box),  # type: ignore[arg-type]
        frame_size=(int(source.size[0]), int(source.size[1])),
        crop_size=crop_size,
    )


# ---------------------------------------------------------------------------- motion sources
_Sequence = TypeVar("_Sequence", np.ndarray, HeadPose)


def loop_back_and_forth(sequence: _Sequence, n: int) -> _Sequence:
    """``n`` items of ``sequence`` (frames, poses) played forwards then backwards (no jump at the seam)."""
    from toolkit.timeline import back_and_forth

    return sequence[back_and_forth(n, len(sequence))]


def _rotations(axis_angle: np.ndarray):
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(axis_angle, np.float64).reshape(-1, 3))


def scale_motion(pose: HeadPose, centre: HeadPose, factor: float) -> HeadPose:
    """Scale the poses' deviation from the one-frame ``centre`` by ``factor`` (rotation on the rotation manifold)."""
    if abs(factor - 1.0) < 1e-9:
        return pose
    rel = (_rotations(pose.rotation) * _rotations(centre.rotation).inv()).as_rotvec() * factor
    from scipy.spatial.transform import Rotation

    rot = (Rotation.from_rotvec(rel) * _rotations(centre.rotation)).as_rotvec().astype(np.float32)
    trans = centre.translation + (pose.translation - centre.translation) * factor
    centre_scale = float(centre.scale[0])
    return HeadPose(rot, trans, centre_scale * (pose.scale / centre_scale) ** factor)


def read_motion_file(path: Path) -> np.ndarray:
    """A motion file: (T, 6) (or (T, 7) with scale last) array, .npy or .csv (header allowed)."""
    path = check_file(path, "motion")
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            arr = np.loadtxt(path, delimiter=",", ndmin=2, comments="#", skiprows=_csv_header_rows(path))
    except (ValueError, OSError) as exc:
        raise InputFileError(f"The motion file '{path.name}' could not be read: {exc}.", _MOTION_FILE_FIX) from None
    arr = np.asarray(arr, np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (6, 7) or len(arr) < 1 or not np.all(np.isfinite(arr)):
        raise InputFileError(
            f"The motion file '{path.name}' holds an array of shape {arr.shape}; (T, 6) finite values are needed.",
            _MOTION_FILE_FIX,
        )
    return arr


_MOTION_FILE_FIX = (
    "A motion file has one row per frame (25 fps): rotation as axis-angle in radians (3), then translation "
    "in crop pixels (3), optionally the scale; it is applied relative to its first row."
)


def _csv_header_rows(path: Path) -> int:
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
        return 0
    except ValueError:
        return 1


def still_motion(reference: Reference, n: int) -> HeadPose:
    pose = reference.frontal_pose
    return HeadPose.held(pose.rotation, pose.translation, float(pose.scale[0]), n)


def replay_reference_motion(reference: Reference, n: int) -> HeadPose:
    return loop_back_and_forth(reference.pose, n)


def motion_from_source(
    source: Source,
    reference: Reference,
    n: int,
    config: GenerationConfig,
    clock: StageClock,
    learned_fn: Callable[[], HeadPose],
) -> HeadPose:
    """Head poses (n,) for the requested source, before motion scaling."""
    if source.kind == "still":
        return still_motion(reference, n)
    if source.kind == "reference":
        return replay_reference_motion(reference, n)
    if source.kind == "learned":
        return learned_fn()
    if source.kind in SYNTHETIC_KINDS:  # Fig. 16: a nod, shake, tilt or circle around the frontal pose
        from toolkit.render.controls import synthetic_motion

        return synthetic_motion(
            source.kind,
            n,
            reference.frontal_pose,
            amplitude_deg=config.motion_amplitude,
            period_frames=config.motion_period * VIDEO_FPS,
        )
    if source.kind == "file":
        arr = loop_back_and_forth(read_motion_file(source.path), n)  # type: ignore[arg-type]
        # without a scale column the file keeps the reference's own face size
        scale = arr[:, 6] if arr.shape[1] == 7 else float(reference.frontal_pose.scale[0])
        driving = HeadPose.from_motion(arr[:, :6], scale)
        from toolkit.render.controls import retarget_motion

        return retarget_motion(driving, driving[0], reference.frontal_pose)
    return motion_from_track(track_driving_video(source.path, config, n, clock), reference, n)  # type: ignore[arg-type]


def motion_from_track(drv: DrivingTrack, reference: Reference, n: int, same_camera: bool = False) -> HeadPose:
    """A tracked driving video's head motion retargeted onto the reference (before motion scaling).

    ``same_camera``: the driving video was filmed by the reference's camera (self-reenactment: it is the
    reference clip's own continuation), so the head is put where it really is in that frame (its pose
    mapped from the driver's crop into the reference's) instead of relative to each clip's median.
    """
    driving = loop_back_and_forth(drv.pose, n)
    if same_camera and drv.crop_box is not None and drv.frame_size is not None and drv.crop_size > 0:
        return _pose_in_reference_crop(driving, drv, reference)
    # the rotation stays the driver's own (relative to the camera; the tracker's canonical face is shared):
    # anchored at the driver's most frontal frame, a driver that never faces the camera came out turned towards
    # it by that frame's angle (PC-AVS Pose_Source_741400163: 20 deg, so its landmark-driven render was judged
    # at the wrong pose). Translation and scale stay relative (the two videos' crops differ), around the
    # median of each clip rather than one frame of each: a single frame sits anywhere in the head's sway
    # (andrew_clip_2's landmark-driven render was 7 px off the real head, median over frames)
    anchor_rotation = drv.pose.rotation[drv.frontal_index]
    anchor = HeadPose(anchor_rotation, np.median(drv.pose.translation, axis=0), np.median(drv.pose.scale))
    target = HeadPose(
        anchor_rotation, np.nanmedian(reference.pose.translation, axis=0), np.nanmedian(reference.pose.scale)
    )
    from toolkit.render.controls import retarget_motion

    return retarget_motion(driving, anchor, target)


def _pose_in_reference_crop(driving: HeadPose, drv: DrivingTrack, reference: Reference) -> HeadPose:
    """Poses tracked in the driver's crop, expressed in the reference's crop of the same camera frame.

    A crop pixel is ``(full - box0) * size / side``, so a driver crop point ``l_d`` is the reference crop
    point ``a l_d + b`` with ``a = side_d / side_r`` (in the reference's crop pixels per driver crop pixel)
    and ``b = (box0_d - box0_r) size_r / side_r``: scale and translation are mapped, the rotation is kept.
    """
    assert drv.crop_box is not None and drv.frame_size is not None
    # the two boxes in one full-frame coordinate system (the reference's frame may have been scaled down)
    fy = reference.frame_size[0] / max(drv.frame_size[0], 1)
    fx = reference.frame_size[1] / max(drv.frame_size[1], 1)
    dx0, dy0, dx1, _ = drv.crop_box
    rx0, ry0, rx1, _ = reference.crop_box
    side_r = max(rx1 - rx0, 1)
    to_ref = reference.size / side_r  # reference crop pixels per full-frame pixel
    a = (dx1 - dx0) * fx / max(drv.crop_size, 1) * to_ref
    trans = driving.translation.astype(np.float64) * a
    trans[:, 0] += (dx0 * fx - rx0) * to_ref
    trans[:, 1] += (dy0 * fy - ry0) * to_ref
    return HeadPose(driving.rotation, trans, driving.scale.astype(np.float64) * a)


def expression_from_video(
    path: Path, reference: Reference, n: int, config: GenerationConfig, clock: StageClock
) -> np.ndarray:
    """Another video's expression transferred onto the reference identity (paper Fig. 16, upper part).

    The driver's frontalised landmarks minus its own neutral face (per-point
    median over the clip) are added to the reference identity p_{t,M}, scaled
    by the ratio of face sizes so a wide face opens its mouth as wide. The inner-lip gap is set to the
    driver's own (toolkit.render.lips): lips close exactly when the driver's do.
    """
    return expression_from_track(track_driving_video(path, config, n, clock), reference, n)


def expression_from_track(drv: DrivingTrack, reference: Reference, n: int) -> np.ndarray:
    """A tracked driving video's expression on the reference identity (see ``expression_from_video``)."""
    from toolkit.render.controls import transfer_expression

    # the reference's neutral face is its median over the frames where the face was really seen, as the
    # driver's is (identity68 alone would add t_M's own expression, e.g. a smile, to every frame)
    seen = np.ones(reference.n_frames, bool) if reference.reliable is None else reference.reliable
    return transfer_expression(drv.frontal68, reference.frontal68[seen if seen.any() else slice(None)], n)


def scale_expression(expression68: np.ndarray, identity68: np.ndarray, factor: float) -> np.ndarray:
    if abs(factor - 1.0) < 1e-9:
        return expression68
    return (identity68[None] + factor * (expression68 - identity68[None])).astype(np.float32)
