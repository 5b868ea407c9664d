"""The generation pipeline end to end on real inputs: what it writes, and that the controls really act.

Head motion and expression are checked on the *output video*: it is tracked
again and its head pose / mouth opening compared with what was asked for.
Short audio, 256x256, small K keep the whole file fast.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests import pipeline_media as media
from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import WeightsNotFoundError
from toolkit.pipeline import STAGES, GenerationConfig, TalkingHeadPipeline
from toolkit.pipeline.config import ConfigError, add_config_arguments, config_from_args
from toolkit.pipeline.stages import loop_back_and_forth

SECONDS = 2.0
N_FRAMES = int(SECONDS * 25)
needs_clip = pytest.mark.skipif(not media.SHARED_CLIP.exists(), reason=f"shared clip {media.SHARED_CLIP} not found")


def _track_output(path: Path):
    """Head motion and 68 landmarks of a generated video, measured by the tracker."""
    from toolkit.io.media import read_video
    from toolkit.motion import disentangle
    from toolkit.tracking import make_tracker

    frames = read_video(path)
    track = make_tracker("mediapipe").track(frames)
    return disentangle(track.landmarks), track


def _mouth_opening(landmarks68: np.ndarray) -> np.ndarray:
    """Inner-lip gap (points 62-66) over face height, per frame."""
    gap = np.linalg.norm(landmarks68[:, 66, :2] - landmarks68[:, 62, :2], axis=1)
    height = np.linalg.norm(landmarks68[:, 8, :2] - landmarks68[:, 27, :2], axis=1)
    return gap / height


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    return media.write_wav(tmp_path_factory.mktemp("speech") / "speech.wav", media.speech(SECONDS))


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory, speech_wav):
    """The default path: learned motion and expression from a single photo, with the views."""
    out = tmp_path_factory.mktemp("learned") / "learned.mp4"
    events = []
    cfg = GenerationConfig(k=1, views=True)
    result = TalkingHeadPipeline(cfg).generate(media.astronaut(), speech_wav, out, progress=events.append)
    return result, events


# ------------------------------------------------------------------ config and CLI glue
def test_config_round_trips_strings_and_refuses_nonsense(tmp_path) -> None:
    cfg = GenerationConfig().with_overrides(k="4", expression_scale="0.5", views="yes", seed=" 7 ")
    assert (cfg.k, cfg.expression_scale, cfg.views, cfg.seed) == (4, 0.5, True, 7)
    assert GenerationConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.with_overrides(motion="").motion == "learned"  # a blank cell keeps the default
    with pytest.raises(ConfigError, match="not a int"):
        GenerationConfig().with_overrides(k="many")
    with pytest.raises(ConfigError, match="Unknown option"):
        GenerationConfig().with_overrides(colour="red")
    motion_file = tmp_path / "m.csv"
    motion_file.write_text("rx,ry,rz,tx,ty,tz\n0,0,0,0,0,0\n")
    assert GenerationConfig(motion=str(motion_file)).validate().motion_source().kind == "file"
    assert GenerationConfig(motion=str(media.EXAMPLE_SPEECH)).motion_source().kind == "video"


def test_cli_options_map_onto_the_config() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--k", "3", "--motion", "still", "--no-views", "--output", "paste-back"])
    cfg = config_from_args(args)
    assert (cfg.k, cfg.motion, cfg.views, cfg.output) == (3, "still", False, "paste-back")
    assert cfg.seed == GenerationConfig().seed  # unset options keep the defaults


def test_renderer_choice_and_generator_seam(tmp_path) -> None:
    from toolkit.paths import checkpoints_dir
    from toolkit.pipeline.renderers import SHIPPED_GENERATOR, generator_checkpoint, resolve_renderer

    auto = resolve_renderer(GenerationConfig())
    # nothing in the default slot checkpoints/generator: auto keeps the 3D-aware module, and the shipped
    # CPU generator (which does not beat it on held-out people) runs only when asked for
    assert generator_checkpoint(GenerationConfig()) is None and auto == "3d-warp"
    asked = GenerationConfig(renderer="generator")
    assert generator_checkpoint(asked) == checkpoints_dir() / SHIPPED_GENERATOR
    assert resolve_renderer(asked) == "generator"
    with pytest.raises(WeightsNotFoundError, match="not found"):  # a wrong path is refused up front
        resolve_renderer(GenerationConfig(renderer="generator", generator_checkpoint=str(tmp_path / "nowhere")))
    assert resolve_renderer(GenerationConfig(renderer="3d-warp")) == "3d-warp"


def test_generator_seam_feeds_the_warped_inputs_to_a_generator(tmp_path) -> None:
    """With a generator checkpoint the pipeline runs it on the 3D module's outputs (weights: random here)."""
    import dataclasses

    from toolkit.generator.checkpoint import export_generator
    from toolkit.generator.config import small_config
    from toolkit.generator.model import Generator
    from toolkit.pipeline.progress import StageClock
    from toolkit.pipeline.renderers import GeneratorRenderer, resolve_renderer

    gen_cfg = small_config().generator
    export_generator(tmp_path / "gen", Generator(gen_cfg), {"generator": dataclasses.asdict(gen_cfg)})
    # auto renders with a generator only when its checkpoint records that it beats the 3D warp
    assert resolve_renderer(GenerationConfig(generator_checkpoint=str(tmp_path / "gen"))) == "3d-warp"
    doc = json.loads((tmp_path / "gen" / "config.json").read_text())
    (tmp_path / "gen" / "config.json").write_text(json.dumps({**doc, "validation": {"beats_3d_warp": True}}))
    assert resolve_renderer(GenerationConfig(generator_checkpoint=str(tmp_path / "gen"))) == "generator"
    cfg = GenerationConfig(k=1, renderer="generator", generator_checkpoint=str(tmp_path / "gen"))
    assert resolve_renderer(cfg) == "generator"
    pipe = TalkingHeadPipeline(cfg)
    ref = pipe.prepare(media.astronaut())
    clock = StageClock()
    still = ref.frontal_pose[[0, 0]]
    chunk = GeneratorRenderer(ref, cfg).render(still, np.repeat(ref.identity68[None], 2, axis=0), clock)
    assert chunk.frames.shape == (2, 256, 256, 3) and chunk.rendered.shape == (2, 256, 256, 3)
    assert clock.seconds["generator"] > 0 and clock.seconds["render"] > 0
    assert set(chunk.matched.tolist()) <= set(ref.k_indices.tolist())


