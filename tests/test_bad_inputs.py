"""The bad-input matrix: every unusual input gives its documented outcome, and no partial output.

Documented outcomes (also in ``toolkit/pipeline/inputs.py``):

=====================================  ==========================================================
input                                  outcome
=====================================  ==========================================================
missing / 0-byte / corrupt / truncated InputFileError (``bad-file``) naming the file
text file named .png, random bytes     InputFileError
an audio file given as the reference   InputFileError ("is an audio file")
a silent video given as the audio      NoAudioError (``no-audio``)
an image given as the audio            InputFileError
all-zero audio                         SilentAudioError (``silent-audio``)
audio shorter than 0.5 s               TooShortError (``too-short``)
audio over the configured limit        TooLongError (``too-long``), before decoding
image over 80 megapixels               InputFileError (too large)
no face in the reference               NoFaceError (``no-face``)
wrong motion file / bad option         InputFileError / ConfigError
two faces                              generated; the larger (main) face is animated
one-frame video                        generated, treated as a still image
8 kHz, 48 kHz stereo audio             generated (resampled to 16 kHz mono)
music instead of speech                generated (the face follows the music's energy)
very large photo (23 MP)               generated (scaled to 4096 px for tracking)
vertical (portrait) video              generated, 256x256 face video
=====================================  ==========================================================

Every failing case leaves nothing at the output path and no temporary file
beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests import pipeline_media as media
from toolkit.errors import (
    InputFileError,
    NoAudioError,
    NoFaceError,
    SilentAudioError,
    ToolkitError,
    TooLongError,
    TooShortError,
)
from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline
from toolkit.pipeline.config import ConfigError

SECONDS = 1.0


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_inputs")
    f: dict[str, Path] = {}
    speech = media.speech(SECONDS)
    f["speech"] = media.write_wav(d / "speech.wav", speech)
    f["face"] = media.write_png(d / "face.png", media.astronaut())
    f["empty_mp4"] = d / "empty.mp4"
    f["empty_mp4"].write_bytes(b"")
    f["empty_wav"] = d / "empty.wav"
    f["empty_wav"].write_bytes(b"")
    rng = np.random.default_rng(0)
    f["random_mp4"] = d / "random.mp4"
    f["random_mp4"].write_bytes(rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    f["random_wav"] = d / "random.wav"
    f["random_wav"].write_bytes(b"RIFF" + rng.integers(0, 256, 5_000, dtype=np.uint8).tobytes())
    f["text_png"] = d / "notes.png"
    f["text_png"].write_text("this is not an image\n")
    f["text_txt"] = d / "notes.txt"
    f["text_txt"].write_text("hello\n")
    good = media.write_video(d / "good.mp4", media.moving_face_frames(20, (256, 256)), speech[: 20 * 640])
    data = good.read_bytes()
    f["truncated_mp4"] = d / "truncated.mp4"
    f["truncated_mp4"].write_bytes(data[: len(data) // 3])
    f["silent_video"] = media.write_video(d / "silent_video.mp4", media.moving_face_frames(10, (256, 256)))
    f["zeros_wav"] = media.write_wav(d / "zeros.wav", np.zeros(16000 * 2, np.float32))
    f["short_wav"] = media.write_wav(d / "short.wav", speech[:3200])
    f["long_wav"] = media.write_wav(d / "long.wav", np.tile(speech, 4))
    f["no_face"] = media.write_png(d / "coffee.png", media.no_face())
    f["two_faces"] = media.write_png(d / "two_faces.png", media.two_faces())
    f["one_frame"] = media.write_video(d / "one_frame.mp4", media.astronaut()[None])
    f["vertical"] = media.write_video(d / "vertical.mp4", media.moving_face_frames(12, (288, 512)))
    f["speech_8k"] = media.write_wav(d / "speech_8k.wav", media.resample(speech, 8000), sr=8000)
    f["speech_48k_stereo"] = media.write_wav(d / "speech_48k.wav", media.resample(speech, 48000), 48000, channels=2)
    f["music"] = media.write_wav(d / "music.wav", media.music(SECONDS), sr=44_100)
    f["bad_motion"] = d / "motion.npy"
    np.save(f["bad_motion"], np.zeros((10, 4), np.float32))
    return f


@pytest.fixture(scope="module")
def huge_image(tmp_path_factory) -> Path:
    import cv2

    d = tmp_path_factory.mktemp("huge")
    big = cv2.resize(media.astronaut(), (4800, 4800), interpolation=cv2.INTER_LINEAR)  # 23 megapixels
    path = d / "huge.jpg"
    cv2.imwrite(str(path), big[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return path


@pytest.fixture(scope="module")
def giant_png(tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("giant") / "giant.png"
    Image.new("L", (9000, 9000), 128).save(path)  # 81 MP, a few hundred kB on disk
    return path


def _cfg(**kw) -> GenerationConfig:
    base = {"k": 2, "max_seconds": 2.5, "reference_frames": 16}
    base.update(kw)
    return GenerationConfig(**base)


def _assert_nothing_left(out: Path) -> None:
    assert not out.exists(), f"partial output left at {out}"
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not leftovers, f"temporary files left: {leftovers}"


# (case id, reference key, audio key, config overrides, expected error, words in the message)
FAILURES: list[tuple[str, str, str, dict, type[ToolkitError], tuple[str, ...]]] = [
    ("reference-missing", "missing", "speech", {}, InputFileError, ("does not exist",)),
    ("reference-0-bytes", "empty_mp4", "speech", {}, InputFileError, ("empty",)),
    ("reference-corrupt", "random_mp4", "speech", {}, InputFileError, ("random.mp4",)),
    ("reference-truncated", "truncated_mp4", "speech", {}, ToolkitError, ("truncated.mp4",)),
    ("reference-text-as-png", "text_png", "speech", {}, InputFileError, ("could not be read",)),
    ("reference-text-file", "text_txt", "speech", {}, InputFileError, ("notes.txt",)),
    ("reference-is-audio", "speech", "speech", {}, InputFileError, ("audio file",)),
    ("reference-no-face", "no_face", "speech", {}, NoFaceError, ("no face was found in the photo", "use a photo")),
    ("reference-too-many-pixels", "giant", "speech", {}, InputFileError, ("megapixels",)),
    ("audio-missing", "face", "missing", {}, InputFileError, ("does not exist",)),
    ("audio-0-bytes", "face", "empty_wav", {}, InputFileError, ("empty",)),
    ("audio-corrupt", "face", "random_wav", {}, InputFileError, ("random.wav",)),
    ("audio-is-image", "face", "face", {}, InputFileError, ("image",)),
    ("audio-silent-video", "face", "silent_video", {}, NoAudioError, ("no audio",)),
    ("audio-all-zeros", "face", "zeros_wav", {}, SilentAudioError, ("silent",)),
    ("audio-too-short", "face", "short_wav", {}, TooShortError, ("0.5 s",)),
    ("audio-too-long", "face", "long_wav", {"max_seconds": 2.0}, TooLongError, ("limit",)),
    ("motion-file-wrong-shape", "face", "speech", {"motion": "@bad_motion"}, InputFileError, ("(T, 6)",)),
]


@pytest.mark.parametrize(("case", "ref", "aud", "overrides", "error", "words"), FAILURES, ids=[c[0] for c in FAILURES])
def test_bad_input_fails_with_its_documented_error(
    files, giant_png, tmp_path, case, ref, aud, overrides, error, words
) -> None:
    paths = dict(files, giant=giant_png, missing=tmp_path / "nowhere.mp4")
    overrides = {
        k: (str(paths[v[1:]]) if isinstance(v, str) and v.startswith("@") else v) for k, v in overrides.items()
    }
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir()
    with pytest.raises(error) as info:
        TalkingHeadPipeline(_cfg(**overrides)).generate(paths[ref], paths[aud], out)
    message = str(info.value)
    for word in words:
        assert word.lower() in message.lower(), message
    assert len(message) > 30 and info.value.fix, "a message says what was wrong and what to do"
    _assert_nothing_left(out)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [({"k": 0}, "K must be"), ({"motion": "/nowhere/motion.npy"}, "neither"), ({"expression_scale": 9}, "between")],
)
def test_bad_options_are_refused_before_any_work(overrides, words) -> None:
    with pytest.raises(ConfigError, match=words):
        TalkingHeadPipeline(_cfg(**overrides))


def _generate_ok(reference, audio, out: Path, **kw) -> object:
    result = TalkingHeadPipeline(_cfg(**kw)).generate(reference, audio, out)
    from toolkit.io.media import probe

    info = probe(out)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (256, 256)
    assert result.n_frames == int(np.ceil(SECONDS * 25)) or result.n_frames > 0
    return result


SUCCESSES: list[tuple[str, str, str, Callable | None]] = [
    ("two-faces-main-face", "two_faces", "speech", None),
    ("one-frame-video", "one_frame", "speech", None),
    ("vertical-video", "vertical", "speech", None),
    ("audio-8khz", "face", "speech_8k", None),
    ("audio-48khz-stereo", "face", "speech_48k_stereo", None),
    ("music", "face", "music", None),
]


@pytest.mark.parametrize(("case", "ref", "aud", "check"), SUCCESSES, ids=[c[0] for c in SUCCESSES])
def test_unusual_but_valid_input_generates(files, tmp_path, case, ref, aud, check) -> None:
    out = tmp_path / f"{case}.mp4"
    result = _generate_ok(files[ref], files[aud], out)
    assert result.n_frames == 25
    if case == "two-faces-main-face":
        # the crop is around the large face on the left, not the small one on the right
        from toolkit.pipeline.progress import StageClock
        from toolkit.pipeline.stages import prepare_reference

        ref_obj = prepare_reference(files[ref], _cfg(), StageClock())
        x0, _, x1, _ = ref_obj.crop_box
        assert (x0 + x1) / 2 < 512
    if case == "one-frame-video":
        assert result.reference_frames == 1


def test_huge_image_is_scaled_not_refused(huge_image, files, tmp_path) -> None:
    result = _generate_ok(huge_image, files["speech"], tmp_path / "huge.mp4")
    assert result.n_frames == 25


def test_failed_run_keeps_an_existing_output_untouched(files, tmp_path) -> None:
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(SilentAudioError):
        TalkingHeadPipeline(_cfg()).generate(files["face"], files["zeros_wav"], out)
    assert out.read_bytes() == b"previous result"
    assert sorted(os.listdir(tmp_path)) == ["keep.mp4"]
