"""Audio features: frame alignment with 25 fps video, exact SNR mixing, onsets."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.audio import audio_onsets, audio_windows, log_mel, mix_at_snr, onset_envelope
from toolkit.audio.features import fit_to_frames, mel_filterbank
from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import SilentAudioError
from toolkit.io.media import read_audio

SPEECH = "speech/speechbrain__speechbrain__example1.wav"  # 3.26 s
NOISY_SPEECH = "speech/tencent-ailab__V-Express__short_case_AOC_aud.mp3"  # 44.1 kHz stereo mp3, 4.62 s


def _frame_ramp(n_frames: int) -> np.ndarray:
    """Audio whose samples in video frame t all equal t + 1 (0 is reserved for padding)."""
    return np.repeat(np.arange(1, n_frames + 1, dtype=np.float32), SAMPLES_PER_FRAME)


def test_fit_to_frames_pads_and_trims_at_the_end() -> None:
    a = np.arange(1000, dtype=np.float32)
    assert np.array_equal(fit_to_frames(a, 1), a[:640])
    padded = fit_to_frames(a, 2)
    assert padded.size == 1280 and np.array_equal(padded[:1000], a) and not padded[1000:].any()


def test_audio_windows_are_frames_t_minus_3_to_t_plus_3() -> None:
    n = 10
    win = audio_windows(_frame_ramp(n), n)
    assert win.shape == (n, 7, 640) and win.dtype == np.float32
    for t in range(n):
        for k in range(7):
            src = t - 3 + k
            expected = src + 1 if 0 <= src < n else 0.0  # zero padding outside the clip
            assert np.all(win[t, k] == expected), (t, k)
    # the centre row is the frame's own 640 samples
    assert np.array_equal(win[:, 3].ravel(), _frame_ramp(n))


def test_audio_windows_fit_short_audio_and_empty_clips() -> None:
    win = audio_windows(np.ones(1000, np.float32), 3)  # 1000 < 3 * 640
    assert win.shape == (3, 7, 640)
    assert win[0, 3].all() and win[1, 3, : 1000 - 640].all() and not win[1, 3, 1000 - 640 :].any()
    assert audio_windows(np.ones(10), 0).shape == (0, 7, 640)


def test_log_mel_shape_and_real_speech(shared_file) -> None:
    audio = read_audio(shared_file(SPEECH))
    n = audio.size // SAMPLES_PER_FRAME
    mel = log_mel(audio, n)
    assert mel.shape == (n, 80, 4) and mel.dtype == np.float32 and np.isfinite(mel).all()
    # speech is louder than the floor ln(1e-6) and varies over time
    assert mel.max() > -2 and mel.mean(axis=(1, 2)).std() > 0.5


@pytest.mark.parametrize("quarter", [0, 1, 2, 3])
def test_log_mel_steps_are_centred_in_their_video_frame(quarter: int) -> None:
    n, t = 12, 5
    audio = np.zeros(n * SAMPLES_PER_FRAME, np.float32)
    centre = t * SAMPLES_PER_FRAME + 80 + 160 * quarter  # centre of the frame's quarter
    audio[centre] = 1.0
    mel = log_mel(audio, n)
    energy = np.exp(mel).sum(axis=1)  # (n, 4)
    assert np.unravel_index(np.argmax(energy), energy.shape) == (t, quarter)
    # the 25 ms window reaches 200 samples each side: the impulse is seen by <= 3 steps
    assert (energy > 10 * energy.min()).sum() <= 3


def test_mel_filterbank_covers_the_band() -> None:
    fb = mel_filterbank(80)
    assert fb.shape == (80, 257) and (fb.sum(axis=0) > 0)[4:243].all()  # 55 Hz .. 7600 Hz bins
    assert fb[:, -1].sum() == 0 and fb[:, 0].sum() == 0


@pytest.mark.parametrize("snr_db", [6.0, 9.0, 15.0, 21.0, 30.0])
def test_mix_at_snr_hits_the_requested_snr(shared_file, snr_db: float) -> None:
    speech = 0.3 * read_audio(shared_file(SPEECH))  # quiet enough not to clip
    noise = read_audio(shared_file(NOISY_SPEECH))[:20000]  # shorter than the speech: looped
    mix = mix_at_snr(speech, noise, snr_db, np.random.default_rng(1), avoid_clipping=False)
    assert mix.dtype == np.float32 and mix.shape == speech.shape
    added = mix.astype(np.float64) - speech
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added**2))
    assert measured == pytest.approx(snr_db, abs=0.1)


def test_mix_at_snr_loops_noise_and_uses_the_rng() -> None:
    speech = np.random.default_rng(0).standard_normal(5000).astype(np.float32) * 0.1
    noise = np.sin(np.arange(300) / 7.0).astype(np.float32)
    a = mix_at_snr(speech, noise, 10.0, np.random.default_rng(5))
    b = mix_at_snr(speech, noise, 10.0, np.random.default_rng(5))
    c = mix_at_snr(speech, noise, 10.0, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    added = a - speech
    assert np.allclose(added[:300], added[300:600], atol=1e-6)  # looped with the noise's period


def test_mix_at_snr_avoids_clipping_without_changing_the_snr() -> None:
    speech = np.sin(np.arange(16000) / 5.0).astype(np.float32) * 0.95
    noise = np.random.default_rng(2).standard_normal(16000).astype(np.float32)
    raw = mix_at_snr(speech, noise, 6.0, avoid_clipping=False)
    safe = mix_at_snr(speech, noise, 6.0)
    assert np.abs(raw).max() > 1.0 and np.abs(safe).max() <= 1.0 + 1e-6
    scale = np.abs(safe).max() / np.abs(raw).max()
    assert np.allclose(safe, raw * scale, atol=1e-6)  # one gain for speech and noise: same SNR


def test_mix_at_snr_refuses_silence() -> None:
    with pytest.raises(SilentAudioError, match="noise"):
        mix_at_snr(np.ones(100), np.zeros(50), 10.0)
    with pytest.raises(SilentAudioError, match="speech"):
        mix_at_snr(np.zeros(100), np.ones(50), 10.0)


def test_onsets_find_clicks_at_known_frames() -> None:
    n = 100
    rng = np.random.default_rng(0)
    audio = (0.001 * rng.standard_normal(n * SAMPLES_PER_FRAME)).astype(np.float32)  # faint background
    beats = [10, 27, 45, 70, 88]
    for f in beats:
        start = f * SAMPLES_PER_FRAME + 200
        audio[start : start + 1600] += 0.5 * np.sin(np.arange(1600) / 3.0) * np.exp(-np.arange(1600) / 300.0)
    env = onset_envelope(audio, n)
    assert env.shape == (n,) and env.max() == pytest.approx(1.0)
    onsets = audio_onsets(audio, n)
    assert onsets.dtype == np.int64
    assert len(onsets) == len(beats)
    assert np.abs(onsets - np.array(beats)).max() <= 1


def test_onsets_of_real_speech_and_of_silence(shared_file) -> None:
    audio = read_audio(shared_file(SPEECH))
    n = audio.size // SAMPLES_PER_FRAME
    onsets = audio_onsets(audio, n)
    # read speech has a few syllable onsets per second, inside the clip, strictly increasing
    assert 1.0 < len(onsets) / (n / 25) < 8.0
    assert onsets.min() >= 0 and onsets.max() < n and np.all(np.diff(onsets) > 2)
    assert audio_onsets(np.zeros(n * SAMPLES_PER_FRAME), n).size == 0
