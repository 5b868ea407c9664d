"""Media I/O on real shared clips and synthesised files: probing, decoding, alignment, writing, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.media_cases import sine
from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import InputFileError, MediaError, NoAudioError, SilentAudioError
from toolkit.io.media import (
    VideoWriter,
    check_not_silent,
    find_paired_audio,
    iter_frames,
    load_av,
    parse_probe_output,
    probe,
    read_audio,
    read_image,
    read_video,
    stream_offset,
    write_video,
)

PAIRED = "av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4"  # 256x256, 30 fps, no audio, .wav beside it
PCAVS = "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"  # 224x224, 25 fps, AAC 16 kHz mono
HD = "av/jixinya__EAMM__M030_sad_3_001.mp4"  # 1920x1080, 30 fps, AAC 48 kHz stereo
SILENT_30FPS = "silent/FuxiVirtualHuman__styletalk__furious_talk2_clip1.mp4"  # 2.0 s, 30 fps, no audio
MPG = "av/rizkiarm__LipNet__bbaf2n.mpg"  # MPEG-1 + MP2 44.1 kHz stereo
SPEECH = "speech/speechbrain__speechbrain__example1.wav"  # 16 kHz mono speech, 3.26 s


# ----------------------------------------------------------------------------- probe


def test_probe_reports_streams_of_real_clips(shared_file) -> None:
    info = probe(shared_file(PAIRED))
    assert (info.has_video, info.has_audio) == (True, False)
    assert (info.width, info.height, info.fps) == (256, 256, 30.0)
    assert info.video_codec == "h264" and info.n_frames == pytest.approx(602, abs=2)

    hd = probe(shared_file(HD))
    assert (hd.width, hd.height) == (1920, 1080)
    assert (hd.audio_codec, hd.sample_rate, hd.channels) == ("aac", 48000, 2)
    assert hd.duration == pytest.approx(3.73, abs=0.02)

    mpg = probe(shared_file(MPG))
    assert (mpg.video_codec, mpg.audio_codec, mpg.sample_rate) == ("mpeg1video", "mp2", 44100)

    wav = probe(shared_file(SPEECH))
    assert (wav.has_video, wav.has_audio, wav.sample_rate, wav.channels) == (False, True, 16000, 1)


def test_parse_probe_output_handles_older_and_unusual_ffmpeg_text(tmp_path) -> None:
    # older ffmpeg spells the display matrix "displaymatrix" with a negative angle; 5.1 audio;
    # an mp3 with cover art has an "attached pic" video stream that is not a video
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'phone.mp4':
  Duration: 00:00:04.50, start: 0.023220, bitrate: 9000 kb/s
  Stream #0:0[0x1](eng): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080, 8500 kb/s, 29.97 fps, 29.97 tbr, 90k tbn (default)
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1(side), fltp, 256 kb/s (default)
"""  # noqa: E501
    info = parse_probe_output(text, tmp_path / "phone.mp4")
    assert (info.width, info.height, info.rotation) == (1080, 1920, -90)
    assert (info.fps, info.channels, info.sample_rate) == (29.97, 6, 48000)
    assert info.n_frames == round(4.5 * 29.97) and info.start_time == pytest.approx(0.02322)

    mp3 = """Input #0, mp3, from 'song.mp3':
  Duration: 00:03:01.00, start: 0.025057, bitrate: 320 kb/s
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 320 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 500x500 [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)
"""  # noqa: E501
    info = parse_probe_output(mp3, tmp_path / "song.mp3")
    assert (info.has_video, info.has_audio, info.duration) == (False, True, 181.0)


# ----------------------------------------------------------------------------- decoding


def test_resampling_30_to_25_fps_on_a_real_clip(shared_file) -> None:
    path = shared_file(SILENT_30FPS)  # 2.0 s at 30 fps
    native = read_video(path, fps=None)
    at25 = read_video(path)
    assert native.shape == (60, 256, 256, 3)
    assert at25.shape == (50, 256, 256, 3) and at25.dtype == np.uint8
    # 25 fps frames are copies of source frames (the fps filter drops, never blends)
    assert all(np.array_equal(at25[k], native[round(k * 30 / 25)]) for k in (0, 7, 24, 49))