# ------------------------------------------------------------------ the default path
def test_learned_generation_writes_a_talking_head_with_sound(learned_run) -> None:
    from toolkit.io.media import probe, read_audio

    result, _ = learned_run
    info = probe(result.out_path)
    assert info.has_video and info.has_audio and (info.width, info.height) == (256, 256)
    assert result.n_frames == N_FRAMES
    assert abs(info.duration - SECONDS) < 0.1
    sound = read_audio(result.out_path)
    assert np.abs(sound).max() > 0.05  # the speech is in the file, not silence
    assert set(result.timings) == set(STAGES) and result.timings["render"] > 0 and result.timings["encode"] > 0
    assert result.renderer in ("3d-warp", "generator")
    assert result.head_motion.shape == (N_FRAMES, 6) and result.expression68.shape == (N_FRAMES, 68, 3)
    assert result.views_path.exists() and result.pose_plot_path.exists()
    assert probe(result.views_path).width == 3 * 256


def test_learned_motion_moves_the_head_and_the_mouth_follows_the_speech(learned_run) -> None:
    result, _ = learned_run
    motion, track = _track_output(result.out_path)
    asked = np.degrees(result.head_motion[:, :3])
    seen = np.degrees(motion.rotation)
    # the head really moves (a photo has no motion of its own) ...
    assert np.ptp(asked, axis=0).max() > 1.0
    # ... and the rendered head turns the way it was asked to (pitch/yaw/roll of the output video)
    moving = int(np.argmax(np.ptp(asked, axis=0)))
    corr = np.corrcoef(asked[:, moving], seen[:, moving])[0, 1]
    assert corr > 0.6, corr
    # the mouth moves with the speech, and the video shows the mouth the expression learner asked for
    asked_mouth = _mouth_opening(result.expression68)
    seen_mouth = _mouth_opening(track.landmarks68)
    assert np.ptp(asked_mouth) > 0.01 and np.ptp(seen_mouth) > 0.01
    assert np.corrcoef(asked_mouth, seen_mouth)[0, 1] > 0.5


