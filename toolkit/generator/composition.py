"""Non-linear composition module (paper Sec. 4.3, Fig. 6).

* :class:`FlowNetwork` - the vid2vid FlowNet role: from the target landmark image, the
  source's landmark image and the source image it estimates a dense flow that warps the
  source onto the target, plus an attention (confidence) map. One instance warps the
  rendered face y~_t, another the matched frame y_ts.
* :class:`DynamicLandmarkEncoder` - encodes the target landmark image l_t with the
  *generated* convolution weights theta_S; its intermediate features are phi_lt^i.
* :class:`FixedEncoder` - encodes a warped image (and its attention map) with fixed,
  learned weights; intermediate features phi_y~t^i / phi_yts^i.
* :class:`CompositionDecoder` - G: N layers, each with three parallel SPADE blocks acting
  on the same normalised input (one modulated by phi_lt^i through the generated theta_gamma,
  theta_beta, two by fixed convolutions on phi_y~t^i and phi_yts^i); the three denormalised
  features are summed and upsampled by a transposed convolution; tanh at the end (or, with
  ``composition_output: residual``, a zero-initialised linear correction of the warped composite).

Choices where the paper is silent (few-shot vid2vid's design unless said otherwise):

* The flow is predicted at ``1/flow_downsample`` of the image size and upsampled
  bilinearly; it is a displacement in normalised [-1, 1] grid units; its output layer starts
  at zero so the untrained network warps by the identity.
* The fixed encoders see the warped image concatenated with its attention map (and, for the
  render, its warped face mask), so the decoder knows where a warp is trustworthy; in the
  matting ablation those maps are the matting weights instead.
* SPADE normalisation is parameter-free instance normalisation (batch-size independent,
  identical at training and at inference with one frame). The three SPADE blocks share the
  normalised input, so it is computed once: ``sum_b (x_hat * (1 + gamma_b) + beta_b)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.generator.config import GeneratorConfig
from toolkit.generator.embedding import DynamicLevelParams, batched_conv, conv_block


def identity_grid(b: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Sampling grid (B, H, W, 2) that reproduces the input under ``grid_sample(align_corners=False)``."""
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).unsqueeze(0).expand(b, h, w, 2)


