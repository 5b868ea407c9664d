"""Motion naturalness (issue 17): the metrics, the matcher's hysteresis/cross-fade and Phi v2's temporal parts,
on a real clip's tracked head motion, landmarks and frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eval.metrics import motion_naturalness as mn
from toolkit.paths import shared_data_dir

CLIP = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"  # 4.3 s, moving head

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"shared clip {CLIP} not found (set TOOLKIT_DATA)")


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    """The clip preprocessed (tracking, head motion, 68 landmarks, 256 px face crops)."""
    from toolkit.data.preprocess import PreprocessConfig, build_dataset

    out: Path = tmp_path_factory.mktemp("naturalness")
    build_dataset([CLIP], out, PreprocessConfig(max_seconds=4.0, jobs=1), progress=False)
    return out


@pytest.fixture(scope="module")
def record(dataset_root):
    from toolkit.data.records import done_clip_ids, load_clip

    return load_clip(dataset_root, done_clip_ids(dataset_root)[0])


def _jitter(x: np.ndarray, amount: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return x + amount * x.std(axis=0, keepdims=True) * rng.standard_normal(x.shape)


def test_pose_metrics_tell_jitter_from_real_motion(record):
    rot, trans = record.rotation.astype(np.float64), record.translation.astype(np.float64)
    same = mn.aggregate([mn.clip_values(rot, trans, rot, trans)])
    assert same[mn.VELOCITY_RATIO] == pytest.approx(1.0) and same[mn.ACCELERATION_RATIO] == pytest.approx(1.0)
    assert same[mn.HF_SHARE] == pytest.approx(same[mn.GT_HF_SHARE])
    jittery = mn.aggregate([mn.clip_values(_jitter(rot, 0.5, 0), _jitter(trans, 0.5, 1), rot, trans)])
    assert jittery[mn.VELOCITY_RATIO] > 1.5 and jittery[mn.ACCELERATION_RATIO] > jittery[mn.VELOCITY_RATIO]
    assert jittery[mn.HF_SHARE] > 2 * jittery[mn.GT_HF_SHARE]
    # a slow curve (the real one low-passed) has less velocity and almost no power above 3 Hz
    from scipy.ndimage import gaussian_filter1d

    smooth = mn.aggregate([mn.clip_values(gaussian_filter1d(rot, 4, axis=0), gaussian_filter1d(trans, 4, axis=0),
                                          rot, trans)])  # fmt: skip
    assert smooth[mn.VELOCITY_RATIO] < 1.0 and smooth[mn.HF_SHARE] < 0.5 * smooth[mn.GT_HF_SHARE]


def test_jaw_change_ignores_head_motion_and_sees_face_shape_flicker(record):
    lm = record.landmarks68[..., :2].astype(np.float64)
    template = mn.landmark_template(lm)
    real = mn.jaw_change(lm, template)
    # the same faces moved, turned in-plane and scaled per frame: the 2D frontalisation removes it
    rng = np.random.default_rng(0)
    moved = np.empty_like(lm)
    for i, pts in enumerate(lm):
        a, s, t = rng.normal(0, 0.05), 1 + rng.normal(0, 0.05), rng.normal(0, 5, 2)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        moved[i] = s * pts @ r.T + t
    assert mn.jaw_change(moved, template) == pytest.approx(real, rel=0.1)
    flicker = lm.copy()
    flicker[:, :17] += rng.normal(0, 1.5, flicker[:, :17].shape)  # the jaw outline alone changes every frame
    values = mn.clip_values(record.rotation, record.translation, record.rotation, record.translation, flicker, lm)
    assert mn.aggregate([values])[mn.JAW_RATIO] > 1.5


def test_background_jump_rate_sees_a_hard_switch_and_not_a_crossfade(record):
    frames = record.frames()[:60]
    lm = record.landmarks68[:60, :, :2]
    # a matcher that holds one reference frame, then jumps to another 40 frames later
    idx = np.r_[np.full(30, 5), np.full(30, 45)]
    switched = frames[idx]
    faded = switched.astype(np.float32).copy()
    for k in range(1, 6):  # a 5-frame cross-fade after the switch
        w = k / 6.0
        faded[30 + k - 1] = w * frames[45] + (1 - w) * frames[5]
    hard = mn.background_values(switched, frames, lm[idx], lm)
    soft = mn.background_values(faded.astype(np.uint8), frames, lm[idx], lm)
    assert hard["gen_bg_change_max"] > soft["gen_bg_change_max"]
    assert soft["gen_bg_change_max"] < 0.5 * hard["gen_bg_change_max"]
    assert hard["gt_bg_jump_rate"] <= 0.02 and 0 <= soft["gen_bg_jump_rate"] <= hard["gen_bg_jump_rate"] + 1e-9


def test_matcher_holds_its_choice_and_crossfades_across_chunks(record):
    from toolkit.render.matcher import MatcherConfig, MatchState, crossfade_frames, match_motion

    motion = record.head_motion.astype(np.float64)
    refs = motion[[0, 40, 80]]
    # targets hovering between two references: independent matching flips, continuous matching holds
    rng = np.random.default_rng(1)
    w = np.clip(0.5 + 0.3 * rng.standard_normal(len(motion)), 0, 1)[:, None]
    target = w * refs[0] + (1 - w) * refs[1]
    cfg = MatcherConfig()
    free_result = match_motion(target, refs, cfg)
    free = free_result.index
    one = match_motion(target, refs, cfg, state=MatchState())
    assert (np.diff(one.index) != 0).sum() < 0.5 * (np.diff(free) != 0).sum()
    held = np.diff(np.flatnonzero(np.r_[True, np.diff(one.index) != 0, True]))
    assert held[:-1].min(initial=cfg.min_hold_frames) >= cfg.min_hold_frames
    # chunk after chunk with one state = the whole video at once
    state = MatchState()
    parts = [match_motion(target[a : a + 25], refs, cfg, state=state) for a in range(0, len(target), 25)]
    np.testing.assert_array_equal(np.concatenate([p.index for p in parts]), one.index)
    np.testing.assert_allclose(np.concatenate([p.fade_weight for p in parts]), one.fade_weight)
    # after a switch the weights of the new frame rise 1/(n+1) .. n/(n+1), and the blended frames lie between
    switches = np.flatnonzero(np.diff(one.index) != 0) + 1
    assert switches.size, "the hovering target makes the matcher switch at least once"
    s = int(switches[0])
    n = cfg.crossfade_frames
    np.testing.assert_allclose(one.fade_weight[s : s + n], np.arange(1, n + 1) / (n + 1.0), rtol=1e-6)
    assert (one.fade_from[s : s + n] == one.index[s - 1]).all()
    frames = record.frames()[[0, 40, 80]]
    out = crossfade_frames(frames[one.index], frames[np.maximum(one.fade_from, 0)], one)
    mid = out[s].astype(float)
    assert np.abs(mid - frames[one.index[s]]).mean() > 0 and np.abs(mid - frames[one.index[s - 1]]).mean() > 0
    # without a state: Eq. (2) exactly, frame by frame
    assert free_result.fade_from is None


def test_phi_v2_noise_is_slow_and_the_decoder_keeps_constants():
    from toolkit.learners.motion import MOTION_DIM, TemporalDecoder, smooth_noise

    g = torch.Generator().manual_seed(0)
    white = torch.randn(4, 8, 400, generator=g)
    slow = smooth_noise(white, 4.0)
    assert slow.shape == white.shape
    assert 0.8 < float(slow.std()) < 1.2, "unit variance is kept, so seeds still differ as much"
    hf_white = mn.high_frequency_share(white[0].T.numpy())
    hf_slow = mn.high_frequency_share(slow[0].T.numpy())
    assert hf_slow < 0.05 and hf_white > 0.3
    dec = TemporalDecoder(9)
    const = torch.full((2, 30, MOTION_DIM), 0.7)
    torch.testing.assert_close(dec(const), const)


def test_phi_v3_drift_noise_is_slower_and_v2_noise_is_unchanged():
    from toolkit.learners.motion import MotionNet, MotionNetConfig, smooth_noise

    g = torch.Generator().manual_seed(1)
    white = torch.randn(2, 8, 300, generator=g)
    v2 = MotionNet(MotionNetConfig(noise_smooth_frames=4.0, feature_dim=16, block_dim=8, dilations=(1,)))
    torch.testing.assert_close(v2.shape_noise(white), smooth_noise(white, 4.0))
    v3 = MotionNet(MotionNetConfig(noise_smooth_frames=4.0, noise_drift_frames=16.0, feature_dim=16, block_dim=8,
                                   dilations=(1,)))  # fmt: skip
    shaped = v3.shape_noise(white)
    torch.testing.assert_close(shaped[:, :4], smooth_noise(white[:, :4], 4.0))
    fast, drift = shaped[0, :4].T.numpy(), shaped[0, 4:].T.numpy()
    assert 0.6 < float(drift.std()) < 1.4, "the drift channels keep about unit variance"
    assert mn.mean_abs_difference(drift, 1) < 0.5 * mn.mean_abs_difference(fast, 1)


def test_phi_v3_band_shares_place_drift_and_sway_and_match_the_hf_share(record):
    from toolkit.learners.tasks import MOTION_BANDS_HZ, band_shares, high_frequency_share

    real = torch.from_numpy(np.asarray(record.head_motion, np.float32))[None]
    shares = band_shares(real)
    assert shares.shape == (1, 6, len(MOTION_BANDS_HZ) - 1)
    torch.testing.assert_close(shares.sum(dim=2), torch.ones(1, 6))
    torch.testing.assert_close(shares[..., -1], high_frequency_share(real))  # the last band is the > 3 Hz share
    t = torch.arange(250, dtype=torch.float32) / 25.0
    drift, sway = torch.sin(2 * np.pi * 0.25 * t), torch.sin(2 * np.pi * 1.5 * t)
    curves = torch.stack([drift, sway], dim=1)[None]  # (1, 250, 2)
    s = band_shares(curves)[0]
    assert int(s[0].argmax()) == 0 and float(s[0, 0]) > 0.8, "0.25 Hz lies in the 0-0.5 Hz band"
    assert int(s[1].argmax()) == 2 and float(s[1, 2]) > 0.8, "1.5 Hz lies in the 1-2 Hz band"


def test_phi_v3_soft_beat_alignment_ranks_like_the_metric(dataset_root, record):
    from toolkit.learners.data import MotionBatcher, load_clip_data
    from toolkit.learners.tasks import soft_beat_alignment
    from toolkit.metrics import head_motion as hm

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    closeness = MotionBatcher([clip], 16).beat_closeness(clip)
    onsets = np.flatnonzero(closeness == 1.0)
    assert clip.has_audio and onsets.size >= 3, "the speech clip has audio onsets"
    n = clip.n_frames

    def pausing_at(pauses: np.ndarray) -> np.ndarray:
        """A head turning at 1 deg/frame that slows to a stop at the given frames (axis-angle, radians)."""
        speed = np.ones(n)
        for p in pauses:
            for d in range(-2, 3):
                if 0 <= p + d < n:
                    speed[p + d] = min(speed[p + d], abs(d) / 3.0)
        rot = np.zeros((n, 3))
        rot[:, 1] = np.radians(np.cumsum(speed))
        return rot

    curves = {"on": pausing_at(onsets), "off": pausing_at(np.clip(onsets + 5, 0, n - 1))}
    metric = {k: hm.beat_alignment(hm.motion_beats(r), onsets) for k, r in curves.items()}
    assert metric["on"] > metric["off"]
    soft, grads = {}, {}
    for key, rot in curves.items():
        deg = torch.tensor(np.degrees(rot)[None], dtype=torch.float32, requires_grad=True)
        soft[key] = soft_beat_alignment(deg, torch.from_numpy(closeness)[None], hm.ENVELOPE_SIGMA_FRAMES)[0]
        (grads[key],) = torch.autograd.grad(soft[key], deg)
    for key in curves:  # pauses on / 5 frames after the onsets: the soft score follows the metric
        assert float(soft[key].detach()) == pytest.approx(metric[key], abs=0.03)
    assert float(soft["on"].detach()) > float(soft["off"].detach()) + 0.05
    assert torch.isfinite(grads["off"]).all() and float(grads["off"].abs().sum()) > 0, "the loss can move pauses"


def test_phi_v3_training_batches_with_cached_log_mel_give_the_same_features(dataset_root, record):
    from toolkit.learners.data import MotionBatcher, load_clip_data
    from toolkit.learners.motion import AudioSequenceStem

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    stem = AudioSequenceStem(4, 4, 16)
    raw = MotionBatcher([clip], 24).sample(2, 8, np.random.default_rng(3))
    cached = MotionBatcher([clip], 24, logmel=stem.logmel).sample(2, 8, np.random.default_rng(3))
    np.testing.assert_array_equal(raw["target"], cached["target"])
    assert cached["driving_windows"].shape[2:] != raw["driving_windows"].shape[2:]
    with torch.no_grad():
        for key in ("ref_windows", "driving_windows"):
            torch.testing.assert_close(
                stem(torch.from_numpy(cached[key])), stem(torch.from_numpy(raw[key])), rtol=1e-4, atol=1e-5
            )


def test_single_image_benchmark_method_hands_the_pipeline_one_frame_and_no_reference_motion(monkeypatch):
    """`pipeline-single-image` (Phi's prior, tau = 1, rendered): only the first of the K reference frames, as a
    photo, and no reference audio reach the pipeline; everything else is the `pipeline` method."""
    from eval.adapters.pipeline import PipelineMethod
    from eval.methods import MethodInputs
    from toolkit.pipeline import pipeline as pipeline_module

    seen = {}

    def fake_generate_frames(self, reference, audio, progress=None, **kwargs):
        seen.update(reference=np.asarray(reference), k=self.config.k, tau=self.config.reference_frames, **kwargs)
        yield from np.zeros((7, 64, 64, 3), np.uint8)

    monkeypatch.setattr(pipeline_module.TalkingHeadPipeline, "generate_frames", fake_generate_frames)
    ref = np.repeat(np.arange(4, dtype=np.uint8)[:, None, None, None] * 60, 64, axis=1).repeat(64, 2).repeat(3, 3)
    audio = np.ones(4 * 640, np.float32)
    inputs = MethodInputs("c", ref, (2, 3), 2, audio, np.zeros(7 * 640, np.float32), 7)
    method = PipelineMethod(renderer="3d-warp", single_image=True, name="pipeline-single-image")
    assert len(list(method.generate(inputs))) == 7 and "tau = 1" in method.description
    np.testing.assert_array_equal(seen["reference"], ref[[2]])  # the first of the K frames
    assert seen["reference_indices"] == [0] and seen["reference_audio"] is None and seen["k"] == seen["tau"] == 1
    full = PipelineMethod(renderer="3d-warp", name="pipeline")
    list(full.generate(inputs))
    assert len(seen["reference"]) == 4 and seen["reference_indices"] == [2, 3] and seen["reference_audio"] is audio


def test_phi_v3_skips_calibration_on_a_single_reference_frame_only():
    from dataclasses import replace

    from toolkit.learners.motion import MotionNet, MotionNetConfig

    base = MotionNetConfig(feature_dim=16, block_dim=8, dilations=(1,), noise_dim=4, reference_dim=8, encoder_dim=8)
    torch.manual_seed(0)
    calibrated = MotionNet(base).eval()
    v3 = MotionNet(replace(base, calibrate_min_frames=2)).eval()
    plain = MotionNet(replace(base, calibrate_on_reference=False)).eval()
    v3.load_state_dict(calibrated.state_dict())
    plain.load_state_dict(calibrated.state_dict())
    g = torch.Generator().manual_seed(2)
    drive = 0.1 * torch.randn(1, 12, 7, 640, generator=g)
    with torch.no_grad():
        for tau, same_as in ((1, plain), (3, calibrated)):
            ref, ref_w = torch.randn(1, tau, 6, generator=g), 0.1 * torch.randn(1, tau, 7, 640, generator=g)
            torch.testing.assert_close(v3(ref, ref_w, drive)[0], same_as(ref, ref_w, drive)[0])
        assert not torch.allclose(
            calibrated(ref[:, :1], ref_w[:, :1], drive)[0], plain(ref[:, :1], ref_w[:, :1], drive)[0]
        )


def test_phi_v4_band_power_mismatch_sees_missing_drift_and_scale_that_shares_miss(record):
    from scipy.ndimage import gaussian_filter1d

    from toolkit.learners.tasks import band_power_mismatch, band_shares

    motion = np.asarray(record.head_motion, np.float64)
    real = torch.from_numpy(motion.astype(np.float32))[None]
    assert float(band_power_mismatch(real, real)) == 0.0
    # twice the amplitude: every band's power x4, shares unchanged
    twice = 2.0 * real
    torch.testing.assert_close(band_shares(twice), band_shares(real))
    assert abs(float(band_power_mismatch(twice, real)) - np.log(4.0)) < 0.05
    # the slow drift removed (what Phi lacked): the low bands' power falls, the fast bands' stays
    no_drift = torch.from_numpy((motion - gaussian_filter1d(motion, 8.0, axis=0, mode="nearest")).astype(np.float32))
    assert float(band_power_mismatch(no_drift[None], real)) > 0.5


def test_phi_v4_short_references_get_the_prior_amplitude_and_long_ones_their_own(record):
    from dataclasses import replace
    from types import SimpleNamespace

    from toolkit.learners.motion import MotionNet, MotionNetConfig
    from toolkit.learners.tasks import reference_amplitude

    motion = np.asarray(record.head_motion, np.float32)
    within = motion.std(axis=0)
    clip = SimpleNamespace(motion=motion, n_frames=len(motion))
    amp = reference_amplitude([clip], 25, within)
    windows = [motion[s : s + 25].std(axis=0) / within for s in range(0, len(motion) - 24, 25)]
    np.testing.assert_allclose(amp, np.median(windows, axis=0), rtol=1e-5)
    assert np.all((amp > 0.05) & (amp < 1.5)), "a 1 s window of a moving head moves, less than the whole clip"

    base = MotionNetConfig(feature_dim=16, block_dim=8, dilations=(1,), noise_dim=4, reference_dim=8, encoder_dim=8)
    torch.manual_seed(0)
    v3 = MotionNet(base).eval()
    v4 = MotionNet(replace(base, prior_amplitude_frames=8)).eval()
    v4.load_state_dict({**v3.state_dict(), "prior_amplitude": torch.zeros(6)})
    g = torch.Generator().manual_seed(1)
    drive = 0.1 * torch.randn(1, 12, 7, 640, generator=g)
    ref = torch.from_numpy(motion[:12])[None]
    ref_w = 0.1 * torch.randn(1, 12, 7, 640, generator=g)
    with torch.no_grad():
        # prior amplitude 0 is what v3 reads from a single frame (std 0): the same output
        torch.testing.assert_close(v4(ref[:, :1], ref_w[:, :1], drive)[0], v3(ref[:, :1], ref_w[:, :1], drive)[0])
        v4.prior_amplitude.copy_(torch.from_numpy(amp))
        assert not torch.allclose(v4(ref[:, :1], ref_w[:, :1], drive)[0], v3(ref[:, :1], ref_w[:, :1], drive)[0])
        # a reference of >= 8 frames keeps its own std
        torch.testing.assert_close(v4(ref, ref_w, drive)[0], v3(ref, ref_w, drive)[0])


def test_photo_prior_checkpoint_moves_a_photo_more_and_leaves_video_references_bit_identical(dataset_root, record):
    """checkpoints/motion_photo_prior = the shipped Phi v3 weights + the typical reference amplitude for references
    under 8 frames (scripts/motion_add_prior_amplitude.py --statistic mean): a single photo gets a moving head,
    a 64-frame reference exactly the motion it got before."""
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.motion import MotionLearner
    from toolkit.metrics.head_motion import pose_diversity
    from toolkit.paths import checkpoints_dir

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    v3 = MotionLearner.load(checkpoints_dir() / "motion_v3")  # the default until session 12
    v3.net.config.warmup_frames = 0  # as motion_photo_prior (session 9): no start warm-up
    prior = MotionLearner.load(checkpoints_dir() / "motion_photo_prior")
    assert prior.net.config.prior_amplitude_frames == 8
    amp = prior.net.prior_amplitude.numpy()
    assert np.all((amp > 0.3) & (amp < 1.0)), amp
    for name, tensor in v3.net.state_dict().items():
        torch.testing.assert_close(prior.net.state_dict()[name], tensor, rtol=0, atol=0)
    tau, drive = 16, clip.audio[16 * 640 :]
    video = [m.predict(clip.motion[:tau], clip.audio[: tau * 640], drive, seed=3) for m in (v3, prior)]
    np.testing.assert_array_equal(video[0], video[1])
    spreads = []
    for m in (v3, prior):
        photo = np.stack([m.predict(clip.motion[:1], None, drive, seed=s) for s in range(3)])
        spreads.append(np.mean([pose_diversity(p[:, :3], p[:, 3:])[0] for p in photo]))
    assert spreads[1] > 1.2 * spreads[0], f"spread from a photo: v3 {spreads[0]:.2f}, prior {spreads[1]:.2f} deg"


def test_prior_amplitude_scale_multiplies_the_statistic_and_the_dev_choice_refuses_a_checkpoint_trained_on_dev_people(
    dataset_root, tmp_path
):
    """scripts/motion_add_prior_amplitude.py --scale multiplies the training split's statistic (weights untouched,
    --calibrate-min-frames written); scripts/motion_dev_amplitude.py refuses the shipped Phi v3, which was trained on
    the dev people, before scoring anything."""
    from scripts import motion_add_prior_amplitude, motion_dev_amplitude
    from toolkit.errors import ToolkitError
    from toolkit.learners.motion import MotionLearner
    from toolkit.paths import checkpoints_dir

    v3 = checkpoints_dir() / "motion_v3"  # Phi v3 without a prior amplitude (the default until session 12)
    outs = {}
    for scale in (1.0, 2.5):
        outs[scale] = tmp_path / f"scale{scale}"
        argv = ["--data", str(dataset_root), "--motion", str(v3), "--out", str(outs[scale]), "--scale", str(scale)]
        assert motion_add_prior_amplitude.main([*argv, "--calibrate-min-frames", "3"]) == 0
    one, more = (MotionLearner.load(outs[s]) for s in (1.0, 2.5))
    amp = one.net.prior_amplitude.numpy()
    assert np.all(amp > 0), amp
    np.testing.assert_allclose(more.net.prior_amplitude.numpy(), 2.5 * amp, rtol=1e-5)
    assert more.net.config.calibrate_min_frames == 3 and more.net.config.prior_amplitude_frames == 8
    base = MotionLearner.load(v3).net.state_dict()
    for name, tensor in base.items():
        torch.testing.assert_close(more.net.state_dict()[name], tensor, rtol=0, atol=0)
    with pytest.raises(ToolkitError, match="dev people"):
        motion_dev_amplitude.main(["--data", str(dataset_root), "--motion", str(v3)])


def test_photo_drift_gain_scales_only_a_short_references_slow_noise_and_leaves_video_references_unchanged(record):
    """MotionNetConfig.prior_drift_gain (issue 17, session 11): a reference under prior_amplitude_frames (a photo)
    gets its slow drift noise channels multiplied by the gain, its fast channels untouched; gain 1 is Phi as
    trained; a reference of >= prior_amplitude_frames frames gives the same motion at any gain."""
    from dataclasses import replace

    from toolkit.learners.motion import MotionNet, MotionNetConfig

    base = MotionNetConfig(
        feature_dim=16, block_dim=8, dilations=(1,), noise_dim=4, reference_dim=8, encoder_dim=8,
        noise_smooth_frames=4.0, noise_drift_frames=16.0, prior_amplitude_frames=8,
    )  # fmt: skip
    torch.manual_seed(0)
    plain = MotionNet(base).eval()
    gained = MotionNet(replace(base, prior_drift_gain=3.0)).eval()
    gained.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(2)
    white = torch.randn(1, 4, 60, generator=g)
    shaped, boosted = plain.shape_noise(white), plain.shape_noise(white, 3.0)
    torch.testing.assert_close(boosted[:, :2], shaped[:, :2])  # fast channels as trained
    torch.testing.assert_close(boosted[:, 2:], 3.0 * shaped[:, 2:])  # slow drift channels x gain
    assert plain.is_short_reference(1) and plain.is_short_reference(7) and not plain.is_short_reference(8)
    motion = torch.from_numpy(np.asarray(record.head_motion[:12], np.float32))[None]
    ref_w = 0.1 * torch.randn(1, 12, 7, 640, generator=g)
    drive = 0.1 * torch.randn(1, 60, 7, 640, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(gained(motion, ref_w, drive, white)[0], plain(motion, ref_w, drive, white)[0])
        photo = [m(motion[:, -1:], ref_w[:, -1:], drive, white)[0] for m in (plain, gained)]
        assert not torch.allclose(photo[0], photo[1])
        # no noise (the mean motion): nothing to scale, the same from a photo at any gain
        torch.testing.assert_close(
            gained(motion[:, -1:], ref_w[:, -1:], drive)[0], plain(motion[:, -1:], ref_w[:, -1:], drive)[0]
        )


def test_photo_error_split_adds_up_and_charges_uncorrelated_motion_its_variance(record):
    """scripts/motion_photo_error_split.py: mse = offset + var_gen + var_real - 2 cov exactly; a copy of the real
    motion has corr 1 and no error; the real curve played backwards (as much motion, not in step) costs about its
    variance twice, more than holding the mean pose still."""
    from scripts.motion_photo_error_split import split

    real = np.degrees(np.asarray(record.head_motion, np.float64)[:, :3])
    rng = np.random.default_rng(0)
    gen = real[::-1] + rng.normal(0, 0.3, real.shape) + 1.0
    s = split(gen, real)
    assert s["mse"] == pytest.approx(s["offset"] + s["var_gen"] + s["var_real"] - 2 * s["cov"], rel=1e-9)
    same = split(real, real)
    assert same["mse"] == pytest.approx(0, abs=1e-9) and same["corr"] == pytest.approx(1.0)
    still = split(np.repeat(real.mean(0, keepdims=True), len(real), 0), real)
    assert still["mse"] == pytest.approx(s["var_real"]) and s["mse"] > still["mse"] + 0.5 * s["var_gen"]


def test_dev_choice_rule_bounded_prefers_a_setting_no_faster_than_the_video_reference():
    """scripts/motion_dev_amplitude.py: rule 'spread' takes the spread closest to the video reference's; rule
    'bounded' only among settings no faster (velocity, acceleration) than it with HF share <= 1.5, and falls back
    to 'spread' (flagged) when none is."""
    from scripts.motion_dev_amplitude import choose

    video = {"velocity": 0.59, "acceleration": 0.45, "hf_share": 0.88, "spread": 0.52}
    fast = {"scale": 2.5, "drift_gain": 1.0, "velocity": 0.61, "acceleration": 0.47, "hf_share": 0.73, "spread": 0.525}
    slow = {"scale": 1.0, "drift_gain": 2.0, "velocity": 0.53, "acceleration": 0.42, "hf_share": 0.76, "spread": 0.51}
    small = {"scale": 0.5, "drift_gain": 1.0, "velocity": 0.47, "acceleration": 0.39, "hf_share": 1.6, "spread": 0.52}
    assert choose([fast, slow, small], video, "spread")["scale"] == 0.5
    picked = choose([fast, slow, small], video, "bounded")
    assert picked["scale"] == 1.0 and picked["drift_gain"] == 2.0 and picked["bounded"]
    fallback = choose([fast], video, "bounded")
    assert fallback["scale"] == 2.5 and not fallback["bounded"]


def test_photo_prior_v2_checkpoint_is_v3_with_the_median_amplitude_and_drift_gain_and_leaves_video_unchanged(
    dataset_root, record
):
    """checkpoints/motion_photo_prior_v2 (issue 17, session 11): Phi v3's weights, the median amplitude x 1.0 and
    drift gain 2.0 chosen on the dev people; a 16-frame reference gets v3's motion exactly; a photo moves more."""
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.motion import MotionLearner
    from toolkit.metrics.head_motion import pose_diversity
    from toolkit.paths import checkpoints_dir

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    v3, v2p = (MotionLearner.load(checkpoints_dir() / n) for n in ("motion_v3", "motion_photo_prior_v2"))
    v3.net.config.warmup_frames = 0  # as motion_photo_prior_v2 (session 11): no start warm-up
    assert v2p.net.config.prior_amplitude_frames == 8 and v2p.net.config.prior_drift_gain == 2.0
    assert v2p.net.config.calibrate_min_frames == 2
    for name, tensor in v3.net.state_dict().items():
        torch.testing.assert_close(v2p.net.state_dict()[name], tensor, rtol=0, atol=0)
    amp = v2p.net.prior_amplitude.numpy()
    assert np.all((amp > 0.2) & (amp < 0.8)), amp
    tau, drive = 16, clip.audio[16 * 640 :]
    video = [m.predict(clip.motion[:tau], clip.audio[: tau * 640], drive, seed=3) for m in (v3, v2p)]
    np.testing.assert_array_equal(video[0], video[1])
    photo = {id(m): [m.predict(clip.motion[:1], None, drive, seed=s) for s in range(3)] for m in (v3, v2p)}
    spread = {k: np.mean([pose_diversity(p[:, :3], p[:, 3:])[0] for p in v]) for k, v in photo.items()}
    assert spread[id(v2p)] > 1.2 * spread[id(v3)], spread