def test_progress_reports_every_stage_in_order(learned_run) -> None:
    _, events = learned_run
    overall = [e.overall for e in events]
    assert overall == sorted(overall) and overall[-1] == 1.0
    assert {"load", "tracking", "learners", "render", "encode"} <= {e.stage for e in events}


# ------------------------------------------------------------------ controls
@needs_clip
def test_reference_motion_replay_is_what_the_output_shows(tmp_path, speech_wav) -> None:
    cfg = GenerationConfig(k=4, motion="reference", expression="reference", reference_frames=32)
    pipe = TalkingHeadPipeline(cfg)
    result = pipe.generate(media.SHARED_DRIVER, speech_wav, tmp_path / "replay.mp4")
    ref = pipe.prepare(media.SHARED_DRIVER)
    expected = loop_back_and_forth(ref.pose, N_FRAMES).motion
    np.testing.assert_allclose(result.head_motion, expected, atol=1e-4)
    motion, _ = _track_output(result.out_path)
    # the re-tracked pose of the output follows the replayed pose of the real person. The motion matcher holds
    # its background frame for at least 20 frames (issue 17: no background jumps), so hair and neck around the
    # rendered face lag the pose: pitch follows at r = 0.83 (0.94 without the hold), yaw and roll at 0.98-0.99
    moving = [axis for axis in range(3) if np.ptp(expected[:, axis]) > np.radians(1.5)]
    assert moving, "the reference clip should move its head"
    for axis in moving:
        assert np.corrcoef(expected[:, axis], motion.rotation[:, axis])[0, 1] > 0.8


def test_still_motion_and_a_motion_file_drive_the_head(tmp_path, speech_wav) -> None:
    still = TalkingHeadPipeline(GenerationConfig(k=1, motion="still", expression="reference")).generate(
        media.astronaut(), speech_wav, tmp_path / "still.mp4"
    )
    yaw = np.radians(12) * np.sin(np.linspace(0, 2 * np.pi, N_FRAMES))
    sweep = np.zeros((N_FRAMES, 6), np.float32)
    sweep[:, 1] = yaw  # rotation about the vertical axis, relative to the first row
    np.save(tmp_path / "sweep.npy", sweep)
    swept = TalkingHeadPipeline(GenerationConfig(k=1, motion=str(tmp_path / "sweep.npy"), expression="reference"))
    moved = swept.generate(media.astronaut(), speech_wav, tmp_path / "sweep.mp4")
    still_seen, _ = _track_output(still.out_path)
    moved_seen, _ = _track_output(moved.out_path)
    assert np.degrees(np.ptp(still_seen.rotation[:, 1])) < 2.0
    assert np.degrees(np.ptp(moved_seen.rotation[:, 1])) > 12.0
    assert abs(np.corrcoef(yaw, moved_seen.rotation[:, 1])[0, 1]) > 0.9


def test_render_demo_is_generate_with_the_same_fig16_controls(tmp_path) -> None:
    # one pipeline behind both commands: the demo's synthetic nod is `generate --motion nod`, byte for byte
    from toolkit.cli import main

    photo = media.write_png(tmp_path / "face.png", media.astronaut())
    demo = tmp_path / "demo.mp4"
    code = main(["render-demo", str(photo), "--synthetic", "nod", "--seconds", "1.2", "--period", "1.2",
                 "--out", str(demo)])  # fmt: skip
    assert code == 0
    cfg = GenerationConfig(renderer="3d-warp", k=1, motion="nod", motion_period=1.2, expression="reference",
                           allow_silent_audio=True)  # fmt: skip
    silence = np.zeros(int(1.2 * 16000), np.float32)
    same = TalkingHeadPipeline(cfg).generate(photo, silence, tmp_path / "generate.mp4")
    assert demo.read_bytes() == same.out_path.read_bytes()
    seen, _ = _track_output(demo)  # the head really nods (pitch), and does not shake (yaw)
    assert np.degrees(np.ptp(seen.rotation[:, 0])) > 18.0
    assert np.degrees(np.ptp(seen.rotation[:, 1])) < 6.0


