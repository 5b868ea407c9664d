"""The 3D-aware generator: shapes (K = 1, 8, any K), ablation graphs, training, checkpoints, DDP.

Real inputs: frames of a shared talking-head clip with dlib's 68 landmarks. Where a test needs
a "render" and no 3D module is involved, the frontal frame masked to the convex hull of its
landmarks stands in for y~_t (stated in each test); the networks are tiny (64x64) for speed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.errors import ToolkitError
from toolkit.generator.composition import FixedEncoder, FlowNetwork, warp
from toolkit.generator.config import (
    AblationConfig,
    ConfigError,
    DiscriminatorConfig,
    GeneratorConfig,
    GeneratorTrainConfig,
    LossConfig,
    TrainConfig,
    config_from_dict,
    full_config,
    load_config,
    small_config,
)
from toolkit.generator.embedding import HybridEmbedding
from toolkit.generator.landmark_image import landmark_image
from toolkit.generator.model import Generator, GeneratorInputError
from toolkit.generator.train import INPUT_KEYS
from toolkit.paths import PROJECT_ROOT, shared_data_dir

CLIP = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"
pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"shared data not found at {CLIP} (set TOOLKIT_DATA)")

S = 64  # test image size


def tiny_generator(**ablation: bool) -> GeneratorConfig:
    return GeneratorConfig(
        image_size=S,
        n_layers=4,
        ngf=8,
        max_channels=32,
        lmk_ngf=4,
        lmk_max_channels=16,
        img_enc_ngf=8,
        img_enc_max_channels=16,
        embed_q_channels=16,
        fusion_dim=16,
        fusion_hidden=16,
        flow_ngf=8,
        ablation=AblationConfig(**ablation),
    )


def tiny_train_config(**ablation: bool) -> GeneratorTrainConfig:
    return GeneratorTrainConfig(
        name="test",
        generator=tiny_generator(**ablation),
        discriminator=DiscriminatorConfig(ndf=8, n_layers=2),
        loss=LossConfig(perceptual="ms-l1-ssim"),
        train=TrainConfig(batch_size=2, seed=0),
    )


# ----------------------------------------------------------------------------- real data


def _dlib_predictor():
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face-recognition-models (dlib 68-point predictor) is not installed")
    model = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


@pytest.fixture(scope="module")
def clip() -> dict[str, np.ndarray]:
    """20 real frames (224x224) with dlib landmarks, in frame pixels."""
    import imageio.v3 as iio

    frames = np.stack([iio.imread(CLIP, index=i) for i in range(0, 40, 2)])
    detector, predictor = _dlib_predictor()
    lms = []
    box = None
    for f in frames:
        dets = detector(f, 0)
        box = dets[0] if len(dets) else box
        assert box is not None, "no face found in the test clip"
        shape = predictor(f, box)
        lms.append([(p.x + 0.5, p.y + 0.5) for p in shape.parts()])
    return {"frames": frames, "landmarks": np.asarray(lms, np.float32)}


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _img(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(_resize(frame, S).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1)


def _hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    import cv2

    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 255)
    return mask.astype(np.float32) / 255


def real_batch(clip: dict[str, np.ndarray], targets: list[int], k: int, ref_start: int = 10) -> dict[str, torch.Tensor]:
    """A batch from real frames; the render stand-in is frame 0 masked to its landmark hull."""
    frames, lms = clip["frames"], clip["landmarks"]
    scale = S / frames.shape[1]
    refs = list(range(ref_start, ref_start + k))
    lm_img = {i: torch.from_numpy(landmark_image(lms[i] * scale, S))[None] for i in range(len(frames))}
    hull = torch.from_numpy(_hull_mask(lms[0] * scale, S))[None]
    b: dict[str, list[torch.Tensor]] = {
        key: [] for key in (*INPUT_KEYS, "target", "target_points", "render_points", "matched_points")
    }
    for t in targets:
        b["ref_images"].append(torch.stack([_img(frames[r]) for r in refs]))
        b["ref_landmarks"].append(torch.stack([lm_img[r] for r in refs]))
        b["target_landmark"].append(lm_img[t])
        b["rendered"].append(_img(frames[0]) * hull)
        b["render_mask"].append(hull)
        b["render_landmark"].append(lm_img[0])
        b["matched"].append(_img(frames[refs[0]]))
        b["matched_landmark"].append(lm_img[refs[0]])
        b["target"].append(_img(frames[t]))
        b["target_points"].append(torch.from_numpy(lms[t] * scale))
        b["render_points"].append(torch.from_numpy(lms[0] * scale))
        b["matched_points"].append(torch.from_numpy(lms[refs[0]] * scale))
    return {key: torch.stack(v) for key, v in b.items()}


def g_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: batch[key] for key in INPUT_KEYS}


# ----------------------------------------------------------------------------- landmark images


def test_landmark_image_draws_face_parts_on_real_landmarks(clip) -> None:
    lm = clip["landmarks"][0]
    img = landmark_image(lm, 224)
    assert img.shape == (224, 224) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    # every landmark lies on a drawn line; a point far from the face stays black
    xs, ys = (
        np.clip(np.round(lm[:, 0] - 0.5).astype(int), 0, 223),
        np.clip(np.round(lm[:, 1] - 0.5).astype(int), 0, 223),
    )
    near = np.array([img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].max() for x, y in zip(xs, ys)])
    assert (near > 0.3).all()
    assert img[:10, :10].max() == 0
    # lines, not dots: many more lit pixels than landmarks; the mouth is a closed loop
    assert (img > 0.3).sum() > 5 * 68
    # resolution change: same drawing, scaled (coordinates given in 224 px)
    small = landmark_image(lm, 64, source_size=224)
    assert small.shape == (64, 64)
    down = _resize(img, 64)
    assert np.corrcoef(small.ravel(), down.ravel())[0, 1] > 0.6
    with pytest.raises(ToolkitError):
        landmark_image(lm[:60], 64)
    with pytest.raises(ToolkitError):
        landmark_image(np.full((68, 2), np.nan), 64)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("k", [1, 8])
def test_module_shapes(clip, k: int) -> None:
    torch.manual_seed(0)
    cfg = tiny_generator()
    batch = real_batch(clip, [2, 4], k)
    emb = HybridEmbedding(cfg)
    out = emb(batch["ref_images"], batch["ref_landmarks"], batch["target_landmark"])
    n = cfg.n_layers
    assert out.e_y.shape == (2, cfg.dec_channels(n), S // 2**n, S // 2**n)
    q = S // 2**cfg.q_level
    assert out.alpha is not None and out.alpha.shape == (2, k, cfg.embed_q_channels, q, q)
    # Eq. (3): a softmax over the K references
    torch.testing.assert_close(out.alpha.sum(dim=1), torch.ones_like(out.alpha[:, 0]))
    assert len(out.params) == n
    for j, p in enumerate(out.params, start=1):
        assert p.conv_w.shape == (2, cfg.lmk_channels(j), cfg.lmk_channels(j - 1), 3, 3)
        assert p.gamma_w.shape[:3] == (2, cfg.dec_channels(j), cfg.lmk_channels(j))
    flow, att, _ = FlowNetwork(5, cfg)(
        torch.cat([batch["target_landmark"], batch["matched_landmark"], batch["matched"]], 1)
    )
    assert flow.shape == (2, 2, S, S) and att.shape == (2, 1, S, S)
    # the untrained flow network warps by the identity
    torch.testing.assert_close(warp(batch["matched"], flow), batch["matched"], atol=1e-5, rtol=0)
    feats = FixedEncoder(4, cfg)(torch.cat([batch["matched"], att], 1))
    assert [f.shape[-1] for f in feats] == [S // 2**j for j in range(1, n + 1)]
    g = Generator(cfg)
    aux = g(**g_inputs(batch), return_aux=True)
    assert aux.image.shape == (2, 3, S, S) and aux.image.abs().max() <= 1
    assert set(aux.flows) == {"render", "matched"} and aux.warped_mask.shape == (2, 1, S, S)


def test_any_k_at_inference_and_reference_cache(clip) -> None:
    torch.manual_seed(0)
    g = Generator(tiny_generator()).eval()
    with torch.no_grad():
        for k in (1, 3, 8):
            b = real_batch(clip, [3], k)
            assert g(**g_inputs(b)).shape == (1, 3, S, S)
        # the cached path (references encoded once, batch of target frames) equals the direct one
        b = real_batch(clip, [2, 5, 7], 4)
        direct = g(**g_inputs(b))
        cache = g.encode_references(b["ref_images"][:1], b["ref_landmarks"][:1])
        inp = g_inputs(b)
        # INPUT_KEYS after the two reference entries are generate()'s per-frame inputs, in order
        cached = g.generate(cache, *(inp[k] for k in INPUT_KEYS[2:])).image
    torch.testing.assert_close(direct, cached, atol=1e-5, rtol=1e-4)
    # different targets give different frames
    assert (direct[0] - direct[1]).abs().mean() > 1e-4


def test_bad_inputs_raise_toolkit_errors(clip) -> None:
    g = Generator(tiny_generator())
    b = real_batch(clip, [2], 2)
    with pytest.raises(GeneratorInputError):
        g(**{**g_inputs(b), "ref_images": b["ref_images"][:, :, :, :32]})
    with pytest.raises(GeneratorInputError):
        g(**{**g_inputs(b), "rendered": None})
    with pytest.raises(ToolkitError):
        Generator(dataclasses.replace(tiny_generator(), image_size=72))


# ----------------------------------------------------------------------------- ablations


ABLATIONS = ("no_3d_aware", "no_hybrid_attention", "no_nonlinear_composition", "no_warping", "baseline")


def _types(m: torch.nn.Module) -> set[str]:
    return {type(x).__name__ for x in m.modules()}


def test_ablation_switches_change_the_graph(clip) -> None:
    torch.manual_seed(0)
    full = Generator(tiny_generator()).eval()
    full_state = full.state_dict()
    b = real_batch(clip, [2, 6], 3)
    with torch.no_grad():
        ref_out = full(**g_inputs(b))
    names_full = set(full_state)
    seen_param_sets = {frozenset(names_full)}
    for ab in ABLATIONS:
        g = Generator(tiny_generator(**{ab: True})).eval()
        names = set(g.state_dict())
        assert names != names_full, ab
        seen_param_sets.add(frozenset(names))
        # share every weight the two graphs have in common: the output still differs
        g.load_state_dict(
            {k: v for k, v in full_state.items() if k in names and v.shape == g.state_dict()[k].shape}, strict=False
        )
        with torch.no_grad():
            out = g(**g_inputs(b), return_aux=True)
        assert out.image.shape == ref_out.shape
        assert (out.image - ref_out).abs().mean() > 1e-4, ab
        types = _types(g)
        r = g.config.ablation.resolved()
        assert ("ConvGate" in types) != r.no_hybrid_attention
        assert ("FlowNetwork" in types) != r.no_warping
        assert ("FixedEncoder" in types) != r.no_nonlinear_composition
        assert ("render" in out.warped) != r.no_3d_aware
        if r.no_warping:
            assert not out.flows
        if r.no_nonlinear_composition:  # image matting of the raw output with the warped sources
            assert not torch.equal(out.image, out.raw)
    assert len(seen_param_sets) == len(ABLATIONS) + 1
    assert {"ConvGate", "FlowNetwork", "FixedEncoder"} <= _types(full)


def test_without_3d_aware_the_render_is_ignored(clip) -> None:
    torch.manual_seed(0)
    b = real_batch(clip, [4], 2)
    other = {**g_inputs(b), "rendered": -g_inputs(b)["rendered"]}
    for ab, depends in (({}, True), ({"no_3d_aware": True}, False)):
        g = Generator(tiny_generator(**ab)).eval()
        with torch.no_grad():
            diff = (g(**g_inputs(b)) - g(**other)).abs().max()
        assert (diff > 1e-5) == depends


def test_residual_composition_starts_at_the_warped_composite_and_learns(clip) -> None:
    """``composition_output: residual``: the untrained G is the 3D-warp composite; training moves it."""
    from toolkit.generator.train import GeneratorTrainer

    torch.manual_seed(0)
    b = real_batch(clip, [3, 8], 2)
    m, render, matched = b["render_mask"], b["rendered"], b["matched"]
    composite = m * render + (1 - m) * matched
    cases = (({}, "mask", composite), ({}, "learned", composite), ({"no_3d_aware": True}, "mask", matched))
    for ab, blend, expected in cases:
        cfg = dataclasses.replace(tiny_generator(**ab), composition_output="residual", residual_blend=blend)
        g = Generator(cfg).eval()
        with torch.no_grad():
            out = g(**g_inputs(b), return_aux=True)
        # identity flows + a zero correction: exactly the blend the 3d-warp baseline outputs
        assert torch.allclose(out.image, expected.clamp(-1, 1), atol=1e-5), ab
        assert torch.allclose(out.base, expected, atol=1e-5) and out.raw.abs().max() == 0
    direct = Generator(tiny_generator()).eval()
    with torch.no_grad():
        assert (direct(**g_inputs(b)) - (m * render + (1 - m) * matched)).abs().mean() > 0.05  # the paper's tanh
    with pytest.raises(ConfigError, match="composition_output"):
        dataclasses.replace(tiny_generator(), composition_output="sum").validate()

    torch.set_num_threads(2)
    cfg = tiny_train_config()
    cfg.generator = dataclasses.replace(cfg.generator, composition_output="residual")
    trainer = GeneratorTrainer(cfg)
    before = trainer.eval_losses(b)
    for _ in range(4):
        trainer.train_step(b)
    with torch.no_grad():
        trainer.G.eval()
        out = trainer.G(**g_inputs(b), return_aux=True)
    assert out.raw.abs().max() > 0  # the correction is no longer zero
    assert trainer.eval_losses(b)["g_pct"] < before["g_pct"]


# ----------------------------------------------------------------------------- training


def test_training_steps_decrease_loss_on_a_fixed_real_batch(clip) -> None:
    from toolkit.generator.train import GeneratorTrainer

    torch.set_num_threads(2)
    cfg = tiny_train_config()
    trainer = GeneratorTrainer(cfg)
    batch = real_batch(clip, [3, 8], 2)
    before = trainer.eval_losses(batch)
    logs = [trainer.train_step(batch) for _ in range(6)]
    after = trainer.eval_losses(batch)
    assert all(np.isfinite(list(entry.values())).all() for entry in logs)
    assert after["g_total"] < before["g_total"], (before, after)
    assert after["g_pct"] < before["g_pct"]
    assert trainer.step == 6


def test_checkpoint_round_trip(clip, tmp_path: Path) -> None:
    from toolkit.generator.checkpoint import export_generator, load_generator
    from toolkit.generator.train import GeneratorTrainer

    cfg = tiny_train_config()
    trainer = GeneratorTrainer(cfg)
    batch = real_batch(clip, [3, 8], 2)
    trainer.train_step(batch)
    trainer.save_state(tmp_path / "run")
    export_generator(tmp_path / "gen", trainer.G, {"step": trainer.step, "perceptual": trainer.pct.backend})
    # shipped generator: same outputs
    loaded = load_generator(tmp_path / "gen")
    trainer.G.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**g_inputs(batch)), trainer.G(**g_inputs(batch)))
    assert loaded.checkpoint_meta["perceptual"] == "ms-l1-ssim"
    # training state: the resumed trainer takes exactly the step the original takes
    resumed = GeneratorTrainer(cfg)
    resumed.load_state(tmp_path / "run")
    assert resumed.step == 1
    a, b = trainer.train_step(batch), resumed.train_step(batch)
    assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    for (n, p), (_, q) in zip(trainer.G.named_parameters(), resumed.G.named_parameters()):
        torch.testing.assert_close(p, q, msg=n)
    # a corrupted weights file is refused with an actionable error
    weights = tmp_path / "gen" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ToolkitError):
        load_generator(tmp_path / "gen")
    with pytest.raises(ToolkitError):
        load_generator(tmp_path / "missing")


def _ddp_worker(rank: int, world: int, store: str, batches: list, out_dir: str) -> None:
    import torch.distributed as dist

    from toolkit.generator.train import GeneratorTrainer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    trainer = GeneratorTrainer(tiny_train_config(), distributed=True)
    trainer.train_step(batches[rank])
    torch.save({n: p.detach().clone() for n, p in trainer.G.named_parameters()}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_step_on_two_cpu_processes(clip, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    from toolkit.generator.train import GeneratorTrainer

    batches = [real_batch(clip, [3, 8], 2), real_batch(clip, [12, 16], 2)]
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "store"), batches, str(tmp_path)), nprocs=2, join=True)
    p0, p1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    # gradients were all-reduced: both ranks hold the same weights after the step ...
    for n in p0:
        torch.testing.assert_close(p0[n], p1[n], msg=n)
    # ... which differ from a single-process step on rank 0's batch alone
    single = GeneratorTrainer(tiny_train_config())
    init = {n: p.detach().clone() for n, p in single.G.named_parameters()}
    single.train_step(batches[0])
    moved = sum(float((p0[n] - init[n]).abs().sum()) for n in p0)
    differs = sum(float((p0[n] - p.detach()).abs().sum()) for n, p in single.G.named_parameters())
    assert moved > 0 and differs > 1e-6


# ----------------------------------------------------------------------------- losses and configs


def test_perceptual_backends_on_real_frames(clip) -> None:
    from toolkit.generator.losses import PerceptualLoss, default_face_mobilenet_path, resolve_perceptual

    b = real_batch(clip, [3, 8], 1)
    real = b["target"]
    slightly = (real + 0.02 * torch.randn_like(real)).clamp(-1, 1)
    other = real.flip(0)  # another frame
    backends = ["ms-l1-ssim"] + (["face-mobilenet"] if default_face_mobilenet_path().exists() else [])
    for backend in backends:
        loss = PerceptualLoss(LossConfig(perceptual=backend))
        assert float(loss(real, real)) == pytest.approx(0, abs=1e-6)
        assert 0 < float(loss(slightly, real)) < float(loss(other, real))
        assert "SUBSTITUTE" in loss.label
    # auto never picks VGG19 without its weights
    assert resolve_perceptual(LossConfig(perceptual="auto")) in ("face-mobilenet", "ms-l1-ssim")


def test_shipped_config_files_match_the_dataclasses() -> None:
    small = load_config(PROJECT_ROOT / "configs" / "generator_small.yaml")
    full = load_config(PROJECT_ROOT / "configs" / "generator_full.yaml")
    assert dataclasses.asdict(small.generator) == dataclasses.asdict(small_config().generator)
    assert dataclasses.asdict(full.generator) == dataclasses.asdict(full_config().generator)
    assert full.train.lr == 2e-4 and tuple(full.train.betas) == (0.5, 0.999)
    assert full.loss.lambda_fm == full.loss.lambda_pct == full.loss.lambda_w == 10
    with pytest.raises(ConfigError):
        config_from_dict({"generator": {"n_layer": 5}})
    with pytest.raises(ConfigError):
        config_from_dict({"generator": {"image_size": 100}})
    assert AblationConfig(baseline=True).resolved().no_warping


def test_generator_recipes_take_the_same_overrides_as_the_learners(tmp_path) -> None:
    """One config loader (toolkit.config): --set key=value, type checks and unknown keys as for the learners."""
    from toolkit.learners.config import load_config as load_learner_config

    cfg = load_config(PROJECT_ROOT / "configs" / "generator_small.yaml", ["train.steps=7", "generator.image_size=128"])
    assert cfg.train.steps == 7 and cfg.generator.image_size == 128
    for bad, message in ((["train.stepz=7"], "Unknown config key.*train.stepz"), (["train.steps=many"], "must be int")):
        with pytest.raises(ConfigError, match=message):
            load_config(PROJECT_ROOT / "configs" / "generator_small.yaml", bad)
        with pytest.raises(ConfigError, match=message.replace("train.", "optim.")):
            load_learner_config("motion", None, [b.replace("train.", "optim.") for b in bad])
    (tmp_path / "bad.yaml").write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


# ----------------------------------------------------------------------------- data pipeline


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """A real preprocessed record (0.8 s of a shared clip) written by `toolkit preprocess`."""
    from toolkit.data.preprocess import PreprocessConfig, build_dataset

    out = tmp_path_factory.mktemp("gen_records")
    build_dataset([CLIP], out, PreprocessConfig(max_seconds=0.8, jobs=1), progress=False)
    return out


def test_data_pipeline_on_a_real_record_with_real_renders(records: Path, tmp_path: Path) -> None:
    from toolkit.data.records import done_clip_ids, load_clip
    from toolkit.generator.config import GeneratorDataConfig
    from toolkit.generator.data import GeneratorDataset, RenderCacheMissingError, build_cache, collate
    from toolkit.render.matcher import motion_cost

    data = GeneratorDataConfig(
        records=str(records), renders=str(tmp_path / "cache"), matcher_perturb_prob=0.0, hflip_prob=0.0
    )
    with pytest.raises(RenderCacheMissingError):
        GeneratorDataset(data, S, split="all")
    build_cache(data, S, progress=False)  # frames + y~_t from toolkit.render.Warp3D
    ds = GeneratorDataset(data, S, split="all")
    (cid,) = done_clip_ids(records)
    rec = load_clip(records, cid)
    frames = np.load(tmp_path / "cache" / cid / f"frames_{S}.npy")
    assert frames.shape == (rec.n_frames, S, S, 3)
    s = ds.sample(np.random.default_rng(0), k=4, target=10)
    assert s["ref_images"].shape == (4, 3, S, S) and s["ref_landmarks"].shape == (4, 1, S, S)
    torch.testing.assert_close(s["target"], torch.from_numpy(frames[10].transpose(2, 0, 1) / 127.5 - 1).float())
    for key in ("rendered", "matched", "target"):
        assert s[key].shape == (3, S, S) and s[key].min() >= -1 and s[key].max() <= 1
    m = s["render_mask"]
    assert 0.05 < float((m > 0.5).float().mean()) < 0.9  # the render covers the face, not the frame
    inside = s["rendered"][:, m[0] > 0.5]
    assert float(inside.std()) > 0.05  # textured, not a flat fill
    # the matched frame is the reference with the least Eq. (2) cost (no perturbation here)
    refs = s["ref_index"].numpy()
    assert 10 not in refs and int(s["target_index"]) == 10
    cost = motion_cost(rec.head_motion[10][None], rec.head_motion[refs])[0]
    assert int(s["matched_index"]) == refs[int(np.argmin(cost))]
    torch.testing.assert_close(s["matched"], s["ref_images"][int(np.argmin(cost))])
    # landmark points fall on the drawn landmark image
    p = np.round(s["target_points"].numpy() - 0.5).astype(int).clip(0, S - 1)
    assert float(s["target_landmark"][0][p[:, 1], p[:, 0]].mean()) > 0.2
    # mirroring flips every image and the points consistently
    flipped = GeneratorDataset(dataclasses.replace(data, hflip_prob=1.0), S, split="all")
    f = flipped.sample(np.random.default_rng(0), k=4, target=10)
    torch.testing.assert_close(f["target"], s["target"].flip(-1))
    torch.testing.assert_close(f["target_points"][:, 0], S - s["target_points"][:, 0])
    batch = collate([s, f])
    assert batch["ref_images"].shape == (2, 4, 3, S, S)
    # without the 3D-aware module no render is needed and the first reference stands in for y_ts
    no3d = GeneratorDataset(data, S, AblationConfig(no_3d_aware=True), split="all")
    n = no3d.sample(np.random.default_rng(1), k=3)
    assert "rendered" not in n
    torch.testing.assert_close(n["matched"], n["ref_images"][0])


def test_generator_trains_in_the_learners_loop_and_resumes_exactly(records: Path, tmp_path: Path) -> None:
    """`toolkit train generator` runs the one loop (toolkit.learners.train.train) with GeneratorTask: the
    learners' run folder plus sample grids; stopped after 2 steps and resumed, it ends with the same weights
    as 3 steps at once (per-step seeds); a run folder of another model is refused."""
    from safetensors.torch import load_file

    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.config import GeneratorDataConfig
    from toolkit.generator.data import build_cache
    from toolkit.learners.train import train

    torch.set_num_threads(1)
    cfg = tiny_train_config()
    cfg.data = GeneratorDataConfig(records=str(records), renders=str(tmp_path / "cache"), val_groups=["nobody"])
    cfg.train = TrainConfig(batch_size=1, steps=3, log_every=1, sample_every=2, checkpoint_every=2)
    build_cache(cfg.data, S, progress=False)
    first = train(cfg, tmp_path / "run", max_steps=2, progress=False)
    assert first["steps"] == 2 and first["stopped_early"]
    assert train(cfg, tmp_path / "run", progress=False)["steps"] == 3
    train(cfg, tmp_path / "straight", progress=False)
    resumed = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    straight = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in resumed)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["event"] == "train"] == [1, 2, 3]
    assert [r["step"] for r in rows if r["event"] == "val"] == [0, 2, 3]  # step 0: the untrained G
    assert all(np.isfinite(r["fixed_g_pct"]) for r in rows if r["event"] == "val")
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == [
        "step_0000000.png", "step_0000002.png", "step_0000003.png"
    ]  # fmt: skip
    assert load_generator(tmp_path / "run" / "model").checkpoint_meta["step"] == 3
    config = tmp_path / "run" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model": "motion"}))
    with pytest.raises(ToolkitError, match="model 'motion'"):
        train(cfg, tmp_path / "run", progress=False)


def test_synthesize_frames_with_the_3d_module_on_a_real_record(records: Path) -> None:
    from toolkit.data.records import done_clip_ids, load_clip
    from toolkit.generator.infer import SynthesisInputError, synthesize_frames
    from toolkit.render.warp3d import ReferenceTrack, Warp3D

    (cid,) = done_clip_ids(records)
    rec = load_clip(records, cid)
    frames = rec.frames()
    refs = np.arange(0, 8)
    w3d = Warp3D(frames[refs], ReferenceTrack.from_any(rec, refs))
    targets = np.arange(10, 16)
    gi = w3d.generator_inputs(rec.pose[targets], rec.frontal68[targets])
    torch.manual_seed(0)
    g = Generator(tiny_generator())
    lm = rec.landmarks68
    out = synthesize_frames(
        g,
        frames[refs],
        lm[refs],
        lm[targets],
        gi.rendered,
        gi.mask,
        gi.matched,
        render_landmarks68=lm[targets],
        matched_landmarks68=lm[refs][gi.matched_index],
        batch_size=4,
    )
    assert out.shape == (len(targets), *frames.shape[1:]) and out.dtype == np.uint8
    assert out.std() > 1  # an image, not a constant
    # a residual generator works at its own size (64) but corrects the frames at the source's size:
    # untrained, it returns the 3D-warp composition at full resolution, not an upsampled 64x64 frame
    from toolkit.render.warp3d import compose

    torch.manual_seed(0)
    rg = Generator(dataclasses.replace(tiny_generator(), composition_output="residual"))
    full = synthesize_frames(rg, frames[refs], lm[refs], lm[targets], gi.rendered, gi.mask, gi.matched, batch_size=4)
    assert full.shape == out.shape
    assert np.abs(full.astype(np.int16) - compose(gi).astype(np.int16)).mean() < 1.0
    with pytest.raises(SynthesisInputError):
        synthesize_frames(g, frames[refs][:, :100], lm[refs], lm[targets], gi.rendered, gi.mask, gi.matched)


def test_shipped_generator_is_a_mild_correction_of_the_3d_warp_on_a_real_record(records: Path) -> None:
    """checkpoints/generator_cpu128 loads (sha256 checked) and stays close to its 3D-warp input.

    Its model card says it does not beat the 3D warp on held-out people; this pins what it does do on
    real frames (of a clip it was trained on): a correction of a few grey levels that does not wreck
    the frame. Held-out numbers are in the model card, from `toolkit evaluate`.
    """
    from skimage.metrics import structural_similarity

    from toolkit.data.records import done_clip_ids, load_clip
    from toolkit.generator.checkpoint import load_generator
    from toolkit.generator.infer import synthesize_frames
    from toolkit.paths import checkpoints_dir
    from toolkit.pipeline.renderers import SHIPPED_GENERATOR
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, compose

    g = load_generator(checkpoints_dir() / SHIPPED_GENERATOR)
    assert g.config.composition_output == "residual" and g.checkpoint_meta["step"] > 0
    (cid,) = done_clip_ids(records)
    rec = load_clip(records, cid)
    frames, lm = rec.frames(), rec.landmarks68
    refs, targets = np.arange(0, 8), np.arange(10, rec.n_frames, 2)
    gi = Warp3D(frames[refs], ReferenceTrack.from_any(rec, refs)).generator_inputs(
        rec.pose[targets], rec.frontal68[targets]
    )
    out = synthesize_frames(
        g, frames[refs], lm[refs], lm[targets], gi.rendered, gi.mask, gi.matched,
        render_landmarks68=lm[targets], matched_landmarks68=lm[refs][gi.matched_index],
    )  # fmt: skip
    base = compose(gi)
    change = np.abs(out.astype(np.int16) - base.astype(np.int16)).mean()

    def ssim(a: np.ndarray) -> float:
        return float(np.mean([structural_similarity(x, y, channel_axis=2) for x, y in zip(a, frames[targets])]))

    ssim_out, ssim_base = ssim(out), ssim(base)
    print(f"mean change {change:.2f} grey levels; SSIM output {ssim_out:.4f} vs 3d-warp {ssim_base:.4f}")
    assert 0.5 < change < 5.0
    assert ssim_out > ssim_base - 0.01


# ----------------------------------------------------------------------------- few-shot adaptation


def test_finetune_on_reference_frames_adapts_a_copy(clip) -> None:
    """Fine-tuning on the reference video's own frames: a changed copy, the original untouched."""
    from toolkit.generator.finetune import FinetuneConfig, finetune_generator

    torch.manual_seed(0)
    g = Generator(dataclasses.replace(tiny_generator(), composition_output="residual")).eval()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    frames, lms = clip["frames"], clip["landmarks"]  # 20 real frames, 224x224
    n = len(frames)
    hull = np.stack([_hull_mask(lms[0], frames.shape[1])] * n)
    rendered = (frames[0] * hull[0][..., None]).astype(np.uint8)[None].repeat(n, 0)  # stand-in y~_t
    refs = np.array([0, 5])
    matched = frames[refs][np.arange(n) % 2]
    tuned = finetune_generator(
        g, frames, lms, refs, lms, rendered, hull, matched, lms[refs][np.arange(n) % 2],
        FinetuneConfig(steps=3, batch_size=2),
    )  # fmt: skip
    assert tuned is not g and not tuned.training
    assert all(torch.equal(v, before[k]) for k, v in g.state_dict().items())  # the shipped weights are kept
    assert any(not torch.equal(v, before[k]) for k, v in tuned.state_dict().items())
    # nothing to learn from: every frame is an appearance reference (a single image), or 0 steps
    one = frames[:1]
    assert finetune_generator(g, one, lms[:1], [0], lms[:1], one, hull[:1], one, lms[:1]) is g
    assert finetune_generator(g, frames, lms, refs, lms, rendered, hull, matched, lms, FinetuneConfig(steps=0)) is g
    with pytest.raises(ToolkitError, match="steps"):
        FinetuneConfig(steps=-1).validate()


def test_colour_jitter_is_one_transform_per_sample() -> None:
    from toolkit.generator.data import random_colour_transform

    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    assert np.allclose(random_colour_transform(np.random.default_rng(1), 0.0)(x), x, atol=1e-6)
    t = random_colour_transform(np.random.default_rng(1), 1.0)
    y = t(x)
    assert y.shape == x.shape and y.dtype == np.float32 and y.min() >= -1 and y.max() <= 1
    assert np.abs(y - x).mean() > 0.01 and np.array_equal(t(x), y)  # the same change every call
