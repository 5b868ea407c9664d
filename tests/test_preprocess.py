"""The dataset builder on real shared clips: records, manifest, resumability, skips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from toolkit.data.preprocess import PreprocessConfig, build_dataset, choose_crop_box, clip_id_for
from toolkit.data.records import done_clip_ids, load_clip, load_manifest
from toolkit.paths import shared_data_dir

DATA = shared_data_dir()
CLIP_A = DATA / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"  # 224x224, AAC
CLIP_B = DATA / "av" / "FuxiVirtualHuman__styletalk__andrew_clip_1.mp4"  # 30 fps + paired wav
CLIP_HD = DATA / "av" / "jixinya__EAMM__M030_sad_3_001.mp4"  # 1920x1080, 48 kHz stereo

pytestmark = pytest.mark.skipif(not CLIP_A.exists(), reason=f"shared data not found at {DATA} (set TOOLKIT_DATA)")

SECONDS = 1.6


def _cfg(**kw) -> PreprocessConfig:
    return PreprocessConfig(max_seconds=SECONDS, jobs=1, **kw)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pre_clean")
    build_dataset([CLIP_A, CLIP_B], out, _cfg(), progress=False)
    return out


def test_records_hold_aligned_tracks_audio_and_motion(clean_run: Path) -> None:
    manifest = load_manifest(clean_run)
    assert [c["status"] for c in manifest["clips"]] == ["done", "done"]
    n = int(SECONDS * 25)
    for entry in manifest["clips"]:
        rec = load_clip(clean_run, entry["clip_id"])
        assert rec.n_frames == n == entry["n_frames"]
        assert rec.landmarks.shape[0] == rec.rotation.shape[0] == rec.frontal68.shape[0] == n
        assert rec.landmarks68.shape == (n, 68, 3)
        assert rec.head_motion.shape == (n, 6)
        frames = rec.frames()
        assert frames.shape == (n, 256, 256, 3)
        # landmarks lie on the crop, the face fills a sensible part of it
        xy = rec.landmarks68[..., :2]
        assert xy.min() > -5 and xy.max() < 261
        face_width = np.ptp(xy[..., 0], axis=1).mean()
        assert 60 < face_width < 220
        audio = rec.audio()
        assert audio.shape == (n * 640,)
        assert np.abs(audio).max() > 0.01  # real speech, from the AAC track or the paired wav
        assert rec.mel().shape == (n, 80, 4)
        assert 0 <= rec.frontal_index < n
    # the paired .wav beside the silent-track mp4 was used
    b = next(c for c in manifest["clips"] if "andrew" in c["source"])
    assert b["audio_source"].endswith(".wav")


def test_crop_box_is_square_inside_frame_and_covers_face() -> None:
    boxes = np.array([[900, 300, 1100, 560], [920, 310, 1120, 570]], float)
    x0, y0, x1, y1 = choose_crop_box(boxes, (1080, 1920), 1.9)
    assert x1 - x0 == y1 - y0
    assert 0 <= x0 and 0 <= y0 and x1 <= 1920 and y1 <= 1080
    assert x0 <= 900 and x1 >= 1120 and y0 <= 300 and y1 >= 570
    # a face larger than the frame allows: the crop shrinks to the frame, never pads
    x0, y0, x1, y1 = choose_crop_box(np.array([[10, 10, 200, 220]], float), (224, 224), 1.9)
    assert (x0, y0, x1, y1) == (0, 0, 224, 224)


def test_high_resolution_source_is_cropped_to_the_face(tmp_path: Path) -> None:
    if not CLIP_HD.exists():
        pytest.skip("HD clip absent")
    build_dataset([CLIP_HD], tmp_path, PreprocessConfig(max_seconds=0.8, jobs=1), progress=False)
    (cid,) = done_clip_ids(tmp_path)
    rec = load_clip(tmp_path, cid)
    x0, _, x1, _ = rec.meta["crop_box"]
    assert rec.meta["source_size"] == [1920, 1080]
    assert 200 < x1 - x0 < 1080  # a face crop, not the whole frame
    assert np.ptp(rec.landmarks68[..., 0], axis=1).mean() > 60


def test_bad_inputs_are_skipped_with_reasons(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    audio_only = DATA / "av" / "FuxiVirtualHuman__styletalk__Obama_clip1.wav"
    inputs = [empty, corrupt]
    if audio_only.exists():
        inputs.append(audio_only)
    manifest = build_dataset(inputs, tmp_path / "out", _cfg(), progress=False)
    statuses = {Path(c["source"]).name: c for c in manifest["clips"]}
    for name in [p.name for p in inputs]:
        entry = statuses[name]
        assert entry["status"] == "skipped"
        assert entry["reason"] and "internal error" not in entry["reason"], entry["reason"]
    assert done_clip_ids(tmp_path / "out") == []


def _record_signature(root: Path) -> dict[str, tuple]:
    sig = {}
    for cid in done_clip_ids(root):
        rec = load_clip(root, cid)
        sig[cid] = (
            rec.n_frames,
            rec.landmarks.round(3).tobytes(),
            rec.rotation.round(5).tobytes(),
            rec.audio().tobytes(),
        )
    return sig


def test_killed_run_resumes_to_identical_output(clean_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "pre"
    script = (
        "import sys; from toolkit.data.preprocess import *; "
        f"build_dataset([{str(CLIP_A)!r}, {str(CLIP_B)!r}], {str(out)!r}, "
        f"PreprocessConfig(max_seconds={SECONDS}, jobs=1), progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    first = out / "clips" / clip_id_for(CLIP_A) / "meta.json"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first.exists(), "first record never appeared"
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run: the second clip is being processed
    proc.wait()
    first_mtime = first.stat().st_mtime_ns
    # whatever the kill left behind is never read as a record
    for cid in done_clip_ids(out):
        json.loads((out / "clips" / cid / "meta.json").read_text())
    manifest = build_dataset([CLIP_A, CLIP_B], out, _cfg(), progress=False)
    assert [c["status"] for c in manifest["clips"]] == ["done", "done"]
    assert first.stat().st_mtime_ns == first_mtime, "a finished clip was redone"
    assert not list((out / "clips").glob(".tmp-*"))
    assert _record_signature(out) == _record_signature(clean_run)
