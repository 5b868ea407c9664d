"""The expression learner Psi and the head motion learner Phi on real shared clips.

Records are built once per module from three short real clips (two with
speech, one silent) with `toolkit preprocess`; the networks are shrunk so that
training steps take well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.paths import shared_data_dir

DATA = shared_data_dir()
CLIP_SPEECH_A = DATA / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"  # 4.3 s, AAC
CLIP_SPEECH_B = DATA / "av" / "rizkiarm__LipNet__bbaf2n.mpg"  # 3 s GRID clip, MP2
CLIP_SILENT = DATA / "silent" / "FuxiVirtualHuman__styletalk__furious_talk2_clip3.mp4"  # 2.5 s, no audio
SPEECH = DATA / "speech" / "speechbrain__speechbrain__example1.wav"
BABBLE_FILES = [
    DATA / "speech" / "resemble-ai__Resemblyzer__1998-15444-0001.flac",
    DATA / "speech" / "resemble-ai__Resemblyzer__3331-159605-0001.flac",
]

pytestmark = pytest.mark.skipif(
    not CLIP_SPEECH_A.exists(), reason=f"shared data not found at {DATA} (set TOOLKIT_DATA)"
)

torch = pytest.importorskip("torch")

TINY_EXPRESSION = [
    "net.audio_channels=[8, 8, 8, 8, 8]",
    "net.audio_dim=32",
    "net.identity_dim=16",
    "net.hidden=32",
    "segment_frames=8",
    "optim.batch_size=4",
    "data.val_speakers=[grid]",
    "data.tau=16",
    "noise.max_babble_files=2",
    "log.log_every=1",
    "log.val_every=4",
    "log.ckpt_every=2",
]
TINY_MOTION = [
    "net.stem_channels_1=4",
    "net.stem_channels_2=4",
    "net.feature_dim=32",
    "net.block_dim=8",
    "net.dilations=[1, 2]",
    "net.reference_dim=16",
    "net.encoder_dim=16",
    "net.disc_hidden=8",
    "predict_frames=16",
    "optim.batch_size=2",
    "data.val_speakers=[grid]",
    "data.tau=16",
    "log.log_every=1",
    "log.val_every=4",
    "log.ckpt_every=2",
]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """Preprocessed records of three real clips (first 4 s each)."""
    from toolkit.data.preprocess import PreprocessConfig, build_dataset

    out = tmp_path_factory.mktemp("learner_records")
    manifest = build_dataset(
        [CLIP_SPEECH_A, CLIP_SPEECH_B, CLIP_SILENT], out, PreprocessConfig(max_seconds=4.0, jobs=1), progress=False
    )
    done = [c for c in manifest["clips"] if c["status"] == "done"]
    assert len(done) == 3, f"preprocessing failed: {manifest['clips']}"
    return out


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory) -> Path:
    """A speech folder with two LibriSpeech excerpts (links to the shared files) for babble."""
    d = tmp_path_factory.mktemp("speech")
    for f in BABBLE_FILES:
        (d / f.name).symlink_to(f)
    return d


def _config(model: str, records: Path, speech_dir: Path, *extra: str):
    from toolkit.learners.config import load_config

    base = TINY_EXPRESSION if model == "expression" else TINY_MOTION
    overrides = [*base, *extra]
    if model == "expression":
        overrides.append(f"noise.speech_dir={speech_dir}")
    return load_config(model, None, overrides, data=str(records))


@pytest.fixture(scope="module")
def trained(records, speech_dir, tmp_path_factory) -> dict[str, Path]:
    """Both learners trained for 4 steps; returns their run folders."""
    from toolkit.learners.train import train

    runs = {}
    for model in ("expression", "motion"):
        run = tmp_path_factory.mktemp(f"run_{model}")
        train(_config(model, records, speech_dir, "optim.steps=4"), run, progress=False)
        runs[model] = run
    return runs


def _clip(records: Path, name_part: str):
    from toolkit.data.records import done_clip_ids, load_clip

    cid = next(c for c in done_clip_ids(records) if name_part in c)
    return load_clip(records, cid)


# ------------------------------------------------------------------ noise


def test_noise_mixing_hits_requested_snr_for_every_noise_kind(records):
    from toolkit.io.media import read_audio
    from toolkit.learners.data import mix_relative_to_clip
    from toolkit.learners.noise import SNR_LEVELS_DB, build_noise_bank, measured_snr_db, mix_at_snr, signal_power

    speech = read_audio(SPEECH)
    clip_audio = _clip(records, "bbaf2n").audio()  # GRID: pauses before and after the sentence
    bank = build_noise_bank([clip_audio], None, seed=1)
    bank_babble = build_noise_bank([], BABBLE_FILES[0].parent, seed=1, max_babble_files=2)
    kinds = {**bank.kinds(), **bank_babble.kinds()}
    assert set(kinds) == {"room", "coloured", "babble"}, kinds
    assert SNR_LEVELS_DB == (6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0, 27.0, 30.0)
    rng = np.random.default_rng(0)
    for item in bank.items + bank_babble.items:
        for snr in SNR_LEVELS_DB:
            mixed = mix_at_snr(speech, item.audio, snr)
            assert mixed.shape == speech.shape
            assert measured_snr_db(speech, mixed) == pytest.approx(snr, abs=0.05), (item.name, snr)
    # SNR relative to the whole clip: a segment gets noise of power P_clip / 10^(snr/10)
    seg = speech[16000:20000]
    noise, _ = bank.sample(seg.size, rng)
    mixed = mix_relative_to_clip(seg, noise, 10.0, signal_power(speech))
    assert 10 * np.log10(signal_power(speech) / signal_power(mixed - seg)) == pytest.approx(10.0, abs=0.05)


def test_non_speech_segments_are_quiet_stretches_of_real_audio(records):
    from toolkit.learners.noise import NonSpeechConfig, non_speech_segments

    audio = _clip(records, "bbaf2n").audio()  # GRID: silence before and after the sentence
    frames = audio[: audio.size // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME].reshape(-1, SAMPLES_PER_FRAME)
    loud = np.percentile(np.sqrt((frames.astype(np.float64) ** 2).mean(1)), 95)
    segments = non_speech_segments(audio, NonSpeechConfig(below_peak_db=25.0))
    assert segments, "GRID clips start and end with pauses; none found"
    for s in segments:
        assert s.size >= 5 * SAMPLES_PER_FRAME
        assert np.sqrt(np.mean(s.astype(np.float64) ** 2)) < loud * 10 ** (-25 / 20)


def test_training_windows_equal_the_shared_audio_windows(records):
    from toolkit.audio.features import audio_windows
    from toolkit.learners.data import windows_for_frames

    rec = _clip(records, "Input_00010")
    audio = rec.audio()
    ref = audio_windows(audio, rec.n_frames)
    np.testing.assert_array_equal(windows_for_frames(audio, 0, rec.n_frames), ref)
    np.testing.assert_array_equal(windows_for_frames(audio, 40, 17), ref[40:57])


# ------------------------------------------------------------------ split


def test_validation_split_is_speaker_disjoint_on_the_shared_clips():
    from toolkit.data.speakers import speaker_of
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, speaker_split, split_group

    files = [p for sub in ("av", "silent") for p in sorted((DATA / sub).iterdir()) if p.suffix != ".wav"]
    split = speaker_split([(p.name, speaker_of(p)) for p in files], DEFAULT_VAL_GROUPS)
    groups = {p.name: split_group(speaker_of(p)) for p in files}
    train_groups = {groups[c] for c in split.train}
    val_groups = {groups[c] for c in split.val}
    assert not train_groups & val_groups
    assert set(split.val_groups) == set(DEFAULT_VAL_GROUPS)
    # both PC-AVS 7414xxxxx clips (possibly one person) are held out together
    assert sum("741400" in c for c in split.val) == 2 and not any("741400" in c for c in split.train)
    assert 8 <= len(split.val) <= 12 and len(split.train) > 4 * len(split.val)
    # the hash rule is stable and disjoint too
    auto = speaker_split([(p.name, speaker_of(p)) for p in files], (), 0.2)
    assert auto.val and not {groups[c] for c in auto.train} & {groups[c] for c in auto.val}


# ------------------------------------------------------------------ networks and inference


def test_measured_offsets_file_realigns_the_expression_training_clips(records, speech_dir, tmp_path):
    """data.sync_offsets: the listed training clip's audio moves by its lag (energy rule off), the run records
    the file, and a clip on the drop list gives no speech segments (here the only one: a clear error)."""
    from toolkit.data.records import done_clip_ids
    from toolkit.learners.data import load_clip_data, shift_audio
    from toolkit.learners.tasks import ExpressionTask

    cid = next(c for c in done_clip_ids(records) if "Input_00010" in c)
    f = tmp_path / "offsets.json"
    f.write_text(json.dumps({"offsets": {cid: 2, "not-a-clip": 1}, "drop": []}))
    task = ExpressionTask(_config("expression", records, speech_dir, f"data.sync_offsets={f}"), tmp_path, 0, 1, None)
    assert task.av_offsets == {cid: 2} and task.data_summary["av_offsets_source"] == str(f)
    clip = next(c for c in task.batcher.clips if c.clip_id == cid)
    original = load_clip_data(records, [cid])[0].audio
    np.testing.assert_array_equal(clip.audio, shift_audio(original, 2))
    assert not np.array_equal(clip.audio, original)
    assert not any(c.clip_id in task.av_offsets for c in task.val_clips)  # validation never shifted
    f.write_text(json.dumps({"offsets": {}, "drop": [cid]}))
    with pytest.raises(ToolkitError, match="No training clip with audio"):
        ExpressionTask(_config("expression", records, speech_dir, f"data.sync_offsets={f}"), tmp_path, 0, 1, None)


def test_expression_learner_shapes_determinism_and_identity(trained, records):
    from toolkit.learners.expression import ExpressionLearner

    learner = ExpressionLearner.load(trained["expression"] / "model")
    rec = _clip(records, "Input_00010")
    audio = rec.audio()[: 50 * SAMPLES_PER_FRAME + 100]  # a partial last frame counts as a frame
    ident = rec.frontal68[rec.frontal_index]
    out = learner.predict(audio, ident)
    assert out.shape == (51, 68, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, learner.predict(audio, ident))
    # the reference identity is added back: the output is the reference plus a displacement in PCA space
    delta = learner.predict_displacement(audio, ident)
    np.testing.assert_allclose(
        out - ident, learner.net.displacement_to_landmarks(torch.from_numpy(delta)).numpy(), atol=1e-4
    )
    # a set of reference frames: their mean is the identity, and the frame count is an input
    refs = rec.frontal68[:16]
    out_set = learner.predict(audio, refs)
    delta_set = learner.predict_displacement(audio, refs)
    np.testing.assert_allclose(
        out_set - refs.mean(0), learner.net.displacement_to_landmarks(torch.from_numpy(delta_set)).numpy(), atol=1e-4
    )
    assert not np.allclose(delta_set, learner.predict_displacement(audio, refs.mean(0))), "n must matter"
    # few-shot calibration: on the reference frames themselves the calibrated displacement averages to 0
    ref_audio = rec.audio()[: 16 * SAMPLES_PER_FRAME]
    on_refs = learner.predict_displacement(ref_audio, refs, ref_audio, smooth_frames=0)
    np.testing.assert_allclose(on_refs.mean(0), 0.0, atol=1e-5)
    calibrated = learner.predict_displacement(audio, refs, ref_audio, smooth_frames=0)
    raw = learner.predict_displacement(audio, refs, smooth_frames=0)
    np.testing.assert_allclose(calibrated - raw, np.broadcast_to((calibrated - raw)[0], raw.shape), atol=1e-5)
    # temporal smoothing only redistributes over time: the smoothed curve stays close in mean
    smooth = learner.predict_displacement(audio, refs, smooth_frames=1.0)
    assert np.abs(np.diff(smooth, axis=0)).mean() < np.abs(np.diff(raw, axis=0)).mean()
    with pytest.raises(ToolkitError, match="Reference audio covers"):
        learner.predict(audio, refs, ref_audio[: 8 * SAMPLES_PER_FRAME])
    with pytest.raises(ToolkitError, match="68, 3"):
        learner.predict(audio, ident[:60])
    with pytest.raises(ToolkitError, match="mono"):
        learner.predict(np.stack([audio, audio], 1), ident)
    with pytest.raises(ToolkitError, match="too short"):
        learner.predict(audio[:100], ident)


def test_motion_learner_shapes_determinism_and_short_references(trained, records):
    from toolkit.learners.motion import MotionLearner

    learner = MotionLearner.load(trained["motion"] / "model")
    rec = _clip(records, "Input_00010")
    audio = rec.audio()
    ref_m, ref_a = rec.head_motion[:16], audio[: 16 * SAMPLES_PER_FRAME]
    drive = audio[16 * SAMPLES_PER_FRAME :]
    out = learner.predict(ref_m, ref_a, drive, seed=3)
    assert out.shape == (int(np.ceil(drive.size / SAMPLES_PER_FRAME)), 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out, learner.predict(ref_m, ref_a, drive, seed=3))
    assert not np.allclose(out, learner.predict(ref_m, ref_a, drive, seed=4)), "the seed must change the motion"
    # tau = 1 (a single image) and a silent reference are accepted; output centred on the image's pose
    single = learner.predict(ref_m[:1], None, drive, seed=3, n_frames=30)
    assert single.shape == (30, 6) and np.all(np.isfinite(single))
    with pytest.raises(ToolkitError, match=r"\(tau, 6\)"):
        learner.predict(ref_m[:, :3], ref_a, drive)


def test_hypernetwork_output_depends_on_the_reference(records):
    """Different references -> different dynamic weights -> different motion; through f alone."""
    from toolkit.learners.data import windows_for_frames
    from toolkit.learners.motion import MotionNet, MotionNetConfig

    torch.manual_seed(0)
    # anchor and reference calibration off: the reference then acts through the hypernetwork only
    net = MotionNet(MotionNetConfig(anchor_frames=0.0, calibrate_on_reference=False)).eval()
    a, b = _clip(records, "Input_00010"), _clip(records, "furious_talk2")
    audio = a.audio()
    drv = torch.from_numpy(windows_for_frames(audio, 32, 40))[None]
    noise = torch.zeros(1, net.config.noise_dim, 40)

    def run(rec, tau=32):
        ref = torch.from_numpy(rec.head_motion[:tau])[None]
        ref_w = torch.from_numpy(windows_for_frames(rec.audio(), 0, tau))[None]
        with torch.no_grad():
            w, bias, _, _, _ = net.reference_code(ref, ref_w)
            _, rel = net(ref, ref_w, drv, noise)
        return w, bias, rel

    w_a, b_a, rel_a = run(a)
    w_b, b_b, rel_b = run(b)
    assert not torch.allclose(w_a, w_b) and not torch.allclose(b_a, b_b)
    assert (rel_a - rel_b).abs().max() > 1e-3, "relative motion must change with the reference"
    # control: without the hypernetwork's reference-dependent part, the references no longer matter
    with torch.no_grad():
        net.encoder.hyper.weight.zero_()
    _, _, rel_a0 = run(a)
    _, _, rel_b0 = run(b)
    torch.testing.assert_close(rel_a0, rel_b0)


# ------------------------------------------------------------------ checkpoints, training loop, DDP


def test_checkpoint_round_trip_and_bad_files(trained, tmp_path, records):
    from safetensors.torch import load_file

    from toolkit.io.checkpoint import load_model, save_model
    from toolkit.learners.expression import KIND, ExpressionLearner

    src = trained["expression"] / "model"
    tensors, config = load_model(src, KIND)
    assert config["kind"] == KIND and config["net"]["audio_dim"] == 32
    out = save_model(tmp_path / "copy", tensors, KIND, {k: v for k, v in config.items() if k not in ("kind", "sha256")})
    again, _ = load_model(out, KIND)
    assert set(again) == set(tensors) and all(torch.equal(again[k], tensors[k]) for k in tensors)
    # no pickle anywhere: safetensors = 8-byte header length + JSON header + raw tensor bytes
    raw = (out / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and json.loads(raw[8 : 8 + header_len])
    assert set(load_file(str(out / "model.safetensors"))) == set(tensors)
    rec = _clip(records, "Input_00010")
    audio, ident = rec.audio()[: 20 * SAMPLES_PER_FRAME], rec.frontal68[0]
    np.testing.assert_array_equal(
        ExpressionLearner.load(src).predict(audio, ident), ExpressionLearner.load(out).predict(audio, ident)
    )
    with pytest.raises(ToolkitError, match=r"not a 'motion-learner'"):
        load_model(out, "motion-learner")
    with pytest.raises(WeightsNotFoundError):
        load_model(tmp_path / "nowhere", KIND)
    data = bytearray(raw)
    data[-1] ^= 0xFF
    (out / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ToolkitError, match="checksum"):
        load_model(out, KIND)


@pytest.mark.parametrize("model", ["expression", "motion"])
def test_training_resumes_exactly_and_writes_logs(model, records, speech_dir, tmp_path):
    from safetensors.torch import load_file

    from toolkit.learners.train import train

    cfg = _config(model, records, speech_dir, "optim.steps=4")
    whole = train(cfg, tmp_path / "whole", progress=False)
    train(cfg, tmp_path / "split", progress=False, stop_at=2)
    assert json.loads((tmp_path / "split" / "state" / "train_state.json").read_text())["step"] == 2
    resumed = train(cfg, tmp_path / "split", progress=False)
    assert whole["steps"] == resumed["steps"] == 4
    a = load_file(str(tmp_path / "whole" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a), "a resumed run must continue exactly like an uninterrupted one"
    rows = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["event"] == "train"] == [1, 2, 3, 4]
    val = [r for r in rows if r["event"] == "val"]
    assert val and all(np.isfinite(v) for r in val for k, v in r.items() if k.endswith(("_psi", "_phi_rot_err_deg")))
    assert (tmp_path / "split" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "resumed at step 2" in (tmp_path / "split" / "train.log").read_text()


def test_ddp_step_on_two_cpu_processes(records, speech_dir, tmp_path):
    from safetensors.torch import load_file

    from toolkit.learners.train import spawn_local

    cfg = _config("motion", records, speech_dir, "optim.steps=2", "log.val_every=100")
    run = tmp_path / "ddp"
    spawn_local(cfg, run, world=2)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    assert summary["ddp_params_in_sync"] is True
    # the DDP run trained (weights moved away from the seeded initialisation)
    from toolkit.learners.motion import MotionNet

    torch.manual_seed(cfg.seed)
    init = MotionNet(cfg.net).state_dict()
    trained_w = load_file(str(run / "model" / "model.safetensors"))
    assert not torch.equal(init["stem.temporal.weight"], trained_w["stem.temporal.weight"])


def test_config_errors_and_cli_registration(tmp_path):
    from toolkit.cli import build_parser
    from toolkit.learners.config import load_config

    with pytest.raises(ToolkitError, match="Unknown config key"):
        load_config("motion", None, ["optim.stepz=3"])
    with pytest.raises(ToolkitError, match="must be int"):
        load_config("motion", None, ["optim.steps=many"])
    bad = tmp_path / "x.yaml"
    bad.write_text("model: expression\n")
    with pytest.raises(ToolkitError, match="for model 'expression'"):
        load_config("motion", bad)
    for name in ("expression.yaml", "motion.yaml"):
        load_config(name.split(".")[0], Path(__file__).resolve().parents[1] / "configs" / name)
    args = build_parser().parse_args(["train", "motion", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert args.model == "motion" and callable(args.func)
    # training on a folder without records fails with a clear message
    from toolkit.learners.train import train

    with pytest.raises(ToolkitError, match="No preprocessed clips"):
        train(load_config("motion", None, [], data=str(tmp_path)), tmp_path / "o", progress=False)


def test_reference_loop_baseline_replays_back_and_forth():
    from toolkit.learners.evaluation import reference_loop

    ref = np.arange(4, dtype=np.float32)[:, None].repeat(6, 1)
    np.testing.assert_array_equal(reference_loop(ref, 8)[:, 0], [2, 1, 0, 1, 2, 3, 2, 1])