def test_fps_grid_picks_the_source_frame_shown_at_each_output_time(tmp_media) -> None:
    src = tmp_media.counter_video(n_frames=45, fps=30)  # 1.5 s, frame i has grey level 4 i
    out = read_video(src, fps=25)
    assert len(out) == 38 or len(out) == 37
    index = np.round(out[:, 16, 16, 0] / 4.0).astype(int)
    # output frame k (time k/25 s) shows the source frame nearest to that time
    expected = np.round(np.arange(len(out)) * 30 / 25).astype(int)
    assert np.abs(index - expected).max() <= 1 and np.all(np.diff(index) >= 1)


def test_crop_and_resize_of_a_1080p_clip(shared_file) -> None:
    path = shared_file(HD)
    frames = list(iter_frames(path, crop=(660, 0, 1260, 600), size=256, max_frames=3))
    assert len(frames) == 3 and frames[0].shape == (256, 256, 3)
    full = read_video(path, max_frames=1, size=(480, 270))[0]
    # the crop holds the same picture as the corresponding part of the (downscaled) full frame
    crop_small = full[0:150, 165:315].astype(float).mean()
    assert abs(frames[0].astype(float).mean() - crop_small) < 8


def test_crop_outside_the_frame_is_padded_black(tmp_media) -> None:
    src = tmp_media.counter_video(n_frames=2, fps=25, size=32)
    frame = read_video(src, crop=(-8, -8, 24, 24), max_frames=1)[0]
    assert frame.shape == (32, 32, 3)
    assert frame[:8, :8].max() == 0  # padding
    assert frame[12:, 12:].min() == frame[12:, 12:].max()  # picture (uniform grey)


@pytest.mark.parametrize("box", [(11, 7, 31, 27), (-3, -5, 17, 15), (45, 33, 65, 43)])
def test_crop_is_pixel_exact_at_odd_offsets(tmp_media, box) -> None:
    ramp = np.broadcast_to((np.arange(60) * 4).astype(np.uint8)[None, :, None], (40, 60, 3))
    src = write_video(tmp_media.path("ramp.mp4"), np.stack([ramp, ramp]), crf=0)  # grey: no chroma loss
    full = read_video(src, max_frames=1)[0].astype(int)
    padded = np.zeros((60, 80, 3), int)
    padded[10:50, 10:70] = full
    x0, y0, x1, y1 = box
    crop = read_video(src, crop=box, max_frames=1)[0].astype(int)
    assert np.abs(crop - padded[y0 + 10 : y1 + 10, x0 + 10 : x1 + 10]).max() <= 1


@pytest.mark.parametrize(("degrees", "size", "corner"), [(90, (48, 64), "bottom-left"), (-90, (48, 64), "top-right")])
def test_rotation_metadata_is_applied(tmp_media, degrees, size, corner) -> None:
    src = tmp_media.marker_video()  # 64x48 landscape, red block top-left
    rotated = tmp_media.with_rotation(src, degrees)
    info = probe(rotated)
    assert (info.width, info.height) == size and info.rotation == degrees
    frame = read_video(rotated, max_frames=1)[0]
    assert frame.shape == (64, 48, 3)  # portrait, as a phone shows it
    ys, xs = np.nonzero(frame[..., 0] > 128)
    top = ys.mean() < 32
    left = xs.mean() < 24
    assert (("top" if top else "bottom") + "-" + ("left" if left else "right")) == corner


def test_portrait_video_keeps_its_orientation(shared_file) -> None:
    frame = read_video(shared_file("av/bytedance__LatentSync__demo1_video.mp4"), max_frames=1, size=(270, 480))
    assert frame.shape == (1, 480, 270, 3)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_still_image_reads_as_a_one_frame_video(tmp_media, ext) -> None:
    img = tmp_media.still(ext)
    info = probe(img)
    assert info.is_image and info.n_frames == 1
    video = read_video(img)
    assert video.shape == (1, 30, 40, 3)
    assert video[0, 2, 2, 0] > 200 and video[0, 20, 30].max() < 40
    assert read_image(img).shape == (30, 40, 3)


