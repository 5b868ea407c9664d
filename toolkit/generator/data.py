"""Training samples for the generator from ``toolkit preprocess`` records + the 3D module's renders.

A sample (one target frame of one clip) holds, at ``image_size`` (tensors, channels first):

=====================  ===============  ===================================================
``ref_images``         (K, 3, S, S)     K reference frames of the same clip, [-1, 1]
``ref_landmarks``      (K, 1, S, S)     their landmark images, [0, 1]
``target_landmark``    (1, S, S)        landmark image l_t of the target frame
``target``             (3, S, S)        the real target frame y_t (what G must produce)
``rendered``           (3, S, S)        y~_t: the frontal frame's textured mesh posed by h_t
``render_mask``        (1, S, S)        where the render covers the face
``render_landmark``    (1, S, S)        landmark image of the render (pose of t, expression of t_M)
``matched``            (3, S, S)        y_ts: the reference with the nearest head motion (Eq. 2)
``matched_landmark``   (1, S, S)
``*_points``           (68, 2)          target / render / matched landmarks in pixels of S
``*_index``            (K,) / ()        frame numbers of references, target and matched frame
=====================  ===============  ===================================================

Choices:

* References are drawn from the whole clip (not only its first tau frames, as at test time):
  with the few clips available here this shows the network more pose pairs per clip.
* Motion matcher (Eq. 2, the 3D module's weighted cost ``toolkit.render.matcher.motion_cost``, as at
  inference): the reference of least cost among the K; with probability
  ``matcher_perturb_prob`` another reference is used instead (the paper's "increasing the cost
  c_t" during training, so the composition copes with a poor match). Without the 3D-aware module
  (ablation) the first reference stands in for the matched frame.
* Renders come from ``toolkit.render.Warp3D`` (mesh from the most frontal of the first tau
  frames); by default its rig also drives mouth and jaw with the frame's expression
  (``data.render_drive_expression``, as the pipeline does at inference). Render landmarks are the
  frontal frame's frontalised landmarks placed by the target's pose, ``s_t R_t f_{t_M} + T_t`` -
  the transform Eq. (1) applies to the mesh - with jaw and mouth taken from the target when driven.
* Whole samples are mirrored with probability ``hflip_prob`` (landmark correspondences hold
  under a mirror, so the flow supervision stays valid).

Decoded frames and renders are cached per clip as ``.npy`` files (memory-mapped while training)
under ``data.renders`` (default ``<records>/generator_cache``):
``<clip_id>/frames_<S>.npy`` (T, S, S, 3) uint8, ``render_<S>.npy`` (T, S, S, 3) uint8 and
``mask_<S>.npy`` (T, S, S) uint8. :func:`build_cache` fills it (renders via ``toolkit.render``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import InputFileError, ToolkitError
from toolkit.generator.config import AblationConfig, GeneratorDataConfig
from toolkit.generator.landmark_image import landmark_image
from toolkit.io.atomic import write_json_atomic

#: render_fn(record, image_size) -> (rendered (T, S, S, 3) uint8, mask (T, S, S) in [0, 1] or uint8,
#: meta {"frontal_index": t_M, "drive_expression": bool})
RenderFn = Callable[[Any, int], tuple[np.ndarray, np.ndarray, dict[str, Any]]]


class RenderCacheMissingError(ToolkitError):
    code = "render-cache-missing"


def posed_landmarks(record: Any, frontal_index: int, targets: np.ndarray) -> np.ndarray:
    """Landmarks of frame ``frontal_index``'s expression in the pose of each target frame: (T, 68, 3)."""
    from toolkit.motion.disentangle import apply_motion

    return apply_motion(record.frontal68[frontal_index], record.pose[targets])


@dataclass
class _Clip:
    clip_id: str
    speaker: str
    record: Any
    frames: np.ndarray  # (T, S, S, 3) uint8 memmap
    render: np.ndarray | None
    mask: np.ndarray | None
    scale: float  # record pixels -> sample pixels
    render_points: np.ndarray | None  # (T, 68, 2) in sample pixels
    #: data.heldout_targets: build_heldout_cache's arrays ("rendered", "mask", "matched": one per target) and
    #: "meta" (its json), plus "open": indices of the targets with an open mouth
    heldout: dict[str, Any] | None = None