def warp(image: torch.Tensor, flow: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Backward warp: output(p) = image(p + flow(p)); flow (B, 2, H, W) in normalised units (x, y)."""
    b, _, h, w = flow.shape
    grid = identity_grid(b, h, w, flow.device, flow.dtype) + flow.permute(0, 2, 3, 1)
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=False)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.body(x), 0.2)


class FlowNetwork(nn.Module):
    """Small encoder-decoder: [l_t, l_source, source image (, mask)] -> (flow, attention)."""

    def __init__(self, in_channels: int, cfg: GeneratorConfig, blend: bool = False) -> None:
        super().__init__()
        f = cfg.flow_ngf
        self.down = cfg.flow_downsample
        self.encoder = nn.Sequential(
            conv_block(in_channels, f, 3, 2),
            conv_block(f, 2 * f, 3, 2),
            *[ResBlock(2 * f) for _ in range(cfg.flow_res_blocks)],
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * f, f, 3, 2, 1, output_padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.ConvTranspose2d(f, f, 3, 2, 1, output_padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.flow_head = nn.Conv2d(f, 2, 3, 1, 1)
        self.attention_head = nn.Conv2d(f, 1, 3, 1, 1)
        nn.init.zeros_(self.flow_head.weight)
        nn.init.zeros_(self.flow_head.bias)
        # residual_blend "learned": how much of the render's weight to give back to the matched frame
        self.blend_head = nn.Conv2d(f, 1, 3, 1, 1) if blend else None
        if self.blend_head is not None:
            nn.init.zeros_(self.blend_head.weight)
            nn.init.zeros_(self.blend_head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(flow, attention, blend); blend is None unless the network has a blend head."""
        h, w = x.shape[-2:]
        if self.down > 1:
            x = F.avg_pool2d(x, self.down)
        feat = self.decoder(self.encoder(x))
        maps = [self.flow_head(feat), torch.sigmoid(self.attention_head(feat))]
        if self.blend_head is not None:
            maps.append(self.blend_head(feat))
        if self.down > 1:  # one pass over the stacked maps (the same values as one each)
            stacked = F.interpolate(torch.cat(maps, dim=1), size=(h, w), mode="bilinear", align_corners=False)
            maps = list(stacked.split([m.shape[1] for m in maps], dim=1))
        return maps[0], maps[1], maps[2] if len(maps) > 2 else None


class FixedEncoder(nn.Module):
    """N stride-2 convolutions with fixed (learned) weights; returns the features of levels 1..N."""

    def __init__(self, in_channels: int, cfg: GeneratorConfig) -> None:
        super().__init__()
        layers = []
        c = in_channels
        for j in range(1, cfg.n_layers + 1):
            layers.append(conv_block(c, cfg.img_enc_channels(j), 3, 2))
            c = cfg.img_enc_channels(j)
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class DynamicLandmarkEncoder(nn.Module):
    """Encodes l_t with the generated weights theta_S (green arrows of Fig. 6): phi_lt^1..N."""

    def forward(self, landmark: torch.Tensor, params: list[DynamicLevelParams]) -> list[torch.Tensor]:
        feats = []
        x = landmark
        for p in params:  # level 1..N
            x = F.leaky_relu(batched_conv(x, p.conv_w, p.conv_b, stride=2), 0.2)
            feats.append(x)
        return feats


class FixedSpade(nn.Module):
    """SPADE scale/bias from a feature map by a fixed convolution (orange boxes of Fig. 6)."""

    def __init__(self, feat_channels: int, channels: int, kernel: int) -> None:
        super().__init__()
        # default (Kaiming-uniform) initialisation, as SPADE's gamma/beta convolutions: the warped
        # images' features reach the decoder from the first step
        self.conv = nn.Conv2d(feat_channels, 2 * channels, kernel, 1, kernel // 2)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gamma, beta = self.conv(feat).chunk(2, dim=1)
        return gamma, beta


class CompositionDecoder(nn.Module):
    """Decoder G: e_y at level N -> image at level 0 (tanh), SPADE-modulated at every level.

    ``branches`` names the fixed SPADE branches present ("render", "matched"); the landmark
    branch (dynamic weights) is always present. ``extra_out`` adds output channels (the
    matting ablation without warping predicts its own attention maps there).
    """

    def __init__(
        self,
        cfg: GeneratorConfig,
        branches: tuple[str, ...],
        extra_out: int = 0,
        residual: bool = False,
        synthesis: bool = False,
    ) -> None:
        super().__init__()
        n = cfg.n_layers
        self.n_layers = n
        self.branches = branches
        self.spade = nn.ModuleDict(
            {
                name: nn.ModuleList(
                    [
                        FixedSpade(cfg.img_enc_channels(j), cfg.dec_channels(j), cfg.spade_kernel)
                        for j in range(1, n + 1)
                    ]
                )
                for name in branches
            }
        )
        self.up = nn.ModuleList(
            # kernel 4, stride 2: every output pixel gets the same number of taps (no checkerboard)
            [nn.ConvTranspose2d(cfg.dec_channels(j), cfg.dec_channels(j - 1), 4, 2, 1) for j in range(1, n + 1)]
        )
        self.out = nn.Conv2d(cfg.dec_channels(0), 3 + extra_out, 3, 1, 1)
        self.extra_out = extra_out
        self.residual = residual
        if residual:
            # a correction that starts at zero: the untrained decoder leaves the warped composite as is
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        # residual + mouth synthesis: a synthesized frame (3, tanh) and its weight (1, sigmoid), from
        # its own head; the weight starts near 0 so the untrained decoder is still the warped composite
        self.synthesis = nn.Conv2d(cfg.dec_channels(0), 4, 3, 1, 1) if synthesis else None
        if self.synthesis is not None:
            nn.init.constant_(self.synthesis.bias[3:], cfg.mouth_synthesis_bias)

    def forward(
        self,
        e_y: torch.Tensor,
        phi_lt: list[torch.Tensor],
        params: list[DynamicLevelParams],
        phi_fixed: dict[str, list[torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = e_y
        for j in range(self.n_layers, 0, -1):  # decoder layer i = N - j + 1
            x_hat = F.instance_norm(x)
            p = params[j - 1]
            phi = phi_lt[j - 1]
            gamma = batched_conv(phi, p.gamma_w, p.gamma_b)
            beta = batched_conv(phi, p.beta_w, p.beta_b)
            scale = 1 + gamma
            bias = beta
            for name in self.branches:
                g, b_ = self.spade[name][j - 1](phi_fixed[name][j - 1])
                scale = scale + 1 + g
                bias = bias + b_
            x = self.up[j - 1](F.leaky_relu(x_hat * scale + bias, 0.2))
        feat = F.leaky_relu(x, 0.2)
        out = self.out(feat)
        # residual: a linear correction in image units (the caller adds it to the warped composite)
        image = out[:, :3] if self.residual else torch.tanh(out[:, :3])
        extra = torch.sigmoid(out[:, 3:]) if self.extra_out else None
        if self.synthesis is not None:  # (synthesized frame, its weight): 4 channels
            syn = self.synthesis(feat)
            extra = torch.cat([torch.tanh(syn[:, :3]), torch.sigmoid(syn[:, 3:])], dim=1)
        return image, extra
