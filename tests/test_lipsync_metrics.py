"""Lip-sync metrics without SyncNet (toolkit/metrics/lipsync.py) on synthetic shapes and a real clip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from toolkit.io.media import read_audio, read_video
from toolkit.metrics import lipsync as L

#: 6 s of English speech ("My biggest weakness is asking for help..."), 25 fps, own audio
CLIP = "av_more/OpenTalker__video-retalking__1.mp4"


def _face(openings: np.ndarray, iod: float = 100.0) -> np.ndarray:
    """(T, 68, 2) landmarks: eye corners ``iod`` apart, inner lips ``opening * iod`` apart."""
    lm = np.zeros((len(openings), 68, 2), np.float64)
    lm[:, 36] = (0.0, 0.0)
    lm[:, 45] = (iod, 0.0)
    for up, lo in L.INNER_LIP_PAIRS:
        lm[:, up, 1] = 80.0
        lm[:, lo, 1] = 80.0 + np.asarray(openings) * iod
    return lm


def test_opening_is_relative_to_the_eyes_and_closure_uses_the_stated_threshold() -> None:
    op = np.array([0.0, 0.02, 0.034, 0.036, 0.1, 0.3])
    np.testing.assert_allclose(L.mouth_opening(_face(op, iod=60.0)), op)
    np.testing.assert_allclose(L.mouth_opening(_face(op, iod=250.0)), op)  # face size does not matter
    assert L.closure_rate(op) == pytest.approx(3 / 6)
    assert L.CLOSED_OPENING == 0.035


def test_reenactment_scores_on_known_curves() -> None:
    t = np.arange(200)
    real = 0.12 + 0.1 * np.sin(t / 4.0)  # closes (< 0.035) about a fifth of the time
    half = 0.12 + 0.05 * np.sin(t / 4.0)  # in phase, half the amplitude, never closes
    s = L.reenactment_scores(_face(half), _face(real))
    assert s["MOC"] == pytest.approx(1.0, abs=1e-9)
    assert s["AmpRatio"] == pytest.approx(0.5, abs=1e-6)
    assert s["Closure"] == 0.0 and s["Closure-GT"] == pytest.approx(L.closure_rate(real))
    assert s["Closure-Err"] == pytest.approx(100 * L.closure_rate(real))
    anti = L.reenactment_scores(_face(0.24 - real), _face(real))
    assert anti["MOC"] == pytest.approx(-1.0, abs=1e-9)
    still = L.reenactment_scores(_face(np.full(200, 0.1)), _face(real))
    assert np.isnan(still["MOC"]) and still["AmpRatio"] == 0.0


def test_phone_frames_cover_the_phone() -> None:
    p = L.Phone("M", 0.10, 0.21)
    np.testing.assert_array_equal(L.phone_frames(p, 100), [2, 3, 4])  # centres 0.1, 0.14, 0.18
    np.testing.assert_array_equal(L.phone_frames(L.Phone("P", 0.41, 0.43), 100), [10])  # shorter than a frame


@pytest.fixture(scope="module")
def real_clip(shared_file) -> tuple[np.ndarray, np.ndarray]:
    from eval.landmarks68 import Dlib68

    path = shared_file(CLIP)
    frames = read_video(path)
    lm = Dlib68().video(frames).points
    return L.mouth_opening(lm), read_audio(path)


def test_visemes_of_a_real_video_beat_its_audio_shifted(real_clip: tuple[np.ndarray, np.ndarray]) -> None:
    """The real mouth closes on its own P/B/M phones far more often than on phones 0.5 s off."""
    opening, audio = real_clip
    al = L.align_speech(audio)
    assert al.applicable, al.reason
    assert len(al.phones) >= 30 and al.words_aligned >= 10
    names = {p.name for p in al.phones}
    assert {"M", "B"} <= names and "AY" in names  # "My biggest ..."
    real = L.viseme_scores(opening, al)
    shifted = L.viseme_scores(
        opening, dataclasses.replace(al, phones=[L.Phone(p.name, p.start + 0.5, p.end + 0.5) for p in al.phones])
    )
    assert real["n_bilabial"] >= 4
    assert real["Bilabial-Closed"] >= 0.5
    assert real["Bilabial-Closed"] > shifted["Bilabial-Closed"] + 0.2
    assert real["Vowel/Bilabial"] > 1.5


def test_non_english_speech_is_not_applicable(shared_file) -> None:
    audio = read_audio(shared_file("av_more/Essa-Ramzy__Arabic-Lip-Reading__00139.mp4"))
    al = L.align_speech(audio)
    assert not al.applicable and "not English" in al.reason
    s = L.viseme_scores(np.full(40, 0.1), al)
    assert np.isnan(s["Bilabial-Closed"]) and "not applicable" in s["viseme_note"]


def test_arabic_speech_heard_as_a_repetition_loop_is_not_applicable(shared_file) -> None:
    """tiny.en hears this Arabic word as "I think it's a bit of a bit of ..." with a passing log-prob: the
    repetition test, not the log-prob, must refuse it."""
    audio = read_audio(shared_file("av_more/Essa-Ramzy__Arabic-Lip-Reading__00406.mp4"))
    al = L.align_speech(audio)
    assert al.mean_logprob >= L.MIN_ENGLISH_LOGPROB, al.mean_logprob
    assert L.transcript_compression_ratio(al.text) > L.MAX_TRANSCRIPT_COMPRESSION, al.text
    assert not al.applicable and "repetition loop" in al.reason
    assert np.isnan(L.viseme_scores(np.full(40, 0.1), al)["Bilabial-Closed"])


def test_the_repetition_measure_passes_ordinary_english() -> None:
    text = "My biggest weakness is asking for help, and I am working on it every single day."
    assert L.transcript_compression_ratio(text) < L.MAX_TRANSCRIPT_COMPRESSION
    assert L.transcript_compression_ratio("a bit of " * 20) > L.MAX_TRANSCRIPT_COMPRESSION
    assert L.transcript_compression_ratio("") == 0.0


def test_alignment_is_deterministic_where_greedy_whisper_scores_badly(shared_file) -> None:
    """0.76 s of Obama whose greedy transcript scores below -1: no sampled fallback, the same result every time."""
    audio = read_audio(shared_file("av/FuxiVirtualHuman__styletalk__Obama_clip1.wav"))[16 * 640 : 35 * 640]
    runs = []
    for _ in range(4):
        L._ALIGN_CACHE.clear()
        runs.append(L.align_speech(audio))
    assert all(r == runs[0] for r in runs), [(r.text, r.mean_logprob) for r in runs]
    assert runs[0].mean_logprob < L.MIN_ENGLISH_LOGPROB  # the case where a temperature fallback would have sampled
