"""Typed configuration of the 3D-aware generative network and its training.

One dataclass tree (:class:`GeneratorTrainConfig`) is read from YAML by the CLI,
the pipeline and the notebooks. Two shipped files:

* ``configs/generator_full.yaml`` - the paper's scale (Sec. 5: K up to 32, 256x256,
  Adam 2e-4 / (0.5, 0.999), lambdas 10) for a GPU cluster via ``torchrun``;
* ``configs/generator_small.yaml`` - a narrow network sized to run at >= 10 frames/s
  at 256x256 on a 2-core CPU and to train there in a few hours.

The paper's ablations (Appendix B.3, Table 3) are switches of :class:`AblationConfig`,
not code forks: each switch removes or replaces the sub-network it names, so the
parameter set and the module types of the model differ (tested).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from toolkit.config import apply_overrides, dataclass_from_dict, read_yaml_mapping
from toolkit.errors import ConfigError

#: decoder outputs: the frame itself (paper) or a correction of the warped 3D-warp composite
COMPOSITION_OUTPUTS: tuple[str, ...] = ("direct", "residual")
RESIDUAL_BLENDS = ("mask", "learned")


@dataclass
class AblationConfig:
    """Switches for the ablations of Table 3 (all False = the full model).

    * ``no_3d_aware``: no rendered face y~_t (no render flow, no render SPADE branch);
      the data pipeline also drops the motion matcher and passes the first reference
      as the "matched" frame (the matcher belongs to the 3D-aware module, Sec. 4.1).
    * ``no_hybrid_attention``: no activation encoder E_A, no information exchange and
      no ConvGate: the K reference features are plainly averaged (the practice the
      paper contrasts with, Sec. 4.2).
    * ``no_nonlinear_composition``: the decoder has only the landmark-modulated SPADE
      branch; the warped render / matched frame are blended into its raw output by
      image matting (Sec. 2.2) with the flow network's attention maps.
    * ``no_warping``: no flow network; render and matched frame enter unwarped.
    * ``baseline``: all four at once ("a straightforward model without any features").
    """

    no_3d_aware: bool = False
    no_hybrid_attention: bool = False
    no_nonlinear_composition: bool = False
    no_warping: bool = False
    baseline: bool = False

    def resolved(self) -> AblationConfig:
        """The effective switches: ``baseline`` turns every other switch on."""
        if not self.baseline:
            return dataclasses.replace(self)
        return AblationConfig(True, True, True, True, True)

    @property
    def name(self) -> str:
        """Short tag used in method names (``ours``, ``ours-no-3d-aware`` ...)."""
        r = self
        if r.baseline:
            return "baseline"
        parts = [
            n.replace("_", "-")
            for n in ("no_3d_aware", "no_hybrid_attention", "no_nonlinear_composition", "no_warping")
            if getattr(r, n)
        ]
        return "+".join(parts) if parts else "full"


@dataclass
class GeneratorConfig:
    """Sizes of the generator (embedding + flow networks + composition decoder).

    Resolution levels: level ``j`` has stride ``2**j`` w.r.t. the image. The decoder G has
    ``n_layers`` (the paper's N) layers; decoder layer ``i`` (1-based) works at level
    ``j = N - i + 1`` and upsamples to level ``j - 1`` with a transposed convolution.
    """

    image_size: int = 256
    n_layers: int = 5  # N: decoder layers = dynamic-weight sets {theta_gamma, theta_beta, theta_S}
    # decoder channels at level j: min(ngf * 2**(j-1), max_channels); output features at level 0 = ngf
    ngf: int = 16
    max_channels: int = 128
    # dynamic (theta_S) landmark encoder channels at level j: min(lmk_ngf * 2**(j-1), lmk_max_channels)
    lmk_ngf: int = 8
    lmk_max_channels: int = 32
    # fixed encoders of the warped render / warped matched frame
    img_enc_ngf: int = 16
    img_enc_max_channels: int = 64
    # hybrid embedding: q features (after two stride-2 convs, level 2 + log2(embed_downsample));
    # e_y / e_l at level N have dec_channels(N) channels (e_y is the decoder's input, the paper's
    # "appearance vector"). embed_downsample > 1 average-pools references and landmark images
    # before the embedding (the per-frame attention combine of Eq. 6 costs 4x less per factor 2)
    embed_q_channels: int = 32
    embed_downsample: int = 2
    fusion_dim: int = 64  # d of E_FI / E_FL vectors
    fusion_hidden: int = 64  # hidden width of the E_FP perceptrons
    spade_kernel: int = 1  # kernel of the fixed SPADE gamma/beta convs (paper-scale: 3)
    dynamic_spade_kernel: int = 1  # kernel of the dynamic gamma/beta convs theta_gamma, theta_beta
    # flow network (FlowNet of vid2vid, small): runs on the inputs pooled by flow_downsample
    flow_ngf: int = 16
    flow_downsample: int = 2
    flow_res_blocks: int = 1
    # what the composition decoder G outputs (see toolkit.generator.model):
    # "direct": the frame itself through tanh (the paper's Fig. 6);
    # "residual": a correction added to the flow-warped 3D-warp composite (render over the matched
    # frame inside the warped render mask; the warped matched frame without the 3D-aware module),
    # its output layer starting at zero so the untrained network reproduces the warped composite.
    # A deviation for small compute: the direct decoder trained on the 2-core CPU plateaued below
    # its own 3D-warp input (docs/GENERATION.md).
    composition_output: str = "direct"
    # residual only: how the warped render and the warped matched frame are blended into the base.
    # "mask": inside the warped 3D render mask (the 3d-warp baseline's blend); "learned": that mask
    # times clamp(1 - b, 0, 1), b from a zero-initialised head of the render's flow network, so the
    # untrained model is still the warped composite and training may prefer the (real) matched
    # frame's pixels where the render is worse. b reads only landmark images and the two sources.
    residual_blend: str = "mask"
    # residual only: the decoder also synthesizes a frame (tanh) and its weight a (sigmoid), and the
    # output is (1 - a) (warped composite + correction) + a synthesis. The synthesis is decoded from
    # e_y, the hybrid embedding's attention-combined reference features (Eq. 3-6), so where the warp
    # has nothing to show (the mouth interior: teeth, tongue, cavity of an opening mouth) the
    # references' appearance, picked per location by the attention, can be drawn instead of only
    # recoloured. a's bias starts at -6 (a ~ 0.0025): the untrained model is the warped composite.
    mouth_synthesis: bool = False
    #: starting logit of the synthesis weight a (-6: a ~ 0.0025, the untrained model is the warped
    #: composite; higher values let training engage the synthesis sooner at the cost of a start
    #: that is that much of an untrained synthesis)
    mouth_synthesis_bias: float = -6.0
    ablation: AblationConfig = field(default_factory=AblationConfig)

    def validate(self) -> None:
        if self.n_layers < 3:
            raise ConfigError(f"generator.n_layers={self.n_layers} is too small.", "Use 3 or more (paper-scale 5-7).")
        if self.image_size % (2**self.n_layers):
            raise ConfigError(
                f"generator.image_size={self.image_size} is not divisible by 2**n_layers={2**self.n_layers}.",
                "Pick an image size that is a multiple of 2**n_layers (e.g. 128 or 256 with n_layers 5).",
            )
        for name in ("spade_kernel", "dynamic_spade_kernel"):
            if getattr(self, name) not in (1, 3):
                raise ConfigError(f"generator.{name} must be 1 or 3, got {getattr(self, name)}.")
        if self.embed_downsample not in (1, 2, 4):
            raise ConfigError(f"generator.embed_downsample must be 1, 2 or 4, got {self.embed_downsample}.")
        if self.q_level >= self.n_layers:
            raise ConfigError(
                f"generator.embed_downsample={self.embed_downsample} leaves no embedding layer below level "
                f"n_layers={self.n_layers}.",
                "Lower embed_downsample or raise n_layers.",
            )
        if self.composition_output not in COMPOSITION_OUTPUTS:
            raise ConfigError(
                f"generator.composition_output must be one of {', '.join(COMPOSITION_OUTPUTS)}, "
                f"got '{self.composition_output}'."
            )
        if self.residual_blend not in RESIDUAL_BLENDS:
            raise ConfigError(
                f"generator.residual_blend must be one of {', '.join(RESIDUAL_BLENDS)}, got '{self.residual_blend}'."
            )
        if self.mouth_synthesis and self.composition_output != "residual":
            raise ConfigError(
                "generator.mouth_synthesis needs composition_output: residual.",
                "Set composition_output: residual, or mouth_synthesis: false.",
            )
        if self.flow_downsample not in (1, 2, 4):
            raise ConfigError(f"generator.flow_downsample must be 1, 2 or 4, got {self.flow_downsample}.")

    @property
    def q_level(self) -> int:
        """Resolution level of the embedding's q features (the attention combine of Eq. 6)."""
        return 2 + {1: 0, 2: 1, 4: 2}[self.embed_downsample]

    def dec_channels(self, level: int) -> int:
        return self.ngf if level == 0 else min(self.ngf * 2 ** (level - 1), self.max_channels)

    def lmk_channels(self, level: int) -> int:
        return 1 if level == 0 else min(self.lmk_ngf * 2 ** (level - 1), self.lmk_max_channels)

    def img_enc_channels(self, level: int) -> int:
        return min(self.img_enc_ngf * 2 ** (level - 1), self.img_enc_max_channels)


@dataclass
class DiscriminatorConfig:
    """Two-scale conditional patch discriminators (pix2pixHD / vid2vid, Sec. 4.4)."""

    num_scales: int = 2
    n_layers: int = 3
    ndf: int = 32
    spectral_norm: bool = True


@dataclass
class LossConfig:
    """Eq. (8): lambda_GAN * GAN + lambda_FM * FM + lambda_PCT * perceptual + lambda_W * flow."""

    gan_mode: Literal["hinge", "lsgan"] = "hinge"
    #: weight of the adversarial term (the paper: 1); a knob for small-compute runs, where the
    #: adversarial and feature-matching terms dominate a weak reconstruction signal
    lambda_gan: float = 1.0
    lambda_fm: float = 10.0
    lambda_pct: float = 10.0
    lambda_w: float = 10.0
    #: "auto": VGG19 if vgg19_weights points at a file, else the 3DDFA_V2 MobileNet (pretrained on
    #: faces, from the shared weights) if present, else multi-scale L1 + SSIM. See losses.py.
    perceptual: Literal["auto", "vgg19", "face-mobilenet", "inception", "ms-l1-ssim"] = "auto"
    vgg19_weights: str = ""  # local torchvision vgg19 state dict (not obtainable offline here)
    face_mobilenet_weights: str = ""  # default: <shared weights>/3ddfa_v2/weights_mb05_120x120.pth
    #: perceptual "inception": frames are resized to this size before fid-helper's Inception
    #: (its own 299 costs ~2.4x more per step on a CPU; Mixed_5d is then at 1/8 of it)
    inception_size: int = 192
    #: weight of the identity term (1 - cosine of face embeddings on the aligned crop; 0 = off)
    lambda_id: float = 0.0
    #: the face-recognition network of the identity term (not the evaluation's CSIM network)
    identity_network: str = "faceplugin-512"
    #: weight of an L1 on the mouth box of the target (from its 68 points; 0 = off): the mouth is
    #: a small part of the frame and what lip sync and mouth SSIM are about
    lambda_mouth: float = 0.0
    #: L1 of the mouth synthesis's own frame (before its weight a) on the target's mouth box: trains the
    #: synthesis head directly; through the blend alone its gradient is scaled by a (~0.0025 at the start)
    lambda_mouth_synthesis: float = 0.0
    #: weight of the sparse landmark-correspondence term inside the flow loss (replaces the
    #: FlowNet2 ground-truth flow of vid2vid, which is not available here)
    flow_landmark_weight: float = 1.0
    #: L1 penalty on a residual generator's correction (``composition_output: residual``; 0 = off):
    #: a correction has to pay for itself, which keeps it from painting in what it memorised of
    #: the training people where it is unsure (a held-out person)
    lambda_residual: float = 0.0


@dataclass
class GeneratorDataConfig:
    """How training samples are drawn from ``toolkit preprocess`` records."""

    records: str = ""  # folder written by `toolkit preprocess`
    renders: str = ""  # frame/render cache folder (default: <records>/generator_cache)
    clips_file: str = ""  # optional text file of clip ids (one a line) restricting the records used
    k_choices: list[int] = field(default_factory=lambda: [1, 8])  # K per batch, drawn at random
    tau: int = 64  # references come from the first tau frames (paper Sec. 5)
    #: probability of handing the composition module a worse-than-best matched frame
    #: ("we manipulate the selection of y_ts by increasing the cost c_t", Sec. 4.1)
    matcher_perturb_prob: float = 0.3
    #: split groups held out of training (toolkit.learners.split); empty = that module's
    #: DEFAULT_VAL_GROUPS, so the generator is validated on the same speakers as the learners
    val_groups: list[str] = field(default_factory=list)
    hflip_prob: float = 0.5  # mirror whole samples (images, landmark images, points alike)
    #: strength (0 = off) of one random colour transform per sample, applied alike to the references,
    #: the render, the matched frame and the target (gain, saturation, hue rotation, brightness): with
    #: few identities it keeps the network from memorising their colours instead of reading the references
    colour_jitter: float = 0.0
    #: renders move mouth/jaw with the target expression (toolkit.render's rig), as the pipeline
    #: does at inference; False = the paper's y~_t, which keeps the frontal frame's expression
    render_drive_expression: bool = True
    #: train on the inputs the pipeline gives at inference (:func:`toolkit.generator.data.build_heldout_cache`):
    #: references and the 3D warp from the clip's first frames only, targets after them, the matched frame moved
    #: with the head. False = targets anywhere, whose renders took the mouth interior from the target itself
    heldout_targets: bool = False
    #: with heldout_targets: probability of drawing the target among the open-mouth frames (lip opening >=
    #: ``open_mouth_min``, inner-lip gap / mouth width), where the 3D warp's mouth interior is most wrong
    open_mouth_prob: float = 0.0
    open_mouth_min: float = 0.12


@dataclass
class TrainConfig:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 4
    steps: int = 20000
    log_every: int = 10
    sample_every: int = 250
    checkpoint_every: int = 500
    seed: int = 0
    mixed_precision: bool = True  # bf16 autocast on CUDA only; ignored on CPU
    threads: int = 0  # torch CPU threads (0 = torch default)
    #: warm start: a generator folder (model.safetensors + config.json) whose weights initialise G
    #: where names and shapes match (new sub-networks, e.g. the mouth-synthesis head, keep their
    #: initialisation); "" = from scratch. Relative paths are taken from the project root.
    init_from: str = ""


@dataclass
class GeneratorTrainConfig:
    """Everything ``toolkit train generator`` needs."""

    name: str = "small"
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: GeneratorDataConfig = field(default_factory=GeneratorDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def small_config() -> GeneratorTrainConfig:
    """The CPU-sized model (what ``configs/generator_small.yaml`` holds)."""
    return GeneratorTrainConfig(name="small", generator=GeneratorConfig(composition_output="residual"))


def full_config() -> GeneratorTrainConfig:
    """Paper-scale model for a GPU cluster (what ``configs/generator_full.yaml`` holds)."""
    return GeneratorTrainConfig(
        name="full",
        generator=GeneratorConfig(
            image_size=256,
            n_layers=6,
            ngf=32,
            max_channels=512,
            lmk_ngf=16,
            lmk_max_channels=64,
            img_enc_ngf=32,
            img_enc_max_channels=256,
            embed_q_channels=64,
            embed_downsample=1,
            fusion_dim=256,
            fusion_hidden=256,
            spade_kernel=3,
            dynamic_spade_kernel=1,
            flow_ngf=32,
            flow_downsample=1,
            flow_res_blocks=4,
        ),
        discriminator=DiscriminatorConfig(num_scales=2, n_layers=3, ndf=64),
        data=GeneratorDataConfig(k_choices=[1, 8, 32]),
        train=TrainConfig(batch_size=8, steps=400_000),
    )


# --------------------------------------------------------------------------- (de)serialisation


def config_from_dict(data: dict[str, Any]) -> GeneratorTrainConfig:
    cfg = dataclass_from_dict(GeneratorTrainConfig, data)
    cfg.generator.validate()
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> GeneratorTrainConfig:
    """A YAML recipe (``configs/generator_small.yaml`` ...) with ``--set key.sub=value`` overrides."""
    return config_from_dict(apply_overrides(read_yaml_mapping(path, "configs/generator_small.yaml"), overrides))


def generator_config_from_dict(data: dict[str, Any]) -> GeneratorConfig:
    cfg = dataclass_from_dict(GeneratorConfig, data, "generator")
    cfg.validate()
    return cfg
