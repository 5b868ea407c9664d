"""Psi v4 inference: lips that touch instead of crossing, the one-frame delay, seed ensembles; the v6 checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_expression_v2 import whisper_run  # noqa: F401 - module fixture reused
from tests.test_learners import _clip, records, speech_dir  # noqa: F401 - module fixtures reused
from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError

torch = pytest.importorskip("torch")


def _signed_gaps(lm: np.ndarray) -> np.ndarray:
    from toolkit.render.lips import INNER_LIP_PAIRS

    return np.stack([lm[:, low, 1] - lm[:, up, 1] for up, low in INNER_LIP_PAIRS], axis=1)


def test_crossed_lips_are_put_in_contact_and_others_left_alone(records) -> None:  # noqa: F811
    from toolkit.learners.expression import uncross_lips
    from toolkit.metrics.lipsync import mouth_opening_px
    from toolkit.render.lips import INNER_LIP_PAIRS, OUTER_LIP_PAIRS

    real = _clip(records, "Input_00010").frontal68[:40].astype(np.float32)
    assert (_signed_gaps(real) > 0).mean() > 0.5  # canonical y grows downwards: lower lip below upper
    crossed = real.copy()
    for up, low in INNER_LIP_PAIRS:  # frames 0..19: the lower lip pushed 3 units above the upper one
        crossed[:20, low, 1] = crossed[:20, up, 1] - 3.0
    fixed = uncross_lips(crossed)
    gaps = _signed_gaps(fixed)
    assert gaps.min() >= -1e-5 and np.abs(gaps[:20]).max() < 1e-5  # touching, never crossed
    assert mouth_opening_px(fixed[:20]).max() < 1e-5 < mouth_opening_px(crossed[:20]).min()
    for pair, outer in zip(INNER_LIP_PAIRS, OUTER_LIP_PAIRS):  # lips keep their thickness
        for inner_point, outer_point in zip(pair, outer):
            np.testing.assert_allclose(
                fixed[:, outer_point, 1] - fixed[:, inner_point, 1],
                crossed[:, outer_point, 1] - crossed[:, inner_point, 1],
                atol=1e-4,
            )
    ok = _signed_gaps(crossed).min(axis=1) >= 0
    np.testing.assert_array_equal(fixed[ok], crossed[ok])  # uncrossed frames are not touched
    np.testing.assert_array_equal(fixed[:, :48], crossed[:, :48])  # nor anything outside the mouth


def test_delay_shifts_the_prediction_later() -> None:
    from toolkit.learners.expression import delay_sequence

    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(delay_sequence(x, 0), x)
    np.testing.assert_array_equal(delay_sequence(x, 1), np.concatenate([x[:1], x[:5]]))
    assert delay_sequence(x, 10).shape == x.shape and (delay_sequence(x, 10) == x[0]).all()


def test_learner_output_never_crosses_lips_and_delays(whisper_run, records) -> None:  # noqa: F811
    from toolkit.learners.expression import ExpressionLearner, delay_sequence

    learner = ExpressionLearner.load(whisper_run / "model")
    rec = _clip(records, "Input_00010")
    audio, refs = rec.audio()[: 60 * SAMPLES_PER_FRAME], rec.frontal68[:16]
    assert _signed_gaps(learner.predict(audio, refs)).min() >= -1e-4
    raw = learner.predict_displacement(audio, refs, smooth_frames=0, pause_gate=False)
    learner.net.config.delay_frames = 2
    try:
        late = learner.predict_displacement(audio, refs, smooth_frames=0, pause_gate=False)
    finally:
        learner.net.config.delay_frames = 0
    np.testing.assert_allclose(late, delay_sequence(raw, 2), atol=1e-6)


def test_seed_ensemble_checkpoint_round_trip(whisper_run, records, tmp_path) -> None:  # noqa: F811
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner, save_ensemble

    member = whisper_run / "model"
    out = save_ensemble([member, member], tmp_path / "ens", {"delay_frames": 1, "inference_identity": "mean"})
    ens = ExpressionLearner.load(out)
    single = ExpressionLearner.load(member)
    assert isinstance(ens.net, ExpressionEnsemble) and len(ens.net.members) == 2
    assert ens.info["ensemble"]["members"] == 2 and ens.config.delay_frames == 1 and ens.identity_mode == "mean"
    assert ens.info["train_config"]["net"]["identity"] == "neutral"  # what the members were trained with
    assert (out / "expression_pca.npz").is_file()
    rec = _clip(records, "Input_00010")
    audio, refs = rec.audio()[: 50 * SAMPLES_PER_FRAME], rec.frontal68[:16]
    single.net.config.delay_frames = 1
    single.net.config.inference_identity = "mean"
    np.testing.assert_allclose(ens.predict(audio, refs), single.predict(audio, refs), atol=1e-4)  # mean of equals
    # the "mean" identity: the network sees the reference frames' mean, and the output is built on it
    # and on the reference frames themselves the calibrated prediction averages to that mean
    single.net.config.delay_frames = 0
    ref_audio = rec.audio()[: 16 * SAMPLES_PER_FRAME]
    on_refs = single.predict(ref_audio, refs, ref_audio, smooth_frames=0, pause_gate=False, lip_contact=False)
    np.testing.assert_allclose(on_refs.mean(0), refs.mean(0), atol=1e-3)

    other = ExpressionLearner.load(member).net
    other.pca_components.mul_(-1.0)
    with pytest.raises(ToolkitError, match="PCA basis"):
        ExpressionEnsemble([single.net, other])
    with pytest.raises(ToolkitError):
        save_ensemble([member], tmp_path / "bad", {"no_such_field": 1})
    with pytest.raises(ToolkitError, match="inference identity"):
        save_ensemble([member], tmp_path / "bad2", {"inference_identity": "median"})


def test_displacement_gain_scales_the_final_displacement_and_round_trips(whisper_run, records, tmp_path) -> None:  # noqa: F811
    from toolkit.learners.expression import ExpressionLearner, ExpressionNet, save_ensemble

    member = whisper_run / "model"
    rec = _clip(records, "Input_00010")
    audio, refs = rec.audio()[: 60 * SAMPLES_PER_FRAME], rec.frontal68[:16]
    plain = ExpressionLearner.load(member)
    out = save_ensemble([member, member], tmp_path / "gain", {"displacement_gain": 1.4})
    louder = ExpressionLearner.load(out)
    assert louder.config.displacement_gain == 1.4
    # after calibration, the pause gate and the smoothing: exactly 1.4 times the network's own displacement
    base = plain.predict_displacement(audio, refs, rec.audio()[: 16 * SAMPLES_PER_FRAME])
    scaled = louder.predict_displacement(audio, refs, rec.audio()[: 16 * SAMPLES_PER_FRAME])
    assert np.abs(base).max() > 1e-3
    np.testing.assert_allclose(scaled, 1.4 * base, rtol=1e-4, atol=1e-5)
    assert _signed_gaps(louder.predict(audio, refs)).min() >= -1e-4  # wider swings still never cross the lips
    # a photo keeps the network's own amplitude
    np.testing.assert_allclose(louder.predict(audio, refs[3]), plain.predict(audio, refs[3]), atol=1e-5)
    cfg = plain.config
    for bad in (0.0, -1.0):
        with pytest.raises(ToolkitError, match="gain must be positive"):
            ExpressionNet(type(cfg)(**{**cfg.__dict__, "displacement_gain": bad}))


def _training_recipe(info: dict) -> dict:
    """The checkpoint's training config flattened, without logging cadence and inference-only fields."""

    def flat(d: dict, prefix: str = "") -> dict:
        out: dict = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    inference_only = ("net.delay_frames", "net.inference_identity", "net.displacement_gain")
    return {k: v for k, v in flat(info["train_config"]).items() if not k.startswith("log.") and k not in inference_only}


