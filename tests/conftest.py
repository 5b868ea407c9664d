"""Shared pytest fixtures.

- ``shared_data``: the real clips folder (``toolkit.paths.shared_data_dir()``,
  ``$TOOLKIT_DATA`` overrides); tests that use it skip with a clear message
  where it is absent and run where it is present (CI).
- ``shared_file``: ``shared_file("av/<name>.mp4")`` -> Path, skipping if that file is absent.
- ``tmp_media``: a :class:`tests.media_cases.TmpMedia` in the test's tmp folder,
  to synthesise good files with known content and bad files (empty, corrupt,
  truncated, rotated, odd sample rates, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from toolkit.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not (root / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared data not found at {root} (set TOOLKIT_DATA to the folder holding MANIFEST.tsv)")
    return root


@pytest.fixture(scope="session")
def shared_file(shared_data: Path) -> Callable[[str], Path]:
    def get(relative: str) -> Path:
        p = shared_data / relative
        if not p.is_file():
            pytest.skip(f"shared data file {relative} not found under {shared_data}")
        return p

    return get


@pytest.fixture
def tmp_media(tmp_path: Path):
    from tests.media_cases import TmpMedia

    return TmpMedia(tmp_path / "media")
