"""Silero VAD per video frame (toolkit/audio/vad.py): packaged model found and checked, speech vs silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME
from toolkit.errors import WeightsNotFoundError

pytest.importorskip("onnxruntime")
vad = pytest.importorskip("toolkit.audio.vad")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    from toolkit.io.media import read_audio
    from toolkit.paths import shared_data_dir

    path = shared_data_dir() / "av" / "FuxiVirtualHuman__styletalk__andrew_clip_1.wav"
    if not path.exists():
        pytest.skip("shared clip missing")
    return np.asarray(read_audio(path), np.float32)[: 4 * AUDIO_SAMPLE_RATE]


def test_packaged_model_is_found_and_checked() -> None:
    if vad.importlib.util.find_spec(vad.PACKAGE_MODULE) is None:
        pytest.skip("silero-vad not installed")
    assert vad.model_path().name == Path(vad.MODEL_FILE).name == "silero_vad_16k_sequence.onnx"


def test_speech_is_speech_and_silence_is_not(speech: np.ndarray) -> None:
    if vad.importlib.util.find_spec(vad.PACKAGE_MODULE) is None:
        pytest.skip("silero-vad not installed")
    silence = np.zeros(AUDIO_SAMPLE_RATE, np.float32)
    audio = np.concatenate([speech, silence])
    n = int(np.ceil(audio.size / SAMPLES_PER_FRAME))
    p = vad.frame_speech_probability(audio, n)
    assert p.shape == (n,) and p.dtype == np.float32 and np.all((p >= 0) & (p <= 1))
    n_speech = speech.size // SAMPLES_PER_FRAME
    assert np.mean(p[:n_speech] > 0.5) > 0.6  # a talking person: mostly speech
    assert np.all(p[n_speech + 8 :] < 0.2)  # digital silence after the model's memory fades: no speech
    # per-frame values are the chunk values spread over frames: a constant input gives constant output
    assert np.allclose(vad.frame_speech_probability(np.zeros(6400, np.float32), 10), p[-1], atol=0.05)


def test_missing_or_corrupt_model_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vad.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsNotFoundError, match="silero-vad"):
        vad.model_path()
    monkeypatch.undo()
    (tmp_path / "data").mkdir()
    (tmp_path / vad.MODEL_FILE).write_bytes(b"not a model")

    from types import SimpleNamespace

    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(vad.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(WeightsNotFoundError, match=r"corrupt(.|\n)*silero-vad==6\.2\.3"):
        vad.model_path()
    (tmp_path / vad.MODEL_FILE).unlink()
    with pytest.raises(WeightsNotFoundError, match=r"missing from the installed package"):
        vad.model_path()
