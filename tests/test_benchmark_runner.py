"""Benchmark files, the evaluation runner and leaderboards on real shared clips (short slices)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.benchmark import load_benchmark, sample_reference_indices
from eval.methods import MethodInputs, ReferenceLoopMethod, StaticMethod, parse_method
from toolkit.errors import ToolkitError
from toolkit.paths import shared_data_dir, shared_weights_dir
from toolkit.timeline import back_and_forth

DATA = shared_data_dir()
CLIP_A = DATA / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"  # own AAC track
CLIP_B = DATA / "av" / "FuxiVirtualHuman__styletalk__Obama_clip1.mp4"  # 30 fps, paired wav
CLIP_SILENT = DATA / "silent" / "FuxiVirtualHuman__styletalk__furious_talk1_clip1.mp4"  # no speech: unusable

pytestmark = pytest.mark.skipif(not CLIP_A.exists(), reason=f"shared data not found at {DATA} (set TOOLKIT_DATA)")

TAU, K, SECONDS = 16, 4, 1.4  # 35 frames per clip: 16 reference + 19 driving


def test_ping_pong_and_builtin_methods() -> None:
    assert back_and_forth(9, 4).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    assert back_and_forth(4, 4, start=1).tolist() == [1, 2, 3, 2] and back_and_forth(3, 1).tolist() == [0, 0, 0]
    ref = np.arange(4)[:, None, None, None] * np.ones((4, 2, 2, 3), np.uint8)
    inputs = MethodInputs("c", ref, (0, 2), 2, np.zeros(4 * 640, np.float32), np.zeros(7 * 640, np.float32), 7)
    assert [int(f[0, 0, 0]) for f in StaticMethod().generate(inputs)] == [2] * 7
    assert [int(f[0, 0, 0]) for f in ReferenceLoopMethod().generate(inputs)] == [0, 1, 2, 3, 2, 1, 0]
    with pytest.raises(ToolkitError, match="Unknown method"):
        parse_method("no-such-method")
    with pytest.raises(ToolkitError, match="not found"):
        parse_method("x=/no/such/folder")


def test_reference_sampling_is_reproducible() -> None:
    a = sample_reference_indices(64, 8, 0, "ab" * 32)
    assert a == sample_reference_indices(64, 8, 0, "ab" * 32)
    assert a == sorted(set(a)) and len(a) == 8 and 0 <= a[0] and a[-1] < 64
    assert a != sample_reference_indices(64, 8, 1, "ab" * 32)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    from toolkit.cli import main

    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    argv = ["benchmark", "make", str(CLIP_A), str(CLIP_B), str(CLIP_SILENT), "--out", str(out), "--tau", str(TAU),
            "-k", str(K), "--max-seconds", str(SECONDS), "--min-driving-frames", "60", "--quiet"]  # fmt: skip
    # with 60 driving frames required every clip is too short: nothing usable is an error
    assert main(argv) == 2
    argv[argv.index("60")] = "10"
    assert main(argv) == 0
    return out


def test_benchmark_file_records_everything(bench: Path) -> None:
    data = json.loads(bench.read_text())
    assert data["protocol"]["tau"] == TAU and data["protocol"]["k"] == K and data["protocol"]["seed"] == 0
    assert [c["video"] for c in data["clips"]] == ["av/" + CLIP_A.name, "av/" + CLIP_B.name]  # relative paths
    assert len(data["skipped"]) == 1 and "no sound track" in data["skipped"][0]["reason"]  # the silent clip
    a, b = data["clips"]
    assert a["audio"] is None and b["audio"] == "av/FuxiVirtualHuman__styletalk__Obama_clip1.wav"
    assert len(a["video_sha256"]) == 64 and len(b["audio_sha256"]) == 64
    assert a["n_frames"] == 35 and a["driving"] == [TAU, 35]
    assert len(a["reference_indices"]) == K and 0 <= a["frontal_index"] < TAU
    loaded = load_benchmark(bench)
    assert loaded.clips[0].video == DATA / "av" / CLIP_A.name
    loaded.clips[0].verify()  # hashes match the shared files


@pytest.fixture(scope="module")
def evaluated(bench: Path, tmp_path_factory):
    """static + a folder method (one good output, one missing, ...) on the tiny benchmark."""
    from eval.features import FeatureConfig
    from eval.metrics.csim import CsimConfig
    from eval.metrics.fid import FidConfig
    from eval.runner import EvalConfig, evaluate
    from eval.video import read_native_frames
    from toolkit.io.media import write_video

    root = tmp_path_factory.mktemp("eval")
    clips = load_benchmark(bench).clips
    folder = root / "outputs"
    folder.mkdir()
    # "copy": the ground truth itself, re-encoded, for clip A; nothing for clip B
    gt = read_native_frames(clips[0].video, TAU, clips[0].n_frames)
    write_video(folder / f"{clips[0].clip_id}.mp4", gt, crf=10)
    broken = root / "broken"
    broken.mkdir()
    (broken / f"{clips[0].clip_id}.mp4").write_bytes(b"not a video at all")
    config = EvalConfig(
        features=FeatureConfig(
            fid=FidConfig(random_init=True),
            csim=CsimConfig(model=str(shared_weights_dir() / "face_embedding" / "mobilefacenet_128d.onnx")),
        ),
        cache_dir=str(root / "cache"),
        progress=False,
    )
    methods = ["static", f"copy={folder}", f"broken={broken}"]
    first = evaluate(bench, methods, root / "results", config)
    second = evaluate(bench, methods, root / "results", config)
    return root, first, second


def test_results_per_clip_and_errors_reported(evaluated) -> None:
    root, results, _ = evaluated
    static, copy, broken = (results["methods"][m] for m in ("static", "copy", "broken"))
    assert static["clips_ok"] == 2 and static["clips_failed"] == 0
    assert copy["clips_ok"] == 1 and copy["clips_failed"] == 1
    assert "has no output" in copy["errors"][0]["reason"]
    assert broken["clips_ok"] == 0 and broken["clips_failed"] == 2
    assert any("unreadable" in e["reason"] or "decode" in e["reason"] for e in broken["errors"])
    labels = results["metric_variants"]
    assert "CSIM (substitute: MobileFaceNet-128d)" in labels
    assert "FID (random-init Inception, not comparable)" in labels
    # the re-encoded ground truth is near-perfect; the static frame is not
    c, s = copy["aggregate"], static["aggregate"]
    assert c["SSIM"] > 0.95 > s["SSIM"] and c["PSNR"] > 35 > s["PSNR"]
    assert c["LMD"] < s["LMD"] and c["CSIM (substitute: MobileFaceNet-128d)"] > 0.9
    assert c["Rot. diversity / GT"] == pytest.approx(1.0, abs=0.2) and s["Rot. diversity / GT"] < 0.1
    # everything needed to trust the numbers is recorded
    assert results["benchmark"]["sha256"] and results["software"]["onnxruntime"]
    assert results["metric_models"]["csim_embedding"]["sha256"]
    csv = (root / "results" / "results.csv").read_text()
    assert "copy," in csv and "has no output" in csv
    board = (root / "results" / "leaderboard.md").read_text()
    assert "| static |" in board and "CSIM (substitute: MobileFaceNet-128d)" in board and "has no output" in board


def test_rerun_recomputes_nothing(evaluated) -> None:
    _, first, second = evaluated
    assert first["run"]["clips_computed"] == 3 and first["run"]["clips_reused"] == 0
    assert second["run"]["clips_computed"] == 0 and second["run"]["clips_reused"] == 3  # errors are retried
    cache = second["run"]["feature_cache"]
    # nothing was recomputed; the one miss is the unreadable output, tried again (and reported again)
    assert cache["landmarks"]["misses"] == 1, cache
    assert all(v["misses"] == 0 for k, v in cache.items() if isinstance(v, dict) and k != "landmarks"), cache
    assert second["methods"]["broken"]["clips_failed"] == 2
    for name in ("static", "copy"):
        assert second["methods"][name]["aggregate"] == first["methods"][name]["aggregate"]


def test_killed_clip_keeps_its_features(evaluated, bench: Path) -> None:
    """A clip result deleted (as if the run died before saving it) is rebuilt from cached features only."""
    from eval.features import FeatureConfig
    from eval.metrics.csim import CsimConfig
    from eval.metrics.fid import FidConfig
    from eval.runner import EvalConfig, evaluate

    root, first, _ = evaluated
    clip_id = first["methods"]["static"]["per_clip"][0]["clip_id"]
    (root / "results" / "clips" / "static" / f"{clip_id}.json").unlink()
    config = EvalConfig(
        features=FeatureConfig(
            fid=FidConfig(random_init=True),
            csim=CsimConfig(model=str(shared_weights_dir() / "face_embedding" / "mobilefacenet_128d.onnx")),
        ),
        cache_dir=str(root / "cache"),
        progress=False,
    )
    third = evaluate(bench, ["static"], root / "results", config)
    assert third["run"]["clips_computed"] == 1 and third["run"]["clips_reused"] == 1
    assert all(v["misses"] == 0 for v in third["run"]["feature_cache"].values() if isinstance(v, dict))
    assert third["methods"]["static"]["aggregate"] == first["methods"]["static"]["aggregate"]


def test_leaderboard_merges_results(evaluated, tmp_path) -> None:
    from eval.leaderboard import make_leaderboard
    from toolkit.io.atomic import write_json_atomic

    _, first, _ = evaluated
    write_json_atomic(tmp_path / "first" / "results.json", first)
    # two results folders: the first run (static, copy, broken) and a later one of static only (made here, so the
    # test does not depend on what other tests left in the fixture's results folder)
    latest = {**first, "methods": {"static": first["methods"]["static"]}}
    write_json_atomic(tmp_path / "latest" / "results.json", latest)
    md, pngs = make_leaderboard([tmp_path / "first", tmp_path / "latest"], tmp_path / "board")
    text = md.read_text()
    assert "| copy |" in text and "| broken |" in text and "*ground truth*" in text
    assert text.count("| static [tiny") == 2  # the same method name from two results is told apart
    names = {p.name for p in pngs}
    assert "ssim.png" in names and "lmd.png" in names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


class _DrivingVideoReplay:
    """A landmark-driven method that returns the driving video it is handed (checks the runner's contract)."""

    name = "driving-video-replay"
    description = "the driving video handed to landmark-driven methods, replayed"
    uses_driving_video = True

    def generate(self, inputs: MethodInputs):
        assert inputs.driving_frames is not None and len(inputs.driving_frames) == inputs.n_frames
        yield from inputs.driving_frames


def test_landmark_driven_methods_get_the_driving_video_others_do_not(bench: Path, tmp_path: Path) -> None:
    from eval.features import FeatureConfig
    from eval.methods import register_method
    from eval.runner import EvalConfig, evaluate

    clip = load_benchmark(bench).clips[0]
    frames = np.zeros((clip.n_frames, 8, 8, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(clip.n_frames)
    audio = np.zeros(clip.n_frames * 640, np.float32)
    plain = MethodInputs.for_clip(clip, frames, audio, seed=0)
    driven = MethodInputs.for_clip(clip, frames, audio, seed=0, with_driving_video=True)
    assert plain.driving_frames is None
    assert driven.driving_frames[:, 0, 0, 0].tolist() == list(range(TAU, clip.n_frames))  # the ground truth

    register_method("driving-video-replay", _DrivingVideoReplay, overwrite=True)
    config = EvalConfig(features=FeatureConfig(fid=None, csim=None), cache_dir=str(tmp_path / "cache"), progress=False)
    results = evaluate(bench, ["driving-video-replay"], tmp_path / "results", config)
    agg = results["methods"]["driving-video-replay"]["aggregate"]
    # the real frames, re-encoded, aligned with the ground truth frame for frame (LMD sums 20 mouth
    # points: under 1 px each; the static frame's is about 4x larger on these clips)
    assert agg["SSIM"] > 0.95 and agg["PSNR"] > 35 and agg["LMD"] < 20


def test_landmark_driven_pipeline_method_refuses_to_run_without_the_driving_video() -> None:
    from eval.adapters.pipeline import PipelineMethod

    method = PipelineMethod(renderer="3d-warp", driving="landmarks", name="3d-warp-landmark")
    assert method.uses_driving_video and "landmark-driven" in method.description
    ref = np.zeros((4, 64, 64, 3), np.uint8)
    inputs = MethodInputs("c", ref, (0, 2), 2, np.zeros(4 * 640, np.float32), np.zeros(7 * 640, np.float32), 7)
    with pytest.raises(ToolkitError, match="no driving video"):
        next(iter(method.generate(inputs)))
    with pytest.raises(ToolkitError, match="Unknown driving"):
        PipelineMethod(driving="telepathy")


def test_one_stated_encode_for_every_builtin_method(bench: Path, tmp_path: Path) -> None:
    """encode "none": a landmark-driven replay of the ground truth is exact; "h264-crf10": encoded once, recorded."""
    from eval.features import FeatureConfig
    from eval.methods import register_method
    from eval.runner import EvalConfig, evaluate

    register_method("driving-video-replay", _DrivingVideoReplay, overwrite=True)
    aggregates = {}
    for encode in ("none", "h264-crf10"):
        config = EvalConfig(
            features=FeatureConfig(fid=None, csim=None, pose_backend=None),
            cache_dir=str(tmp_path / "cache"),
            progress=False,
            encode=encode,
        )
        results = evaluate(bench, ["driving-video-replay", "static"], tmp_path / encode, config)
        assert results["config"]["encode"] == encode and encode in results["config"]["encode_description"]
        aggregates[encode] = {m: r["aggregate"] for m, r in results["methods"].items()}
        videos = list((tmp_path / encode).glob("videos/*/*.mp4"))
        assert len(videos) == (0 if encode == "none" else 4)  # nothing encoded without a codec step
    exact = aggregates["none"]["driving-video-replay"]
    assert exact["SSIM"] == 1.0 and exact["PSNR"] == 100.0 and exact["LMD"] == 0.0  # the frames themselves
    coded = aggregates["h264-crf10"]["driving-video-replay"]
    assert 0.95 < coded["SSIM"] < 1.0 and 35 < coded["PSNR"] < 100.0
    # static is encoded exactly like every other built-in: the codec costs it too
    assert aggregates["h264-crf10"]["static"]["PSNR"] < aggregates["none"]["static"]["PSNR"]
    with pytest.raises(ToolkitError, match="Unknown --encode"):
        evaluate(bench, ["static"], tmp_path / "bad", EvalConfig(encode="h264-crf99", progress=False))


class _Versioned:
    """A built-in whose output depends on a version it states (like a retrained checkpoint)."""

    name = "versioned"
    description = "frontal reference frame, darkened by its version"
    version = 1
    calls = 0

    def fingerprint(self) -> str:
        return f"v{_Versioned.version}"

    def generate(self, inputs: MethodInputs):
        _Versioned.calls += 1
        frame = inputs.reference_frames[inputs.frontal_index] // _Versioned.version
        for _ in range(inputs.n_frames):
            yield frame


def test_a_changed_method_is_generated_and_evaluated_again(bench: Path, tmp_path: Path) -> None:
    """Stored frames and per-clip records are reused only while the method's fingerprint is unchanged."""
    from eval.features import FeatureConfig
    from eval.methods import register_method
    from eval.runner import EvalConfig, evaluate

    register_method("versioned", _Versioned, overwrite=True)
    features = FeatureConfig(fid=None, csim=None, pose_backend=None)
    config = EvalConfig(features=features, cache_dir=str(tmp_path / "cache"), progress=False)
    _Versioned.version, _Versioned.calls = 1, 0
    first = evaluate(bench, ["versioned"], tmp_path / "results", config)
    again = evaluate(bench, ["versioned"], tmp_path / "results", config)
    assert _Versioned.calls == 2 and again["run"]["clips_computed"] == 0  # 2 clips, generated once
    assert again["methods"]["versioned"]["aggregate"] == first["methods"]["versioned"]["aggregate"]
    _Versioned.version = 2  # e.g. a new checkpoint: its old frames and numbers must not be reused
    changed = evaluate(bench, ["versioned"], tmp_path / "results", config)
    assert _Versioned.calls == 4 and changed["run"]["clips_computed"] == 2
    assert changed["methods"]["versioned"]["aggregate"]["PSNR"] < first["methods"]["versioned"]["aggregate"]["PSNR"] - 1


def test_default_fingerprint_follows_the_method_package_sources_and_checkpoints(tmp_path: Path, monkeypatch) -> None:
    import importlib

    import toolkit.paths
    from eval.adapters.pipeline import PipelineMethod
    from eval.methods import method_fingerprint

    package = tmp_path / "fp_pkg_under_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "method.py").write_text(
        "class M:\n    name = 'm'\n    description = 'd'\n    def generate(self, inputs):\n        yield from ()\n"
    )
    (package / "helper.py").write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    method = importlib.import_module("fp_pkg_under_test.method").M()
    before = method_fingerprint(method)
    assert before == method_fingerprint(method)  # stable
    (package / "helper.py").write_text("SCALE = 2\n")  # any source of the package that made the output
    assert method_fingerprint(method) != before

    checkpoints = tmp_path / "checkpoints"
    (checkpoints / "motion").mkdir(parents=True)
    (checkpoints / "motion" / "weights.pt").write_bytes(b"phi v1")
    monkeypatch.setattr(toolkit.paths, "checkpoints_dir", lambda: checkpoints)
    pipeline = PipelineMethod(renderer="3d-warp", name="3d-warp-audio")
    old = method_fingerprint(pipeline)
    (checkpoints / "motion" / "weights.pt").write_bytes(b"phi v2")  # a retrained learner
    assert method_fingerprint(pipeline) != old


def test_the_cli_and_the_config_classes_measure_the_same_way() -> None:
    """`toolkit evaluate` with no options builds the EvalConfig a script gets from the dataclasses' defaults
    (the CLI once detected faces every 4 frames while EvalConfig() did every 8: two protocols)."""
    import argparse
    import dataclasses

    import eval.cli
    from eval.runner import EvalConfig

    parser = argparse.ArgumentParser()
    eval.cli.register(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--benchmark", "b.json", "--method", "static", "--out", "o"])
    from_cli = dataclasses.asdict(eval.cli.eval_config_from_args(args))
    from_classes = dataclasses.asdict(EvalConfig())
    for key in ("progress", "notes", "cache_dir"):  # the run's own, not the protocol
        from_cli.pop(key), from_classes.pop(key)
    assert from_cli == from_classes
    assert from_cli["features"]["dlib"]["detect_every"] == 4  # the published leaderboards' setting
