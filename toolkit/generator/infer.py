"""Video synthesis with a trained generator (what the pipeline and the benchmark's ``ours`` call).

:func:`synthesize_frames` takes numpy arrays in the project's conventions (uint8 RGB frames,
landmarks in pixels of those frames), resizes everything to the generator's size, encodes the K
references once, generates the target frames in batches and returns uint8 frames at the size of
the reference frames::

    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.infer import synthesize_frames
    from toolkit.render.warp3d import Warp3D

    g = load_generator()                      # checkpoints/generator
    w3d = Warp3D(ref_frames, ref_track)       # the 3D-aware module
    gi = w3d.generator_inputs(pose, expression68)   # pose: a toolkit.motion.HeadPose per target frame
    frames = synthesize_frames(g, ref_frames, ref_lm68, target_lm68, gi.rendered, gi.mask,
                               gi.matched, matched_landmarks68=ref_lm68[gi.matched_index],
                               render_landmarks68=target_lm68)

``render_landmarks68`` are the landmarks of the render (the target pose; with an expression-driven
render, the target's mouth); passing the target landmarks is a close approximation when the render
is driven by the target expression, which is how the shipped model was trained.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.generator.landmark_image import landmark_image


class SynthesisInputError(ToolkitError):
    code = "bad-synthesis-input"


def model_images(frames: np.ndarray, size: int):  # -> torch.Tensor (N, 3, size, size) in [-1, 1]
    """uint8 frames (N, H, W, 3) as the generator's input images."""
    import torch

    x = _resize(np.asarray(frames, np.uint8), size).astype(np.float32) / 127.5 - 1
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def model_landmark_images(landmarks68: np.ndarray, size: int, source_size: int):  # -> (N, 1, size, size)
    """Landmark images of (N, 68, 2|3) points given in pixels of ``source_size`` frames."""
    import torch

    return torch.from_numpy(np.stack([landmark_image(p[:, :2], size, source_size) for p in landmarks68]))[:, None]


def model_masks(masks: np.ndarray, size: int):  # -> torch.Tensor (N, 1, size, size) in [0, 1]
    import torch

    m = np.asarray(masks).astype(np.float32)
    if m.max(initial=0) > 1:
        m = m / 255.0
    return torch.from_numpy(_resize_mask(m, size))[:, None]


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    import cv2

    interp = cv2.INTER_AREA if frames.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])


def synthesize_frames(
    generator,  # toolkit.generator.model.Generator
    ref_frames: np.ndarray,
    ref_landmarks68: np.ndarray,
    target_landmarks68: np.ndarray,
    rendered: np.ndarray | None,
    render_mask: np.ndarray | None,
    matched: np.ndarray,
    render_landmarks68: np.ndarray | None = None,
    matched_landmarks68: np.ndarray | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    reference_cache=None,  # toolkit.generator.embedding.ReferenceCache of these references, or None
) -> np.ndarray:
    """Generate ``T`` frames ``(T, H, W, 3)`` uint8 at the reference frames' size.

    Args:
        ref_frames: ``(K, H, W, 3)`` uint8 references (square face crops).
        ref_landmarks68, target_landmarks68: ``(K|T, 68, 2|3)`` in pixels of the reference frames.
        rendered, render_mask: y~_t ``(T, H, W, 3)`` uint8 and ``(T, H, W)`` in [0, 1] (or uint8);
            may be None for a ``no_3d_aware`` generator.
        matched: y_ts ``(T, H, W, 3)`` uint8.
        render_landmarks68, matched_landmarks68: landmarks of y~_t and y_ts (optional flow hints).
        reference_cache: :func:`encode_references` of the same references (a video's chunks reuse
            it: the references are encoded once per video); None encodes them here.
    """
    import torch

    ref_frames = np.asarray(ref_frames)
    if ref_frames.ndim != 4 or ref_frames.shape[-1] != 3 or ref_frames.shape[1] != ref_frames.shape[2]:
        raise SynthesisInputError(
            f"Reference frames must be square uint8 (K, S, S, 3), got {ref_frames.shape}.",
            "Pass the preprocessed face crops.",
        )
    src = int(ref_frames.shape[1])
    size = int(generator.config.image_size)
    n = int(np.asarray(target_landmarks68).shape[0])
    for name, arr in (("matched", matched), ("rendered", rendered)):
        if arr is not None and np.asarray(arr).shape[0] != n:
            raise SynthesisInputError(f"{name} has {np.asarray(arr).shape[0]} frames for {n} target landmarks.")

    def img_t(frames: np.ndarray) -> torch.Tensor:
        return model_images(frames, size)

    def lm_t(lms: np.ndarray) -> torch.Tensor:
        return model_landmark_images(lms, size, src)

    dev = torch.device(device)
    generator = generator.to(dev).eval()
    out = np.zeros((n, src, src, 3), np.uint8)
    with torch.inference_mode():
        cache = reference_cache
        if cache is None:
            cache = encode_references(generator, ref_frames, ref_landmarks68, device)
        for start in range(0, n, batch_size):
            sl = slice(start, min(n, start + batch_size))
            tgt = lm_t(np.asarray(target_landmarks68)[sl]).to(dev)
            rend = mask = rl = None
            if rendered is not None:
                rend = img_t(np.asarray(rendered)[sl]).to(dev)
                mask = model_masks(np.asarray(render_mask)[sl], size).to(dev)
            if render_landmarks68 is not None:
                rl = lm_t(np.asarray(render_landmarks68)[sl]).to(dev)
            ml = lm_t(np.asarray(matched_landmarks68)[sl]).to(dev) if matched_landmarks68 is not None else None
            res = generator.generate(cache, tgt, rend, mask, img_t(np.asarray(matched)[sl]).to(dev), rl, ml)
            if getattr(generator, "residual", False) and src != size:
                out[sl] = _to_uint8(_residual_at_source_size(res, rendered, render_mask, matched, sl, dev))
            else:
                out[sl] = _resize(_to_uint8(res.image), src)
    return out


