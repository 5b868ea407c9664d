"""How Phi's training draws the reference length tau (single-image prior, issue 17)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from toolkit.learners.config import MotionTrainConfig
from toolkit.learners.tasks import MotionTask


def _draws(config: MotionTrainConfig, n: int, seed: int = 0) -> np.ndarray:
    task = SimpleNamespace(config=config)
    rng = np.random.default_rng(seed)
    return np.array([MotionTask.sample_tau(task, rng) for _ in range(n)])  # type: ignore[arg-type]


def _old_rule(config: MotionTrainConfig, n: int, seed: int = 0) -> np.ndarray:
    """The v3 rule, written out: full tau with full_tau_probability, else uniform in 1..tau-1."""
    rng = np.random.default_rng(seed)
    tau = config.data.tau
    return np.array(
        [tau if rng.random() < config.full_tau_probability else int(rng.integers(1, tau)) for _ in range(n)]
    )


def test_without_single_tau_share_the_draws_are_the_shipped_recipes():
    config = MotionTrainConfig()
    assert config.single_tau_probability == 0.0
    np.testing.assert_array_equal(_draws(config, 2000), _old_rule(config, 2000))


def test_single_tau_share_trains_the_single_image_prior():
    old = _draws(MotionTrainConfig(), 20000)
    new = _draws(MotionTrainConfig(single_tau_probability=0.1), 20000)
    # v3: tau = 1 only from the uniform draw, (1 - 0.6) / 63 of the batches
    assert abs(np.mean(old == 1) - 0.4 / 63) < 0.003
    assert abs(np.mean(new == 1) - (0.1 + 0.3 / 63)) < 0.01
    # the full reference keeps its share; the short references give up what tau = 1 gains
    assert abs(np.mean(new == 64) - 0.6) < 0.015
    assert new.min() >= 1 and new.max() <= 64
