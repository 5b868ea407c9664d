"""What ``toolkit generate`` prints: quiet native libraries by default, -v shows them, --quiet only errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.native_logs import filter_noise
from toolkit.paths import PROJECT_ROOT

NATIVE_MARKERS = ("InitGoogle", "face_landmarker_graph", "XNNPACK", "inference_feedback_manager")


def _generate(tmp_path: Path, reference: Path, *flags: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop("TOOLKIT_NATIVE_LOGS", None)
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}.mp4"
    # still head, held expression: the quickest full run (no learners), same tracking as any other
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "generate",
            "-r",
            str(reference),
            "-a",
            str(PROJECT_ROOT / "assets" / "example_speech.wav"),
            "-o",
            str(out),
            "--motion",
            "still",
            "--expression",
            "reference",
            "--max-seconds",
            "0",
            *flags,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def reference(shared_file) -> Path:
    return shared_file("av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4")


def test_default_run_has_no_native_start_up_lines_and_verbose_shows_them(tmp_path, reference) -> None:
    default = _generate(tmp_path, reference)
    assert default.returncode == 0, default.stderr
    assert "wrote " in default.stdout
    assert not [m for m in NATIVE_MARKERS if m in default.stderr], default.stderr
    verbose = _generate(tmp_path, reference, "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert [m for m in NATIVE_MARKERS if m in verbose.stderr], "-v should show MediaPipe's own start-up lines"


def test_quiet_prints_nothing_on_success_and_the_error_on_failure(tmp_path, reference) -> None:
    quiet = _generate(tmp_path, reference, "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    failed = _generate(tmp_path, tmp_path / "missing.mp4", "--quiet")
    assert failed.returncode == 2
    assert failed.stdout == "" and failed.stderr.startswith("error: ") and "missing.mp4" in failed.stderr


def test_native_noise_filter_keeps_errors_and_other_text() -> None:
    text = (
        "WARNING: Logging before InitGoogle() is written to STDERR\n"
        "W0000 00:00:1796269136.486134    6127 face_landmarker_graph.cc:181] Sets FaceBlendshapesGraph "
        "acceleration to xnnpack by default.\n"
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
        "E0000 00:00:1796269136.5    6127 graph.cc:1] Could not open model file.\n"
        "Traceback (most recent call last):\n"
    )
    kept = filter_noise(text)
    assert kept == (
        "E0000 00:00:1796269136.5    6127 graph.cc:1] Could not open model file.\nTraceback (most recent call last):\n"
    )
