"""Adversarial training of the generator (paper Sec. 4.4, Eq. 8; `toolkit train generator`).

One step, pix2pixHD order: generate; update G with GAN + lambda_FM FM + lambda_PCT perceptual +
lambda_W flow (the discriminators are applied without their DDP wrapper here, so this backward
does not synchronise them); update D_1, D_2 on real and detached fake frames (one forward on
the concatenated batch, so DDP sees one forward per backward). Adam lr 2e-4, betas (0.5, 0.999),
constant.

:class:`GeneratorTask` is the generator's task of the one training loop
(``toolkit.learners.train.train``, which also trains the expression and motion learners): it draws
K per step, runs the GAN step, validates (the non-adversarial losses on one fixed batch, L1 / SSIM on
held-out speakers against the 3D warp, and a sample grid) and exports. Runs on one CPU, one GPU (bf16
autocast when ``train.mixed_precision``), or several processes under ``torchrun`` (DDP; gloo on CPU,
nccl on GPU). The run folder is the learners' (``state/``, ``model/``, ``metrics.jsonl``,
``curves.png``, ``train.log``, ``config.json``, ``summary.json``) plus ``samples/step_XXXXXXX.png``
(references, landmark, render, matched, warped render, output, real).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.errors import ConfigError, ToolkitError
from toolkit.generator.checkpoint import KIND, export_generator
from toolkit.generator.config import GeneratorTrainConfig, generator_config_from_dict
from toolkit.generator.discriminator import MultiScaleDiscriminator
from toolkit.generator.losses import (
    IdentityLoss,
    PerceptualLoss,
    d_loss,
    feature_matching_loss,
    flow_loss,
    g_gan_loss,
)
from toolkit.generator.model import Generator, GeneratorOutput
from toolkit.io.atomic import atomic_path
from toolkit.io.checkpoint import STATE_DIR
from toolkit.learners.train import TrainingTask

#: keys of a training batch (see toolkit.generator.data)
INPUT_KEYS = (
    "ref_images",
    "ref_landmarks",
    "target_landmark",
    "rendered",
    "render_mask",
    "matched",
    "render_landmark",
    "matched_landmark",
)


def mouth_box_mask(points68: torch.Tensor, size: int, margin: float = 0.25) -> torch.Tensor:
    """(B, 1, S, S) masks of the mouth's box (points 48-67, widened by ``margin`` of its size each side)."""
    mouth = points68[:, 48:68].float()
    lo, hi = mouth.amin(dim=1), mouth.amax(dim=1)  # (B, 2) x, y
    pad = (hi - lo) * margin + 2.0
    lo, hi = lo - pad, hi + pad
    coords = torch.arange(size, dtype=torch.float32, device=points68.device) + 0.5
    inside_x = (coords[None] >= lo[:, :1]) & (coords[None] <= hi[:, :1])  # (B, S)
    inside_y = (coords[None] >= lo[:, 1:]) & (coords[None] <= hi[:, 1:])
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()[:, None]


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| over the pixels of ``mask`` (B, 1, H, W) and the three channels."""
    return ((a.float() - b.float()).abs() * mask).sum() / (mask.sum() * 3 + 1e-6)


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if hasattr(m, "module") else m


class GeneratorTrainer:
    """G, D, perceptual loss and both optimisers; ``train_step(batch)`` runs one GAN step."""

    def __init__(
        self, cfg: GeneratorTrainConfig, device: str | torch.device = "cpu", distributed: bool = False
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        torch.manual_seed(cfg.train.seed)
        self.G = Generator(cfg.generator).to(self.device)
        self.D = MultiScaleDiscriminator(cfg.discriminator).to(self.device)
        self.pct = PerceptualLoss(cfg.loss).to(self.device)
        # the identity network is loaded only when its term is on (it needs the npm model)
        self.identity = IdentityLoss(cfg.loss.identity_network).to(self.device) if cfg.loss.lambda_id > 0 else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas))
        self.G_run: nn.Module = self.G
        self.D_run: nn.Module = self.D
        if distributed:
            self.wrap_ddp()
        self.step = 0
        self.amp = bool(cfg.train.mixed_precision and self.device.type == "cuda")

    def wrap_ddp(self) -> None:
        """Train G and D through DistributedDataParallel (the process group is already joined)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        self.G_run = DDP(self.G, device_ids=ids)
        self.D_run = DDP(self.D, device_ids=ids)

    # ------------------------------------------------------------------ helpers
    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def generate(self, batch: dict[str, Any], module: nn.Module | None = None) -> GeneratorOutput:
        inputs = {k: batch.get(k) for k in INPUT_KEYS}
        return (module or self.G_run)(**inputs, return_aux=True)

    def generator_losses(
        self, batch: dict[str, Any], out: GeneratorOutput, with_gan: bool = True
    ) -> dict[str, torch.Tensor]:
        """Eq. (8) terms for G; ``with_gan=False`` gives the non-adversarial part only."""
        lc = self.cfg.loss
        real, fake = batch["target"], out.image
        losses: dict[str, torch.Tensor] = {}
        if with_gan:
            cond = batch["target_landmark"]
            d_out = _unwrap(self.D_run)(torch.cat([real, fake]), torch.cat([cond, cond]))
            n = real.shape[0]
            d_real = [[f[:n] for f in scale] for scale in d_out]
            d_fake = [[f[n:] for f in scale] for scale in d_out]
            losses["g_gan"] = g_gan_loss(d_fake, lc.gan_mode)
            losses["g_fm"] = feature_matching_loss(d_real, d_fake)
        losses["g_pct"] = self.pct(fake, real)
        w = fake.new_zeros(()).float()
        points = {"render": batch.get("render_points"), "matched": batch.get("matched_points")}
        for s, flow in out.flows.items():
            w = w + flow_loss(
                flow,
                out.warped[s],
                real,
                out.warped_mask if s == "render" else None,
                batch.get("target_points"),
                points[s],
                lc.flow_landmark_weight,
            )
        losses["g_flow"] = w
        total = lc.lambda_pct * losses["g_pct"] + lc.lambda_w * losses["g_flow"]
        if self.identity is not None:
            losses["g_id"] = self.identity(fake, real, batch["target_points"])
            total = total + lc.lambda_id * losses["g_id"]
        box = mouth_box_mask(batch["target_points"], real.shape[-1]).to(fake.dtype)
        if lc.lambda_mouth > 0:
            losses["g_mouth"] = masked_l1(fake, real, box)
            total = total + lc.lambda_mouth * losses["g_mouth"]
        if lc.lambda_mouth_synthesis > 0 and out.synthesis is not None:
            losses["g_mouth_syn"] = masked_l1(out.synthesis, real, box)
            total = total + lc.lambda_mouth_synthesis * losses["g_mouth_syn"]
        if lc.lambda_residual > 0 and out.base is not None:  # out.raw is the residual correction
            losses["g_res"] = out.raw.abs().mean()
            total = total + lc.lambda_residual * losses["g_res"]
        if with_gan:
            total = total + lc.lambda_gan * losses["g_gan"] + lc.lambda_fm * losses["g_fm"]
        losses["g_total"] = total
        return losses

    # ------------------------------------------------------------------ one step
    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        batch = self.to_device(batch)
        self.G_run.train()
        self.D_run.train()
        # --- generator
        with self.autocast():
            out = self.generate(batch)
            g_losses = self.generator_losses(batch, out)
        self.opt_g.zero_grad(set_to_none=True)
        g_losses["g_total"].backward()
        self.opt_g.step()
        # --- discriminators (their gradients from the G step are discarded here)
        self.opt_d.zero_grad(set_to_none=True)
        real, fake = batch["target"], out.image.detach()
        cond = batch["target_landmark"]
        with self.autocast():
            d_out = self.D_run(torch.cat([real, fake]), torch.cat([cond, cond]))
            n = real.shape[0]
            loss_d = d_loss(
                [[f[:n] for f in s] for s in d_out], [[f[n:] for f in s] for s in d_out], self.cfg.loss.gan_mode
            )
        loss_d.backward()
        self.opt_d.step()
        self.step += 1
        logs = {k: float(v.detach()) for k, v in g_losses.items()}
        logs["d_total"] = float(loss_d.detach())
        return logs

    @torch.no_grad()
    def eval_losses(self, batch: dict[str, Any]) -> dict[str, float]:
        """Non-adversarial losses (perceptual, flow) of the current G on ``batch``, eval mode."""
        batch = self.to_device(batch)
        self.G.eval()
        with self.autocast():
            out = self.generate(batch, self.G)
            losses = self.generator_losses(batch, out, with_gan=False)
        return {k: float(v) for k, v in losses.items()}

    # ------------------------------------------------------------------ state
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optG": self.opt_g, "optD": self.opt_d}

    def save_state(self, out_dir: str | Path) -> Path:
        """Everything needed to resume (toolkit.io.checkpoint's training state, as the loop writes it)."""
        from toolkit.io.checkpoint import save_train_state

        save_train_state(out_dir, self.step, self.modules(), self.optimizers(), {"perceptual": self.pct.backend})
        return Path(out_dir) / STATE_DIR

    def load_state(self, out_dir: str | Path) -> None:
        from toolkit.io.checkpoint import load_train_state

        self.step = int(load_train_state(out_dir, self.modules(), self.optimizers())["step"])


