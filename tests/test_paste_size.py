"""Output resolution (issue 18, item 6): the face is rendered at about its size in the written frame."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.errors import ConfigError
from toolkit.paths import shared_data_dir
from toolkit.pipeline.config import GenerationConfig

KIM = "av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4"  # 1920x1080, a large face
SMALL = "av/wyhsirius__LIA__vox_driving2.mp4"  # 256x256


def test_auto_size_follows_the_face_in_the_written_frame():
    auto = GenerationConfig(output="paste-back")
    assert auto.size == 0  # the default
    assert auto.face_size(200.0) == 256 and auto.face_size(280.0) == 256  # at most 1.1x upscaled
    assert auto.face_size(290.0) == 512 and auto.face_size(900.0) == 512  # capped at the largest size
    assert GenerationConfig(output="crop").face_size(900.0) == 256  # a face crop video: the models' size
    assert GenerationConfig(output="paste-back", size=256).face_size(900.0) == 256  # an explicit size wins
    with pytest.raises(ConfigError, match="0 \\(auto\\), 128, 256 or 512"):
        GenerationConfig(size=300).validate()


@pytest.mark.parametrize(
    ("clip", "size", "expected"), [(KIM, 0, 512), (SMALL, 0, 256), (KIM, 256, 256), (SMALL, 512, 512)]
)
def test_reference_crops_at_the_chosen_size(clip, size, expected):
    """Real clips: kim's face crop is ~600 px across in its 1080p frame (rendered at 512), a 256x256 clip's fits
    in 256; ``--size`` overrides the choice either way."""
    from eval.video import read_native_frames
    from toolkit.pipeline import TalkingHeadPipeline

    path = shared_data_dir() / clip
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found (set TOOLKIT_DATA to the shared data folder)")
    frames = read_native_frames(path, 0, 4)
    cfg = GenerationConfig(output="paste-back", size=size, k=1, reference_frames=4, max_paste_side=1920)
    ref = TalkingHeadPipeline(cfg).prepare(frames)
    side = (ref.crop_box[2] - ref.crop_box[0]) * min(1.0, 1920 / max(frames.shape[1:3]))
    assert ref.crops.shape[1:3] == (expected, expected)
    if size == 0:  # the rule, on the real crop box
        assert cfg.face_size(side) == expected
    assert np.isfinite(ref.landmarks).all() and ref.landmarks[..., :2].max() <= expected


def test_batch_jobs_choose_their_size_and_the_report_says_it(tmp_path):
    """A batch list's ``size`` column (issue 18, item 6): each job renders at its own size; the report's
    face_size column records it (auto's choice too)."""
    import csv

    from tests import pipeline_media as media
    from toolkit.cli import main
    from toolkit.io.media import probe

    media.write_png(tmp_path / "face.png", media.astronaut())
    media.write_wav(tmp_path / "speech.wav", media.speech(0.6))
    jobs = tmp_path / "jobs.csv"
    with open(jobs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "reference", "audio", "out", "size"])
        w.writerow(["small", "face.png", "speech.wav", "out/small.mp4", "128"])
        w.writerow(["auto", "face.png", "speech.wav", "out/auto.mp4", ""])
    rc = main(
        ["generate", "--batch", str(jobs), "--quiet", "--k", "1", "--motion", "still", "--expression", "reference"]
    )
    assert rc == 0
    assert (probe(tmp_path / "out" / "small.mp4").width, probe(tmp_path / "out" / "auto.mp4").width) == (128, 256)
    with open(tmp_path / "jobs.report.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert (rows["small"]["face_size"], rows["auto"]["face_size"]) == ("128", "256")
