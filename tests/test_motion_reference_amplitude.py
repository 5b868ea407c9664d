"""MotionNetConfig.reference_amplitude_scale (issue 17, session 12): a video reference's amplitude as the encoder
reads it, x the scale; a photo (a reference under prior_amplitude_frames) keeps the prior; 1 = as before."""

from __future__ import annotations

from dataclasses import replace

import torch

from toolkit.learners.motion import MotionNet, MotionNetConfig

BASE = MotionNetConfig(
    feature_dim=16, block_dim=8, dilations=(1,), noise_dim=4, reference_dim=8, encoder_dim=8,
    noise_smooth_frames=4.0, noise_drift_frames=16.0, prior_amplitude_frames=8,
)  # fmt: skip


def _amplitude_inputs(net: MotionNet, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(motion, the log amplitude the encoder was given) of one forward pass."""
    seen: list[torch.Tensor] = []
    hook = net.encoder.register_forward_pre_hook(lambda _m, a: seen.append(a[3].clone()))
    with torch.no_grad():
        motion = net(*args)[0]
    hook.remove()
    return motion, seen[0]


def test_reference_amplitude_scale_multiplies_a_video_references_amplitude_and_leaves_a_photo_alone() -> None:
    torch.manual_seed(0)
    plain = MotionNet(BASE).eval()
    same = MotionNet(replace(BASE, reference_amplitude_scale=1.0)).eval()
    scaled = MotionNet(replace(BASE, reference_amplitude_scale=1.5)).eval()
    for net in (same, scaled):
        net.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(1)
    t = torch.arange(24, dtype=torch.float32)[:, None]
    ref = (0.05 * torch.sin(t / 3 + torch.arange(6)) + 0.01 * torch.randn(24, 6, generator=g))[None]
    ref_w = 0.1 * torch.randn(1, 24, 7, 640, generator=g)
    drive = 0.1 * torch.randn(1, 40, 7, 640, generator=g)
    noise = torch.randn(1, 4, 40, generator=g)

    video, amp = _amplitude_inputs(plain, ref, ref_w, drive, noise)
    video_same, amp_same = _amplitude_inputs(same, ref, ref_w, drive, noise)
    assert torch.equal(video_same, video) and torch.equal(amp_same, amp)  # 1 = bit for bit as before
    video_scaled, amp_scaled = _amplitude_inputs(scaled, ref, ref_w, drive, noise)
    std = ((ref - ref.mean(1, keepdim=True)) / plain.motion_std).std(1, unbiased=False)
    torch.testing.assert_close(amp, torch.log(std + 0.05))
    torch.testing.assert_close(amp_scaled, torch.log(1.5 * std + 0.05))
    assert not torch.allclose(video_scaled, video)

    photo, photo_amp = _amplitude_inputs(plain, ref[:, -1:], ref_w[:, -1:], drive, noise)
    photo_scaled, photo_amp_scaled = _amplitude_inputs(scaled, ref[:, -1:], ref_w[:, -1:], drive, noise)
    assert torch.equal(photo_scaled, photo) and torch.equal(photo_amp_scaled, photo_amp)  # the prior, unscaled


def test_dev_bench_rule_picks_the_smallest_setting_that_reaches_the_spread_within_the_bands() -> None:
    """scripts/motion_dev_bench.py's rule (eval/benchmarks/results/motion_dev_bench_s12/RULE.md)."""
    from scripts.motion_dev_bench import choose_photo, choose_video

    def row(spread: float, velocity: float, hf: float = 0.02) -> dict[str, float]:
        return {"Rot. diversity / GT": spread, "Velocity / GT": velocity, "Accel. / GT": 1.0,
                "HF share (>3 Hz)": hf, "GT HF share (>3 Hz)": 0.02}  # fmt: skip

    assert choose_video({1.0: row(0.80, 1.1), 1.3: row(0.90, 1.15), 1.5: row(0.95, 1.18)}) == 1.3
    assert choose_video({1.0: row(0.80, 1.1), 1.3: row(0.90, 1.25), 1.5: row(0.95, 1.1, hf=0.04)}) == 1.0
    pairs = {(1.0, 2.0): (row(0.7, 1.0), row(0.9, 1.0)), (1.0, 3.0): (row(0.86, 1.1), row(0.9, 1.1))}
    assert choose_photo(pairs, (1.0, 2.0)) == (1.0, 3.0)
    assert choose_photo({(1.5, 2.0): (row(0.9, 1.3), row(0.9, 1.0))}, (1.0, 2.0)) == (1.0, 2.0)


def test_dev_benchmarks_hold_only_dev_people_and_no_validation_clip() -> None:
    """eval/benchmarks/dev_motion_k{8,1}.json: training people of the dev split only (speaker-disjoint rule)."""
    import json
    from pathlib import Path

    from scripts.expression_dev_split import DEV_GROUPS
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group

    bench = Path(__file__).resolve().parents[1] / "eval" / "benchmarks"
    validation = set()
    for k in ("k8", "k1"):
        validation |= {c["video_sha256"] for c in json.loads((bench / f"shared_val8_{k}.json").read_text())["clips"]}
    dev_groups = {split_group(g) for g in DEV_GROUPS}
    for k in ("k8", "k1"):
        data = json.loads((bench / f"dev_motion_{k}.json").read_text())
        assert data["protocol"]["tau"] == 64 and data["protocol"]["max_seconds"] == 8.0 and len(data["clips"]) == 10
        for clip in data["clips"]:
            group = split_group(clip["speaker"])
            assert group in dev_groups and group not in {split_group(g) for g in DEFAULT_VAL_GROUPS}
            assert clip["video_sha256"] not in validation and clip["n_frames"] >= 64 + 50
