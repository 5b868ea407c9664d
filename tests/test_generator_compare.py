"""scripts/generator_vs_warp.py: method labels and the FID read from a `toolkit evaluate` results folder."""

from __future__ import annotations

import math
from pathlib import Path

from scripts.generator_vs_warp import method_fid, parse_spec

ROOT = Path(__file__).resolve().parents[1]
MAIN_K8 = ROOT / "eval" / "benchmarks" / "results" / "shared_val8_k8" / "main_0c17deb"


def test_parse_spec_keeps_folder_method_and_label() -> None:
    assert parse_spec("/runs/k8_step200:ours-landmark=step 200") == (
        Path("/runs/k8_step200"),
        "ours-landmark",
        "step 200",
    )
    # no label: the method's own name; a colon inside the folder stays in the folder
    assert parse_spec("C:/runs/a:3d-warp-landmark") == (Path("C:/runs/a"), "3d-warp-landmark", "3d-warp-landmark")


def test_method_fid_is_the_leaderboards_number() -> None:
    # the committed main_0c17deb K = 8 leaderboard prints FID 27.6 for 3d-warp-landmark and 25.7 for 3d-warp-audio
    assert round(method_fid(MAIN_K8, "3d-warp-landmark"), 1) == 27.6
    assert round(method_fid(MAIN_K8, "3d-warp-audio"), 1) == 25.7


def test_method_fid_is_nan_without_a_result(tmp_path: Path) -> None:
    assert math.isnan(method_fid(MAIN_K8, "no-such-method"))
    assert math.isnan(method_fid(tmp_path, "3d-warp-landmark"))  # no results.json there
