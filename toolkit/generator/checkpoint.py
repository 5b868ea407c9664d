"""Generator checkpoints: safetensors for tensors, JSON for the rest (nothing is unpickled).

A shipped generator is a folder (the layout of ``toolkit.learners`` checkpoints)::

    model.safetensors   generator weights
    config.json         {"kind": "generator", "format_version", "generator": {...GeneratorConfig},
                         "perceptual", "step", "data", ..., "sha256"}

A training run keeps ``<out>/state/train_state.safetensors`` (generator, discriminator and both
Adam states) + ``train_state.json`` (step, config, optimiser hyper-parameters, RNG seed) to resume.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.generator.config import GeneratorConfig, generator_config_from_dict
from toolkit.io.atomic import atomic_path, write_json_atomic
from toolkit.io.hashing import file_sha256

FORMAT_VERSION = 1
KIND = "generator"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
STATE_DIR = "state"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


class CheckpointError(ToolkitError):
    code = "bad-checkpoint"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def export_generator(folder: str | Path, generator: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write a shippable generator folder (weights first, then config.json with their sha256)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAME
    save_tensors(weights, dict(generator.state_dict()), {"kind": KIND, "format_version": str(FORMAT_VERSION)})
    cfg: GeneratorConfig = generator.config  # type: ignore[assignment]
    doc = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "generator": dataclasses.asdict(cfg),
        **meta,
        "sha256": file_sha256(weights),
    }
    write_json_atomic(folder / CONFIG_NAME, doc)
    return folder


def default_generator_path() -> Path:
    from toolkit.paths import checkpoints_dir

    return checkpoints_dir() / "generator"


def load_generator(path: str | Path | None = None, map_location: str = "cpu"):  # -> Generator
    """Load a generator folder written by :func:`export_generator` (default: the shipped one)."""
    from safetensors.torch import load_file

    from toolkit.generator.model import Generator

    folder = Path(path) if path else default_generator_path()
    if folder.suffix == ".safetensors" or folder.name == CONFIG_NAME:
        folder = folder.parent
    weights, cfg_path = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    for p in (weights, cfg_path):
        if not p.exists():
            raise WeightsNotFoundError(
                f"Generator checkpoint file {p} not found.",
                "Train one with `toolkit train generator` or point at a folder holding model.safetensors "
                "and config.json.",
            )
    doc = json.loads(cfg_path.read_text())
    if doc.get("kind") != KIND:
        raise CheckpointError(f"{cfg_path} holds a '{doc.get('kind')}' model, not a generator.")
    if doc.get("sha256") and doc["sha256"] != file_sha256(weights):
        raise CheckpointError(
            f"{weights} does not match the sha256 in {cfg_path} (corrupt or replaced).", "Re-export the checkpoint."
        )
    gen_cfg = generator_config_from_dict(doc["generator"])
    model = Generator(gen_cfg)
    state = load_file(str(weights), device=map_location)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights} does not fit its config: {exc}", "Re-export the checkpoint.") from exc
    model.checkpoint_meta = doc  # type: ignore[attr-defined]
    return model.eval()


# --------------------------------------------------------------------------- optimiser flattening


def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, extra in doc.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(extra)
    return {"state": state, "param_groups": doc["param_groups"]}


def beats_3d_warp(path: str | Path) -> bool:
    """Whether a generator checkpoint records that it beats the 3D warp on the validation people.

    The record is ``config.json``'s ``"validation": {"beats_3d_warp": true, ...}``, written from the
    model card's speaker-disjoint benchmark (``ours`` vs ``3d-warp``: SSIM, mouth SSIM, PSNR, LMD,
    CSIM with paired bootstrap intervals). Without the record it does not: ``auto`` then renders
    with the 3D warp.
    """
    folder = Path(path)
    if folder.suffix == ".safetensors" or folder.name == CONFIG_NAME:
        folder = folder.parent
    try:
        doc = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    record = doc.get("validation")
    return bool(isinstance(record, dict) and record.get("beats_3d_warp") is True)
