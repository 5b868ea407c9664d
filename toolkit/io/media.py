"""Video and audio reading/writing through the ffmpeg binary bundled by imageio-ffmpeg.

Everything goes through ``ffmpeg`` subprocess pipes (raw ``rgb24`` frames,
``f32le`` audio); no codec is implemented here. imageio-ffmpeg ships ffmpeg
only (no ffprobe), so :func:`probe` parses the stream summary ffmpeg prints
for ``ffmpeg -i FILE``, and decoders read the exact output frame size from the
header ffmpeg prints for its own output, so the frame size never depends on
our parsing.
Conventions (docs/ARCHITECTURE.md): frames are ``uint8 (H, W, 3)`` RGB, videos
``(T, H, W, 3)``; audio is ``float32`` mono in [-1, 1] at 16 kHz; frame ``t``
of a 25 fps video covers audio samples ``[t*640, (t+1)*640)``.

Timeline used for audio/video alignment
---------------------------------------
Frame 0 is the first decoded video frame; the fps filter's output grid starts
exactly there (``setpts=PTS-STARTPTS`` before ``fps``), so output frame ``k``
is the source frame shown at ``k / fps`` seconds after the first frame.
Audio sample 0 returned by :func:`load_av` is the sound at that same instant:
when the audio stream of the same file starts later or earlier than the video
stream (container start_time differences, AAC priming handled by the decoder,
edit lists), :func:`stream_offset` measures the first decoded audio and video
timestamps and :func:`load_av` shifts the audio by that difference
(zeros in front when audio starts late, samples dropped when it starts early).
A separate audio file (e.g. the paired ``.wav``) is assumed to start with the
video's first frame.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import tempfile
import threading
import wave
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.errors import InputFileError, MediaError, NoAudioError, SilentAudioError, ToolkitError
from toolkit.io.atomic import atomic_path, interrupts_deferred, make_temp_file
from toolkit.io.formats import AUDIO_SUFFIXES

PathLike = str | os.PathLike[str]
#: a crop box in pixels of the (rotation-corrected) source frame: x0, y0, x1, y1 (x1, y1 exclusive)
CropBox = tuple[int, int, int, int]

#: extensions tried, in order, by :func:`find_paired_audio`
#: input formats ffmpeg reports for single still images
_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "j2k_pipe", "qoi_pipe")

_REENCODE_HINT = "Check that it plays in a media player; re-export or re-encode it (e.g. to H.264/AAC .mp4)."


# --------------------------------------------------------------------------- ffmpeg


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's bundled one, or $IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # ImportError or imageio-ffmpeg's RuntimeError
        raise ToolkitError(
            f"The ffmpeg binary is not available ({exc}).",
            "Install the pinned requirements (imageio-ffmpeg bundles ffmpeg) or set IMAGEIO_FFMPEG_EXE to an ffmpeg.",
        ) from exc


def _ffmpeg_cmd(*args: str) -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]


def _ff_path(path: PathLike) -> str:
    """A path as an ffmpeg URL: ``file:`` + absolute path, so names with ':' are never taken for protocols."""
    return "file:" + os.path.abspath(path)


class _HeldOutput:
    """An output file ffmpeg writes through a descriptor this process holds, not through its name.

    When ``toolkit generate`` is killed (SIGKILL) its ffmpeg lives on for a moment: it reads
    end-of-input and then opens its output (``-y``: create, truncate) or re-opens it for
    ``+faststart``. Given the name, that orphan re-created the temporary file after the next
    run had removed it as stale, and nothing removed it again. On Linux ffmpeg is given
    ``/proc/self/fd/N`` instead: opening that reaches the same file even once its name is
    gone, so a file name is only ever created by the process whose pid it carries.
    Elsewhere (no such links) the name is used.
    """

    def __init__(self, path: Path) -> None:
        self.fd: int | None = None
        self.url = _ff_path(path)
        if os.path.isdir("/proc/self/fd"):
            self.fd = os.open(path, os.O_RDWR)
            self.url = f"file:/proc/self/fd/{self.fd}"

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return () if self.fd is None else (self.fd,)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _check_input_file(path: PathLike) -> Path:
    """Raise InputFileError for a missing, non-regular or empty file."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"File not found: '{p}'.", "Check the path and the file name (and its extension).")
    if not p.is_file():
        raise InputFileError(f"'{p}' is not a regular file (a folder?).", "Give the path of a video or audio file.")
    if p.stat().st_size == 0:
        raise InputFileError(
            f"'{p}' is empty (0 bytes).",
            "The file was probably not fully downloaded or copied; copy or export it again.",
        )
    return p


