"""Psi v2: Whisper front end, neutral-mouth identity, amplitude-keeping loss (tiny network, real clips)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_learners import _clip, _config, records, speech_dir  # noqa: F401 - module fixtures reused
from toolkit.constants import SAMPLES_PER_FRAME

torch = pytest.importorskip("torch")

TINY_WHISPER = [
    "net.frontend=whisper",
    "net.identity=neutral",
    "net.context_frames=4",
    "net.frame_dim=8",
    "loss.velocity=1.0",
    "loss.std_match=0.5",
    "loss.opening=0.5",
    "loss.opening_correlation=0.5",
    "loss.smoothed_prediction=true",
    "net.smooth_frames=2.0",
    "noisy_tracks=1",
    "optim.steps=4",
]


@pytest.fixture(scope="module")
def whisper_run(records, speech_dir, tmp_path_factory):  # noqa: F811 - pytest fixture arguments
    from toolkit.learners.train import train

    run = tmp_path_factory.mktemp("run_whisper")
    train(_config("expression", records, speech_dir, *TINY_WHISPER), run, progress=False)
    return run


def test_neutral_identity_is_the_low_opening_frames() -> None:
    from toolkit.learners.expression import reference_identity
    from toolkit.metrics.lipsync import mouth_opening_px

    rng = np.random.default_rng(0)
    frames = rng.normal(size=(20, 68, 3)).astype(np.float32)
    frames[:, 61:64, 1] = 0.0
    frames[:, 65:68, 1] = np.linspace(0.0, 5.0, 20)[:, None]  # frame i opens i / 4 units
    neutral, n = reference_identity(frames, "neutral")
    assert n == 20
    np.testing.assert_allclose(neutral, frames[:4].mean(0), atol=1e-6)  # the 20 % least open
    assert mouth_opening_px(neutral[None])[0] < mouth_opening_px(reference_identity(frames, "mean")[0][None])[0]
    one, n1 = reference_identity(frames[7], "neutral")  # a photo is its own identity
    np.testing.assert_array_equal(one, frames[7]) and n1 == 1


def test_feature_windows_are_centred_on_the_frame() -> None:
    from toolkit.learners.expression import feature_windows

    track = np.arange(30, dtype=np.float32)[:, None].repeat(3, 1)  # row r holds r
    w = feature_windows(track, 5, 10, context=4)
    assert w.shape == (10, 9, 3)
    np.testing.assert_array_equal(w[:, 4, 0], np.arange(10) + 5 + 4)  # frame t of the clip = track row t + context


def test_whisper_learner_trains_predicts_and_records_its_front_end(whisper_run, records) -> None:  # noqa: F811
    from toolkit.audio.whisper import PACKAGE_MODEL_SHA256
    from toolkit.learners.expression import ExpressionLearner, reference_identity

    rows = [json.loads(x) for x in (whisper_run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["event"] == "train"]
    assert len(train_rows) == 4
    for key in ("loss_mse", "loss_velocity", "loss_std_match", "loss_opening", "loss_opening_correlation"):
        assert all(np.isfinite(r[key]) for r in train_rows), key
    val = [r for r in rows if r["event"] == "val"]
    assert val and np.isfinite(val[-1]["val_mouth_lmd_psi"]) and "val_psi_MOC" in val[-1]

    learner = ExpressionLearner.load(whisper_run / "model")
    assert learner.config.frontend == "whisper" and learner.config.identity == "neutral"
    assert learner.config.smooth_frames == 2.0  # inference smooths as training did
    front = learner.info["data"]["frontend"]
    assert front["model_sha256"] == PACKAGE_MODEL_SHA256["model.bin"] and "tiny.en" in front["model"]

    rec = _clip(records, "Input_00010")
    audio = rec.audio()[: 60 * SAMPLES_PER_FRAME]
    refs = rec.frontal68[:16]
    out = learner.predict(audio, refs)
    assert out.shape == (60, 68, 3) and np.isfinite(out).all()
    np.testing.assert_array_equal(out, learner.predict(audio, refs))
    neutral, _ = reference_identity(refs, "neutral")
    delta = learner.predict_displacement(audio, refs)
    np.testing.assert_allclose(
        learner.predict(audio, refs, lip_contact=False) - neutral,
        learner.net.displacement_to_landmarks(torch.from_numpy(delta)).numpy(),
        atol=1e-4,
    )
    # calibration: on the reference frames the calibrated displacement averages to their true displacement
    ref_audio = rec.audio()[: 16 * SAMPLES_PER_FRAME]
    on_refs = learner.predict_displacement(ref_audio, refs, ref_audio, smooth_frames=0, pause_gate=False)
    with torch.no_grad():
        to_c = learner.net.to_coeffs
        truth = (to_c(torch.from_numpy(refs)) - to_c(torch.from_numpy(neutral))).mean(0).numpy()
    np.testing.assert_allclose(on_refs.mean(0), truth, atol=1e-4)
    # the pipeline computes the offset once per reference and passes it to every chunk: the same result
    offset = learner.calibration_offset(refs, ref_audio)
    np.testing.assert_allclose(learner.predict(audio, refs, offset=offset), learner.predict(audio, refs, ref_audio))
    assert learner.calibration_offset(refs[:4], ref_audio[: 4 * SAMPLES_PER_FRAME]) is None  # too few frames
    # chunked inference in the pipeline needs this much context, and passes all reference frames
    assert learner.context_frames == 4 + 25
    assert learner.identity_input(rec.frontal68, 3).shape == rec.frontal68.shape


def test_pipeline_calibrates_once_per_reference_and_not_a_photo(whisper_run, records) -> None:  # noqa: F811
    from types import SimpleNamespace

    from toolkit.learners.expression import ExpressionLearner
    from toolkit.pipeline.models import expression_offset

    learner = ExpressionLearner.load(whisper_run / "model")
    rec = _clip(records, "Input_00010")
    refs, ref_audio = rec.frontal68[:16], rec.audio()[: 16 * SAMPLES_PER_FRAME]
    video = SimpleNamespace(frontal68=refs, frontal_index=0, audio=ref_audio, is_still=False, n_frames=16, cache={})
    offset = expression_offset(video, learner)
    np.testing.assert_allclose(offset, learner.calibration_offset(refs, ref_audio))
    assert video.cache["expression_offset"] is offset and expression_offset(video, learner) is offset  # once
    photo = SimpleNamespace(frontal68=refs[:1], frontal_index=0, audio=None, is_still=True, n_frames=1, cache={})
    assert expression_offset(photo, learner) is None
    silent = SimpleNamespace(**{**vars(video), "audio": np.zeros_like(ref_audio), "cache": {}})
    assert expression_offset(silent, learner) is None  # no speech to calibrate on


def test_training_smooths_the_prediction_as_inference_does() -> None:
    from scipy.ndimage import gaussian_filter1d

    from toolkit.learners.tasks import smooth_over_time

    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 24, 5)).astype(np.float32))
    np.testing.assert_allclose(
        smooth_over_time(x, 2.0).numpy(), gaussian_filter1d(x.numpy(), 2.0, axis=1, mode="nearest"), atol=1e-5
    )


def test_opening_correlation_loss_scores_timing_not_size() -> None:
    from toolkit.learners.tasks import opening_correlation_loss

    def loss(pred: torch.Tensor, real: torch.Tensor) -> float:
        return float(opening_correlation_loss(pred, real, opening_std=0.1))

    t = torch.linspace(0, 6.28, 24)
    real = torch.stack([torch.sin(t), 0.5 * torch.sin(2 * t)])
    assert loss(real, real) < 0.01  # in time: no loss
    assert abs(loss(3.0 * real + 1.0, real) - loss(real, real)) < 0.01  # size and offset are other terms' job
    assert loss(-real, real) > 1.9  # opening when the real mouth closes
    assert 0.1 < loss(torch.roll(real, 4, dims=1), real) < 1.9  # late lips cost in between
    # a flat real segment (silence) weighs nothing next to a moving one
    flat = torch.stack([torch.zeros(24), torch.sin(t)])
    assert loss(torch.stack([torch.randn(24), torch.sin(t)]), flat) < 0.01


def test_logmel_ablation_uses_the_same_identity_and_losses(records, speech_dir, tmp_path) -> None:  # noqa: F811
    from toolkit.learners.train import train

    cfg = _config("expression", records, speech_dir, *TINY_WHISPER, "net.frontend=logmel", "optim.steps=2")
    train(cfg, tmp_path / "logmel", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "logmel" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss_opening"]) for r in rows if r["event"] == "train")
    meta = json.loads((tmp_path / "logmel" / "model" / "config.json").read_text())
    assert meta["net"]["frontend"] == "logmel" and meta["net"]["identity"] == "neutral"
    assert meta["data"]["frontend"]["frontend"].startswith("logmel")