@needs_clip
def test_expression_from_another_video_opens_the_mouth_with_it(tmp_path, speech_wav) -> None:
    cfg = GenerationConfig(k=1, motion="still", expression=str(media.SHARED_CLIP))
    result = TalkingHeadPipeline(cfg).generate(media.astronaut(), speech_wav, tmp_path / "transfer.mp4")
    _, out_track = _track_output(result.out_path)
    from toolkit.io.media import read_video
    from toolkit.tracking import make_tracker

    driver = make_tracker("mediapipe").track(read_video(media.SHARED_CLIP, max_frames=N_FRAMES))
    corr = np.corrcoef(_mouth_opening(driver.landmarks68), _mouth_opening(out_track.landmarks68))[0, 1]
    assert corr > 0.6, corr


def test_scales_seed_and_chunking(tmp_path, speech_wav, monkeypatch) -> None:
    from toolkit.pipeline import models
    from toolkit.pipeline.inputs import load_audio
    from toolkit.pipeline.progress import StageClock

    pipe = TalkingHeadPipeline(GenerationConfig(k=1, seed=3))
    ref = pipe.prepare(media.astronaut())
    speech = load_audio(speech_wav)
    base_motion = pipe.plan_motion(ref, speech).motion
    again = pipe.plan_motion(ref, speech).motion
    np.testing.assert_array_equal(base_motion, again)  # same seed, same motion
    other = TalkingHeadPipeline(GenerationConfig(k=1, seed=4)).plan_motion(ref, speech).motion
    assert np.abs(other - base_motion).max() > 1e-4
    calm = TalkingHeadPipeline(GenerationConfig(k=1, seed=3, motion_scale=0.0)).plan_motion(ref, speech).motion
    np.testing.assert_allclose(calm, np.repeat(ref.frontal_pose.motion, N_FRAMES, 0), atol=1e-4)
    expr = pipe.plan_expression(ref, speech, StageClock())
    neutral = TalkingHeadPipeline(GenerationConfig(k=1, expression_scale=0.0)).plan_expression(ref, speech)
    np.testing.assert_allclose(neutral, np.repeat(ref.identity68[None], N_FRAMES, 0), atol=1e-5)
    # chunked learners (bounded memory for long audio) agree with one pass and have no seams
    monkeypatch.setattr(models, "EXPRESSION_CHUNK", 16)
    chunked = pipe.plan_expression(ref, speech)
    np.testing.assert_allclose(chunked, expr, atol=0.05 * np.abs(expr).max())
    monkeypatch.setattr(models, "MOTION_CHUNK", 20)
    chunked_motion = pipe.plan_motion(ref, speech).motion
    step = np.abs(np.diff(chunked_motion, axis=0)).max(axis=0)
    base_step = np.abs(np.diff(base_motion, axis=0)).max(axis=0)
    assert np.all(step <= 3 * base_step + 1e-3), (step, base_step)
    assert speech.samples.size == N_FRAMES * SAMPLES_PER_FRAME


@needs_clip
def test_paste_back_keeps_the_full_frame_around_the_face(tmp_path, speech_wav) -> None:
    from toolkit.io.media import read_video

    clip = media.SHARED_SMALL_FACE
    cfg = GenerationConfig(k=2, motion="reference", expression="reference", output="paste-back", reference_frames=16)
    pipe = TalkingHeadPipeline(cfg)
    result = pipe.generate(clip, speech_wav, tmp_path / "paste.mp4")
    ref = pipe.prepare(clip)
    out = read_video(result.out_path, max_frames=5)
    h, w = ref.frame_size
    assert out.shape[1:3] == (h - h % 2, w - w % 2)
    source = read_video(clip, max_frames=16)
    x0, y0, x1, y1 = ref.crop_box
    outside = np.ones((h, w), bool)
    outside[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4] = False
    outside = outside[: out.shape[1], : out.shape[2]]
    # away from the face crop, each output frame is one of the reference frames (the matched background)
    diffs = [
        min(
            np.abs(out[i].astype(int) - source[j, : out.shape[1], : out.shape[2]].astype(int))[outside].mean()
            for j in ref.k_indices
        )
        for i in range(len(out))
    ]
    assert max(diffs) < 4.0, diffs