def test_one_frame_video_is_accepted_as_a_still(tmp_media) -> None:
    one = write_video(tmp_media.path("one.mp4"), np.full((1, 32, 32, 3), 128, np.uint8))
    frames = read_video(one)
    assert frames.shape == (1, 32, 32, 3) and abs(int(frames[0, 16, 16, 0]) - 128) <= 2


def test_stopping_early_ends_decoding(shared_file) -> None:
    it = iter_frames(shared_file(PAIRED))
    first = [next(it) for _ in range(3)]
    it.close()  # kills ffmpeg; no error, no hang
    assert len(first) == 3 and first[0].shape == (256, 256, 3)


# ----------------------------------------------------------------------------- audio


@pytest.mark.parametrize("sr", [8000, 11025, 44100, 48000, 96000])
def test_unusual_sample_rates_are_resampled_to_16k(tmp_media, sr) -> None:
    channels = 2 if sr in (44100, 96000) else 1
    path = tmp_media.wav(sine(440.0, 1.0, sr, amplitude=0.5), sr, channels=channels)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(audio[1000:15000]))
    assert np.argmax(spectrum) * 16000 / 14000 == pytest.approx(440, abs=2)
    # a stereo copy of a mono signal downmixes to the same amplitude (channel mean)
    assert np.abs(audio[1000:15000]).max() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("ext", ["flac", "mp3", "aac", "m4a", "ogg", "mp2"])
def test_audio_formats_decode_to_the_same_speech(tmp_media, shared_file, ext) -> None:
    src = shared_file(SPEECH)
    ref = read_audio(src)
    audio = read_audio(tmp_media.encode_audio(src, ext))
    # codecs add a few frames of padding (raw ADTS .aac keeps its 1024 priming samples: no edit list)
    assert abs(audio.size - ref.size) <= 0.1 * 16000
    rms_ratio = np.sqrt(np.mean(audio**2) / np.mean(ref**2))
    assert 0.8 < rms_ratio < 1.25


def test_stereo_48k_sound_track_of_a_video(shared_file) -> None:
    audio = read_audio(shared_file(HD))
    assert audio.size == pytest.approx(3.73 * 16000, abs=0.05 * 16000)
    assert np.abs(audio).max() <= 1.0 and check_not_silent(audio) > -40


def test_paired_wav_is_found_and_loaded(shared_file) -> None:
    video = shared_file(PAIRED)
    paired = find_paired_audio(video)
    assert paired is not None and paired.name == video.with_suffix(".wav").name
    assert find_paired_audio(shared_file(PCAVS)) is None
    frames, audio = load_av(video, max_frames=60)
    assert frames.shape == (60, 256, 256, 3)
    assert audio.shape == (60 * SAMPLES_PER_FRAME,) and audio.dtype == np.float32
    assert np.array_equal(audio, read_audio(paired)[: audio.size])


@pytest.mark.parametrize("clip", [PCAVS, MPG])
def test_shared_clip_gives_exactly_n_frames_times_640_samples(shared_file, clip) -> None:
    path = shared_file(clip)  # both 25 fps: AAC 16 kHz mono / MP2 44.1 kHz stereo
    frames, audio = load_av(path)
    assert len(frames) == len(read_video(path, fps=None))
    assert audio.size == len(frames) * SAMPLES_PER_FRAME
    assert check_not_silent(audio) > -40


# ----------------------------------------------------------------------------- alignment


def test_click_lands_in_the_flash_frame_after_write_and_read(tmp_media) -> None:
    path, flash, click = tmp_media.flash_click_video()
    frames, audio = load_av(path)
    assert len(frames) == 50 and audio.size == 50 * SAMPLES_PER_FRAME
    assert int(np.argmax(frames.mean(axis=(1, 2, 3)))) == flash
    found = int(np.argmax(np.abs(audio)))
    assert flash * SAMPLES_PER_FRAME <= found < (flash + 1) * SAMPLES_PER_FRAME
    assert abs(found - click) < 40  # the AAC round trip smears a click by a few samples only


