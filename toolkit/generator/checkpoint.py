"""Generator checkpoints, in the one checkpoint format of ``toolkit.io.checkpoint`` (nothing is unpickled).

A shipped generator is a folder::

    model.safetensors   generator weights
    config.json         {"kind": "generator", "format_version", "generator": {...GeneratorConfig},
                         "perceptual", "step", "data", ..., "sha256"}

A training run keeps ``<out>/state/`` (generator, discriminator, both Adam states, RNG, step) through
``toolkit.io.checkpoint.save_train_state`` to resume, as the learners' runs do.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from toolkit.errors import ToolkitError
from toolkit.generator.config import GeneratorConfig, generator_config_from_dict
from toolkit.io.checkpoint import checkpoint_files, load_model, save_model

KIND = "generator"


class CheckpointError(ToolkitError):
    code = "bad-checkpoint"


def export_generator(folder: str | Path, generator: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write a shippable generator folder (weights first, then config.json with their sha256)."""
    cfg: GeneratorConfig = generator.config  # type: ignore[assignment]
    return save_model(folder, dict(generator.state_dict()), KIND, {"generator": dataclasses.asdict(cfg), **meta})


def default_generator_path() -> Path:
    from toolkit.paths import checkpoints_dir

    return checkpoints_dir() / "generator"


def load_generator(path: str | Path | None = None, map_location: str = "cpu"):  # -> Generator
    """Load a generator folder written by :func:`export_generator` (default: ``checkpoints/generator``).

    Missing files, another model's folder, a format version this toolkit does not read and a weights
    file that does not match its recorded SHA-256 are each a clear error (``toolkit.io.checkpoint``).
    """
    from toolkit.generator.model import Generator

    tensors, doc = load_model(Path(path) if path else default_generator_path(), KIND)
    model = Generator(generator_config_from_dict(doc["generator"]))
    try:
        model.load_state_dict({k: v.to(map_location) for k, v in tensors.items()}, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"The generator weights do not fit their config: {exc}", "Re-export the checkpoint."
        ) from exc
    model.checkpoint_meta = doc  # type: ignore[assignment]
    return model.eval()


def beats_3d_warp(path: str | Path) -> bool:
    """Whether a generator checkpoint records that it beats the 3D warp on the validation people.

    The record is ``config.json``'s ``"validation": {"beats_3d_warp": true, ...}``, written from the
    model card's speaker-disjoint benchmark (``ours`` vs ``3d-warp``: SSIM, mouth SSIM, PSNR, LMD,
    CSIM with paired bootstrap intervals). Without the record it does not: ``auto`` then renders
    with the 3D warp.
    """
    try:
        doc = json.loads(checkpoint_files(path)[1].read_text())
    except (OSError, json.JSONDecodeError):
        return False
    record = doc.get("validation")
    return bool(isinstance(record, dict) and record.get("beats_3d_warp") is True)