# ------------------------------------------------------------------ CLI and batch
def test_cli_generate_and_its_errors(tmp_path, speech_wav, capsys) -> None:
    from toolkit.cli import main

    face = media.write_png(tmp_path / "face.png", media.astronaut())
    out = tmp_path / "cli.mp4"
    rc = main(["generate", "-r", str(face), "-a", str(speech_wav), "-o", str(out), "--k", "1", "--motion", "still"])
    assert rc == 0 and out.exists()
    assert "real-time factor" in capsys.readouterr().out  # the summary (--quiet prints only errors)
    silent = media.write_wav(tmp_path / "silent.wav", np.zeros(32000, np.float32))
    rc = main(["generate", "-r", str(face), "-a", str(silent), "-o", str(tmp_path / "no.mp4"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "silent" in err and "Traceback" not in err
    assert not (tmp_path / "no.mp4").exists()


def test_batch_continues_past_a_failed_job_and_reports_it(tmp_path, speech_wav) -> None:
    from toolkit.cli import main

    media.write_png(tmp_path / "face.png", media.astronaut())
    media.write_wav(tmp_path / "silence.wav", np.zeros(24000, np.float32))
    jobs = tmp_path / "jobs.csv"
    with open(jobs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "reference", "audio", "out", "motion", "k"])
        w.writerow(["first", "face.png", str(speech_wav), "out/first.mp4", "still", "1"])
        w.writerow(["broken", "face.png", "silence.wav", "out/broken.mp4", "", ""])
        w.writerow(["missing", "nope.png", str(speech_wav), "out/missing.mp4", "", ""])
        w.writerow(["last", "face.png", str(speech_wav), "out/last.mp4", "reference", "1"])
    rc = main(["generate", "--batch", str(jobs), "--quiet", "--expression", "reference"])
    assert rc == 1  # some jobs failed
    assert (tmp_path / "out" / "first.mp4").exists() and (tmp_path / "out" / "last.mp4").exists()
    assert not (tmp_path / "out" / "broken.mp4").exists() and not (tmp_path / "out" / "missing.mp4").exists()
    with open(tmp_path / "jobs.report.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert [rows[k]["status"] for k in ("first", "broken", "missing", "last")] == ["done", "failed", "failed", "done"]
    assert rows["broken"]["error_code"] == "silent-audio" and "silent" in rows["broken"]["message"]
    assert rows["missing"]["error_code"] == "bad-file"
    assert int(rows["first"]["frames"]) == N_FRAMES and float(rows["first"]["render_s"]) > 0


def test_batch_list_errors_name_the_problem(tmp_path) -> None:
    from toolkit.errors import InputFileError
    from toolkit.pipeline.batch import read_batch

    bad = tmp_path / "bad.csv"
    bad.write_text("reference,out\nr.png,o.mp4\n")
    with pytest.raises(InputFileError, match="audio"):
        read_batch(bad)
    bad.write_text("reference,audio,out,colour\nr.png,a.wav,o.mp4,red\n")
    with pytest.raises(InputFileError, match="colour"):
        read_batch(bad)


def test_demo_makes_a_talking_head_with_sound_and_a_frame_strip(tmp_path) -> None:
    from PIL import Image

    from toolkit.demo import run_demo
    from toolkit.io.media import probe

    result = run_demo(tmp_path / "demo.mp4", seconds=1.0, frames_png=tmp_path / "frames.png")
    info = probe(result.out_path)
    assert info.has_video and info.has_audio and result.n_frames == 25
    strip = Image.open(tmp_path / "frames.png")
    assert strip.size == (6 * 256, 3 * 256)  # landmark image / 3D render / output rows, six frames