def default_cache_dir(data: GeneratorDataConfig) -> Path:
    return Path(data.renders) if data.renders else Path(data.records) / "generator_cache"


def _resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    import cv2

    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def _save_npy(path: Path, array: np.ndarray) -> None:
    from toolkit.io.atomic import atomic_path

    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


#: iBUG-68 points the expression rig of toolkit.render moves with the target expression (jaw, mouth)
DRIVEN_POINTS_68 = np.r_[0:17, 48:68]


def render_clip_for_generator(
    record: Any, image_size: int, tau: int = 64, drive_expression: bool = True
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """y~_t and its mask for every frame of a clip, with the 3D-aware module (``toolkit.render.Warp3D``).

    The mesh is built from the most frontal of the first ``tau`` frames (the paper's y_tM among
    y_1:tau) and posed by every frame's head motion (Eq. 1). With ``drive_expression`` the
    module's expression rig also moves mouth and jaw to the frame's expression (what the
    3D-warp baseline and the generation pipeline do); without it the render keeps y_tM's
    expression, as in the paper.
    """
    import warnings

    from toolkit.render.warp3d import ReferenceTrack, Warp3D, Warp3DConfig

    frames = record.frames()
    refs = np.arange(min(tau, record.n_frames))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w3d = Warp3D(
            frames[refs], ReferenceTrack.from_any(record, refs), Warp3DConfig(output_size=(image_size, image_size))
        )
        gi = w3d.generator_inputs(record.pose, record.frontal68 if drive_expression else None)
    meta = {"frontal_index": int(refs[w3d.frontal_index]), "drive_expression": drive_expression, "tau": int(len(refs))}
    return gi.rendered, gi.mask, meta


def render_points_for(record: Any, meta: dict[str, Any]) -> np.ndarray:
    """68 landmarks of the render of every frame (record pixels, (T, 68, 2)): Eq. (1) on y_tM's points."""
    all_t = np.arange(record.n_frames)
    pts = posed_landmarks(record, int(meta["frontal_index"]), all_t)
    if meta.get("drive_expression"):
        pts[:, DRIVEN_POINTS_68] = record.landmarks68[:, DRIVEN_POINTS_68]
    return pts[..., :2]


def build_cache(
    data: GeneratorDataConfig,
    image_size: int,
    clip_ids: Sequence[str] | None = None,
    render_fn: RenderFn | None = None,
    with_renders: bool = True,
    progress: bool = True,
) -> Path:
    """Decode frames (and render y~_t for every frame) of each record into the cache folder."""
    from toolkit.data.records import done_clip_ids, load_clip

    cache = default_cache_dir(data)
    ids = list(clip_ids) if clip_ids is not None else done_clip_ids(data.records)
    for n, cid in enumerate(ids):
        folder = cache / cid
        frames_path = folder / f"frames_{image_size}.npy"
        render_path, mask_path = folder / f"render_{image_size}.npy", folder / f"mask_{image_size}.npy"
        rec = None
        if not frames_path.exists():
            rec = load_clip(data.records, cid)
            folder.mkdir(parents=True, exist_ok=True)
            _save_npy(frames_path, _resize_frames(rec.frames(), image_size))
        meta_path = folder / f"render_{image_size}.json"
        if with_renders and not (render_path.exists() and mask_path.exists() and meta_path.exists()):
            rec = rec or load_clip(data.records, cid)
            if render_fn is not None:
                rendered, mask, meta = render_fn(rec, image_size)
            else:
                rendered, mask, meta = render_clip_for_generator(
                    rec, image_size, data.tau, data.render_drive_expression
                )
            _save_npy(render_path, np.ascontiguousarray(rendered, dtype=np.uint8))
            m = np.asarray(mask, np.float32)
            if m.max(initial=0.0) <= 1.0:  # bool or soft mask in [0, 1]
                m = m * 255.0
            _save_npy(mask_path, np.clip(np.round(m), 0, 255).astype(np.uint8))
            write_json_atomic(meta_path, meta)
        if progress:
            print(f"[generator cache] {n + 1}/{len(ids)} {cid}", flush=True)
    return cache


#: targets rendered per clip by :func:`build_heldout_cache` (evenly spaced; bounds the cost of long clips)
HELDOUT_MAX_TARGETS = 96


def heldout_split(n_frames: int, tau: int) -> tuple[int, np.ndarray]:
    """(reference window length, target frames) of a clip: references among the first ``min(tau, n // 2)``
    frames, targets after them (at most :data:`HELDOUT_MAX_TARGETS`, evenly spaced), as the benchmark
    splits a clip (first tau frames for reference, the rest to generate)."""
    n_ref = max(1, min(tau, n_frames // 2))
    targets = np.arange(n_ref, n_frames)
    if len(targets) > HELDOUT_MAX_TARGETS:
        targets = targets[np.linspace(0, len(targets) - 1, HELDOUT_MAX_TARGETS).round().astype(np.int64)]
    return n_ref, targets


def render_heldout_for_generator(record: Any, image_size: int, tau: int = 64, k: int = 8, seed: int = 0) -> dict:
    """The generator's inputs for a clip's later frames, made as ``--renderer generator`` makes them.

    References: K frames of the first ``min(tau, n // 2)`` (t_M among them, ``sample_reference_indices``);
    the 3D-aware module is :class:`toolkit.pipeline.renderers.Warp3DRenderer` (``baseline=False``) on them:
    texture frame, mouth interior painted from the references, matcher, matched frame moved with the head.
    Targets are never among the references, so the render's mouth interior is not the target's own (with
    the first tau frames as references a short clip's render copied each target's teeth and cavity).
    """
    import warnings

    from toolkit.pipeline.config import GenerationConfig
    from toolkit.pipeline.renderers import Warp3DRenderer
    from toolkit.pipeline.stages import Reference, sample_reference_indices

    n_ref, targets = heldout_split(record.n_frames, tau)
    crops = record.frames()[:n_ref]
    window = slice(0, n_ref)
    frontal = int(np.argmin(np.abs(record.rotation[window]).sum(axis=1)))
    ref = Reference(
        crops=crops,
        landmarks=record.landmarks[window].astype(np.float32),
        landmarks68=record.landmarks68[window].astype(np.float32),
        pose=record.pose[window],
        frontal=record.frontal[window].astype(np.float32),
        frontal68=record.frontal68[window].astype(np.float32),
        frontal_index=frontal,
        k_indices=sample_reference_indices(n_ref, k, frontal, seed),
        crop_box=(0, 0, crops.shape[2], crops.shape[1]),
        frame_size=(int(crops.shape[1]), int(crops.shape[2])),
        detected=np.asarray(record.detected[window], bool),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renderer = Warp3DRenderer(ref, GenerationConfig(), baseline=False)
        gi = renderer.inputs(record.pose[targets], record.frontal68[targets])
    moved = gi.background if gi.background is not None else gi.matched
    return {
        "rendered": _resize_frames(np.asarray(gi.rendered, np.uint8), image_size),
        "mask": _resize_mask(np.asarray(gi.mask, np.float32), image_size),
        "matched": _resize_frames(np.asarray(moved, np.uint8), image_size),
        "meta": {
            "targets": targets.tolist(),
            "k_indices": ref.k_indices.tolist(),
            "matched": np.asarray(gi.matched_index, np.int64).tolist(),  # index into k_indices
            "texture_index": int(renderer.texture_index),
            "n_ref": n_ref,
            "tau": tau,
            "k": k,
            "seed": seed,
        },
    }


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape[1] == size and mask.shape[2] == size:
        return mask
    import cv2

    return np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) for m in mask])


def heldout_paths(folder: Path, image_size: int) -> dict[str, Path]:
    names = {"rendered": "render", "mask": "mask", "matched": "matched"}
    paths = {key: folder / f"heldout_{name}_{image_size}.npy" for key, name in names.items()}
    paths["meta"] = folder / f"heldout_{image_size}.json"
    return paths


def build_heldout_cache(
    data: GeneratorDataConfig, image_size: int, clip_ids: Sequence[str] | None = None, k: int = 8, progress: bool = True
) -> Path:
    """Frames + :func:`render_heldout_for_generator` of each clip into the cache (what ``heldout_targets`` reads)."""
    from toolkit.data.records import done_clip_ids, load_clip

    cache = default_cache_dir(data)
    ids = list(clip_ids) if clip_ids is not None else done_clip_ids(data.records)
    for n, cid in enumerate(ids):
        paths = heldout_paths(cache / cid, image_size)
        if not all(p.exists() for p in paths.values()):
            build_cache(data, image_size, [cid], with_renders=False, progress=False)
            rec = load_clip(data.records, cid)
            if rec.n_frames >= 2:
                made = render_heldout_for_generator(rec, image_size, data.tau, k)
                _save_npy(paths["rendered"], made["rendered"])
                _save_npy(paths["mask"], np.clip(np.round(made["mask"] * 255.0), 0, 255).astype(np.uint8))
                _save_npy(paths["matched"], made["matched"])
                write_json_atomic(paths["meta"], made["meta"])
        if progress:
            print(f"[generator heldout cache] {n + 1}/{len(ids)} {cid}", flush=True)
    return cache


class GeneratorDataset:
    """Random training samples (``sample(rng, k)``) from records + cache; speaker-disjoint split."""

    def __init__(
        self,
        data: GeneratorDataConfig,
        image_size: int,
        ablation: AblationConfig | None = None,
        split: str = "train",
        clip_ids: Sequence[str] | None = None,
    ) -> None:
        from toolkit.data.records import done_clip_ids, load_clip

        if not data.records or not Path(data.records).exists():
            raise InputFileError(
                f"Generator training data folder '{data.records}' does not exist.",
                "Set data.records (or --data) to a folder written by `toolkit preprocess`.",
            )
        self.data = data
        self.size = image_size
        self.ablation = (ablation or AblationConfig()).resolved()
        self.needs_render = not self.ablation.no_3d_aware
        cache = default_cache_dir(data)
        ids = list(clip_ids) if clip_ids is not None else self._split_ids(done_clip_ids(data.records), split)
        self.clips: list[_Clip] = []
        for cid in ids:
            rec = load_clip(data.records, cid)
            if rec.n_frames < 2:
                continue
            folder = cache / cid
            frames_path = folder / f"frames_{image_size}.npy"
            if not frames_path.exists():
                build_cache(data, image_size, [cid], with_renders=False, progress=False)
            frames = np.load(frames_path, mmap_mode="r")
            render = mask = points = heldout = None
            crop = float(rec.meta.get("crop_size", frames.shape[1]))
            scale = image_size / crop
            if data.heldout_targets:
                heldout = self._load_heldout(folder, rec)
            elif self.needs_render:
                rp, mp = folder / f"render_{image_size}.npy", folder / f"mask_{image_size}.npy"
                jp = folder / f"render_{image_size}.json"
                if not (rp.exists() and mp.exists() and jp.exists()):
                    raise RenderCacheMissingError(
                        f"No rendered frames for clip {cid} in {folder}.",
                        "Run `toolkit train generator --build-cache` first (needs toolkit.render), "
                        "or train a no_3d_aware ablation.",
                    )
                render, mask = np.load(rp, mmap_mode="r"), np.load(mp, mmap_mode="r")
                points = render_points_for(rec, json.loads(jp.read_text())) * scale
            self.clips.append(_Clip(cid, rec.speaker, rec, frames, render, mask, scale, points, heldout))
        if not self.clips:
            raise InputFileError(
                f"No usable clips for split '{split}' under {data.records}.",
                "Preprocess more clips, or check data.val_groups.",
            )
        lengths = np.array(
            [c.record.n_frames if c.heldout is None else len(c.heldout["meta"]["targets"]) for c in self.clips],
            np.float64,
        )
        self.weights = lengths / lengths.sum()

    def _load_heldout(self, folder: Path, rec: Any) -> dict[str, Any]:
        paths = heldout_paths(folder, self.size)
        if not all(p.exists() for p in paths.values()):
            raise RenderCacheMissingError(
                f"No held-out-target renders for clip {rec.clip_id} in {folder}.",
                "Build them first: toolkit.generator.data.build_heldout_cache (or set data.heldout_targets: false).",
            )
        out: dict[str, Any] = {key: np.load(p, mmap_mode="r") for key, p in paths.items() if key != "meta"}
        out["meta"] = json.loads(paths["meta"].read_text())
        from toolkit.render.lips import lip_opening

        targets = np.asarray(out["meta"]["targets"], np.int64)
        out["open"] = np.flatnonzero(lip_opening(rec.landmarks68[targets, :, :2]) >= self.data.open_mouth_min)
        return out

    def _heldout_choice(self, rng: np.random.Generator, clip: _Clip, k: int, target: int | None) -> dict[str, Any]:
        """Target, references and inputs of a ``heldout_targets`` sample (see :func:`build_heldout_cache`)."""
        assert clip.heldout is not None
        h, meta = clip.heldout, clip.heldout["meta"]
        targets = np.asarray(meta["targets"], np.int64)
        if target is not None:
            j = int(np.flatnonzero(targets == target)[0])
        elif len(h["open"]) and rng.random() < self.data.open_mouth_prob:
            j = int(rng.choice(h["open"]))
        else:
            j = int(rng.integers(len(targets)))
        k_indices = np.asarray(meta["k_indices"], np.int64)
        matched = int(k_indices[int(meta["matched"][j])])
        if k == 1:
            refs = np.array([matched], np.int64)
        elif len(k_indices) == k:
            refs = k_indices
        else:
            refs = np.sort(rng.choice(k_indices, size=k, replace=len(k_indices) < k))
        return {
            "t": int(targets[j]),
            "refs": refs,
            "matched": matched,
            # the matched frame as the pipeline hands it over: moved with the head (toolkit.render.align)
            "matched_image": h["matched"][j],
            "rendered": h["rendered"][j],
            "mask": h["mask"][j],
        }

    def _split_ids(self, ids: list[str], split: str) -> list[str]:
        if self.data.clips_file:
            path = Path(self.data.clips_file)
            if not path.exists():
                raise InputFileError(f"data.clips_file {path} does not exist.", "Give a file of clip ids, one a line.")
            wanted = {line.strip() for line in path.read_text().splitlines() if line.strip()}
            ids = [cid for cid in ids if cid in wanted]
        if split == "all":
            return ids
        from toolkit.data.records import load_clip
        from toolkit.learners.split import DEFAULT_VAL_GROUPS, speaker_split

        pairs = [(cid, load_clip(self.data.records, cid).speaker) for cid in ids]
        s = speaker_split(pairs, self.data.val_groups or DEFAULT_VAL_GROUPS)
        return s.train if split == "train" else s.val

    def describe(self) -> dict[str, Any]:
        return {
            "records": str(self.data.records),
            "clips": [c.clip_id for c in self.clips],
            "speakers": sorted({c.speaker for c in self.clips}),
            "frames": int(sum(c.record.n_frames for c in self.clips)),
            "image_size": self.size,
        }

    def __len__(self) -> int:
        return int(sum(c.record.n_frames for c in self.clips))

    # ------------------------------------------------------------------ one sample
    def sample(
        self,
        rng: np.random.Generator,
        k: int,
        clip_index: int | None = None,
        target: int | None = None,
        frames: np.ndarray | None = None,
    ) -> dict:
        """One training sample; ``frames`` restricts the target and the references to those frames."""
        import torch

        clip = self.clips[int(rng.choice(len(self.clips), p=self.weights)) if clip_index is None else clip_index]
        rec = clip.record
        n = rec.n_frames
        held = self._heldout_choice(rng, clip, k, target) if clip.heldout is not None else None
        if held is not None:
            t, refs, matched = held["t"], held["refs"], held["matched"]
        else:
            allowed = np.arange(n) if frames is None else np.asarray(frames, np.int64)
            t = int(rng.choice(allowed)) if target is None else int(target)
            pool = allowed[allowed != t]
            refs = rng.choice(pool, size=k, replace=len(pool) < k)
        if held is None and self.needs_render:
            from toolkit.render.matcher import motion_cost

            h = rec.head_motion
            order = np.argsort(motion_cost(h[t][None], h[refs])[0], kind="stable")  # Eq. (2) costs, ascending
            pick = order[0]
            if k > 1 and rng.random() < self.data.matcher_perturb_prob:
                pick = order[int(rng.integers(1, k))]
            matched = int(refs[pick])
        elif held is None:
            matched = int(refs[0])
        s = self.size

        def img(frame: np.ndarray) -> np.ndarray:
            return np.asarray(frame, np.float32).transpose(2, 0, 1) / 127.5 - 1.0

        def pts(index: int) -> np.ndarray:
            return rec.landmarks68[index, :, :2].astype(np.float32) * clip.scale

        out: dict[str, Any] = {
            "ref_images": np.stack([img(clip.frames[r]) for r in refs]),
            "ref_landmarks": np.stack([landmark_image(pts(r), s)[None] for r in refs]),
            "target_landmark": landmark_image(pts(t), s)[None],
            "target": img(clip.frames[t]),
            "matched": img(clip.frames[matched] if held is None else held["matched_image"]),
            "matched_landmark": landmark_image(pts(matched), s)[None],
            "target_points": pts(t),
            "matched_points": pts(matched),
        }
        if held is not None:
            out["rendered"] = img(held["rendered"])
            out["render_mask"] = (np.asarray(held["mask"], np.float32) / 255.0)[None]
            out["render_points"] = pts(t)  # what the pipeline passes as the render's landmarks
            out["render_landmark"] = landmark_image(out["render_points"], s)[None]
        elif self.needs_render:
            assert clip.render is not None and clip.mask is not None and clip.render_points is not None
            out["rendered"] = img(clip.render[t])
            out["render_mask"] = (np.asarray(clip.mask[t], np.float32) / 255.0)[None]
            out["render_points"] = clip.render_points[t].astype(np.float32)
            out["render_landmark"] = landmark_image(out["render_points"], s)[None]
        # frame indices, for inspection (the networks do not see them)
        out["ref_index"] = refs.astype(np.int64)
        out["target_index"] = np.asarray(t, np.int64)
        out["matched_index"] = np.asarray(matched, np.int64)
        if self.data.colour_jitter > 0:
            transform = random_colour_transform(rng, self.data.colour_jitter)
            for key in COLOUR_KEYS:
                if key in out:
                    out[key] = transform(out[key])
        if rng.random() < self.data.hflip_prob:
            for key, v in out.items():
                if v.ndim < 2:
                    continue
                if key.endswith("_points"):
                    v = v.copy()
                    v[:, 0] = s - v[:, 0]
                    out[key] = v
                else:
                    out[key] = np.ascontiguousarray(v[..., ::-1])
        return {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in out.items()}


#: sample entries that are colour images in [-1, 1] (channels first; references (K, 3, S, S))
COLOUR_KEYS: tuple[str, ...] = ("ref_images", "target", "matched", "rendered")


def random_colour_transform(rng: np.random.Generator, strength: float) -> Callable[[np.ndarray], np.ndarray]:
    """One random colour change for a whole sample: y = clip(M x + b), x in [0, 1] per pixel.

    M = per-channel gain x saturation around the grey axis x a rotation about it (hue); b a
    brightness offset. ``strength`` 1 means gains in [0.8, 1.2], saturation [0.6, 1.4], hue
    +-30 degrees, brightness +-0.1; the identity at 0.
    """
    gain = np.diag(1 + strength * rng.uniform(-0.2, 0.2, 3))
    sat = 1 + strength * rng.uniform(-0.4, 0.4)
    grey = np.full((3, 3), 1 / 3)
    saturation = grey + sat * (np.eye(3) - grey)
    angle = np.deg2rad(strength * rng.uniform(-30, 30))
    axis = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    hue = np.eye(3) * np.cos(angle) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(axis, axis)
    m = (hue @ saturation @ gain).astype(np.float32)
    b = np.float32(strength * rng.uniform(-0.1, 0.1))

    def apply(images: np.ndarray) -> np.ndarray:
        x = (images + 1) / 2  # (..., 3, H, W) in [0, 1]
        y = np.einsum("ij,...jhw->...ihw", m, x) + b
        return (np.clip(y, 0, 1) * 2 - 1).astype(np.float32)

    return apply


def collate(samples: Sequence[dict]) -> dict:
    """Stack samples (all with the same K) into a batch."""
    import torch

    keys = samples[0].keys()
    return {key: torch.stack([s[key] for s in samples]) for key in keys}
