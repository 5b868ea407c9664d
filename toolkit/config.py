"""The one loader of the YAML config families (the learners' and the generator's training recipes).

A config is a tree of dataclasses; its YAML file mirrors it key for key. Unknown keys are errors (a typo
must not silently fall back to a default), values are checked against the dataclass' type hints, and
command-line overrides use dotted keys (``--set optim.steps=200``), the same for every ``toolkit train``
command. The generation options (``toolkit.pipeline.config.GenerationConfig``) are one flat dataclass
filled from CLI flags, CSV cells and form fields instead; it shares :class:`~toolkit.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from toolkit.errors import ConfigError, InputFileError

T = TypeVar("T")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"Config key '{where}' must be a mapping, got {value!r}.", "Fix the YAML file.")
        return dataclass_from_dict(tp, value, where)
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"Config key '{where}' must be a list, got {value!r}.", "Fix the YAML file.")
        items = [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(
            f"Config key '{where}' must be {tp.__name__}, got {value!r}.", "Fix the YAML file or the --set override."
        )
    return value


def dataclass_from_dict(cls: type[T], d: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict (type-checked); unknown keys raise ConfigError."""
    if not isinstance(d, dict):
        raise ConfigError(f"Config section '{where or cls.__name__}' must be a mapping, got {d!r}.", "Fix the file.")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"Unknown config key(s) {', '.join(prefix + k for k in unknown)} for {cls.__name__}.",
            f"Valid keys: {', '.join(sorted(names))}.",
        )
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}" if where else k) for k, v in d.items()}
    return cls(**kwargs)


def apply_overrides(d: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides in place (values parsed as YAML scalars / lists)."""
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override '{item}' is not of the form key=value.", "Example: --set optim.steps=500")
        key, value = item.split("=", 1)
        node = d
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override '{item}': '{p}' is not a section.", "Check the key path.")
        node[parts[-1]] = yaml.safe_load(value)
    return d


def read_yaml_mapping(path: str | Path, example: str) -> dict[str, Any]:
    """The mapping in a YAML config file; clear errors for a missing file, bad syntax or another shape."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"Config file {path} does not exist.", f"Give a YAML file such as {example}.")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}.", "Fix the syntax.") from exc
    if not isinstance(d, dict):
        raise ConfigError(f"Config file {path} is not a YAML mapping.", f"See {example} for the layout.")
    return d