def test_v6_is_v5s_recipe_with_more_one_frame_references_on_the_same_split() -> None:
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner
    from toolkit.paths import checkpoints_dir

    v5 = ExpressionLearner.load(checkpoints_dir() / "expression")
    v6 = ExpressionLearner.load(checkpoints_dir() / "expression_v6")
    assert isinstance(v6.net, ExpressionEnsemble) and len(v6.net.members) == 3
    assert (v6.config.inference_identity, v6.config.displacement_gain) == ("mean", 1.4)  # v5's inference
    a, b = _training_recipe(v5.info), _training_recipe(v6.info)
    assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} == {"single_reference_probability"}
    assert (a["single_reference_probability"], b["single_reference_probability"]) == (0.25, 0.75)
    for key in ("train_frames_with_audio", "val_clips", "pca_explained_variance_ratio"):  # same data and basis
        assert v5.info["data"][key] == v6.info["data"][key]
    for name in ("pca_mean", "pca_components", "coeff_scale"):
        assert torch.equal(getattr(v5.net.members[0], name), getattr(v6.net.members[0], name))


def test_v6_follows_a_real_clip_from_a_reference_video_and_from_a_photo(records) -> None:  # noqa: F811
    from toolkit.learners.expression import ExpressionLearner
    from toolkit.metrics.lipsync import reenactment_scores
    from toolkit.paths import checkpoints_dir

    v6 = ExpressionLearner.load(checkpoints_dir() / "expression_v6")
    rec = _clip(records, "Input_00010")
    audio, lm = rec.audio(), rec.frontal68
    video = v6.predict(audio, lm[:16], audio[: 16 * SAMPLES_PER_FRAME])[: rec.n_frames]
    photo = v6.predict(audio, lm[5])[: rec.n_frames]
    for pred in (video, photo):
        s = reenactment_scores(pred, lm)
        # measured MOC 0.67 / 0.67 and amplitude 0.98 / 0.71 (video / photo) on this training clip; a checkpoint
        # that does not follow speech is near 0 MOC
        assert s["MOC"] > 0.4 and 0.5 < s["AmpRatio"] < 2.0
        assert _signed_gaps(pred).min() >= -1e-4  # lips touch, never cross