def test_default_motion_is_photo_prior_v2_with_the_start_warmup_and_video_references_match_the_previous_default(
    dataset_root, record
):
    """Session 12 (lead's decision): checkpoints/motion = Phi v3's weights with motion_photo_prior_v2's photo prior
    and the start warm-up; checkpoints/motion_v3 = the previous default (a photo keeps its own, zero, amplitude)
    with the same warm-up. A video reference gets exactly the previous default's motion, a photo
    motion_photo_prior_v2's (with the warm-up), which moves more. ``reference_drift_match`` (session 12,
    motion_drift_match_s12) is off in both; switched on, a photo's motion is unchanged."""
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.motion import MotionLearner
    from toolkit.metrics.head_motion import pose_diversity
    from toolkit.paths import checkpoints_dir

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    default, v3, v2p = (
        MotionLearner.load(checkpoints_dir() / n) for n in ("motion", "motion_v3", "motion_photo_prior_v2")
    )
    assert default.net.config.prior_amplitude_frames == 8 and default.net.config.prior_drift_gain == 2.0
    assert default.net.config.warmup_frames == v3.net.config.warmup_frames == 32
    assert not default.net.config.reference_drift_match and not v3.net.config.reference_drift_match
    assert v3.net.config.prior_amplitude_frames == 0
    for name, tensor in v2p.net.state_dict().items():
        torch.testing.assert_close(default.net.state_dict()[name], tensor, rtol=0, atol=0)
    v2p.net.config.warmup_frames = 32
    tau, drive = 16, clip.audio[16 * 640 :]
    for seed in (0, 3):
        video = [m.predict(clip.motion[:tau], clip.audio[: tau * 640], drive, seed=seed) for m in (default, v3, v2p)]
        np.testing.assert_array_equal(video[0], video[1])
        np.testing.assert_array_equal(video[0], video[2])
        np.testing.assert_array_equal(
            default.predict(clip.motion[:1], None, drive, seed=seed),
            v2p.predict(clip.motion[:1], None, drive, seed=seed),
        )
    default.net.config.reference_drift_match = True
    for seed in (0, 3):
        np.testing.assert_array_equal(
            default.predict(clip.motion[:1], None, drive, seed=seed),
            v2p.predict(clip.motion[:1], None, drive, seed=seed),
        )  # the photo: drift matching does not apply
    default.net.config.reference_drift_match = False
    photo = {id(m): [m.predict(clip.motion[:1], None, drive, seed=s) for s in range(3)] for m in (default, v3)}
    spread = {k: np.mean([pose_diversity(p[:, :3], p[:, 3:])[0] for p in v]) for k, v in photo.items()}
    assert spread[id(default)] > 1.2 * spread[id(v3)], spread


