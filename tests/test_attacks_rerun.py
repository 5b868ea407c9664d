"""The attacks of issue 22 on generation, rerun: kill -9 in the middle of `toolkit generate`, and two app
jobs at once. Outputs must be complete and byte-identical to an uninterrupted, sequential run.

(The survey server's attacks are in tests/test_survey_server.py: SIGKILL right after acknowledged answers,
20 concurrent raters, traversal, hostile and oversize answers; tests/test_hostile_inputs.py adds JSON bombs.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests import pipeline_media as media
from toolkit.paths import PROJECT_ROOT

OPTIONS = {"motion": "still", "k": 1, "renderer": "3d-warp", "expression": "reference", "seed": 0}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return media.face_and_speech(tmp_path_factory.mktemp("inputs"), 0.7)


@pytest.fixture(scope="module")
def sequential(inputs, tmp_path_factory) -> bytes:
    """The uninterrupted output, made in this process."""
    from toolkit.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.config import GenerationConfig

    out = tmp_path_factory.mktemp("sequential") / "result.mp4"
    TalkingHeadPipeline(GenerationConfig(**OPTIONS)).generate(inputs["face"], inputs["speech"], out)
    return out.read_bytes()


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_generate_killed_mid_render_then_rerun_gives_the_same_bytes(inputs, sequential, tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    cmd = [sys.executable, "-m", "toolkit", "generate", "-r", str(inputs["face"]), "-a", str(inputs["speech"]),
           "-o", str(out), "--quiet", *[a for k, v in OPTIONS.items() for a in (f"--{k}", str(v))]]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 120
    while not _hidden(tmp_path):  # the writer has started: frames are being encoded
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    assert not out.exists() and _hidden(tmp_path)  # nothing at the output; temporary files left behind
    from toolkit.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.config import GenerationConfig

    # the next run of the same output (in this process, whose models are loaded already)
    TalkingHeadPipeline(GenerationConfig(**OPTIONS)).generate(inputs["face"], inputs["speech"], out)
    assert out.read_bytes() == sequential
    assert _hidden(tmp_path) == []


def test_two_app_jobs_at_once_give_the_sequential_bytes(inputs, sequential, tmp_path: Path) -> None:
    import app

    settings = app.AppSettings(output_root=tmp_path)
    handler = app.make_handler(settings)
    # the app's inputs: one reference (video or photo), audio, renderer, K, motion, motion file, expression,
    # expression video, scales, seed, paste-back
    args = [str(inputs["face"]), str(inputs["speech"]), OPTIONS["renderer"], OPTIONS["k"], OPTIONS["motion"], None,
            OPTIONS["expression"], None, 1.0, 1.0, OPTIONS["seed"], False]  # fmt: skip
    results: list = [None, None]

    def job(i: int) -> None:
        results[i] = list(handler(*args))[-1][0]

    threads = [threading.Thread(target=job, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(r is not None for r in results)
    assert results[0] != results[1]  # each its own run folder
    for r in results:
        assert Path(r).read_bytes() == sequential