def test_v7_is_v5s_recipe_trained_on_the_committed_measured_offsets() -> None:
    """v7 (session 11): v5's recipe and data, the training clips re-aligned by
    configs/expression_av_offsets_s11.json
    (scripts/expression_av_offsets.py), gain 1.3 (v5's rule on the dev split); validation clips never shifted."""
    import json

    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner
    from toolkit.paths import checkpoints_dir, configs_dir

    v5 = ExpressionLearner.load(checkpoints_dir() / "expression")
    v7 = ExpressionLearner.load(checkpoints_dir() / "expression_v7")
    assert isinstance(v7.net, ExpressionEnsemble) and len(v7.net.members) == 3
    assert (v7.config.inference_identity, v7.config.displacement_gain) == ("mean", 1.3)
    a, b = _training_recipe(v5.info), _training_recipe(v7.info)
    assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} == {"data.data", "data.sync_offsets"}
    assert b["data.sync_offsets"] == "configs/expression_av_offsets_s11.json"
    offsets = json.loads((configs_dir() / "expression_av_offsets_s11.json").read_text())
    assert v7.info["data"]["av_offsets_corrected_frames"] == offsets["offsets"] and not offsets["drop"]
    assert v7.info["data"]["av_offsets_corrected_frames"] != v5.info["data"]["av_offsets_corrected_frames"]
    assert v7.info["data"]["val_clips"] and not set(v7.info["data"]["val_clips"]) & set(offsets["offsets"])
    for key in ("train_frames_with_audio", "val_clips", "pca_explained_variance_ratio"):  # same data and basis
        assert v5.info["data"][key] == v7.info["data"][key]
    for name in ("pca_mean", "pca_components", "coeff_scale"):
        torch.testing.assert_close(getattr(v5.net.members[0], name), getattr(v7.net.members[0], name))
