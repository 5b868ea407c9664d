"""The evaluation runner on a local Ray cluster: same records and numbers as one process, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.paths import shared_data_dir

DATA = shared_data_dir()
CLIPS = [
    DATA / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4",
    DATA / "av" / "FuxiVirtualHuman__styletalk__Obama_clip1.mp4",
]
pytestmark = pytest.mark.skipif(not CLIPS[0].exists(), reason=f"shared data not found at {DATA} (set TOOLKIT_DATA)")


def _metrics(results: dict) -> dict:
    return {
        name: {r["clip_id"]: r["metrics"] for r in m["per_clip"]} | {"ALL": m["aggregate"]}
        for name, m in results["methods"].items()
    }


def test_tiny_evaluation_on_local_ray_matches_one_process_and_resumes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from eval.benchmark import BenchmarkConfig, make_benchmark
    from eval.distributed import RayOptions, evaluate_on_ray
    from eval.features import FeatureConfig
    from eval.runner import EvalConfig, evaluate

    bench = tmp_path / "tiny.json"
    config = BenchmarkConfig(tau=16, k=4, max_seconds=1.4, min_driving_frames=10)
    make_benchmark(CLIPS, bench, config, data_root=DATA, progress=False)
    methods = ["static", "reference-loop"]
    eval_config = EvalConfig(
        features=FeatureConfig(fid=None, csim=None, pose_backend=None),
        cache_dir=str(tmp_path / "cache"),
        progress=False,
    )
    single = evaluate(bench, methods, tmp_path / "single", eval_config)
    # separate feature cache: the Ray workers compute everything themselves
    ray_config = EvalConfig(**{**eval_config.__dict__, "cache_dir": str(tmp_path / "ray-cache")})
    options = RayOptions(workers=2)
    try:
        on_ray = evaluate_on_ray(bench, methods, tmp_path / "ray", ray_config, options, echo=lambda m: None)
        assert _metrics(on_ray) == _metrics(single)  # the same numbers, bit for bit
        assert on_ray["run"]["clips_computed"] == 4 and on_ray["run"]["ray"]["clips_submitted"] == 2
        assert on_ray["run"]["ray"]["workers_used"] >= 1
        saved = sorted(p.relative_to(tmp_path / "ray").as_posix() for p in (tmp_path / "ray").glob("clips/*/*.json"))
        assert len(saved) == 4  # each (method, clip) record written by its worker
        # a rerun submits only the clip whose record went missing (as if its worker died before saving it)
        second_clip = on_ray["methods"]["static"]["per_clip"][1]["clip_id"]
        (tmp_path / "ray" / "clips" / "static" / f"{second_clip}.json").unlink()
        again = evaluate_on_ray(bench, methods, tmp_path / "ray", ray_config, options, echo=lambda m: None)
        assert again["run"]["ray"]["clips_submitted"] == 1  # only the clip whose record is missing
        assert again["run"]["clips_computed"] == 1 and again["run"]["clips_reused"] == 3
        assert _metrics(again) == _metrics(single)
        saved_results = json.loads((tmp_path / "ray" / "results.json").read_text())
        assert saved_results["run"]["ray"]["clips_submitted"] == 1
    finally:
        ray.shutdown()


def test_batch_on_local_ray_and_resume(tmp_path: Path) -> None:
    """generate --batch --ray: every job done by the workers, the report written; --resume keeps done jobs."""
    import csv

    ray = pytest.importorskip("ray")
    from tests import pipeline_media as media
    from toolkit.cli import main

    media.write_png(tmp_path / "face.png", media.astronaut())
    media.write_wav(tmp_path / "speech.wav", media.speech(1.0))
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(
        "id,reference,audio,out,motion,expression,k\n"
        "a,face.png,speech.wav,out/a.mp4,still,reference,1\n"
        "b,face.png,speech.wav,out/b.mp4,reference,reference,1\n"
        "gone,face.png,missing.wav,out/gone.mp4,still,reference,1\n"
    )
    try:
        assert main(["generate", "--batch", str(jobs), "--quiet", "--ray", "--ray-workers", "2"]) == 1  # one failed
    finally:
        ray.shutdown()
    with open(tmp_path / "jobs.report.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert [rows[k]["status"] for k in ("a", "b", "gone")] == ["done", "done", "failed"]
    assert rows["gone"]["error_code"] == "bad-file" and int(rows["a"]["frames"]) == 25
    stamps = {k: (tmp_path / "out" / f"{k}.mp4").stat().st_mtime_ns for k in ("a", "b")}
    # --resume (in one process): the done jobs are kept as they are, the failed one is tried again
    assert main(["generate", "--batch", str(jobs), "--quiet", "--resume"]) == 1
    assert {k: (tmp_path / "out" / f"{k}.mp4").stat().st_mtime_ns for k in ("a", "b")} == stamps
    with open(tmp_path / "jobs.report.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert [rows[k]["status"] for k in ("a", "b", "gone")] == ["done", "done", "failed"]
