"""MotionNetConfig.reference_drift_match (issue 17, session 12): a video reference's slow drift noise gain is chosen
per reference so that the generated rotation spread matches the reference's; off = as before; photos unchanged."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from toolkit.learners.motion import (
    DRIFT_MATCH_GAIN_RANGE,
    MotionLearner,
    MotionNet,
    MotionNetConfig,
    matched_drift_gain,
    windowed_rotation_spread,
)

BASE = MotionNetConfig(
    feature_dim=16, block_dim=8, dilations=(1, 2), noise_dim=4, reference_dim=8, encoder_dim=8,
    noise_smooth_frames=4.0, noise_drift_frames=16.0, prior_amplitude_frames=8, warmup_frames=4,
)  # fmt: skip


def test_matched_drift_gain_solves_the_variance_model_and_clamps() -> None:
    assert matched_drift_gain(3.0, 1.0, 2.0) == pytest.approx(math.sqrt(8 / 3))
    # spread(g)^2 = s0^2 + g^2 (s1^2 - s0^2) reaches the reference at that gain
    g = matched_drift_gain(3.0, 1.0, 2.0)
    assert 1.0 + g**2 * (4.0 - 1.0) == pytest.approx(9.0)
    assert matched_drift_gain(1.5, 1.0, 2.0) == DRIFT_MATCH_GAIN_RANGE[0]  # moves less than Phi: never below 1
    assert matched_drift_gain(100.0, 1.0, 2.0) == DRIFT_MATCH_GAIN_RANGE[1]
    assert matched_drift_gain(3.0, 2.0, 2.0) == DRIFT_MATCH_GAIN_RANGE[1]  # drift adds nothing: the upper end


def test_windowed_rotation_spread_is_the_mean_window_std_of_the_rotation() -> None:
    motion = np.zeros((10, 6))
    motion[:5, 0] = [0, 1, 0, 1, 0]
    motion[5:, 1] = 3.0  # a step between the windows: no spread inside either window
    motion[:, 3:] = 50 * np.random.default_rng(0).standard_normal((10, 3))  # translation is ignored
    expected = np.mean([np.std([0, 1, 0, 1, 0]) / 3, 0.0])
    assert windowed_rotation_spread(motion, 5) == pytest.approx(expected)
    assert windowed_rotation_spread(motion, 20) == pytest.approx(motion[:, :3].std(axis=0).mean())  # too short


def _learners() -> tuple[MotionLearner, MotionLearner]:
    torch.manual_seed(0)
    off = MotionNet(BASE)
    on = MotionNet(replace(BASE, reference_drift_match=True))
    on.load_state_dict(off.state_dict())
    return MotionLearner(off), MotionLearner(on)


def test_drift_gain_tensor_per_batch_item_equals_one_gain_per_pass() -> None:
    off, _ = _learners()
    g = torch.Generator().manual_seed(2)
    ref, ref_w = 0.1 * torch.randn(1, 16, 6, generator=g), 0.1 * torch.randn(1, 16, 7, 640, generator=g)
    drive, noise = 0.1 * torch.randn(1, 30, 7, 640, generator=g), torch.randn(1, 4, 30, generator=g)
    with torch.no_grad():
        both, _ = off.net(ref.expand(2, -1, -1), ref_w.expand(2, -1, -1, -1), drive.expand(2, -1, -1, -1),
                          noise.expand(2, -1, -1), drift_gain=torch.tensor([0.0, 2.5]))  # fmt: skip
        for i, gain in enumerate((0.0, 2.5)):
            torch.testing.assert_close(both[i], off.net(ref, ref_w, drive, noise, drift_gain=gain)[0][0])
        assert torch.equal(off.net(ref, ref_w, drive, noise)[0], off.net(ref, ref_w, drive, noise, drift_gain=1.0)[0])
        # the driving audio's stem computed once and passed in: the same motion
        feat = off.net.stem(drive)
        assert torch.equal(
            off.net(ref, ref_w, drive, noise)[0], off.net(ref, ref_w, drive, noise, driving_features=feat)[0]
        )


def test_reference_drift_match_raises_a_lively_videos_spread_and_leaves_photos_and_the_default_alone() -> None:
    off, on = _learners()
    rng = np.random.default_rng(1)
    t = np.arange(32)[:, None]
    ref = 0.3 * np.sin(t / 4 + np.arange(6)) + 0.02 * rng.standard_normal((32, 6))  # moves far more than Phi
    ref_audio = 0.1 * rng.standard_normal(32 * 640).astype(np.float32)
    drive = 0.1 * rng.standard_normal(96 * 640).astype(np.float32)

    plain = off.predict(ref, ref_audio, drive, seed=3)
    assert off.last_drift_gain is None
    matched = on.predict(ref, ref_audio, drive, seed=3)
    assert on.last_drift_gain is not None and on.last_drift_gain > 1.0
    target = windowed_rotation_spread(ref, 32)
    before, after = windowed_rotation_spread(plain, 32), windowed_rotation_spread(matched, 32)
    assert before < after and abs(after - target) < abs(before - target)
    assert not np.allclose(matched, plain)

    # a still reference (spread below Phi's): gain 1, the motion as before
    still = on.predict(ref[:, :] * 0 + ref[:1], ref_audio, drive, seed=3)
    assert on.last_drift_gain == 1.0
    np.testing.assert_allclose(still, off.predict(ref[:, :] * 0 + ref[:1], ref_audio, drive, seed=3), atol=1e-5)
    # a photo (shorter than prior_amplitude_frames) and the mean motion (no noise): untouched, bit for bit
    assert np.array_equal(on.predict(ref[:1], ref_audio[:640], drive, seed=3),
                          off.predict(ref[:1], ref_audio[:640], drive, seed=3))  # fmt: skip
    assert on.last_drift_gain is None
    assert np.array_equal(on.predict(ref, ref_audio, drive, stochastic=False),
                          off.predict(ref, ref_audio, drive, stochastic=False))  # fmt: skip
