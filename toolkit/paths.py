"""Where the toolkit looks for shared data, weights and caches.

Everything is overridable by environment variables so that users can point
the toolkit at their own data and weights.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    """Weights the project ships."""
    return PROJECT_ROOT / "checkpoints"


def cache_dir() -> Path:
    """Per-user cache for derived files (features, preprocessed clips)."""
    env = os.environ.get("TOOLKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "rhythmic-talking-head"