@pytest.mark.parametrize("shift", [0.3, -0.3])
def test_stream_start_offsets_do_not_desync(tmp_media, shift) -> None:
    path, flash, click = tmp_media.flash_click_video()
    moved = tmp_media.shifted_audio(path, shift, f"shift_{shift:+.1f}.mp4")
    offset = stream_offset(moved)
    assert offset == pytest.approx(shift, abs=0.07)  # includes AAC priming when the edit list is dropped
    frames, audio = load_av(moved)
    flash_found = int(np.argmax(frames.mean(axis=(1, 2, 3))))
    click_found = int(np.argmax(np.abs(audio)))
    # the file presents the click `shift` seconds after the flash; load_av keeps that timing
    lag = click_found / 16000 - flash_found / 25
    assert lag == pytest.approx(shift + (click - flash * SAMPLES_PER_FRAME) / 16000, abs=0.005)


# ----------------------------------------------------------------------------- writing


def test_round_trip_write_read(tmp_media) -> None:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 96, dtype=np.float32)
    frames = np.stack([np.broadcast_to(((base + 3 * t) % 256)[None, :, None], (80, 96, 3)) for t in range(40)])
    frames = frames.astype(np.uint8)
    audio = (0.2 * rng.standard_normal(40 * SAMPLES_PER_FRAME + 5000)).astype(np.float32)  # longer: trimmed
    out = write_video(tmp_media.path("rt.mp4"), frames, fps=25, audio=audio)
    info = probe(out)
    assert (info.fps, info.width, info.height, info.video_codec, info.audio_codec) == (25.0, 96, 80, "h264", "aac")
    assert info.duration == pytest.approx(1.6, abs=0.03)
    back = read_video(out)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 3
    assert read_audio(out).size == pytest.approx(40 * SAMPLES_PER_FRAME, abs=1024)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_file_names_with_colons_and_spaces(tmp_media) -> None:
    # ffmpeg would read "data:take 1.mp4" as a URL of its "data" protocol without the file: prefix
    out = write_video(tmp_media.path("data:take 1.mp4"), np.zeros((3, 16, 16, 3), np.uint8), audio=np.zeros(100))
    frames, audio = load_av(out)
    assert frames.shape == (3, 16, 16, 3) and audio.size == 3 * SAMPLES_PER_FRAME
    frames[0, 0, 0] = 255  # decoded frames are ordinary writable arrays


def test_odd_frame_size_is_padded_to_even(tmp_media) -> None:
    frames = np.zeros((3, 31, 45, 3), np.uint8)
    frames[:, :, -1] = 200  # last column: replicated into the padding
    out = write_video(tmp_media.path("odd.mp4"), frames)
    back = read_video(out)
    assert back.shape == (3, 32, 46, 3)
    assert back[0, 10, -1, 0] > 150


def test_streaming_writer_is_atomic_on_failure(tmp_media) -> None:
    target = tmp_media.path("out.mp4")
    target.write_bytes(b"previous result")
    with pytest.raises(MediaError, match="Resize every frame"), VideoWriter(target) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
        writer.write(np.zeros((16, 16, 3), np.uint8))  # wrong size
    assert target.read_bytes() == b"previous result"  # old file untouched
    assert sorted(p.name for p in tmp_media.root.iterdir()) == ["out.mp4"]  # no temporaries

    with pytest.raises(RuntimeError), VideoWriter(tmp_media.path("new.mp4"), audio=np.zeros(16000)) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("the generator crashed")
    assert sorted(p.name for p in tmp_media.root.iterdir()) == ["out.mp4"]