def test_start_warmup_gives_the_first_frames_the_motion_they_get_with_real_preceding_audio(dataset_root, record):
    """The start transient (session 12): zeros in front of the driving audio read as a speech onset and pitched
    Phi's raw output (start anchor off) by several degrees over the first frames; with the warm-up (the first
    frames' audio mirrored in front) the first frames are what Phi gives when the real preceding audio is there.
    Warm-up 0 is the previous inference exactly."""
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.frontend import normalise_loudness
    from toolkit.learners.motion import MotionLearner, _audio_windows, _with_warmup
    from toolkit.paths import checkpoints_dir

    audio = np.arange(5 * 640, dtype=np.float32)
    padded, n = _with_warmup(audio, 4, 2)  # cut to 4 frames, 2 mirrored in front and 2 after (the end warm-up)
    assert n == 8 and padded.size == 8 * 640
    np.testing.assert_array_equal(padded[: 2 * 640], audio[: 2 * 640][::-1])
    np.testing.assert_array_equal(padded[2 * 640 : 6 * 640], audio[: 4 * 640])
    np.testing.assert_array_equal(padded[6 * 640 :], audio[2 * 640 : 4 * 640][::-1])
    assert _with_warmup(audio, 4, 0)[0] is audio

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    phi = MotionLearner.load(checkpoints_dir() / "motion")
    # warm-up 0 (and no drift matching): predict is the inference before session 12 (windows with zeros in front,
    # noise of n frames)
    phi.net.config.warmup_frames = 0
    phi.net.config.reference_drift_match = False
    drive, n = clip.audio[16 * 640 :], len(clip.audio) // 640 - 16
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(1, phi.net.config.noise_dim, n, generator=g)
    windows = torch.from_numpy(_audio_windows(normalise_loudness(drive), n))[None]
    ref_windows = torch.from_numpy(_audio_windows(normalise_loudness(clip.audio[: 16 * 640]), 16))[None]
    with torch.no_grad():
        before = phi.net(torch.from_numpy(clip.motion[:16])[None], ref_windows, windows, noise)[0][0].numpy()
    np.testing.assert_array_equal(
        phi.predict(clip.motion[:16], clip.audio[: 16 * 640], drive, seed=5, n_frames=n), before
    )

    phi.net.config.anchor_frames = 0.0  # the raw output, where the transient came from
    start = 16
    for tau in (16, 1):
        ref = clip.motion[start - tau : start]
        ref_audio = clip.audio[: start * 640] if tau > 1 else None
        phi.net.config.warmup_frames = 0
        with_context = phi.predict(ref, ref_audio, clip.audio, stochastic=False)[start:]  # 16 real frames before
        cold = phi.predict(ref, ref_audio, clip.audio[start * 640 :], stochastic=False)
        phi.net.config.warmup_frames = 32
        warm = phi.predict(ref, ref_audio, clip.audio[start * 640 :], stochastic=False)
        err = {
            k: float(np.degrees(np.abs(v[:3, :3] - with_context[:3, :3])).mean())
            for k, v in (("cold", cold), ("warm", warm))
        }
        assert err["warm"] < 1.0 and err["cold"] > 3.0, (tau, err)


