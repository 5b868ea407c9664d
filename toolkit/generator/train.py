"""Adversarial training of the generator (paper Sec. 4.4, Eq. 8; `toolkit train generator`).

One step, pix2pixHD order: generate; update G with GAN + lambda_FM FM + lambda_PCT perceptual +
lambda_W flow (the discriminators are applied without their DDP wrapper here, so this backward
does not synchronise them); update D_1, D_2 on real and detached fake frames (one forward on
the concatenated batch, so DDP sees one forward per backward). Adam lr 2e-4, betas (0.5, 0.999).

Runs on one CPU, one GPU (bf16 autocast when ``train.mixed_precision``), or several processes
under ``torchrun`` (DDP; gloo on CPU, nccl on GPU). Rank 0 writes, atomically:

* ``<out>/state/`` - everything needed to resume (the CLI resumes by default; ``--no-resume`` starts over);
* ``<out>/generator/`` - the exportable generator (model.safetensors + config.json);
* ``<out>/samples/step_XXXXXXX.png`` - sample grids (references, landmark, render, matched,
  warped render, output, real);
* ``<out>/log.jsonl`` (training losses), ``<out>/fixed_batch.jsonl`` (non-adversarial losses of G in
  eval mode on one fixed batch, from step 0: a noise-free progress curve), ``<out>/val.jsonl``
  (held-out speakers, when their renders are cached) and ``<out>/loss_curves.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.generator.checkpoint import export_generator
from toolkit.generator.config import GeneratorTrainConfig, config_from_dict
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
from toolkit.io.atomic import atomic_path, write_json_atomic
from toolkit.io.checkpoint import STATE_DIR, STATE_JSON, has_train_state
from toolkit.viz.figure import save_figure

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
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_run = DDP(self.G, device_ids=ids)
            self.D_run = DDP(self.D, device_ids=ids)
        self.step = 0
        self.amp = bool(cfg.train.mixed_precision and self.device.type == "cuda")

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
    def save_state(self, out_dir: str | Path) -> Path:
        """Everything needed to resume (toolkit.io.checkpoint's training state, as the learners')."""
        from toolkit.io.checkpoint import save_train_state

        save_train_state(
            out_dir, self.step, {"G": self.G, "D": self.D}, {"optG": self.opt_g, "optD": self.opt_d},
            {"config": self.cfg.to_dict(), "perceptual": self.pct.backend},
        )  # fmt: skip
        return Path(out_dir) / STATE_DIR

    def load_state(self, out_dir: str | Path) -> None:
        from toolkit.io.checkpoint import load_train_state

        info = load_train_state(out_dir, {"G": self.G, "D": self.D}, {"optG": self.opt_g, "optD": self.opt_d})
        self.step = int(info["step"])


def warm_start(generator: nn.Module, folder: str | Path) -> int:
    """Copy the tensors of a generator checkpoint whose names and shapes match; returns how many."""
    from toolkit.generator.checkpoint import load_generator
    from toolkit.paths import PROJECT_ROOT

    path = Path(folder)
    source = load_generator(path if path.is_absolute() else PROJECT_ROOT / path).state_dict()
    own = generator.state_dict()
    matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not matched:
        from toolkit.generator.config import ConfigError

        raise ConfigError(f"train.init_from={folder}: no tensor fits this generator.", "Check the network config.")
    generator.load_state_dict(matched, strict=False)
    return len(matched)


def config_of_state(out_dir: str | Path) -> GeneratorTrainConfig:
    doc = json.loads((Path(out_dir) / STATE_DIR / STATE_JSON).read_text())
    return config_from_dict(doc["config"])


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


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an append-only log; a line cut short by a killed run is skipped."""
    rows = []
    if not Path(path).exists():
        return rows
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_loss_curves(
    log_path: str | Path, png_path: str | Path, title: str, fixed_path: str | Path | None = None
) -> None:
    """Training losses (raw and smoothed); the fixed-batch eval losses as dots where given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_jsonl(log_path)
    if not rows:
        return
    fixed = read_jsonl(fixed_path) if fixed_path is not None else []
    keys = [k for k in ("g_total", "g_gan", "g_fm", "g_pct", "g_id", "g_mouth", "g_flow", "d_total") if k in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
    steps = np.array([r["step"] for r in rows])
    for ax, k in zip(np.atleast_1d(axes), keys):
        v = np.array([r[k] for r in rows], dtype=float)
        ax.plot(steps, v, lw=0.6, alpha=0.4)
        if len(v) >= 10:
            w = max(len(v) // 20, 5)
            ax.plot(steps[w - 1 :], np.convolve(v, np.ones(w) / w, mode="valid"), lw=1.4)
        if fixed and k in fixed[0]:
            ax.plot([r["step"] for r in fixed], [r[k] for r in fixed], "o-", ms=3, lw=0.8, label="fixed batch (eval)")
            ax.legend(fontsize=6)
        ax.set_title(k if k != "g_total" else "g_total (train incl. GAN)", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, png_path, dpi=110)


# ----------------------------------------------------------------------------- validation


def make_val_batches(dataset, n_batches: int, batch_size: int, k: int, seed: int = 7) -> list[dict[str, Any]]:
    """Fixed validation batches (same frames every time): ``n_batches`` of ``batch_size`` samples."""
    from toolkit.generator.data import collate

    rng = np.random.default_rng(seed)
    return [collate([dataset.sample(rng, k=k) for _ in range(batch_size)]) for _ in range(n_batches)]


@torch.no_grad()
def validate(trainer: GeneratorTrainer, batches: list[dict[str, Any]]) -> dict[str, float]:
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


# ----------------------------------------------------------------------------- run


@dataclasses.dataclass
class RunInfo:
    out_dir: Path
    steps_done: int
    seconds: float
    last_losses: dict[str, float]


def run_training(
    cfg: GeneratorTrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    device: str | None = None,
    max_steps: int | None = None,
    progress: bool = True,
) -> RunInfo:
    """Train until ``cfg.train.steps`` (or ``max_steps`` more steps); resumable; DDP under torchrun."""
    import torch.distributed as dist

    from toolkit.generator.data import GeneratorDataset, collate
    from toolkit.learners.train import init_distributed

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    rank, world, local_rank = init_distributed(device)
    distributed = world > 1
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    out_dir = Path(out_dir)
    if resume and has_train_state(out_dir):
        saved = config_of_state(out_dir)
        # the image size may change between sessions (progressive training: 128 first, then 256):
        # every weight is resolution independent
        same = dataclasses.replace(saved.generator, image_size=cfg.generator.image_size)
        if dataclasses.asdict(same) != dataclasses.asdict(cfg.generator):
            from toolkit.generator.config import ConfigError

            raise ConfigError(
                f"The run in {out_dir} was trained with a different generator config.",
                "Resume with the same config file, or pick a new --out folder.",
            )
    trainer = GeneratorTrainer(cfg, device, distributed)
    if resume and has_train_state(out_dir):
        trainer.load_state(out_dir)
    elif cfg.train.init_from:
        loaded = warm_start(trainer.G, cfg.train.init_from)
        if rank == 0:
            print(f"[generator] warm start from {cfg.train.init_from}: {loaded} tensors", flush=True)
    dataset = GeneratorDataset(cfg.data, cfg.generator.image_size, cfg.generator.ablation.resolved(), split="train")
    rng = np.random.default_rng(cfg.train.seed + 1000 * rank + trainer.step)
    target_steps = cfg.train.steps if max_steps is None else trainer.step + max_steps
    log_path = out_dir / "log.jsonl"
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / "config.json", {**cfg.to_dict(), "perceptual_resolved": trainer.pct.backend})
        print(
            f"[generator] {cfg.name}: {sum(p.numel() for p in trainer.G.parameters()) / 1e6:.2f} M params, "
            f"ablation={cfg.generator.ablation.name}, perceptual={trainer.pct.label}, "
            f"identity={trainer.identity.label if trainer.identity is not None else 'off'}, "
            f"device={device}, world={world}, "
            f"steps {trainer.step} -> {target_steps}",
            flush=True,
        )
    fixed_batch = collate([dataset.sample(np.random.default_rng(123 + i), k=min(cfg.data.k_choices)) for i in range(4)])
    val_batches: list[dict[str, Any]] = []
    if rank == 0:
        from toolkit.errors import ToolkitError

        try:
            # held-out frames as they are: no augmentation
            val_data = dataclasses.replace(cfg.data, colour_jitter=0.0, hflip_prob=0.0)
            val_set = GeneratorDataset(val_data, cfg.generator.image_size, cfg.generator.ablation.resolved(), "val")
            val_batches = make_val_batches(val_set, 4, 4, k=max(cfg.data.k_choices))
            print(f"[generator] validation: {len(val_set.clips)} held-out clips, 16 fixed frames", flush=True)
        except ToolkitError as exc:
            print(f"[generator] no validation monitor: {exc}", flush=True)
    t0 = time.time()
    logs: dict[str, float] = {}
    fixed_log = out_dir / "fixed_batch.jsonl"
    if rank == 0 and not fixed_log.exists():
        # the non-adversarial losses of the untrained G on the fixed batch: the curve's first point
        with open(fixed_log, "a") as f:
            f.write(json.dumps({"step": trainer.step, **trainer.eval_losses(fixed_batch)}) + "\n")
    while trainer.step < target_steps:
        k = int(rng.choice(cfg.data.k_choices))
        batch = collate([dataset.sample(rng, k=k) for _ in range(cfg.train.batch_size)])
        logs = trainer.train_step(batch)
        if rank != 0:
            continue
        step = trainer.step
        if step % cfg.train.log_every == 0 or step == target_steps:
            row = {
                "step": step,
                "k": k,
                "time": round(time.time() - t0, 1),
                **{k_: round(v, 5) for k_, v in logs.items()},
            }
            with open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if progress:
                print(" ".join(f"{k_}={v}" for k_, v in row.items()), flush=True)
        if step % cfg.train.sample_every == 0 or step == target_steps:
            with torch.no_grad():
                trainer.G.eval()
                fb = trainer.to_device(fixed_batch)
                with trainer.autocast():
                    out = trainer.generate(fb, trainer.G)
            save_png(out_dir / "samples" / f"step_{step:07d}.png", sample_grid(fb, out))
            with open(fixed_log, "a") as f:
                f.write(json.dumps({"step": step, **trainer.eval_losses(fixed_batch)}) + "\n")
            if log_path.exists():
                plot_loss_curves(
                    log_path, out_dir / "loss_curves.png", f"generator {cfg.name} ({trainer.pct.label})", fixed_log
                )
        if step % cfg.train.checkpoint_every == 0 or step == target_steps:
            if val_batches:
                val = {"step": step, **validate(trainer, val_batches)}
                with open(out_dir / "val.jsonl", "a") as f:
                    f.write(json.dumps(val) + "\n")
                if progress:
                    print(" ".join(f"{k_}={v}" for k_, v in val.items()), flush=True)
            trainer.save_state(out_dir)
            export_generator(
                out_dir / "generator",
                trainer.G,
                {
                    "step": step,
                    "perceptual": trainer.pct.backend,
                    "perceptual_label": trainer.pct.label,
                    "identity_label": trainer.identity.label if trainer.identity is not None else None,
                    "train_config": cfg.to_dict(),
                    "data": dataset.describe(),
                },
            )
    if distributed:
        dist.barrier()
    return RunInfo(out_dir, trainer.step, time.time() - t0, logs)
