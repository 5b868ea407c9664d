"""Multi-scale conditional patch discriminators D_1, D_2 (paper Sec. 4.4, from pix2pixHD / vid2vid).

Each discriminator sees the image concatenated with the target landmark image (the
condition) and returns the activations of every layer: the last one is the patch score map
(GAN loss), all of them feed the feature-matching loss. D_k runs on the input downsampled
``k - 1`` times by 3x3 average pooling (stride 2), as in pix2pixHD. Spectral normalisation
replaces pix2pixHD's instance norm, as in few-shot vid2vid (stable hinge-loss training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.generator.config import DiscriminatorConfig


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int, ndf: int, n_layers: int, spectral: bool) -> None:
        super().__init__()

        def sn(m: nn.Module) -> nn.Module:
            return nn.utils.spectral_norm(m) if spectral else m

        blocks: list[nn.Module] = [nn.Sequential(sn(nn.Conv2d(in_channels, ndf, 4, 2, 2)), nn.LeakyReLU(0.2, True))]
        c = ndf
        for n in range(1, n_layers + 1):
            nxt = min(c * 2, 512)
            stride = 2 if n < n_layers else 1
            blocks.append(nn.Sequential(sn(nn.Conv2d(c, nxt, 4, stride, 2)), nn.LeakyReLU(0.2, True)))
            c = nxt
        blocks.append(sn(nn.Conv2d(c, 1, 4, 1, 2)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` patch discriminators on progressively downsampled (image, landmark) pairs."""

    def __init__(self, cfg: DiscriminatorConfig, image_channels: int = 3, cond_channels: int = 1) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [
                PatchDiscriminator(image_channels + cond_channels, cfg.ndf, cfg.n_layers, cfg.spectral_norm)
                for _ in range(cfg.num_scales)
            ]
        )

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> list[list[torch.Tensor]]:
        x = torch.cat([image, condition], dim=1)
        outs = []
        for n, d in enumerate(self.discriminators):
            if n:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            outs.append(d(x))
        return outs
