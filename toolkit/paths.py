"""Where the toolkit looks for shared data, weights and caches.

Everything is overridable by environment variables so that users can point
the toolkit at their own data and weights.
"""

from __future__ import annotations

import os
import site
import sysconfig
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: where a wheel install puts the shipped folders (pyproject.toml's data-files), below the install prefix
INSTALLED_DATA_SUBDIR = Path("share") / "rhythmic-talking-head"

#: the folders that ship beside the packages: weights, training recipes, the demo's example files
SHIPPED_FOLDERS = ("checkpoints", "configs", "assets")


def is_source_checkout() -> bool:
    """True when the packages run from a source tree (a clone, an editable install), not from a wheel."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def shipped_dir(name: str) -> Path:
    """One of SHIPPED_FOLDERS: the source tree's folder, else the copy a wheel installed.

    A wheel installs them under ``<prefix>/share/rhythmic-talking-head/`` (``sys.prefix`` for a venv,
    the user base for ``pip install --user``). Returns the source-tree path when neither exists,
    so that error messages name the place a checkout would use.
    """
    if name not in SHIPPED_FOLDERS:
        raise ValueError(f"{name!r} is not one of the shipped folders {SHIPPED_FOLDERS}")
    local = PROJECT_ROOT / name
    if is_source_checkout() or local.is_dir():
        return local
    prefixes = [Path(sysconfig.get_path("data")), Path(site.getuserbase())]
    for prefix in prefixes:
        candidate = prefix / INSTALLED_DATA_SUBDIR / name
        if candidate.is_dir():
            return candidate
    return local


def shared_dir() -> Path:
    """The shared folder (data, weights) beside the checkout, or $TOOLKIT_SHARED."""
    return Path(os.environ.get("TOOLKIT_SHARED", PROJECT_ROOT.parent / "shared"))


def shared_data_dir() -> Path:
    """Real talking-head clips; $TOOLKIT_DATA overrides."""
    env = os.environ.get("TOOLKIT_DATA")
    return Path(env) if env else shared_dir() / "data"


def shared_weights_dir() -> Path:
    """Pretrained weights only public repositories serve; $TOOLKIT_WEIGHTS overrides."""
    env = os.environ.get("TOOLKIT_WEIGHTS")
    return Path(env) if env else shared_dir() / "weights"


def checkpoints_dir() -> Path:
    """Weights the project ships; $TOOLKIT_CHECKPOINTS overrides (see shipped_dir for a wheel install)."""
    env = os.environ.get("TOOLKIT_CHECKPOINTS")
    return Path(env) if env else shipped_dir("checkpoints")


def configs_dir() -> Path:
    """The training recipes (configs/*.yaml)."""
    return shipped_dir("configs")


def assets_dir() -> Path:
    """The demo's and the app's example files (assets/)."""
    return shipped_dir("assets")


def cache_dir() -> Path:
    """Per-user cache for derived files (features, preprocessed clips)."""
    env = os.environ.get("TOOLKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "rhythmic-talking-head"
