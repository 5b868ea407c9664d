"""`survey build` on real clips: uniform blind encoding, opaque names, private key, plans, attention checks."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from eval.survey.build import StudyConfig, build_study
from eval.survey.encode import ffmpeg_exe
from eval.survey.sources import parse_method_arg
from eval.survey.study import ROLE_MAIN, ROLE_OFFSET, ROLE_REPEAT, load_study
from tests.survey_support import CLIPS, SECONDS, make_methods, needs_shared_clips
from toolkit.errors import InputFileError, ToolkitError

pytestmark = needs_shared_clips


@pytest.fixture(scope="module")
def methods(tmp_path_factory) -> list[tuple[str, Path]]:
    return make_methods(tmp_path_factory.mktemp("methods"))


@pytest.fixture(scope="module")
def study(methods, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "s"
    build_study(methods, out, StudyConfig(n_raters=6, seed=11))
    return out


def _ffmpeg_info(path: Path) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def test_every_video_has_one_encoding_and_no_identifying_metadata(study: Path, methods) -> None:
    videos = sorted((study / "media").iterdir())
    assert videos and all(re.fullmatch(r"[0-9a-f]{20}\.mp4", p.name) for p in videos)
    signatures = set()
    for p in videos:
        info = _ffmpeg_info(p)
        video = re.search(r"Video: (\w+).*?, (\d+)x(\d+).*?, (\d+) fps", info)
        audio = re.search(r"Audio: (\w+).*?, (\d+) Hz, (\w+)", info)
        assert video and audio, info
        signatures.add((video.groups(), audio.groups()))
        # no title, no encoder name of the source (methods write different ones), no method name anywhere
        assert "title" not in info.lower()
        assert "Lavf" not in info
        data = p.read_bytes()
        for name, _ in methods:
            assert name.encode() not in data
    assert signatures == {(("h264", "256", "256", "25"), ("aac", "48000", "mono"))}


def test_key_is_private_and_public_files_name_no_method(study: Path, methods) -> None:
    s = load_study(study)
    key = s.load_key()
    media = {p.name for p in (study / "media").iterdir()}
    assert set(key) == media  # every served video is in the key, and nothing else is served
    assert not (study / "media" / "key.json").exists()
    public = (study / "study.json").read_text()
    for name, _ in methods:
        assert name not in public
    for cid in CLIPS:
        assert cid not in public
    page_data = json.dumps(s.info.public_dict())
    for name, _ in methods:
        assert name not in page_data
    assert {k.method for k in key.values()} == {m for m, _ in methods}


def test_plans_shuffle_per_rater_and_hold_both_checks(study: Path, methods) -> None:
    s = load_study(study)
    key = s.load_key()
    n_units = len(methods) * len(CLIPS)
    orders = set()
    for plan in s.plans.values():
        roles = Counter(it.role for it in plan.items)
        assert roles == {ROLE_MAIN: n_units, ROLE_REPEAT: 1, ROLE_OFFSET: 1}
        mains = [it for it in plan.items if it.role == ROLE_MAIN]
        units = {(key[it.videos[0]].clip_id, key[it.videos[0]].method) for it in mains}
        assert len(units) == n_units  # every (clip, method) once
        orders.add(tuple((key[it.videos[0]].clip_id, key[it.videos[0]].method) for it in mains))
        pos = {it.item_id: i for i, it in enumerate(plan.items)}
        rep = next(it for it in plan.items if it.role == ROLE_REPEAT)
        orig = plan.items_by_id[rep.of]
        assert pos[rep.item_id] - pos[orig.item_id] >= 3  # two other items in between
        assert rep.videos != orig.videos  # other names...
        # ...and encoded again, not copied: a copy has the size and ETag of its source (tests/test_survey_blinding.py)
        assert key[rep.videos[0]].method == key[orig.videos[0]].method
        assert key[rep.videos[0]].clip_id == key[orig.videos[0]].clip_id
        assert (study / "media" / rep.videos[0]).read_bytes() != (study / "media" / orig.videos[0]).read_bytes()
        off = next(it for it in plan.items if it.role == ROLE_OFFSET)
        assert key[off.videos[0]].variant == "offset"
        anchor = plan.items_by_id[off.of]
        assert anchor.role == ROLE_MAIN
        assert (key[anchor.videos[0]].clip_id, key[anchor.videos[0]].method) == (
            key[off.videos[0]].clip_id,
            key[off.videos[0]].method,
        )
    assert len(orders) > 1  # raters see different orders
    assert len({p.token_sha256 for p in s.plans.values()}) == len(s.plans)


def test_offset_check_video_has_its_audio_delayed_by_one_second(study: Path) -> None:
    from toolkit.io.media import read_audio

    s = load_study(study)
    plan = next(iter(s.plans.values()))
    off = next(it for it in plan.items if it.role == ROLE_OFFSET)
    plain = plan.items_by_id[off.of]
    sr = 8000
    a = read_audio(study / "media" / plain.videos[0], sr)
    b = read_audio(study / "media" / off.videos[0], sr)
    assert abs(len(a) - len(b)) < sr * 0.1  # same length as the video
    # no silent start (audible, and a lower audio bitrate): the first second plays the end of the track
    assert np.abs(b[: int(0.95 * sr)]).max() > 0.05
    # the delayed track is the plain one shifted by 1 s: cross-correlation peaks at +1 s
    n = int(0.9 * sr)
    seg = a[: len(a) - sr][:n]
    corr = [float(np.dot(seg, b[lag : lag + n])) for lag in range(0, len(b) - n, 8)]
    lag_s = int(np.argmax(corr)) * 8 / sr
    assert abs(lag_s - 1.0) < 0.02, lag_s


def test_same_seed_gives_the_same_sequences(methods, tmp_path: Path) -> None:
    def sequence(out: Path) -> list[list[tuple]]:
        s = load_study(out)
        key = s.load_key()
        return [
            [(it.role, tuple((key[v].method, key[v].clip_id, key[v].variant) for v in it.videos)) for it in p.items]
            for p in s.plans.values()
        ]

    cfg = StudyConfig(n_raters=3, seed=5, design="ab", per_rater=4)
    build_study(methods, tmp_path / "a", cfg)
    build_study(methods, tmp_path / "b", cfg)
    assert sequence(tmp_path / "a") == sequence(tmp_path / "b")
    seq = sequence(tmp_path / "a")
    assert all(len(r) == 4 + 2 for r in seq)
    # A/B: a pair compares two methods of one clip; the repeat swaps the sides
    s = load_study(tmp_path / "a")
    key = s.load_key()
    for plan in s.plans.values():
        for it in plan.items:
            ka, kb = key[it.videos[0]], key[it.videos[1]]
            assert ka.clip_id == kb.clip_id
            if it.role == ROLE_REPEAT:
                orig = plan.items_by_id[it.of]
                assert [key[v].method for v in it.videos] == [key[v].method for v in reversed(orig.videos)]
            elif it.role == ROLE_OFFSET:
                assert ka.method == kb.method and {ka.variant, kb.variant} == {"plain", "offset"}
            else:
                assert ka.method != kb.method


def test_per_rater_share_is_balanced(methods, tmp_path: Path) -> None:
    build_study(methods, tmp_path / "s", StudyConfig(n_raters=9, seed=2, per_rater=2))
    s = load_study(tmp_path / "s")
    key = s.load_key()
    counts = Counter(
        (key[it.videos[0]].clip_id, key[it.videos[0]].method)
        for p in s.plans.values()
        for it in p.items
        if it.role == ROLE_MAIN
    )
    assert sum(counts.values()) == 18 and len(counts) == 6
    # the offset-check anchor is always included; everything else is spread evenly
    assert max(counts.values()) - min(counts.values()) <= 4


def test_side_by_side_places_reference_left(methods, tmp_path: Path) -> None:
    refs = dict(methods)["genuine"]
    build_study(methods[1:2], tmp_path / "s", StudyConfig(n_raters=1, seed=1, side_by_side=True), reference_dir=refs)
    from toolkit.io.media import read_video

    media = sorted((tmp_path / "s" / "media").iterdir())
    frames = read_video(media[0], max_frames=10)
    assert frames.shape[1:] == (256, 512, 3)
    left, right = frames[:, :, :256].astype(float), frames[:, :, 256:].astype(float)
    assert np.abs(left[-1] - left[0]).mean() > np.abs(right[-1] - right[0]).mean()  # real moves, frozen does not


def test_build_refuses_bad_inputs_with_a_fix(methods, tmp_path: Path) -> None:
    assert parse_method_arg("static") == ("static", None)  # a built-in baseline of the benchmarking suite
    with pytest.raises(InputFileError, match="not usable"):
        parse_method_arg("bad name!=x")
    with pytest.raises(InputFileError, match="no folder"):
        parse_method_arg("x=")
    with pytest.raises(InputFileError, match="need --benchmark"):
        build_study([("static", None)], tmp_path / "s0", StudyConfig(n_raters=1))
    with pytest.raises(InputFileError, match="does not exist"):
        parse_method_arg(f"x={tmp_path / 'nope'}")
    out = tmp_path / "exists"
    out.mkdir()
    (out / "answers.sqlite").write_text("x")
    with pytest.raises(InputFileError, match="never be overwritten"):
        build_study(methods, out, StudyConfig(n_raters=1))
    # clips must be in every method; a method with nothing in common is refused
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "other.mp4").write_bytes((methods[0][1] / "clipA.mp4").read_bytes())
    with pytest.raises(InputFileError, match="no clip id is present in every method"):
        build_study([methods[0], ("lonely", lonely)], tmp_path / "s1", StudyConfig(n_raters=1))
    # a silent video with no driving audio: raters could not judge sync
    silent = tmp_path / "silent"
    silent.mkdir()
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(methods[0][1] / "clipA.mp4"), "-an", "-c:v", "copy",
         str(silent / "clipA.mp4")], check=True,
    )  # fmt: skip
    with pytest.raises(ToolkitError, match="no audio track"):
        build_study([("silent", silent)], tmp_path / "s2", StudyConfig(n_raters=1))
    assert not (tmp_path / "s2").exists()  # nothing half-written
    assert not any(p.name.startswith(".s2.building") for p in tmp_path.iterdir())
    with pytest.raises(InputFileError, match="two or more"):
        build_study(methods[:1], tmp_path / "s3", StudyConfig(n_raters=1, design="ab"))


def test_paired_wav_supplies_the_sound_of_a_silent_method(methods, tmp_path: Path) -> None:
    from toolkit.io.media import read_audio

    silent = tmp_path / "silent"
    silent.mkdir()
    src = methods[0][1] / "clipA.mp4"
    strip_audio = ["-an", "-c:v", "copy", str(silent / "clipA.mp4")]
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(src), *strip_audio], check=True)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(src), "-vn", str(silent / "clipA.wav")], check=True)
    summary = build_study([("silent", silent)], tmp_path / "s", StudyConfig(n_raters=1, seed=0))
    assert summary.clips == ["clipA"]
    key = load_study(tmp_path / "s").load_key()
    plain = next(n for n, k in key.items() if k.variant == "plain")
    audio = read_audio(tmp_path / "s" / "media" / plain, 16000)
    assert abs(len(audio) / 16000 - SECONDS) < 0.1 and np.abs(audio).max() > 0.05


def test_study_of_the_benchmark_suites_builtin_baselines_via_cli(tmp_path: Path) -> None:
    """`survey build --benchmark B --method static --method reference-loop --include-ground-truth --side-by-side`."""
    pytest.importorskip("eval.benchmark")
    from tests.survey_support import make_benchmark
    from toolkit.cli import main
    from toolkit.io.media import read_video

    bench = make_benchmark(tmp_path / "bench.json")
    out = tmp_path / "study"
    args = ["survey", "build", "--benchmark", str(bench), "--method", "static", "--method", "reference-loop"]
    args += ["--include-ground-truth", "--side-by-side", "--raters", "3", "--seed", "1", "--out", str(out)]
    assert main(args) == 0
    s = load_study(out)
    key = s.load_key()
    assert s.build["method_order"] == ["static", "reference-loop", "ground_truth"]
    assert s.build["check_method"] == "ground_truth"  # the offset check is made from real footage
    assert {k.dataset for k in key.values()} == {"pcavs-mini"}
    assert len(s.build["clips"]) == 2
    by_method = {}
    for name, k in key.items():
        if k.variant == "plain":
            by_method.setdefault(k.method, []).append(name)
    for method, names in by_method.items():
        frames = read_video(out / "media" / names[0])
        assert frames.shape == (50, 256, 512, 3), method  # 2 s of driving audio at 25 fps; reference | candidate
        motion = np.abs(np.diff(frames[:, :, 256:].astype(np.float32), axis=0)).mean()
        ref_motion = np.abs(np.diff(frames[:, :, :256].astype(np.float32), axis=0)).mean()
        assert ref_motion < 0.5  # the left panel is the benchmark's source frame, held still
        if method == "static":
            assert motion < 0.5
        else:  # reference frames replayed, or the real continuation: the face moves
            assert motion > 0.5, method
    # no file of the build's scratch work is left in the study
    assert sorted(p.name for p in out.iterdir()) == ["media", "private", "study.json"]