def _ffmpeg_error_line(stderr: str, path: Path) -> str:
    """The most telling line of ffmpeg's complaint, for messages."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    useful = [
        ln
        for ln in lines
        if "output file" not in ln.lower() and not ln.startswith(("Input #", "Stream #", "Duration", "Metadata"))
    ]

    def short(line: str) -> str:
        return line.replace(_ff_path(path), path.name).replace(str(path), path.name)

    for ln in reversed(useful):
        if path.name in ln or "invalid" in ln.lower() or "error" in ln.lower() or "not found" in ln.lower():
            return short(ln)
    return short(useful[-1]) if useful else "no details"


# --------------------------------------------------------------------------- probe


@dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg reports about a media file (first video and first audio stream).

    ``width``/``height`` are the displayed size, after rotation metadata is
    applied (a portrait phone video stored as 1920x1080 with a 90 degree
    rotation reports 1080x1920, as the decoders return it). ``n_frames`` is an
    estimate (duration x fps) at the file's own rate; 1 for a still image.
    """

    path: Path
    format_name: str
    duration: float | None  # seconds; None when ffmpeg cannot tell (still images)
    has_video: bool
    has_audio: bool
    is_image: bool = False
    width: int = 0
    height: int = 0
    fps: float = 0.0
    n_frames: int = 0
    rotation: int = 0  # degrees, as stored in the display matrix
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int = 0
    channels: int = 0
    start_time: float = 0.0  # container start time, seconds

    def n_frames_at(self, fps: float = VIDEO_FPS) -> int:
        """Estimated number of frames after resampling to ``fps`` (1 for a still image)."""
        if self.is_image or not self.has_video:
            return 1 if self.is_image else 0
        if not self.duration:
            return self.n_frames
        return max(1, round(self.duration * fps))


