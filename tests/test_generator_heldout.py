"""Generator training on the inputs the pipeline gives at inference (``data.heldout_targets``) and the
direct mouth-synthesis loss (``loss.lambda_mouth_synthesis``), on a real preprocessed shared clip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_generator import CLIP, S, tiny_train_config

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"shared data not found at {CLIP} (set TOOLKIT_DATA)")


@pytest.fixture(scope="module")
def cached(tmp_path_factory) -> tuple[Path, Path]:
    """A real record (1.2 s of a shared clip) and its held-out-target cache at 64x64, K = 4."""
    from toolkit.data.preprocess import PreprocessConfig, build_dataset
    from toolkit.generator.config import GeneratorDataConfig
    from toolkit.generator.data import build_heldout_cache

    records = tmp_path_factory.mktemp("heldout_records")
    build_dataset([CLIP], records, PreprocessConfig(max_seconds=1.2, jobs=1), progress=False)
    cache = tmp_path_factory.mktemp("heldout_cache")
    build_heldout_cache(GeneratorDataConfig(records=str(records), renders=str(cache)), S, k=4, progress=False)
    return records, cache


def test_heldout_targets_never_among_the_references_and_get_the_moved_matched_frame(cached) -> None:
    from toolkit.data.records import done_clip_ids, load_clip
    from toolkit.generator.config import GeneratorDataConfig
    from toolkit.generator.data import GeneratorDataset, RenderCacheMissingError, collate, heldout_split

    records, cache = cached
    (cid,) = done_clip_ids(records)
    rec = load_clip(records, cid)
    meta = json.loads((cache / cid / f"heldout_{S}.json").read_text())
    n_ref, targets = heldout_split(rec.n_frames, 64)
    assert meta["n_ref"] == n_ref == rec.n_frames // 2 and meta["targets"] == targets.tolist()
    assert max(meta["k_indices"]) < n_ref <= min(meta["targets"])  # references before every target
    assert len(meta["k_indices"]) == 4 and len(meta["matched"]) == len(targets)

    data = GeneratorDataConfig(records=str(records), renders=str(cache), heldout_targets=True, hflip_prob=0.0)
    ds = GeneratorDataset(data, S, split="all")
    frames = np.load(cache / cid / f"frames_{S}.npy")
    moved = np.load(cache / cid / f"heldout_matched_{S}.npy")
    t = int(targets[3])
    s = ds.sample(np.random.default_rng(0), k=4, target=t)
    assert int(s["target_index"]) == t and s["ref_index"].tolist() == meta["k_indices"]
    matched = meta["k_indices"][meta["matched"][3]]
    assert int(s["matched_index"]) == matched
    torch.testing.assert_close(s["target"], torch.from_numpy(frames[t].transpose(2, 0, 1) / 127.5 - 1).float())
    # the matched frame as the pipeline hands it to the generator: the reference moved with the head
    torch.testing.assert_close(s["matched"], torch.from_numpy(moved[3].transpose(2, 0, 1) / 127.5 - 1).float())
    m = s["render_mask"]
    assert 0.05 < float((m > 0.5).float().mean()) < 0.9 and float(s["rendered"][:, m[0] > 0.5].std()) > 0.05
    one = ds.sample(np.random.default_rng(0), k=1, target=t)
    assert one["ref_index"].tolist() == [matched]  # K = 1: the matched reference itself
    assert collate([s, ds.sample(np.random.default_rng(1), k=4)])["ref_images"].shape == (2, 4, 3, S, S)

    # open-mouth draws: every target from the open set when asked to
    from toolkit.render.lips import lip_opening

    opening = lip_opening(rec.landmarks68[targets, :, :2])
    threshold = float(np.median(opening))
    wide = GeneratorDataset(dataclasses.replace(data, open_mouth_prob=1.0, open_mouth_min=threshold), S, split="all")
    drawn = {int(wide.sample(np.random.default_rng(i), k=4)["target_index"]) for i in range(12)}
    assert drawn and all(opening[list(targets).index(d)] >= threshold for d in drawn)
    # without the held-out cache: a clear error saying how to build it
    with pytest.raises(RenderCacheMissingError, match="build_heldout_cache"):
        GeneratorDataset(dataclasses.replace(data, renders=str(cache.parent / "empty")), S, split="all")


def test_mouth_synthesis_loss_trains_the_synthesis_head_where_its_weight_is_small(cached) -> None:
    """Through the blend alone the synthesis head's gradient is scaled by its weight a; the direct term is not."""
    from toolkit.generator.config import GeneratorDataConfig, LossConfig
    from toolkit.generator.data import GeneratorDataset, collate
    from toolkit.generator.train import GeneratorTrainer

    records, cache = cached
    ds = GeneratorDataset(
        GeneratorDataConfig(records=str(records), renders=str(cache), heldout_targets=True), S, split="all"
    )
    batch = collate([ds.sample(np.random.default_rng(i), k=4) for i in range(2)])
    torch.set_num_threads(2)

    def head_grad(lambda_syn: float) -> tuple[float, dict]:
        cfg = tiny_train_config()
        cfg.generator = dataclasses.replace(cfg.generator, composition_output="residual", mouth_synthesis=True)
        cfg.loss = LossConfig(perceptual="ms-l1-ssim", lambda_mouth=10.0, lambda_mouth_synthesis=lambda_syn)
        trainer = GeneratorTrainer(cfg)
        out = trainer.generate(batch, trainer.G)
        losses = trainer.generator_losses(batch, out, with_gan=False)
        losses["g_total"].backward()
        head = trainer.G.decoder.synthesis
        return float(head.weight.grad[:3].abs().sum()), losses

    without, losses_off = head_grad(0.0)
    with_term, losses_on = head_grad(10.0)
    assert "g_mouth_syn" not in losses_off and 0 < float(losses_on["g_mouth_syn"].detach()) < 2
    assert with_term > 20 * without > 0  # a starts at sigmoid(-6) = 0.0025