def encode_references(generator, ref_frames: np.ndarray, ref_landmarks68: np.ndarray, device: str = "cpu"):
    """The generator's target-independent embedding of K square uint8 reference crops (once per video)."""
    import torch

    size, src = int(generator.config.image_size), int(np.asarray(ref_frames).shape[1])
    generator = generator.to(torch.device(device)).eval()
    with torch.inference_mode():
        return generator.encode_references(
            model_images(np.asarray(ref_frames), size)[None].to(device),
            model_landmark_images(np.asarray(ref_landmarks68), size, src)[None].to(device),
        )


def _to_uint8(images):  # (B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _residual_at_source_size(res, rendered, render_mask, matched, sl: slice, dev):
    """A residual generator's frames at the references' own size, not upsampled from its own.

    The flows are resolution-free (normalised grid units), so they warp the full-size render and
    matched frame; the decoder's correction is upsampled and added. Only the correction is
    limited to the generator's resolution, the texture it corrects keeps the source's detail.
    """
    import torch
    import torch.nn.functional as F

    from toolkit.generator.composition import warp
    from toolkit.generator.model import composite_base, with_synthesis

    size = int(np.asarray(matched).shape[1])  # square source frames: model_* leave them at their size

    def up(t):
        return F.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False)

    # one upsampling per flow, shared by the image and the mask it moves; one for the decoder's maps together
    # (correction, blend, synthesis and its weight): the same values as upsampling each, fewer passes
    sources = {"matched": model_images(np.asarray(matched)[sl], size).to(dev)}
    if "render" in res.flows or "render" in res.warped:
        sources["render"] = model_images(np.asarray(rendered)[sl], size).to(dev)
        m = model_masks(np.asarray(render_mask)[sl], size).to(dev)
    warped, warped_mask = {}, None
    for name, img in sources.items():
        flow = res.flows.get(name)
        full_flow = up(flow) if flow is not None else None
        warped[name] = warp(img, full_flow) if full_flow is not None else img
        if name == "render":
            warped_mask = warp(m, full_flow, padding_mode="zeros") if full_flow is not None else m
    maps = [res.raw] + [t for t in (res.blend, res.synthesis, res.synthesis_weight) if t is not None]
    maps = list(up(torch.cat(maps, dim=1)).split([t.shape[1] for t in maps], dim=1))
    raw = maps.pop(0)
    blend = maps.pop(0) if res.blend is not None else None
    with torch.inference_mode():
        image = (composite_base(warped, warped_mask, blend) + raw).clamp(-1, 1)
        if res.synthesis is not None:  # mouth synthesis: drawn at the generator's size, upsampled
            image = with_synthesis(image, maps[0], maps[1])
        return image


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape[1] == size:
        return mask.astype(np.float32)
    import cv2

    return np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) for m in mask]).astype(np.float32)