def test_an_orphaned_ffmpeg_never_recreates_its_removed_temporary_file(tmp_media) -> None:
    # what `kill -9` of `toolkit generate` leaves: its ffmpeg still running, and the next run of the same
    # output removing the dead run's temporary files; the orphan then reads end-of-input and finishes
    writer = VideoWriter(tmp_media.path("out.mp4"), audio=np.zeros(16000))
    writer.write(np.zeros((32, 32, 3), np.uint8))
    temporaries = [p for p in tmp_media.root.iterdir() if p.name.startswith(".out.mp4.")]
    assert len(temporaries) == 2  # the muxed file and the encoder's video-only file
    for p in temporaries:
        p.unlink()
    proc = writer._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    assert sorted(p.name for p in tmp_media.root.iterdir()) == []  # the names stay gone
    writer.abort()


def test_streaming_writer_writes_frames_as_made(tmp_media) -> None:
    def frames():
        for t in range(12):
            yield np.full((24, 24, 3), 20 * t, np.uint8)

    with VideoWriter(tmp_media.path("stream.mp4"), fps=25) as writer:
        for f in frames():
            writer.write(f)
    assert writer.n_frames == 12
    back = read_video(writer.path)
    assert back.shape == (12, 24, 24, 3)
    assert np.abs(back[:, 12, 12, 0].astype(int) - 20 * np.arange(12)).max() <= 3


def test_bad_frames_are_refused(tmp_media) -> None:
    with pytest.raises(MediaError, match="uint8"):
        write_video(tmp_media.path("f.mp4"), np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(MediaError, match="No frames"):
        write_video(tmp_media.path("none.mp4"), [])
    assert not tmp_media.path("f.mp4").exists() and not tmp_media.path("none.mp4").exists()


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_media) -> None:
    with pytest.raises(InputFileError, match="File not found") as err:
        read_video(tmp_media.path("nope.mp4"))
    assert "Check the path" in str(err.value)


def test_empty_file(tmp_media) -> None:
    with pytest.raises(InputFileError, match=r"empty \(0 bytes\)") as err:
        read_audio(tmp_media.empty())
    assert "copy or export it again" in str(err.value)


def test_folder_instead_of_file(tmp_media) -> None:
    with pytest.raises(InputFileError, match="not a regular file"):
        probe(tmp_media.root)


@pytest.mark.parametrize("kind", ["garbage", "text", "truncated"])
def test_corrupt_file(tmp_media, kind) -> None:
    if kind == "garbage":
        path = tmp_media.garbage()
    elif kind == "text":
        path = tmp_media.text_as()
    else:
        # header-only remains of a real mp4 (the index is at the front, the media data is cut)
        good, _, _ = tmp_media.flash_click_video()
        path = tmp_media.truncated(good, keep=0.02)
    with pytest.raises(InputFileError) as err:
        read_video(path)
    msg = str(err.value)
    assert path.name in msg and ("corrupt" in msg or "decod" in msg) and "re-encode" in msg


def test_audio_file_given_as_video(shared_file) -> None:
    with pytest.raises(InputFileError, match="is an audio file") as err:
        read_video(shared_file(SPEECH))
    assert "no video stream" in str(err.value) and "separate audio input" in str(err.value)


def test_video_without_audio_where_audio_is_required(shared_file, tmp_media) -> None:
    with pytest.raises(NoAudioError, match="no audio stream") as err:
        read_audio(shared_file(PAIRED))
    assert "Obama_clip1.wav" in str(err.value)  # points at the paired file
    silent = tmp_media.marker_video()
    with pytest.raises(NoAudioError, match="no audio file of the same name"):
        load_av(silent)
    frames, audio = load_av(silent, require_audio=False)
    assert audio.size == len(frames) * SAMPLES_PER_FRAME and not audio.any()
    assert NoAudioError.code == "no-audio"


def test_silent_audio_where_speech_is_required(tmp_media, shared_file) -> None:
    silence = read_audio(tmp_media.silent_speech_wav())
    with pytest.raises(SilentAudioError, match="silent") as err:
        check_not_silent(silence, name="The driving audio")
    assert str(err.value).startswith("The driving audio") and "audible speech" in str(err.value)
    with pytest.raises(SilentAudioError):
        check_not_silent(1e-4 * np.random.default_rng(0).standard_normal(16000))  # -80 dBFS hiss
    assert check_not_silent(read_audio(shared_file(SPEECH))) > -30