def warm_start(generator: nn.Module, folder: str | Path) -> int:
    """Copy the tensors of a generator checkpoint whose names and shapes match; returns how many."""
    from toolkit.generator.checkpoint import load_generator
    from toolkit.paths import PROJECT_ROOT

    path = Path(folder)
    source = load_generator(path if path.is_absolute() else PROJECT_ROOT / path).state_dict()
    own = generator.state_dict()
    matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise ConfigError(f"train.init_from={folder}: no tensor fits this generator.", "Check the network config.")
    generator.load_state_dict(matched, strict=False)
    return len(matched)


# ----------------------------------------------------------------------------- pictures


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] (3 channels) or [0, 1] (1 channel) -> (H, W, 3) uint8."""
    t = t.detach().float().cpu()
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1) * 2 - 1
    return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


SAMPLE_COLUMNS = ("reference 1", "target landmarks", "render y~_t", "matched y_ts", "warped render", "output", "real")


def sample_grid(batch: dict[str, Any], out: GeneratorOutput, max_rows: int = 4) -> np.ndarray:
    """Rows of [reference, landmark image, render, matched, warped render, output, real] (uint8)."""
    rows = []
    for i in range(min(max_rows, out.image.shape[0])):
        blank = torch.zeros_like(out.image[i])
        tiles = [
            batch["ref_images"][i, 0],
            batch["target_landmark"][i],
            batch["rendered"][i] if batch.get("rendered") is not None else blank,
            batch["matched"][i],
            out.warped.get("render", blank)[i] if "render" in out.warped else blank,
            out.image[i],
            batch["target"][i],
        ]
        rows.append(np.concatenate([_to_uint8(t) for t in tiles], axis=1))
    return np.concatenate(rows, axis=0)


def save_png(path: str | Path, image: np.ndarray) -> None:
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, image, extension=".png")


# ----------------------------------------------------------------------------- validation


def make_val_batches(dataset, n_batches: int, batch_size: int, k: int, seed: int = 7) -> list[dict[str, Any]]:
    """Fixed validation batches (same frames every time): ``n_batches`` of ``batch_size`` samples."""
    from toolkit.generator.data import collate

    rng = np.random.default_rng(seed)
    return [collate([dataset.sample(rng, k=k) for _ in range(batch_size)]) for _ in range(n_batches)]


@torch.no_grad()
def heldout_scores(trainer: GeneratorTrainer, batches: list[dict[str, Any]]) -> dict[str, float]:
    """Monitor on held-out speakers: L1 / SSIM of G and of the 3D-warp composite, same frames.

    SSIM here is the loss module's 7x7 uniform-window SSIM on [-1, 1] images (a training monitor,
    not the benchmark metric of eval/); the 3D-warp composite is ``m y~_t + (1 - m) y_ts`` (the
    ``3d-warp`` baseline's output for the same inputs), or y_ts alone without the render.
    """
    from toolkit.generator.losses import ssim

    trainer.G.eval()
    sums = {"val_l1": 0.0, "val_ssim": 0.0, "val_l1_3dwarp": 0.0, "val_ssim_3dwarp": 0.0}
    for b in batches:
        b = trainer.to_device(b)
        with trainer.autocast():
            out = trainer.generate(b, trainer.G)
        fake, real = out.image.float(), b["target"]
        if b.get("rendered") is not None:
            m = b["render_mask"]
            warp3d = m * b["rendered"] + (1 - m) * b["matched"]
        else:
            warp3d = b["matched"]
        sums["val_l1"] += float((fake - real).abs().mean())
        sums["val_ssim"] += float(ssim(fake, real))
        sums["val_l1_3dwarp"] += float((warp3d - real).abs().mean())
        sums["val_ssim_3dwarp"] += float(ssim(warp3d, real))
    return {k: round(v / max(len(batches), 1), 5) for k, v in sums.items()}


# ----------------------------------------------------------------------------- the loop's task


class GeneratorTask(TrainingTask):
    """The generator in the one training loop: per-step K, the GAN step, a sample grid at each validation."""

    kind = KIND
    validate_at_start = True  # the untrained G's fixed-batch losses: the curve's first point
    progress_keys = ("val_l1", "val_ssim")

    def __init__(
        self, config: GeneratorTrainConfig, run_dir: Path, rank: int, world: int, log: Any, device: str = "cpu"
    ) -> None:
        from toolkit.generator.data import GeneratorDataset, collate

        self.config, self.run_dir, self.log = config, Path(run_dir), log
        self.trainer = GeneratorTrainer(config, device)
        if config.train.init_from:  # a resumed run's state replaces these weights
            loaded = warm_start(self.trainer.G, config.train.init_from)
            log.info("warm start from %s: %d tensors", config.train.init_from, loaded)
        size, ablation = config.generator.image_size, config.generator.ablation.resolved()
        self.dataset = GeneratorDataset(config.data, size, ablation, split="train")
        k_fixed = min(config.data.k_choices)
        self.fixed_batch = collate([self.dataset.sample(np.random.default_rng(123 + i), k=k_fixed) for i in range(4)])
        self.val_batches: list[dict[str, Any]] = []
        val_clips = 0
        if rank == 0:
            try:  # held-out frames as they are: no augmentation
                val_data = dataclasses.replace(config.data, colour_jitter=0.0, hflip_prob=0.0)
                val_set = GeneratorDataset(val_data, size, ablation, "val")
                self.val_batches = make_val_batches(val_set, 4, 4, k=max(config.data.k_choices))
                val_clips = len(val_set.clips)
            except ToolkitError as exc:
                log.info("no held-out validation: %s", exc)
        t = self.trainer
        self.data_summary = {
            "name": config.name,
            "params_million": round(sum(p.numel() for p in t.G.parameters()) / 1e6, 3),
            "ablation": config.generator.ablation.name,
            "perceptual": t.pct.backend,
            "perceptual_label": t.pct.label,
            "identity_label": t.identity.label if t.identity is not None else None,
            "device": str(t.device),
            "val_clips": val_clips,
            "data": self.dataset.describe(),
        }

    def modules(self) -> dict[str, nn.Module]:
        return self.trainer.modules()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.trainer.optimizers()

    def wrap_ddp(self) -> None:
        self.trainer.wrap_ddp()

    def set_lr(self, factor: float) -> float:
        lr = self.config.train.lr * factor
        for opt in (self.trainer.opt_g, self.trainer.opt_d):
            for g in opt.param_groups:
                g["lr"] = lr
        return lr

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        from toolkit.generator.data import collate

        k = int(rng.choice(self.config.data.k_choices))
        batch = collate([self.dataset.sample(rng, k=k) for _ in range(self.config.train.batch_size)])
        logs = self.trainer.train_step(batch)
        return {"g_total": logs["g_total"], **logs, "k": float(k)}

    @torch.no_grad()
    def validate(self, step: int = 0) -> dict[str, float]:
        """The non-adversarial losses of G (eval mode) on the fixed batch, L1 / SSIM on the held-out speakers
        against the 3D warp (:func:`heldout_scores`), and ``samples/step_XXXXXXX.png`` of the fixed batch."""
        t = self.trainer
        t.G.eval()
        fixed = t.to_device(self.fixed_batch)
        with t.autocast():
            out = t.generate(fixed, t.G)
        save_png(self.run_dir / "samples" / f"step_{step:07d}.png", sample_grid(fixed, out))
        metrics = {f"fixed_{k}": v for k, v in t.eval_losses(self.fixed_batch).items()}
        if self.val_batches:
            metrics.update(heldout_scores(t, self.val_batches))
        return metrics

    def export(self, folder: Path, extra: dict[str, Any]) -> Path:
        s = self.data_summary
        meta = {
            "step": extra["trained"]["steps"],
            **{k: s[k] for k in ("perceptual", "perceptual_label", "identity_label", "data")},
            "train_config": self.config.to_dict(),
            **extra,
        }
        return export_generator(folder, self.trainer.G, meta)

    def check_resume(self, saved: dict[str, Any], run_dir: Path, model: str) -> None:
        """Another model's run, or a generator of another network config, is refused; the image size may
        change (progressive training: 128 first, then 256; every weight is resolution independent)."""
        super().check_resume(saved, run_dir, model)
        own = self.config.generator
        same = dataclasses.replace(generator_config_from_dict(saved["generator"]), image_size=own.image_size)
        if dataclasses.asdict(same) != dataclasses.asdict(own):
            raise ConfigError(
                f"The run in {run_dir} was trained with a different generator config.",
                "Resume with the same config file, or pick a new --out folder (or --no-resume).",
            )
