"""A wheel carries the shipped folders, and the toolkit finds them where a wheel puts them."""

from __future__ import annotations

import fnmatch
import subprocess
import sysconfig
import tomllib
from pathlib import Path

import pytest

from toolkit import paths

ROOT = paths.PROJECT_ROOT


def _data_files() -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["data-files"]


def test_every_shipped_file_is_in_the_wheel_data_files() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", *paths.SHIPPED_FOLDERS], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert any(name.startswith("checkpoints/") for name in tracked)
    data_files = _data_files()
    missing = []
    for name in tracked:
        parent = str(Path(name).parent)
        destination = str(paths.INSTALLED_DATA_SUBDIR / parent)
        patterns = data_files.get(destination, [])
        if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            missing.append(name)
    assert not missing, f"add these to [tool.setuptools.data-files] in pyproject.toml: {missing}"


def test_checkout_uses_its_own_folders() -> None:
    assert paths.is_source_checkout()
    assert paths.checkpoints_dir() == ROOT / "checkpoints"
    assert (paths.configs_dir() / "expression.yaml").is_file()
    assert (paths.assets_dir() / "example_speech.wav").is_file()


def test_wheel_install_finds_the_installed_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_packages = tmp_path / "lib" / "site-packages"  # what PROJECT_ROOT is for an installed wheel
    site_packages.mkdir(parents=True)
    prefix = tmp_path / "prefix"
    installed = prefix / paths.INSTALLED_DATA_SUBDIR / "checkpoints" / "motion"
    installed.mkdir(parents=True)
    monkeypatch.setattr(paths, "PROJECT_ROOT", site_packages)
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(prefix) if name == "data" else "")
    monkeypatch.delenv("TOOLKIT_CHECKPOINTS", raising=False)
    assert not paths.is_source_checkout()
    assert paths.checkpoints_dir() == installed.parent
    monkeypatch.setenv("TOOLKIT_CHECKPOINTS", str(tmp_path / "mine"))
    assert paths.checkpoints_dir() == tmp_path / "mine"
    with pytest.raises(ValueError, match="shipped folders"):
        paths.shipped_dir("models")


def test_wheel_install_keeps_fetched_face_models_out_of_site_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolkit.pretrained.face_models as face_models

    monkeypatch.delenv("TOOLKIT_NPM_MODELS", raising=False)
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(face_models, "is_source_checkout", lambda: False)
    assert face_models.npm_models_dir() == tmp_path / "cache" / "models" / "npm"
