"""Hybrid embedding module (paper Sec. 4.2, Fig. 4, Eq. (3)-(7)).

Four sub-networks:

* activation encoder E_A: landmark image -> feature map; ``alpha_k = softmax_k(E_A(l_k) * E_A(l_t))``
  (Eq. 3). The product is element-wise and the softmax runs over the K references, so
  ``alpha`` has one weight per reference, channel and location.
* image encoder E_I and landmark encoder E_L: two stride-2 convolutions give ``q_y_k`` /
  ``q_l_k``; an *information exchange* block mixes the two modalities (concatenate, two 1x1
  bottleneck layers), the hybrid feature is concatenated with the original one and a 1x1
  bottleneck gives the refined ``q'_k``; a *ConvGate* block self-aggregates the K
  references; the attention combine of Eq. (6) is ``q = sum_k alpha_k * q'_k + ConvGate(q_1:K)``;
  further stride-2 convolutions give ``e_y`` / ``e_l``.
* fusion network E_F (Eq. 7): ``theta = E_FP(softmax(E_FL(e_l)) * E_FI(e_y))`` with an N-layer
  image-feature encoder E_FI, a landmark-feature encoder E_FL (one pooled vector per decoder
  layer each) and per-layer perceptrons E_FP that emit the decoder's dynamic weights
  ``{theta_gamma, theta_beta, theta_S}``.

Choices where the paper is silent (following few-shot vid2vid, whose design the paper builds on):

* ``e_y`` stays a spatial map at the decoder's coarsest level: it is the decoder's input (the
  paper's "appearance vector e_y^i" that SPADE denormalises), as the reference features are
  spatial in few-shot vid2vid's weight-generation network.
* ConvGate works per reference (the K features are reshaped into the batch, two 1x1 bottleneck
  layers give gate logits, a softmax over K weights the references). A gate that reshapes K into
  channels would fix K at training time; this one accepts any K at inference, as the paper needs.
* The dynamic weights are scaled by ``1/sqrt(fan_in)`` (as in few-shot vid2vid's generated
  convolutions), so their variance does not depend on the layer width.
* ``softmax(E_FL(e_l))`` is multiplied by its length d, so that a uniform landmark attention
  leaves ``E_FI(e_y)`` unchanged (a plain softmax would shrink it by 1/d).

Any K >= 1 works at inference; everything that depends only on the references is computed
once by :meth:`HybridEmbedding.encode_references` and reused for every target frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.generator.config import GeneratorConfig


def conv_block(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2), nn.LeakyReLU(0.2, inplace=True))


@dataclass
class DynamicLevelParams:
    """Generated weights for one resolution level j (the paper's decoder layer i = N - j + 1).

    ``conv_*`` is theta_S (the landmark-encoder convolution that produces level j from j-1),
    ``gamma_*`` / ``beta_*`` are theta_gamma / theta_beta (convolutions from phi_lt^j to the
    SPADE scale and bias of decoder layer i). Weights carry a leading batch dimension.
    """

    conv_w: torch.Tensor  # (B, c_j, c_{j-1}, 3, 3)
    conv_b: torch.Tensor  # (B, c_j)
    gamma_w: torch.Tensor  # (B, dec_j, c_j, k, k)
    gamma_b: torch.Tensor  # (B, dec_j)
    beta_w: torch.Tensor
    beta_b: torch.Tensor


@dataclass
class ReferenceCache:
    """Everything the embedding computes from the K references alone (target-independent)."""

    k: int
    qy_refined: torch.Tensor  # (B, K, C, h, w): q'_y_k (or q_y_k for the averaging ablation)
    ql_refined: torch.Tensor  # (B, K, C, h, w)
    gate_y: torch.Tensor | None  # (B, C, h, w): ConvGate(q_y_1:K)
    gate_l: torch.Tensor | None
    act_refs: torch.Tensor | None  # (B, K, C, h, w): E_A(l_k)


@dataclass
class EmbeddingOutput:
    e_y: torch.Tensor  # (B, dec_N, H / 2**N, W / 2**N): decoder input
    e_l: torch.Tensor
    params: list[DynamicLevelParams]  # index j - 1 for level j = 1..N
    alpha: torch.Tensor | None  # (B, K, C, h, w) activation map of Eq. (3) at q_level; None when averaging


class InfoExchange(nn.Module):
    """Concatenate image and landmark features, two 1x1 bottleneck layers -> hybrid feature."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(conv_block(2 * channels, channels, 1), conv_block(channels, channels, 1))

    def forward(self, q_y: torch.Tensor, q_l: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([q_y, q_l], dim=1))


class ConvGate(nn.Module):
    """Self-aggregation of K reference features: per-reference gate logits, softmax over K."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 2, 4)
        self.net = nn.Sequential(conv_block(channels, hidden, 1), nn.Conv2d(hidden, channels, 1))

    def forward(self, q: torch.Tensor) -> torch.Tensor:  # q: (B, K, C, h, w)
        logits = self.net(q.flatten(0, 1)).view_as(q)
        return (torch.softmax(logits, dim=1) * q).sum(dim=1)


class FusionNetwork(nn.Module):
    """E_F of Eq. (7): E_FI, E_FL (N layers each, pooled per layer) and per-layer perceptrons E_FP."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        n, d = cfg.n_layers, cfg.fusion_dim
        c_in = cfg.dec_channels(n)
        self.e_fi = nn.ModuleList([conv_block(c_in if i == 0 else d, d) for i in range(n)])
        self.e_fl = nn.ModuleList([conv_block(c_in if i == 0 else d, d) for i in range(n)])
        # one perceptron per decoder layer i; layer i drives level j = N - i + 1
        self.shapes: list[dict[str, tuple[int, ...]]] = []
        heads = []
        for i in range(1, n + 1):
            j = n - i + 1
            c_prev, c_j, dec_j = cfg.lmk_channels(j - 1), cfg.lmk_channels(j), cfg.dec_channels(j)
            kd = cfg.dynamic_spade_kernel
            shapes = {
                "conv_w": (c_j, c_prev, 3, 3),
                "conv_b": (c_j,),
                "gamma_w": (dec_j, c_j, kd, kd),
                "gamma_b": (dec_j,),
                "beta_w": (dec_j, c_j, kd, kd),
                "beta_b": (dec_j,),
            }
            self.shapes.append(shapes)
            total = sum(math.prod(s) for s in shapes.values())
            heads.append(
                nn.Sequential(
                    nn.Linear(d, cfg.fusion_hidden),
                    nn.LayerNorm(cfg.fusion_hidden),
                    nn.LeakyReLU(0.2, inplace=True),
                    nn.Linear(cfg.fusion_hidden, total),
                )
            )
        self.e_fp = nn.ModuleList(heads)
        self.n_layers = n

    def forward(self, e_l: torch.Tensor, e_y: torch.Tensor) -> list[DynamicLevelParams]:
        fi, fl = e_y, e_l
        by_level: dict[int, DynamicLevelParams] = {}
        for i in range(self.n_layers):
            fi = self.e_fi[i](fi)
            fl = self.e_fl[i](fl)
            v_i, v_l = fi.mean(dim=(2, 3)), fl.mean(dim=(2, 3))
            mixed = torch.softmax(v_l, dim=1) * v_l.shape[1] * v_i
            flat = self.e_fp[i](mixed)
            parts: dict[str, torch.Tensor] = {}
            offset = 0
            for name, shape in self.shapes[i].items():
                size = math.prod(shape)
                raw = flat[:, offset : offset + size].reshape(flat.shape[0], *shape)
                offset += size
                if name.endswith("_w"):
                    fan_in = math.prod(shape[1:])
                    # conv feeding a LeakyReLU: Kaiming-like gain; SPADE gamma/beta: unit gain
                    gain = 6.0 if name == "conv_w" else 3.0
                    raw = raw * math.sqrt(gain / fan_in)
                else:
                    raw = raw * 0.1
                parts[name] = raw
            by_level[self.n_layers - i] = DynamicLevelParams(**parts)
        return [by_level[j] for j in range(1, self.n_layers + 1)]


def _stride2_stack(c_in: int, c_out: int, n: int) -> nn.Sequential:
    """``n`` stride-2 convolutions whose widths grow from c_in to c_out."""
    layers: list[nn.Module] = []
    c = c_in
    for s in range(n):
        nxt = c_out if s == n - 1 else min(c_in * 2 ** (s + 1), c_out)
        layers.append(conv_block(c, nxt, 3, 2))
        c = nxt
    return nn.Sequential(*layers)


class HybridEmbedding(nn.Module):
    """E_A, E_I, E_L and E_F: (references, reference landmarks, target landmark) -> e_y, theta."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ab = cfg.ablation.resolved()
        self.hybrid = not ab.no_hybrid_attention
        q = cfg.embed_q_channels
        c_e = cfg.dec_channels(cfg.n_layers)
        # the "two convolutional layers" that extract q_y / q_l (level q_level)
        self.img_q = nn.Sequential(conv_block(3, q // 2, 3, 2), conv_block(q // 2, q, 3, 2))
        self.lmk_q = nn.Sequential(conv_block(1, q // 2, 3, 2), conv_block(q // 2, q, 3, 2))
        if self.hybrid:
            self.act_encoder = nn.Sequential(conv_block(1, q // 2, 3, 2), nn.Conv2d(q // 2, q, 3, 2, 1))  # E_A
            self.exchange = InfoExchange(q)
            self.img_refine = conv_block(2 * q, q, 1)  # bottleneck on [hybrid, q_y]
            self.lmk_refine = conv_block(2 * q, q, 1)
            self.img_gate = ConvGate(q)
            self.lmk_gate = ConvGate(q)
        # "several convolutional layers" from the q level to level N
        self.img_out = _stride2_stack(q, c_e, cfg.n_layers - cfg.q_level)
        self.lmk_out = _stride2_stack(q, c_e, cfg.n_layers - cfg.q_level)
        self.down = cfg.embed_downsample
        self.fusion = FusionNetwork(cfg)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.down) if self.down > 1 else x

    # ------------------------------------------------------------------ references (cacheable)
    def encode_references(self, ref_images: torch.Tensor, ref_landmarks: torch.Tensor) -> ReferenceCache:
        """ref_images (B, K, 3, H, W) in [-1, 1]; ref_landmarks (B, K, 1, H, W) in [0, 1]."""
        b, k = ref_images.shape[:2]
        imgs, lmks = self._pool(ref_images.flatten(0, 1)), self._pool(ref_landmarks.flatten(0, 1))
        q_y = self.img_q(imgs)
        q_l = self.lmk_q(lmks)
        if not self.hybrid:
            return ReferenceCache(k, q_y.unflatten(0, (b, k)), q_l.unflatten(0, (b, k)), None, None, None)
        hybrid = self.exchange(q_y, q_l)
        qy_refined = self.img_refine(torch.cat([hybrid, q_y], dim=1)).unflatten(0, (b, k))
        ql_refined = self.lmk_refine(torch.cat([hybrid, q_l], dim=1)).unflatten(0, (b, k))
        q_y5, q_l5 = q_y.unflatten(0, (b, k)), q_l.unflatten(0, (b, k))
        act_refs = self.act_encoder(lmks).unflatten(0, (b, k))
        return ReferenceCache(k, qy_refined, ql_refined, self.img_gate(q_y5), self.lmk_gate(q_l5), act_refs)

    # ------------------------------------------------------------------ per target frame
    def forward_cached(self, cache: ReferenceCache, target_landmark: torch.Tensor) -> EmbeddingOutput:
        """target_landmark (B, 1, H, W) in [0, 1]; ``cache`` from :meth:`encode_references`."""
        if self.hybrid:
            act_t = self.act_encoder(self._pool(target_landmark)).unsqueeze(1)  # (B, 1, C, h, w)
            alpha = torch.softmax(cache.act_refs * act_t, dim=1)  # Eq. (3), softmax over K
            q_y = (alpha * cache.qy_refined).sum(dim=1) + cache.gate_y  # Eq. (6)
            q_l = (alpha * cache.ql_refined).sum(dim=1) + cache.gate_l
        else:
            alpha = None
            q_y = cache.qy_refined.mean(dim=1)
            q_l = cache.ql_refined.mean(dim=1)
        e_y = self.img_out(q_y)
        e_l = self.lmk_out(q_l)
        params = self.fusion(e_l, e_y)  # Eq. (7)
        return EmbeddingOutput(e_y=e_y, e_l=e_l, params=params, alpha=alpha)

    def forward(
        self, ref_images: torch.Tensor, ref_landmarks: torch.Tensor, target_landmark: torch.Tensor
    ) -> EmbeddingOutput:
        return self.forward_cached(self.encode_references(ref_images, ref_landmarks), target_landmark)


def expand_cache(cache: ReferenceCache, batch: int) -> ReferenceCache:
    """Repeat a batch-1 cache for ``batch`` target frames (one video, many frames at once)."""

    def rep(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None or t.shape[0] == batch:
            return t
        return t.expand(batch, *t.shape[1:])

    return ReferenceCache(
        cache.k, rep(cache.qy_refined), rep(cache.ql_refined), rep(cache.gate_y), rep(cache.gate_l), rep(cache.act_refs)
    )


def batched_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """A different convolution for every sample: x (B, Cin, H, W), weight (B, Cout, Cin, k, k)."""
    b, c_in, h, w = x.shape
    c_out, k = weight.shape[1], weight.shape[-1]
    if k == 1 and stride == 1:
        out = torch.einsum("bchw,boc->bohw", x, weight[..., 0, 0])
    else:
        out = F.conv2d(
            x.reshape(1, b * c_in, h, w), weight.reshape(b * c_out, c_in, k, k), None, stride, k // 2, groups=b
        )
        out = out.view(b, c_out, out.shape[-2], out.shape[-1])
    return out + bias[:, :, None, None]
