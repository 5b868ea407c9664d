"""Few-shot adaptation: fine-tune the generator on the reference video before generating.

The reference video y_1..tau is the only footage of the person the network gets. Its frames are
used as self-supervised training pairs, exactly as in training (Sec. 4-5): for a reference frame
t that is not one of the K appearance references, the 3D-aware module renders the frontal
frame's mesh at t's own head motion and expression (y~_t), the motion matcher picks y_ts among
the K references, and the generator learns to turn those into the real y_t. The weights are
copied first, so the shipped model is never changed.

Why (measured, README "The generator"): trained on the ~39 identities available here, the
generator improves its 3D-warp input on frames of its training people and degrades it on new
people; the same network fine-tuned for 100 steps on a new person's first 64 frames beat the
3D-warp composite on later frames of all 8 held-out clips. Fine-tuning on the few shots is the
adaptation of Zakharov et al. (ICCV 2019, "Few-shot adversarial learning of realistic neural
talking head models"); the paper reproduced here does not describe it.

The objective is the training objective of the checkpoint (its ``train_config``: Eq. 8 with
a freshly initialised discriminator), Adam at ``lr``; nothing from the target video is used.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError


@dataclass
class FinetuneConfig:
    """Test-time fine-tuning on the reference frames (0 steps = off)."""

    steps: int = 100
    lr: float = 1e-4
    batch_size: int = 4
    seed: int = 0

    def validate(self) -> FinetuneConfig:
        if not 0 <= self.steps <= 10_000:
            raise ToolkitError(
                f"Fine-tuning steps must be between 0 and 10000, got {self.steps}.", "100 is the default."
            )
        if not 0 < self.lr <= 1e-2:
            raise ToolkitError(f"Fine-tuning lr must be in (0, 0.01], got {self.lr}.", "1e-4 is the default.")
        if self.batch_size < 1:
            raise ToolkitError(f"Fine-tuning batch size must be at least 1, got {self.batch_size}.")
        return self


def _train_config(generator):  # -> GeneratorTrainConfig
    from toolkit.generator.config import GeneratorTrainConfig, config_from_dict

    meta = getattr(generator, "checkpoint_meta", None) or {}
    if meta.get("train_config"):
        cfg = config_from_dict(meta["train_config"])
    else:  # a generator built in code: the default objective around its own sizes
        cfg = GeneratorTrainConfig(name="finetune")
    cfg.generator = generator.config
    return cfg


def finetune_generator(
    generator,  # toolkit.generator.model.Generator
    ref_frames: np.ndarray,
    ref_landmarks68: np.ndarray,
    reference_indices: np.ndarray,
    frame_landmarks68: np.ndarray,
    rendered: np.ndarray | None,
    render_mask: np.ndarray | None,
    matched: np.ndarray,
    matched_landmarks68: np.ndarray,
    config: FinetuneConfig | None = None,
    device: str = "cpu",
):  # -> Generator (a fine-tuned copy, eval mode)
    """A copy of ``generator`` fine-tuned on the reference video's own frames.

    Args:
        ref_frames: ``(N, S, S, 3)`` uint8 face crops of every reference frame (the targets).
        ref_landmarks68: ``(N, 68, 2|3)`` their tracked landmarks, pixels of the crops.
        reference_indices: ``(K,)`` the appearance references among the N frames (the generator's
            ``refs`` at inference); frames among them are not used as targets.
        frame_landmarks68: ``(N, 68, 2|3)`` the driving landmarks of each frame as the pipeline makes
            them at inference (expression posed by the head motion).
        rendered, render_mask, matched: the 3D-aware module's y~_t, mask and y_ts for each of the N
            frames (``Warp3D.generator_inputs`` at the frames' own motion and expression).
        matched_landmarks68: ``(N, 68, 2|3)`` landmarks of each frame's y_ts.

    Returns the generator itself when there is nothing to learn from (0 steps, or every reference
    frame is an appearance reference, e.g. a single image).
    """
    import torch

    from toolkit.generator.infer import model_images, model_landmark_images, model_masks
    from toolkit.generator.train import GeneratorTrainer

    cfg = (config or FinetuneConfig()).validate()
    ref_frames = np.asarray(ref_frames)
    n, src = int(ref_frames.shape[0]), int(ref_frames.shape[1])
    refs = np.unique(np.asarray(reference_indices, np.int64))
    targets = np.setdiff1d(np.arange(n), refs)
    if cfg.steps == 0 or targets.size == 0:
        return generator

    train_cfg = _train_config(generator)
    train_cfg.train = dataclasses.replace(train_cfg.train, lr=cfg.lr, seed=cfg.seed, batch_size=cfg.batch_size)
    trainer = GeneratorTrainer(train_cfg, device)
    trainer.G.load_state_dict(copy.deepcopy(generator.state_dict()))
    trainer.G.checkpoint_meta = getattr(generator, "checkpoint_meta", None)  # type: ignore[attr-defined]

    size = int(generator.config.image_size)
    scale = size / src
    images = model_images(ref_frames, size)
    lmk_images = model_landmark_images(np.asarray(ref_landmarks68), size, src)
    drive_images = model_landmark_images(np.asarray(frame_landmarks68), size, src)
    matched_t = model_images(np.asarray(matched), size)
    matched_lmk = model_landmark_images(np.asarray(matched_landmarks68), size, src)
    rendered_t = model_images(np.asarray(rendered), size) if rendered is not None else None
    mask_t = model_masks(np.asarray(render_mask), size) if render_mask is not None else None

    def points(lms: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(lms)[idx, :, :2].astype(np.float32) * scale)

    rng = np.random.default_rng(cfg.seed)
    for _ in range(cfg.steps):
        t = rng.choice(targets, size=cfg.batch_size, replace=targets.size < cfg.batch_size)
        batch = {
            "ref_images": images[refs][None].expand(len(t), -1, -1, -1, -1),
            "ref_landmarks": lmk_images[refs][None].expand(len(t), -1, -1, -1, -1),
            "target_landmark": drive_images[t],
            "matched": matched_t[t],
            "matched_landmark": matched_lmk[t],
            "render_landmark": drive_images[t],
            "target": images[t],
            "target_points": points(frame_landmarks68, t),
            "render_points": points(frame_landmarks68, t),
            "matched_points": points(matched_landmarks68, t),
        }
        if rendered_t is not None:
            batch["rendered"], batch["render_mask"] = rendered_t[t], mask_t[t]
        trainer.train_step(batch)
    return trainer.G.eval()