def _split_top_level(text: str) -> list[str]:
    """Split ffmpeg's stream description on commas outside parentheses/brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _parse_rate(token: str, unit: str) -> float | None:
    m = re.fullmatch(rf"([\d.]+)(k?)\s+{unit}", token.strip())
    if not m:
        return None
    value = float(m.group(1))
    return value * 1000 if m.group(2) else value


_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8}


def _parse_channels(token: str) -> int | None:
    token = token.strip().lower()
    base = token.split("(")[0].strip()
    if base in _LAYOUT_CHANNELS:
        return _LAYOUT_CHANNELS[base]
    m = re.fullmatch(r"(\d+) channels?", base)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(\d+)\.(\d+)", base)  # 5.1, 7.1, 2.1, 4.0
    if m:
        return int(m.group(1)) + int(m.group(2))
    return None


def _parse_video_stream(desc: str) -> dict[str, object]:
    tokens = _split_top_level(desc)
    out: dict[str, object] = {"codec": tokens[0].split()[0] if tokens else "unknown"}
    for tok in tokens[1:]:
        m = re.match(r"^(\d+)x(\d+)\b", tok)
        if m and "width" not in out:
            out["width"], out["height"] = int(m.group(1)), int(m.group(2))
            continue
        for unit in ("fps", "tbr"):
            rate = _parse_rate(tok, unit)
            if rate is not None and unit not in out:
                out[unit] = rate
    return out


def _parse_audio_stream(desc: str) -> dict[str, object]:
    tokens = _split_top_level(desc)
    out: dict[str, object] = {"codec": tokens[0].split()[0] if tokens else "unknown"}
    for tok in tokens[1:]:
        rate = _parse_rate(tok, "Hz")
        if rate is not None and "sample_rate" not in out:
            out["sample_rate"] = int(rate)
            continue
        ch = _parse_channels(tok)
        if ch is not None and "channels" not in out:
            out["channels"] = ch
    return out


def _parse_timestamp(text: str) -> float | None:
    m = re.fullmatch(r"(\d+):(\d+):([\d.]+)", text.strip())
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def parse_probe_output(stderr: str, path: Path) -> MediaInfo:
    """Build a MediaInfo from ``ffmpeg -i`` stderr (exposed for tests)."""
    m = re.search(r"^Input #0, (.+?), from ", stderr, re.M)
    if not m:
        raise InputFileError(
            f"'{path.name}' could not be read as a video, image or audio file "
            f"(ffmpeg: {_ffmpeg_error_line(stderr, path)}).",
            f"The file is corrupt, truncated or not a media file. {_REENCODE_HINT}",
        )
    format_name = m.group(1)
    duration = start = None
    dm = re.search(r"Duration: ([^,]+), start: ([-\d.]+)", stderr)
    if dm:
        duration = _parse_timestamp(dm.group(1))
        start = float(dm.group(2))
    elif (dm := re.search(r"Duration: ([^,]+),", stderr)) is not None:
        duration = _parse_timestamp(dm.group(1))

    video: dict[str, object] | None = None
    audio: dict[str, object] | None = None
    rotation = 0
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        sm = re.match(r"^\s*Stream #0:\d+\S*: (Video|Audio): (.*)$", line)
        if not sm:
            continue
        kind, desc = sm.groups()
        if kind == "Video" and video is None and "(attached pic)" not in desc:
            video = _parse_video_stream(desc)
            # side data (display matrix) follows the stream line, before the next stream
            for follow in lines[i + 1 :]:
                if re.match(r"^\s*Stream #", follow) or not follow.startswith("    "):
                    break
                rm = re.search(r"display ?matrix: rotation of (-?[\d.]+) degrees", follow, re.I)
                if rm:
                    rotation = round(float(rm.group(1)))
        elif kind == "Audio" and audio is None:
            audio = _parse_audio_stream(desc)

    is_image = video is not None and (format_name in _IMAGE_FORMATS or format_name.endswith("_pipe"))
    width = int(video.get("width", 0)) if video else 0  # type: ignore[call-overload]
    height = int(video.get("height", 0)) if video else 0  # type: ignore[call-overload]
    if rotation % 180 != 0:  # ffmpeg's autorotate transposes these
        width, height = height, width
    fps = float(video.get("fps") or video.get("tbr") or 0.0) if video else 0.0  # type: ignore[arg-type]
    if is_image:
        n_frames, duration = 1, None
    elif video and duration and fps:
        n_frames = max(1, round(duration * fps))
    else:
        n_frames = 0
    return MediaInfo(
        path=path,
        format_name=format_name,
        duration=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        is_image=is_image,
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames,
        rotation=rotation,
        video_codec=str(video["codec"]) if video else None,
        audio_codec=str(audio["codec"]) if audio else None,
        sample_rate=int(audio.get("sample_rate", 0)) if audio else 0,  # type: ignore[call-overload]
        channels=int(audio.get("channels", 0)) if audio else 0,  # type: ignore[call-overload]
        start_time=start or 0.0,
    )


def probe(path: PathLike) -> MediaInfo:
    """Describe a media file: streams, size (after rotation), fps, duration, audio rate/channels, codecs.

    Raises :class:`InputFileError` for a missing, empty or unreadable (corrupt) file.
    """
    p = _check_input_file(path)
    proc = subprocess.run(_ffmpeg_cmd("-i", _ff_path(p)), capture_output=True, text=True, errors="replace")
    info = parse_probe_output(proc.stderr, p)
    if not info.has_video and not info.has_audio:
        raise InputFileError(
            f"'{p.name}' contains no readable video or audio stream (format {info.format_name}); "
            "it is probably truncated or corrupt.",
            _REENCODE_HINT,
        )
    return info


def _require_video(info: MediaInfo) -> None:
    if info.has_video:
        return
    raise InputFileError(
        f"'{info.path.name}' is an audio file ({info.audio_codec} audio, no video stream), but a video or image "
        "was expected.",
        "Give a video (or an image) of the face here; pass the speech as the separate audio input.",
    )


# --------------------------------------------------------------------------- video decoding


class _StderrDrain:
    """Reads a subprocess' stderr in a thread (so ffmpeg never blocks on it), keeping the tail."""

    def __init__(self, stream, keep: int = 60) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._stream = stream
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for raw in iter(self._stream.readline, b""):
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
        except (ValueError, OSError):
            pass  # the reader closed the pipe early (e.g. it stopped after the frames it wanted)

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


