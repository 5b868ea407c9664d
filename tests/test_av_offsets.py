"""Re-alignment of training clips by measured audio-video offsets (``data.sync_offsets``, issue 16 session 11)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError
from toolkit.learners.data import ClipData, align_training_clips, read_sync_offsets, windows_for_frames

ROOT = Path(__file__).resolve().parents[1]


def _clip(cid: str, n: int = 80, burst_at: int = 30) -> ClipData:
    """A clip whose audio is silent except one loud frame (``burst_at``)."""
    audio = np.zeros(n * SAMPLES_PER_FRAME, np.float32)
    audio[burst_at * SAMPLES_PER_FRAME : (burst_at + 1) * SAMPLES_PER_FRAME] = 0.5
    return ClipData(
        clip_id=cid,
        speaker=cid,
        has_audio=True,
        audio=audio,
        frontal68=np.zeros((n, 68, 3), np.float32),
        motion=np.zeros((n, 6), np.float32),
        detected=np.ones(n, bool),
        frontal_index=0,
        speech_power=1.0,
    )


def _loud_frame(c: ClipData) -> int:
    return int(np.argmax(np.abs(c.audio.reshape(c.n_frames, SAMPLES_PER_FRAME)).max(axis=1)))


def test_measured_offsets_move_each_clip_by_its_stated_frames_and_list_the_dropped(tmp_path):
    f = tmp_path / "offsets.json"
    f.write_text(json.dumps({"offsets": {"late": 2, "early": -3}, "drop": ["unsure"]}))
    clips = [_clip("late"), _clip("early"), _clip("unsure"), _clip("other")]
    original = [c.audio.copy() for c in clips]
    applied, dropped = align_training_clips(clips, max_lag=8, offsets_file=str(f))
    assert applied == {"late": 2, "early": -3}
    assert dropped == ["unsure"]
    # lag > 0: the mouth moves after the sound, so the sound moves later by lag frames (and vice versa)
    assert [_loud_frame(c) for c in clips] == [32, 27, 30, 30]
    np.testing.assert_array_equal(clips[2].audio, original[2])
    np.testing.assert_array_equal(clips[3].audio, original[3])
    # the frame-t target is now paired with the audio window that was frame t - lag's
    t = 40
    np.testing.assert_array_equal(windows_for_frames(clips[0].audio, t, 5), windows_for_frames(original[0], t - 2, 5))
    np.testing.assert_array_equal(windows_for_frames(clips[1].audio, t, 5), windows_for_frames(original[1], t + 3, 5))


def test_without_an_offsets_file_the_energy_rule_applies_and_zero_turns_it_off():
    clips = [_clip("a")]
    before = clips[0].audio.copy()
    assert align_training_clips(clips, max_lag=0) == ({}, [])
    np.testing.assert_array_equal(clips[0].audio, before)


def test_bad_offsets_files_are_clear_errors(tmp_path):
    with pytest.raises(ToolkitError, match="does not exist"):
        read_sync_offsets(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lags": {}}))
    with pytest.raises(ToolkitError, match="not a valid offsets file"):
        read_sync_offsets(bad)
    bad.write_text(json.dumps({"offsets": {"a": "two"}}))
    with pytest.raises(ToolkitError, match="not a valid offsets file"):
        read_sync_offsets(bad)


def test_the_measurement_lag_has_the_sign_that_the_realignment_undoes():
    """scripts/expression_av_offsets.py: a real opening 3 frames after the predicted one reads lag +3, and
    shifting the audio by +3 (so the prediction, which follows the audio, moves 3 frames later) gives lag 0."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import expression_av_offsets as eao

    rng = np.random.default_rng(0)
    pred = np.convolve(rng.standard_normal(200), np.ones(4) / 4, mode="same")
    real = np.concatenate([np.zeros(3), pred[:-3]])  # the mouth 3 frames after the sound
    lag, r, gain = eao.best_lag(eao.lag_curve(pred, real, 5))
    assert lag == 3 and r > 0.99 and gain > 0.1
    shifted_pred = np.concatenate([np.zeros(3), pred[:-3]])
    assert eao.best_lag(eao.lag_curve(shifted_pred, real, 5))[0] == 0
