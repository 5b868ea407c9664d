"""Reading and checking the user's inputs before any model runs.

Every problem a user can fix is found here, early and cheaply, and reported as
a :class:`toolkit.errors.ToolkitError` with what was wrong and what to do:
missing, empty, unreadable or wrong-kind files, audio that is silent, too short
or longer than the configured limit, images too large to process. Decoding
itself is :mod:`toolkit.io.media`'s job; this module decides what the pipeline
accepts.

Documented outcomes for unusual but valid inputs (tested in
``tests/test_bad_inputs.py``): any audio rate and channel count is resampled to
16 kHz mono; music is accepted (the face follows its energy); audio whose loudest 100 ms
stays below -50 dBFS is silent; a one-frame
video is treated as a still image; vertical and very large frames are accepted
(frames whose longer side exceeds :data:`MAX_WORK_SIDE` are scaled down before
tracking); when several faces are visible the tracker's main face (largest,
most central) is animated.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.errors import InputFileError, TooLongError, TooShortError
from toolkit.io.formats import IMAGE_SUFFIXES

#: shortest audio accepted: the audio window spans 7 frames (0.28 s); half a second makes a video
MIN_AUDIO_SECONDS: float = 0.5
#: frames are scaled down to this longer side before tracking (the face crop keeps enough detail)
MAX_WORK_SIDE: int = 4096
#: images with more pixels than this are refused (decompression bombs, absurd scans)
MAX_IMAGE_PIXELS: int = 80_000_000


@dataclass
class AudioInput:
    """Speech at 16 kHz mono, padded with silence to a whole number of frames."""

    samples: np.ndarray  # float32 (n_frames * 640,)
    n_frames: int
    source: str
    #: seconds of the audio as given (before padding)
    seconds: float

    @property
    def duration(self) -> float:
        return self.n_frames / VIDEO_FPS


def _with_article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def check_file(path: str | os.PathLike[str], what: str) -> Path:
    """The path exists, is a regular file and is not empty; the message says what it is otherwise."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(
                f"The {what} path '{p}' is a symbolic link loop (links that point at each other).",
                "Point the link at a real file, or give the file's own path.",
            ) from None
        if p.is_symlink():
            raise InputFileError(
                f"The {what} path '{p}' is a symbolic link to '{os.readlink(p)}', which does not exist.",
                "Fix the link, or give the file's own path.",
            ) from None
        if exc.errno == errno.EACCES:
            raise InputFileError(
                f"The {what} file '{p}' cannot be read (permission denied).", "Check its permissions."
            ) from None
        raise InputFileError(f"The {what} file '{p}' does not exist.", "Check the path.") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(f"The {what} '{p}' is a folder.", f"Give {_with_article(what)} file, not a folder.")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a pipe (FIFO)" if stat.S_ISFIFO(st.st_mode)
            else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode)
            else "a special file"
        )  # fmt: skip
        raise InputFileError(
            f"The {what} '{p}' is not a regular file ({kind}).", f"Give {_with_article(what)} file saved on disk."
        )
    if p.stat().st_size == 0:
        raise InputFileError(f"The {what} file '{p.name}' is empty (0 bytes).", "Upload the file again.")
    return p


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, EXIF orientation applied (phone photos)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = check_file(path, "reference image")
    try:
        with Image.open(p) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise InputFileError(
                    f"The image '{p.name}' is {w}x{h} pixels, more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels.",
                    "Scale it down (a face of 256-1024 pixels is plenty).",
                )
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"))
    except InputFileError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputFileError(
            f"The image '{p.name}' could not be read ({type(exc).__name__}).",
            "Give a PNG or JPEG photo of a face, or a video.",
        ) from None
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def as_frame_array(reference: np.ndarray) -> np.ndarray:
    """A user-given image or frame stack as (T, H, W, 3) uint8."""
    arr = np.asarray(reference)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4) or min(arr.shape[1:3]) < 16:
        raise InputFileError(
            f"The reference array has shape {tuple(np.asarray(reference).shape)}.",
            "Give an RGB image (H, W, 3) or frames (T, H, W, 3) of at least 16x16 pixels.",
        )
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def limit_side(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Scale a frame down so its longer side is at most ``max_side``; returns (frame, factor)."""
    h, w = frame.shape[:2]
    side = max(h, w)
    if side <= max_side:
        return frame, 1.0
    import cv2

    f = max_side / side
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), f


def load_audio(
    audio: str | os.PathLike[str] | np.ndarray, max_seconds: float = 0.0, allow_silent: bool = False
) -> AudioInput:
    """Driving speech as 16 kHz mono float32, checked for length and silence.

    A path is decoded by :func:`toolkit.io.media.read_audio` (any container,
    rate and channel count); an array is taken as 16 kHz mono already. The
    duration limit is checked from the container's header before decoding, so
    an hour-long file is refused at once.
    """
    if isinstance(audio, np.ndarray):
        samples = np.asarray(audio, np.float32).reshape(-1)
        source = "array"
    else:
        from toolkit.io.media import probe, read_audio

        path = check_file(audio, "audio")
        source = path.name
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise InputFileError(
                f"'{path.name}' is an image, not audio.", "Give a speech recording (wav, mp3, m4a...)."
            )
        info = probe(path)
        if not info.has_audio:
            from toolkit.errors import NoAudioError

            raise NoAudioError(f"'{path.name}' has no audio track.", "Give a file with speech in it.")
        duration = float(getattr(info, "duration", 0.0) or 0.0)
        if max_seconds and duration > max_seconds + 1.0:
            raise TooLongError(
                f"The audio '{path.name}' is {duration:.0f} s long; the limit here is {max_seconds:.0f} s.",
                f"Cut it into parts of at most {max_seconds:.0f} s.",
            )
        samples = np.asarray(read_audio(path, sr=AUDIO_SAMPLE_RATE), np.float32).reshape(-1)
    if not np.all(np.isfinite(samples)):
        raise InputFileError(f"The audio '{source}' contains invalid (NaN or infinite) samples.", "Re-export it.")
    seconds = samples.size / AUDIO_SAMPLE_RATE
    if seconds < MIN_AUDIO_SECONDS:
        raise TooShortError(
            f"The audio '{source}' is {seconds:.2f} s long; at least {MIN_AUDIO_SECONDS} s is needed.",
            "Give a longer recording.",
        )
    if max_seconds and seconds > max_seconds + 1e-6:
        raise TooLongError(
            f"The audio '{source}' is {seconds:.0f} s long; the limit here is {max_seconds:.0f} s.",
            f"Cut it into parts of at most {max_seconds:.0f} s.",
        )
    if not allow_silent:
        from toolkit.io.media import check_not_silent

        check_not_silent(samples, name=f"The audio '{source}'")
    n_frames = int(np.ceil(samples.size / SAMPLES_PER_FRAME))
    padded = np.zeros(n_frames * SAMPLES_PER_FRAME, np.float32)
    padded[: samples.size] = samples
    return AudioInput(padded, n_frames, source, seconds)
