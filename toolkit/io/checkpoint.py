"""Checkpoint files of every learned part (the learners and the generator): safetensors for tensors,
JSON for everything else.

Loading never unpickles: tensors come from ``safetensors`` (a flat, typed
format with no code in it) and configuration from ``json``. A shipped model is
a folder::

    model.safetensors   the network weights and buffers (PCA basis, motion statistics)
    config.json         {"kind", "format_version", "net": {...}, "sha256": <of model.safetensors>, ...}

A training run also keeps ``state/`` (weights of every module, optimiser
moments, random generator states and the step) so that it can resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.io.atomic import atomic_path, write_json_atomic
from toolkit.io.hashing import file_sha256

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
STATE_DIR = "state"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


def save_tensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Tensors to ``path`` (safetensors, written atomically)."""
    from safetensors.torch import save_file

    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def save_model(folder: str | Path, tensors: dict[str, Any], kind: str, meta: dict[str, Any]) -> Path:
    """Write ``folder/model.safetensors`` + ``folder/config.json`` (weights first, config last)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAME
    save_tensors(weights, tensors, metadata={"kind": kind, "format_version": str(FORMAT_VERSION)})
    config = {"kind": kind, "format_version": FORMAT_VERSION, **meta, "sha256": file_sha256(weights)}
    write_json_atomic(folder / CONFIG_NAME, config)
    return folder


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """(weights, config.json) of a checkpoint given as its folder, its weights file or its config file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return path, path.with_name(CONFIG_NAME)
    if path.name == CONFIG_NAME:
        return path.with_name(WEIGHTS_NAME), path
    return path / WEIGHTS_NAME, path / CONFIG_NAME


def load_model(path: str | Path, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a model folder written by :func:`save_model`; returns (tensors, config)."""
    from safetensors.torch import load_file

    weights, config_path = checkpoint_files(path)
    for p in (weights, config_path):
        if not p.exists():
            raise WeightsNotFoundError(
                f"Checkpoint file {p} not found.",
                "Pass a folder containing model.safetensors and config.json (as written by `toolkit train`), "
                "or use the shipped checkpoints/ folder.",
            )
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ToolkitError(
            f"{config_path} is not valid JSON ({exc}).", "Re-export or re-download the checkpoint."
        ) from exc
    if config.get("kind") != kind:
        raise ToolkitError(
            f"{config_path.parent} holds a '{config.get('kind')}' checkpoint, not a '{kind}'.",
            "Give the checkpoint folder of the right model (checkpoints/expression, checkpoints/motion or a "
            "generator folder).",
        )
    if int(config.get("format_version", -1)) != FORMAT_VERSION:
        raise ToolkitError(
            f"{config_path} has checkpoint format {config.get('format_version')}, this toolkit reads {FORMAT_VERSION}.",
            "Use a toolkit version that matches the checkpoint, or retrain.",
        )
    expected = config.get("sha256")
    if expected and file_sha256(weights) != expected:
        raise ToolkitError(
            f"{weights} does not match the checksum in {config_path} (file changed or from another run).",
            "Keep model.safetensors and config.json of the same export together.",
        )
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ToolkitError(
            f"{weights} is not a readable safetensors file ({exc}).", "Re-export the checkpoint."
        ) from exc
    return tensors, config


# ---------------------------------------------------------------- training state (resume)


def save_train_state(
    run_dir: str | Path,
    step: int,
    modules: dict[str, Any],
    optimizers: dict[str, Any],
    extra: dict[str, Any],
) -> None:
    """Everything needed to resume, as safetensors + JSON (written tensors first, JSON last)."""
    import torch

    folder = Path(run_dir) / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    opt_json: dict[str, Any] = {}
    for name, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"module/{name}/{k}"] = v
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim/{name}/{idx}/{k}"] = v
                else:
                    scalars.setdefault(str(idx), {})[k] = v
        opt_json[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    tensors["rng/torch"] = torch.get_rng_state()
    save_tensors(folder / STATE_TENSORS, tensors, metadata={"step": str(step)})
    write_json_atomic(
        folder / STATE_JSON,
        {"format_version": FORMAT_VERSION, "step": step, "optimizers": opt_json, **extra},
    )


def has_train_state(run_dir: str | Path) -> bool:
    folder = Path(run_dir) / STATE_DIR
    return (folder / STATE_JSON).exists() and (folder / STATE_TENSORS).exists()


def load_train_state(run_dir: str | Path, modules: dict[str, Any], optimizers: dict[str, Any]) -> dict[str, Any]:
    """Restore modules, optimisers and the torch RNG in place; returns the JSON part (step, extras)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = Path(run_dir) / STATE_DIR
    info = json.loads((folder / STATE_JSON).read_text())
    if "optimizers" not in info:
        raise ToolkitError(
            f"The training state in {folder} was written by an older toolkit version (another layout).",
            "Start the run again with --no-resume (or in a new --out folder).",
        )
    with safe_open(str(folder / STATE_TENSORS), framework="pt") as f:
        tensor_step = int((f.metadata() or {}).get("step", -1))
    if tensor_step != int(info["step"]):
        raise ToolkitError(
            f"Training state in {folder} is inconsistent (tensors at step {tensor_step}, JSON at step {info['step']}).",
            "Delete the state/ folder to restart from scratch, or restore both files from one save.",
        )
    tensors = load_file(str(folder / STATE_TENSORS))
    for name, module in modules.items():
        prefix = f"module/{name}/"
        module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in optimizers.items():
        saved = info["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"optim/{name}/"
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix) :].split("/", 1)
                state.setdefault(int(idx), {})[key] = v
        for idx, sc in saved["scalars"].items():
            state.setdefault(int(idx), {}).update(sc)
        opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"])
    return info
