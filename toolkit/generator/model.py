"""The generator of the 3D-aware generative network: hybrid embedding + non-linear composition.

Tensor conventions (all ``float32``, channels first):

* images (references, rendered y~_t, matched y_ts, output) in [-1, 1], ``(B, 3, H, W)``;
  references ``(B, K, 3, H, W)``;
* landmark images (see :mod:`toolkit.generator.landmark_image`) and the render mask in [0, 1],
  ``(B, 1, H, W)``; reference landmark images ``(B, K, 1, H, W)``.

``Generator(config)(refs, ref_lmks, target_lmk, rendered, render_mask, matched)`` returns the
image; ``return_aux=True`` returns a :class:`GeneratorOutput` with flows, warped inputs and
attention maps (what the flow loss and the sample grids need).

The landmark images of the two warp sources (``render_landmark``: the target pose with the
frontal frame's expression, i.e. the landmarks the 3D module's projector moves; and
``matched_landmark``: the matched reference's own landmarks) are optional extra inputs of the
flow networks, as vid2vid's FlowNet sees both label maps; when absent a zero image is used and
the flow network must infer the correspondence from the image alone.

For video generation the target-independent part of the embedding is computed once:
``cache = G.encode_references(refs, ref_lmks)`` then ``G.generate(cache, ...)`` per frame/batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from toolkit.errors import ToolkitError
from toolkit.generator.composition import (
    CompositionDecoder,
    DynamicLandmarkEncoder,
    FixedEncoder,
    FlowNetwork,
    warp,
)
from toolkit.generator.config import GeneratorConfig
from toolkit.generator.embedding import EmbeddingOutput, HybridEmbedding, ReferenceCache, expand_cache


class GeneratorInputError(ToolkitError):
    """Generator inputs have the wrong shape or are missing."""

    code = "bad-generator-input"


@dataclass
class GeneratorOutput:
    image: torch.Tensor  # (B, 3, H, W) in [-1, 1]
    raw: torch.Tensor  # decoder output before matting (== image for the direct non-linear composition)
    #: residual composition: the flow-warped 3D-warp composite the decoder's correction ``raw`` is added to
    base: torch.Tensor | None = None
    flows: dict[str, torch.Tensor] = field(default_factory=dict)  # "render"/"matched": (B, 2, H, W)
    attentions: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, 1, H, W) in [0, 1]
    warped: dict[str, torch.Tensor] = field(default_factory=dict)  # warped sources (B, 3, H, W)
    warped_mask: torch.Tensor | None = None  # warped render mask
    #: residual_blend "learned": b, the render's weight inside its mask is clamp(1 - b, 0, 1)
    blend: torch.Tensor | None = None
    #: mouth_synthesis: the decoder's synthesized frame (B, 3, H, W) and its weight a (B, 1, H, W)
    synthesis: torch.Tensor | None = None
    synthesis_weight: torch.Tensor | None = None
    embedding: EmbeddingOutput | None = None


class Generator(nn.Module):
    """Hybrid embedding (Sec. 4.2) + flow warping + non-linear composition (Sec. 4.3)."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        ab = config.ablation.resolved()
        self.ablation = ab
        self.use_render = not ab.no_3d_aware
        self.use_warp = not ab.no_warping
        self.nonlinear = not ab.no_nonlinear_composition
        self.sources: tuple[str, ...] = (("render",) if self.use_render else ()) + ("matched",)

        self.embedding = HybridEmbedding(config)
        self.landmark_encoder = DynamicLandmarkEncoder()
        residual = self.nonlinear and config.composition_output == "residual"
        if self.use_warp:
            # inputs: target landmark, source landmark, source image (+ render mask)
            learned_blend = residual and config.residual_blend == "learned"
            self.flow = nn.ModuleDict(
                {
                    s: FlowNetwork(6 if s == "render" else 5, config, blend=learned_blend and s == "render")
                    for s in self.sources
                }
            )
        if self.nonlinear:
            # warped image (3) + attention map when warping (1) + warped mask for the render (1)
            att = 1 if self.use_warp else 0
            self.encoders = nn.ModuleDict(
                {s: FixedEncoder(3 + att + (1 if s == "render" else 0), config) for s in self.sources}
            )
            self.residual = residual
            self.mouth_synthesis = residual and config.mouth_synthesis
            self.decoder = CompositionDecoder(
                config, self.sources, residual=self.residual, synthesis=self.mouth_synthesis
            )
        else:
            self.residual = False  # image matting blends the warped sources itself
            self.mouth_synthesis = False
            # image matting: without warping there is no FlowNet attention, the decoder predicts it
            extra = 0 if self.use_warp else len(self.sources)
            self.decoder = CompositionDecoder(config, (), extra_out=extra)

    # ------------------------------------------------------------------ public API
    def encode_references(self, ref_images: torch.Tensor, ref_landmarks: torch.Tensor) -> ReferenceCache:
        self._check_refs(ref_images, ref_landmarks)
        return self.embedding.encode_references(ref_images, ref_landmarks)

    def forward(
        self,
        ref_images: torch.Tensor,
        ref_landmarks: torch.Tensor,
        target_landmark: torch.Tensor,
        rendered: torch.Tensor | None = None,
        render_mask: torch.Tensor | None = None,
        matched: torch.Tensor | None = None,
        render_landmark: torch.Tensor | None = None,
        matched_landmark: torch.Tensor | None = None,
        return_aux: bool = False,
    ) -> torch.Tensor | GeneratorOutput:
        cache = self.encode_references(ref_images, ref_landmarks)
        out = self.generate(cache, target_landmark, rendered, render_mask, matched, render_landmark, matched_landmark)
        return out if return_aux else out.image

    def generate(
        self,
        cache: ReferenceCache,
        target_landmark: torch.Tensor,
        rendered: torch.Tensor | None = None,
        render_mask: torch.Tensor | None = None,
        matched: torch.Tensor | None = None,
        render_landmark: torch.Tensor | None = None,
        matched_landmark: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """Frames for ``target_landmark`` (B, 1, H, W) from a reference cache (batch 1 or B)."""
        b = target_landmark.shape[0]
        self._check_target(target_landmark, rendered, render_mask, matched)
        if cache.qy_refined.shape[0] != b:
            cache = expand_cache(cache, b)
        emb = self.embedding.forward_cached(cache, target_landmark)
        zeros = torch.zeros_like(target_landmark)
        src_img = {"render": rendered, "matched": matched}
        src_lmk = {
            "render": render_landmark if render_landmark is not None else zeros,
            "matched": matched_landmark if matched_landmark is not None else zeros,
        }
        out = GeneratorOutput(image=target_landmark, raw=target_landmark, embedding=emb)
        mask = render_mask if render_mask is not None else torch.ones_like(target_landmark)
        for s in self.sources:
            img = src_img[s]
            if self.use_warp:
                inp = [target_landmark, src_lmk[s], img] + ([mask] if s == "render" else [])
                flow, att, blend = self.flow[s](torch.cat(inp, dim=1))
                out.flows[s], out.attentions[s] = flow, att
                if blend is not None:
                    out.blend = blend
                out.warped[s] = warp(img, flow)
                if s == "render":
                    out.warped_mask = warp(mask, flow, padding_mode="zeros")
            else:
                out.warped[s] = img
                if s == "render":
                    out.warped_mask = mask

        phi_lt = self.landmark_encoder(target_landmark, emb.params)
        if self.nonlinear:
            phi_fixed = {}
            for s in self.sources:
                parts = [out.warped[s]]
                if self.use_warp:
                    parts.append(out.attentions[s])
                if s == "render":
                    parts.append(out.warped_mask)
                phi_fixed[s] = self.encoders[s](torch.cat(parts, dim=1))
            image, extra = self.decoder(emb.e_y, phi_lt, emb.params, phi_fixed)
            out.image = out.raw = image
            if self.residual:
                out.base = composite_base(out.warped, out.warped_mask, out.blend)
                out.image = (out.base + image).clamp(-1, 1)
                if extra is not None:  # mouth synthesis
                    out.synthesis, out.synthesis_weight = extra[:, :3], extra[:, 3:4]
                    out.image = with_synthesis(out.image, out.synthesis, out.synthesis_weight)
            return out

        raw, extra = self.decoder(emb.e_y, phi_lt, emb.params, {})
        if extra is not None:  # no warping: decoder-predicted matting weights
            for n, s in enumerate(self.sources):
                out.attentions[s] = extra[:, n : n + 1]
        # image matting (Sec. 2.2), matched frame first, then the render on top inside its mask
        image = out.attentions["matched"] * out.warped["matched"] + (1 - out.attentions["matched"]) * raw
        if self.use_render:
            a = out.attentions["render"] * out.warped_mask
            image = a * out.warped["render"] + (1 - a) * image
        out.raw, out.image = raw, image
        return out

    # ------------------------------------------------------------------ checks
    def _check_refs(self, ref_images: torch.Tensor, ref_landmarks: torch.Tensor) -> None:
        s = self.config.image_size
        if ref_images.ndim != 5 or ref_images.shape[2] != 3 or tuple(ref_images.shape[-2:]) != (s, s):
            raise GeneratorInputError(
                f"Reference images must be (B, K, 3, {s}, {s}), got {tuple(ref_images.shape)}.",
                f"Resize the face crops to {s}x{s} and stack K references per sample.",
            )
        if ref_landmarks.shape != (*ref_images.shape[:2], 1, s, s):
            raise GeneratorInputError(
                f"Reference landmark images must be {(*ref_images.shape[:2], 1, s, s)}, "
                f"got {tuple(ref_landmarks.shape)}.",
                "Rasterise one landmark image per reference (toolkit.generator.landmark_image).",
            )

    def _check_target(
        self,
        target_landmark: torch.Tensor,
        rendered: torch.Tensor | None,
        render_mask: torch.Tensor | None,
        matched: torch.Tensor | None,
    ) -> None:
        s = self.config.image_size
        b = target_landmark.shape[0]
        if target_landmark.shape != (b, 1, s, s):
            raise GeneratorInputError(
                f"Target landmark image must be (B, 1, {s}, {s}), got {tuple(target_landmark.shape)}."
            )
        needed = {"matched": matched}
        if self.use_render:
            needed["rendered"] = rendered
        for name, t in needed.items():
            if t is None:
                raise GeneratorInputError(
                    f"The generator needs the {name} image, got None.",
                    "Pass it (the 3D-aware module produces it), or use a no_3d_aware model.",
                )
            if t.shape != (b, 3, s, s):
                raise GeneratorInputError(f"{name} must be ({b}, 3, {s}, {s}), got {tuple(t.shape)}.")
        if self.use_render and render_mask is not None and render_mask.shape != (b, 1, s, s):
            raise GeneratorInputError(f"render_mask must be ({b}, 1, {s}, {s}), got {tuple(render_mask.shape)}.")


def composite_base(
    warped: dict[str, torch.Tensor], warped_mask: torch.Tensor | None, blend: torch.Tensor | None = None
) -> torch.Tensor:
    """The warped 3D-warp composite: the render over the matched frame inside the render mask.

    Without the 3D-aware module it is the warped matched frame. The same blend as the ``3d-warp``
    baseline (``m y~_t + (1 - m) y_ts``), after the flow networks' warps; with a learned ``blend``
    b the render's weight is ``m * clamp(1 - b, 0, 1)`` (b = 0: the baseline's blend).
    """
    if "render" not in warped:
        return warped["matched"]
    m = warped_mask if warped_mask is not None else torch.ones_like(warped["render"][:, :1])
    if blend is not None:
        m = m * (1 - blend).clamp(0, 1)
    return m * warped["render"] + (1 - m) * warped["matched"]


def with_synthesis(image: torch.Tensor, synthesis: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``(1 - a) image + a synthesis``: the decoder's synthesized pixels where its weight a says so."""
    return (1 - weight) * image + weight * synthesis


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