def test_end_warmup_gives_the_last_frames_the_motion_they_get_with_real_following_audio(dataset_root, record):
    """The end transient (session 12): zeros after the driving audio's end moved Phi's last frames by about a
    degree; with the end warm-up (the last frames' audio and noise mirrored after the end, their output dropped)
    the last frames are close to what Phi gives when the real audio follows. The frames away from both ends do
    not change."""
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.motion import MotionLearner, _noise_with_warmup
    from toolkit.paths import checkpoints_dir

    noise = torch.arange(10, dtype=torch.float32).reshape(1, 2, 5)
    mirrored = _noise_with_warmup(noise, 2)
    assert mirrored.shape == (1, 2, 9)
    torch.testing.assert_close(mirrored[:, :, 2:7], noise, rtol=0, atol=0)
    torch.testing.assert_close(mirrored[:, :, 7:], noise[:, :, 3:].flip(2), rtol=0, atol=0)
    assert _noise_with_warmup(noise, 0) is noise

    clip = load_clip_data(dataset_root, [record.clip_id])[0]
    phi = MotionLearner.load(checkpoints_dir() / "motion")
    phi.net.config.anchor_frames = 0.0
    phi.net.config.reference_drift_match = False
    start, last = 16, 8
    drive = clip.audio[start * 640 :]
    n = len(drive) // 640
    cut = n - 40  # 40 frames of real audio after the cut: more than Phi's receptive field (36)
    assert cut >= 40
    for tau in (16, 1):
        ref = clip.motion[start - tau : start]
        ref_audio = clip.audio[: start * 640] if tau > 1 else None
        err, whole = {}, {}
        for name, warmup in (("cold", 0), ("warm", 32)):
            phi.net.config.warmup_frames = warmup
            whole[name] = phi.predict(ref, ref_audio, drive, n_frames=n, stochastic=False)
            alone = phi.predict(ref, ref_audio, drive[: cut * 640], n_frames=cut, stochastic=False)
            err[name] = float(np.degrees(np.abs(alone[-last:, :3] - whole[name][cut - last : cut, :3])).mean())
        # frames reached by neither end's context (nor the start anchor, off here) are the same
        np.testing.assert_allclose(whole["warm"][40 : n - 40], whole["cold"][40 : n - 40], rtol=0, atol=1e-4)
        assert err["warm"] < 0.5 * err["cold"] and err["cold"] > 0.5, (tau, err)