def _read_output_header(proc: subprocess.Popen) -> tuple[tuple[int, int] | None, list[str]]:
    """Read ffmpeg's stderr until it describes its rawvideo output; return (width, height)."""
    seen: list[str] = []
    in_output = False
    assert proc.stderr is not None
    for raw in iter(proc.stderr.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        seen.append(line)
        if line.startswith("Output #0"):
            in_output = True
        elif in_output:
            sm = re.match(r"^\s*Stream #0:\d+\S*: Video: (.*)$", line)
            if sm:
                v = _parse_video_stream(sm.group(1))
                if "width" in v:
                    return (int(v["width"]), int(v["height"])), seen  # type: ignore[call-overload]
    return None, seen


def _read_exactly(stream, out: memoryview) -> int:
    """Fill ``out`` from ``stream`` unless it ends first; returns the bytes read."""
    got = 0
    while got < len(out):
        k = stream.readinto(out[got:])
        if not k:
            break
        got += k
    return got


def _video_filters(info: MediaInfo, fps: float | None, size: tuple[int, int] | None, crop: CropBox | None) -> list[str]:
    filters: list[str] = []
    if fps and not info.is_image:
        # start the output grid at the first decoded frame (see module docstring)
        filters += ["setpts=PTS-STARTPTS", f"fps={fps:g}"]
    cur_w, cur_h = info.width, info.height
    if crop is not None:
        x0, y0, x1, y1 = (round(float(v)) for v in crop)
        if x1 <= x0 or y1 <= y0:
            raise MediaError(f"Empty crop box {crop} (need x1 > x0 and y1 > y0).", "Pass crop=(x0, y0, x1, y1).")
        # a box reaching outside the frame is padded with black rather than refused: face
        # crops near the image border are common
        left, top = max(0, -x0), max(0, -y0)
        right, bottom = max(0, x1 - cur_w), max(0, y1 - cur_h)
        if left or top or right or bottom:
            # pad in RGB: on subsampled YUV, pad rounds odd offsets to even (a 1 px shift)
            filters += ["format=rgb24", f"pad={cur_w + left + right}:{cur_h + top + bottom}:{left}:{top}:black"]
        # exact=1: crop at odd offsets too (by default crop rounds x/y to the chroma grid)
        filters.append(f"crop={x1 - x0}:{y1 - y0}:{x0 + left}:{y0 + top}:exact=1")
        cur_w, cur_h = x1 - x0, y1 - y0
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise MediaError(f"Invalid output size {size}.", "Pass size=(width, height) with positive values.")
        shrinking = w <= cur_w and h <= cur_h
        filters.append(f"scale={w}:{h}:flags={'area' if shrinking else 'bicubic'}")
    return filters


def iter_frames(
    path: PathLike,
    fps: float | None = VIDEO_FPS,
    size: tuple[int, int] | int | None = None,
    crop: CropBox | None = None,
    max_frames: int | None = None,
) -> Iterator[np.ndarray]:
    """Stream decoded frames as ``uint8 (H, W, 3)`` RGB arrays, one at a time (bounded memory).

    Args:
        path: a video file of any container/codec ffmpeg reads, or a still image (png/jpg/...),
            which yields exactly one frame.
        fps: output frame rate; the ffmpeg ``fps`` filter drops/duplicates frames on a grid that
            starts at the first decoded frame. ``None`` keeps the file's own frames.
        size: ``(width, height)`` (or one int for a square) to resize to, after cropping.
        crop: ``(x0, y0, x1, y1)`` in pixels of the displayed (rotation-corrected) frame, x1/y1
            exclusive; parts outside the frame are filled with black.
        max_frames: stop after this many frames (ffmpeg stops decoding too).

    Rotation metadata (portrait phone videos) is honoured: frames come out upright. Each frame
    is a fresh writable array; only one frame is held at a time.
    Raises :class:`InputFileError` (missing/empty/corrupt file, or an audio-only file) or
    :class:`MediaError` (ffmpeg failed while decoding).
    """
    # validation happens here, at call time; decoding starts at the first next()
    info = probe(path)
    _require_video(info)
    frame_size: tuple[int, int] | None = None
    if isinstance(size, (int, np.integer)):
        frame_size = (int(size), int(size))
    elif size is not None:
        frame_size = (int(size[0]), int(size[1]))
    filters = _video_filters(info, fps, frame_size, crop)
    args = ["-loglevel", "info", "-nostats", "-i", _ff_path(info.path), "-map", "0:v:0", "-an", "-sn", "-dn"]
    if filters:
        args += ["-vf", ",".join(filters)]
    if max_frames is not None:
        if max_frames <= 0:
            return iter(())
        args += ["-frames:v", str(int(max_frames))]
    args += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    return _decode_frames(info, args)


def _decode_frames(info: MediaInfo, args: list[str]) -> Iterator[np.ndarray]:
    proc = subprocess.Popen(
        _ffmpeg_cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    finished = False
    try:
        dims, header = _read_output_header(proc)
        if dims is None:
            proc.wait()
            raise InputFileError(
                f"ffmpeg could not decode the video of '{info.path.name}' "
                f"({_ffmpeg_error_line(chr(10).join(header), info.path)}).",
                _REENCODE_HINT,
            )
        drain = _StderrDrain(proc.stderr)
        w, h = dims
        frame_bytes = w * h * 3
        assert proc.stdout is not None
        n = 0
        while True:
            frame = np.empty((h, w, 3), np.uint8)  # a fresh writable array per frame
            got = _read_exactly(proc.stdout, memoryview(frame.data).cast("B"))
            if got == 0:
                break
            if got != frame_bytes:
                raise MediaError(
                    f"Decoding '{info.path.name}' ended with a partial frame ({got} of {frame_bytes} bytes).",
                    _REENCODE_HINT,
                )
            n += 1
            yield frame
        rc = proc.wait()
        finished = True
        if rc != 0:
            raise MediaError(
                f"ffmpeg failed while decoding '{info.path.name}' after {n} frames "
                f"({_ffmpeg_error_line(drain.text(), info.path)}).",
                _REENCODE_HINT,
            )
        if n == 0:
            raise InputFileError(f"'{info.path.name}' contains no decodable video frames.", _REENCODE_HINT)
    finally:
        if not finished and proc.poll() is None:
            proc.kill()  # consumer stopped early (break / max frames reached / error)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        for s in (proc.stdout, proc.stderr):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.close()


def read_video(
    path: PathLike,
    fps: float | None = VIDEO_FPS,
    size: tuple[int, int] | int | None = None,
    crop: CropBox | None = None,
    max_frames: int | None = None,
) -> np.ndarray:
    """Decode a whole video (or a still image, as 1 frame) to ``uint8 (T, H, W, 3)``.

    Same arguments and errors as :func:`iter_frames`; resampled to 25 fps by default.
    """
    frames = list(iter_frames(path, fps=fps, size=size, crop=crop, max_frames=max_frames))
    return np.stack(frames)


def read_image(path: PathLike) -> np.ndarray:
    """A still image (or the first frame of a video) as ``uint8 (H, W, 3)`` RGB."""
    return read_video(path, fps=None, max_frames=1)[0]


# --------------------------------------------------------------------------- audio


def read_audio(path: PathLike, sr: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream of a file to ``float32`` mono at ``sr`` Hz.

    Works on audio files (wav/flac/mp3/aac/m4a/ogg/mp2/...) and on videos' sound tracks.
    Stereo is downmixed to mono as the mean of the two channels (other layouts by
    ffmpeg's standard downmix); any sample rate is resampled by ffmpeg (soxr). Samples start at the audio stream's first
    decoded sample; :func:`load_av` handles the offset to the video stream.

    Raises :class:`InputFileError` (missing/empty/corrupt) or :class:`NoAudioError`.
    """
    info = probe(path)
    if not info.has_audio:
        paired = find_paired_audio(info.path) if info.has_video else None
        hint = (
            f"An audio file of the same name sits beside it ('{paired.name}'): pass that as the audio."
            if paired
            else "Give the speech as a separate audio file, or a video that has a sound track."
        )
        what = "image" if info.is_image else "video"
        raise NoAudioError(f"'{info.path.name}' has no audio stream (it is a silent {what}).", hint)
    # stereo is decoded as 2 channels and averaged here: ffmpeg's own stereo->mono matrix
    # sums the channels at -3 dB each (a mono signal copied to both channels would come out
    # 1.41x louder). Other layouts use ffmpeg's standard downmix (centre, surround, LFE).
    out_channels = 2 if info.channels == 2 else 1
    args = [
        "-loglevel", "error", "-i", _ff_path(info.path), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", f"aresample={int(sr)}:resampler=soxr", "-ac", str(out_channels), "-ar", str(int(sr)),
        "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(_ffmpeg_cmd(*args), capture_output=True)
    if proc.returncode != 0:
        raise MediaError(
            f"ffmpeg could not decode the audio of '{info.path.name}' "
            f"({_ffmpeg_error_line(proc.stderr.decode('utf-8', 'replace'), info.path)}).",
            _REENCODE_HINT,
        )
    audio = np.frombuffer(proc.stdout, np.float32)
    if out_channels == 2:
        audio = audio[: audio.size // 2 * 2].reshape(-1, 2).mean(axis=1)
    audio = np.ascontiguousarray(audio, np.float32).copy()
    if audio.size == 0:
        raise MediaError(f"The audio stream of '{info.path.name}' holds no samples.", _REENCODE_HINT)
    return audio


def check_not_silent(
    audio: np.ndarray, sr: int = AUDIO_SAMPLE_RATE, min_dbfs: float = -50.0, name: str = "The audio"
) -> float:
    """Raise :class:`SilentAudioError` if even the loudest 100 ms of ``audio`` is below ``min_dbfs``.

    Returns the loudest 100 ms RMS level in dBFS. Use it where speech is required
    (driving audio, training clips); -50 dBFS is far below any usable recording
    and far above digital silence or dither.
    """
    a = np.asarray(audio, np.float64).ravel()
    win = max(1, sr // 10)
    if a.size == 0:
        level = -np.inf
    else:
        n = max(1, a.size // win)
        blocks = a[: n * win].reshape(n, -1) if a.size >= win else a[None, :]
        level = 10 * np.log10(max(float(np.max(np.mean(blocks**2, axis=1))), 1e-20))
    if level < min_dbfs:
        dur = a.size / sr
        raise SilentAudioError(
            f"{name} is silent ({dur:.2f} s, loudest 100 ms at {level:.0f} dBFS, threshold {min_dbfs:.0f} dBFS).",
            "Give a recording with audible speech (check the microphone / the track you exported).",
        )
    return float(level)


def find_paired_audio(video_path: PathLike) -> Path | None:
    """The separate audio file that belongs to a video without sound, or None.

    Looks for the same file stem with an audio extension (``toolkit.io.formats.AUDIO_SUFFIXES``)
    beside the video (the shared data's convention: ``clip.mp4`` + ``clip.wav``), then in sibling
    folders named ``wav`` or ``audio`` (``.../video/clip.mp4`` + ``.../wav/clip.wav``).
    """
    v = Path(video_path)
    folders = [v.parent] + [v.parent.parent / name for name in ("wav", "audio", "audios")]
    for folder in folders:
        for ext in AUDIO_SUFFIXES:
            for cand in (folder / (v.stem + ext), folder / (v.stem + ext.upper())):
                if cand != v and cand.is_file() and cand.stat().st_size > 0:
                    return cand
    return None


def stream_offset(path: PathLike) -> float:
    """Seconds from the first decoded video frame to the first decoded audio sample of one file.

    Positive when the audio starts after the video. 0.0 when the file lacks either stream.
    Measured by decoding the first frame of each stream (cheap), so container start times,
    edit lists and encoder priming are all accounted for exactly as the decoders see them.
    """
    info = probe(path)
    if not (info.has_video and info.has_audio) or info.is_image:
        return 0.0

    # one ffmpeg per stream (run concurrently): with two outputs in one process the two
    # filter threads' log lines can interleave mid-line and mislead the parsing
    def first_pts(kind: str) -> subprocess.Popen:
        filt = "showinfo" if kind == "v" else "ashowinfo"
        args = ["-loglevel", "info", "-i", _ff_path(info.path), "-map", f"0:{kind}:0"]
        args += ["-vf" if kind == "v" else "-af", filt, f"-frames:{kind}", "1", "-f", "null", "-"]
        return subprocess.Popen(_ffmpeg_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    procs = {kind: first_pts(kind) for kind in ("v", "a")}
    starts: dict[str, float] = {}
    for kind, proc in procs.items():
        _, err = proc.communicate()
        filt = "showinfo" if kind == "v" else "ashowinfo"
        m = re.search(
            rf"Parsed_{filt}_\d+ @ \S+\] n:\s*0 pts:\s*-?\d+ pts_time:\s*([-\d.e]+)", err.decode("utf-8", "replace")
        )
        if m:
            starts[kind] = float(m.group(1))
    if len(starts) < 2:  # a stream whose first frame does not decode: the decoders will report it
        return 0.0
    return starts["a"] - starts["v"]


def fit_audio(audio: np.ndarray, n_samples: int, offset_samples: int = 0) -> np.ndarray:
    """Shift by ``offset_samples`` (>0: prepend zeros, <0: drop the start), then trim/zero-pad to ``n_samples``."""
    audio = np.asarray(audio, np.float32).ravel()
    if offset_samples > 0:
        audio = np.concatenate([np.zeros(offset_samples, np.float32), audio])
    elif offset_samples < 0:
        audio = audio[-offset_samples:]
    out = np.zeros(n_samples, np.float32)
    k = min(n_samples, audio.size)
    out[:k] = audio[:k]
    return out


def load_av(
    video_path: PathLike,
    audio_path: PathLike | None = None,
    *,
    size: tuple[int, int] | int | None = None,
    crop: CropBox | None = None,
    max_frames: int | None = None,
    require_audio: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames at 25 fps and the matching 16 kHz mono audio, exactly ``n_frames * 640`` samples.

    The audio comes from ``audio_path`` if given, else the video's own sound track, else
    :func:`find_paired_audio`. Frame ``t`` covers audio samples ``[t*640, (t+1)*640)``; the
    audio is trimmed or zero-padded at the end to that length. For a video's own track
    the start offset between the audio and video streams (:func:`stream_offset`) is applied,
    so different stream start times do not desynchronise them; a separate audio file is
    taken to start at the video's first frame.

    All frames are held in memory (T x H x W x 3 bytes: use ``size``/``crop``/``max_frames``
    for long HD videos, or :func:`iter_frames` + :func:`read_audio` to stream).

    Raises :class:`NoAudioError` when no audio can be found and ``require_audio`` (else the
    audio is zeros), plus the errors of :func:`iter_frames` / :func:`read_audio`.
    """
    info = probe(video_path)
    _require_video(info)
    frames = read_video(info.path, fps=VIDEO_FPS, size=size, crop=crop, max_frames=max_frames)
    n_samples = len(frames) * SAMPLES_PER_FRAME
    offset = 0
    if audio_path is None:
        if info.has_audio:
            audio_path = info.path
            offset = round(stream_offset(info.path) * AUDIO_SAMPLE_RATE)
        else:
            audio_path = find_paired_audio(info.path)
    if audio_path is None:
        if require_audio:
            raise NoAudioError(
                f"'{info.path.name}' has no audio stream and no audio file of the same name beside it.",
                "Pass the speech as a separate audio file (or put '<video stem>.wav' beside the video).",
            )
        return frames, np.zeros(n_samples, np.float32)
    audio = read_audio(audio_path, sr=AUDIO_SAMPLE_RATE)
    return frames, fit_audio(audio, n_samples, offset)


# --------------------------------------------------------------------------- writing


def write_wav(path: PathLike, audio: np.ndarray, sr: int = AUDIO_SAMPLE_RATE) -> Path:
    """Write mono float audio in [-1, 1] as 16-bit PCM WAV, atomically."""
    a = np.asarray(audio, np.float32).ravel()
    pcm = (np.clip(a, -1.0, 1.0) * 32767.0).round().astype("<i2")
    final = Path(path)
    with atomic_path(final) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())
    return final


def _as_frame(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim == 2:
        f = np.repeat(f[..., None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] not in (3, 4):
        raise MediaError(f"A frame has shape {f.shape}; expected (H, W, 3) RGB.", "Pass uint8 RGB frames.")
    if f.dtype != np.uint8:
        raise MediaError(
            f"A frame has dtype {f.dtype}; expected uint8.",
            "Convert first, e.g. (frame * 255).clip(0, 255).astype(np.uint8) for floats in [0, 1].",
        )
    return f[..., :3]


class VideoWriter:
    """Streams frames into an H.264 (yuv420p) mp4, optionally muxing AAC audio; written atomically.

    Usage::

        with VideoWriter("out.mp4", fps=25, audio=speech, sr=16000) as w:
            for frame in frames:       # uint8 (H, W, 3), each written as it is made
                w.write(frame)

    The frame size is fixed by the first frame. Odd widths/heights (not allowed by
    yuv420p) are padded by one row/column repeating the edge pixels. The output goes to a
    temporary file beside ``path`` and is renamed into place only when everything
    succeeded; on any error nothing is left at ``path``. With ``audio`` (float mono at
    ``sr`` Hz, sample 0 at frame 0) the sound is trimmed or zero-padded to exactly the
    video's duration and muxed as AAC in a second, stream-copy pass.
    ``-movflags +faststart`` puts the index at the front for web playback.
    """

    def __init__(
        self,
        path: PathLike,
        fps: float = VIDEO_FPS,
        *,
        audio: np.ndarray | None = None,
        sr: int = AUDIO_SAMPLE_RATE,
        crf: int = 18,
        preset: str = "fast",
        audio_bitrate: str = "128k",
    ) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.audio = None if audio is None else np.asarray(audio, np.float32).ravel()
        self.sr = int(sr)
        self.crf = int(crf)
        self.preset = preset
        self.audio_bitrate = audio_bitrate
        self.n_frames = 0
        self.size: tuple[int, int] | None = None  # (width, height) as encoded
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._tmp: Path | None = None
        self._video_tmp: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr_file: IO[bytes] | None = None
        self._encoder_output: _HeldOutput | None = None
        self._first_shape: tuple[int, int] | None = None  # (height, width) of the first frame, before padding
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc_type, exc, tb)

    def _start(self, width: int, height: int) -> None:
        with interrupts_deferred():  # temporary files and their ffmpeg are recorded before any interrupt
            self._start_writer(width, height)

    def _start_writer(self, width: int, height: int) -> None:
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        if self.audio is not None:
            self._video_tmp = make_temp_file(self.path, "video", ".mp4")
        self._encoder_output = _HeldOutput(self._video_tmp or self._tmp)  # closed in _cleanup_side_files()
        self._stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()/abort()
        args = [
            "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{self.fps:g}", "-i", "pipe:0",
            "-an", "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-f", "mp4", self._encoder_output.url,
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            _ffmpeg_cmd(*args),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr_file,
            pass_fds=self._encoder_output.pass_fds,
        )
        self.size = (width, height)

    def _ffmpeg_stderr(self) -> str:
        if self._stderr_file is None:
            return ""
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode("utf-8", "replace")

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``uint8 (H, W, 3)`` RGB frame (grayscale ``(H, W)`` is accepted too)."""
        if self._closed:
            raise MediaError("Frame written to a closed VideoWriter.", "Write all frames inside the with-block.")
        f = _as_frame(frame)
        h, w = f.shape[:2]
        if h % 2 or w % 2:
            f = np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        if self._proc is None:
            self._first_shape = (h, w)
            self._start(f.shape[1], f.shape[0])
        elif (h, w) != self._first_shape:
            first_h, first_w = self._first_shape or (0, 0)
            raise MediaError(
                f"Frame {self.n_frames} is {w}x{h} but the video was started at {first_w}x{first_h}.",
                "Resize every frame to the same size before writing.",
            )
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(f).data)  # the frame's bytes, not a copy
        except BrokenPipeError as exc:
            self._proc.wait()
            raise MediaError(
                f"ffmpeg stopped while encoding '{self.path.name}': {self._ffmpeg_stderr().strip()[-500:]}",
                "Check free disk space and that the output folder is writable.",
            ) from exc
        self.n_frames += 1

    def _mux_audio(self) -> None:
        assert self.audio is not None and self._video_tmp is not None and self._tmp is not None
        n_samples = round(self.n_frames / self.fps * self.sr)
        audio = fit_audio(self.audio, n_samples)
        output = _HeldOutput(self._tmp)
        args = [
            "-loglevel", "error", "-y", "-i", _ff_path(self._video_tmp),
            "-f", "f32le", "-ar", str(self.sr), "-ac", "1", "-i", "pipe:0",
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", self.audio_bitrate,
            "-movflags", "+faststart", "-f", "mp4", output.url,
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                _ffmpeg_cmd(*args),
                input=np.clip(audio, -1, 1).tobytes(),
                capture_output=True,
                pass_fds=output.pass_fds,
            )
        finally:
            output.close()
        if proc.returncode != 0:
            raise MediaError(
                f"ffmpeg could not add the audio to '{self.path.name}': "
                f"{proc.stderr.decode('utf-8', 'replace').strip()[-500:]}",
                "Check free disk space; check that the audio is a 1-D float array.",
            )

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if self._closed:
            return self.path
        if self._proc is None:
            self._closed = True
            raise MediaError(f"No frames were written to '{self.path.name}'.", "Write at least one frame.")
        try:
            assert self._proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
            rc = self._proc.wait()
            if rc != 0:
                raise MediaError(
                    f"ffmpeg failed to encode '{self.path.name}': {self._ffmpeg_stderr().strip()[-500:]}",
                    "Check free disk space and that the output folder is writable.",
                )
            if self.audio is not None:
                self._mux_audio()
        except BaseException as exc:
            self.abort(type(exc), exc, exc.__traceback__)
            raise
        self._closed = True
        self._cleanup_side_files()
        assert self._atomic is not None
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Stop ffmpeg and delete the temporary output; nothing is left at ``path``."""
        if self._closed:
            return
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(Exception):
                self._proc.wait(timeout=5)
        self._cleanup_side_files()
        if self._atomic is not None:
            err = exc if exc is not None else MediaError("writing aborted")
            with contextlib.suppress(BaseException):
                self._atomic.__exit__(type(err), err, tb)

    def _cleanup_side_files(self) -> None:
        if self._encoder_output is not None:
            self._encoder_output.close()
        if self._video_tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._video_tmp.unlink()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def __del__(self) -> None:  # a writer dropped without close() leaves nothing behind
        with contextlib.suppress(Exception):
            if not self._closed:
                self.abort()


def write_video(
    path: PathLike,
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: float = VIDEO_FPS,
    audio: np.ndarray | PathLike | None = None,
    sr: int = AUDIO_SAMPLE_RATE,
    *,
    crf: int = 18,
    preset: str = "fast",
) -> Path:
    """Write frames (``(T, H, W, 3)`` uint8 or any iterable of frames) as an H.264/AAC mp4, atomically.

    ``audio`` is float mono at ``sr`` Hz whose sample 0 is at frame 0 (or a path to an
    audio file, read with :func:`read_audio` at ``sr``); it is trimmed/zero-padded to the
    video's duration. ``crf`` 18 is visually lossless, 10 near-lossless (dataset records).
    See :class:`VideoWriter` for the details. Returns the final path.
    """
    if audio is not None and not isinstance(audio, np.ndarray):
        audio = read_audio(audio, sr=sr)
    with VideoWriter(path, fps=fps, audio=audio, sr=sr, crf=crf, preset=preset) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


__all__ = [
    "CropBox",
    "MediaInfo",
    "VideoWriter",
    "check_not_silent",
    "ffmpeg_exe",
    "find_paired_audio",
    "fit_audio",
    "iter_frames",
    "load_av",
    "parse_probe_output",
    "probe",
    "read_audio",
    "read_image",
    "read_video",
    "stream_offset",
    "write_video",
    "write_wav",
]
