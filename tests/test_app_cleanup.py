"""The app's disk use stays bounded (issue 22): Gradio's cache expires, failed requests leave no run
folder, pruning removes only run folders; the duration message names no command-line flag."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests import pipeline_media as media


def _args(face: Path, audio: Path) -> list:
    # reference (video or photo), audio, renderer, k, motion, motion file, expression, expression video, scales,
    # seed, paste-back
    return [str(face), str(audio), "auto", 1, "still", None, "reference", None, 1.0, 1.0, 0, False]


def test_failed_request_leaves_no_run_folder_and_names_no_cli_flag(tmp_path: Path) -> None:
    import gradio as gr

    import app

    settings = app.AppSettings(max_seconds=1.0, output_root=tmp_path / "out")
    face = media.write_png(tmp_path / "face.png", media.astronaut())
    long_audio = media.write_wav(tmp_path / "long.wav", np.tile(media.speech(1.0), 3))
    handler = app.make_handler(settings)
    with pytest.raises(gr.Error) as info:
        list(handler(*_args(face, long_audio)))
    message = str(info.value)
    assert "1 s" in message and "--" not in message, message  # no CLI flag in the app
    runs = [p for p in (tmp_path / "out").iterdir()] if (tmp_path / "out").exists() else []
    assert runs == [], runs


def test_pruning_removes_only_old_run_folders(tmp_path: Path) -> None:
    import app

    settings = app.AppSettings(output_root=tmp_path, keep_runs=3)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "astronaut.png").write_bytes(b"png")
    (tmp_path / "my-notes").mkdir()  # not the app's: never removed
    for folder in ("examples", "my-notes"):  # made when the app started: the oldest folders there
        os.utime(tmp_path / folder, (1000, 1000))
    old = []
    for i in range(5):
        run = app._new_run_dir(settings)
        os.utime(run, (1_000_000 + i, 1_000_000 + i))  # oldest first
        old.append(run)
    newest = app._new_run_dir(settings)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert (tmp_path / "examples" / "astronaut.png").is_file() and (tmp_path / "my-notes").is_dir()
    assert sorted(p.name for p in [*old[-2:], newest]) == sorted(set(left) - {"examples", "my-notes"})


def test_gradio_cache_is_deleted_after_its_age(tmp_path: Path) -> None:
    import httpx

    import app

    settings = app.AppSettings(output_root=tmp_path / "out", cache_max_age_s=1)
    demo = app.build_app(settings)
    assert demo.delete_cache == (1, 1)
    _, url, _ = demo.launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **app.launch_kwargs(settings)
    )
    try:
        upload = tmp_path / "speech.wav"
        media.write_wav(upload, media.speech(0.5))
        with upload.open("rb") as f:
            r = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("speech.wav", f)}, timeout=30)
        r.raise_for_status()
        cached = Path(r.json()[0])
        assert cached.is_file()
        deadline = time.monotonic() + 15
        while cached.exists() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not cached.exists(), "an upload older than the cache age is still on disk"
    finally:
        demo.close()
