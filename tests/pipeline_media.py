"""Small real media for the pipeline, app and bad-input tests (made on the fly, never committed).

Faces come from scikit-image's astronaut portrait (a real photo the package
ships) and real shared clips; speech from the project's own example
(``assets/example_speech.wav``). Everything is short and small so the tests
stay fast on two CPU cores.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE
from toolkit.paths import PROJECT_ROOT, shared_data_dir

EXAMPLE_SPEECH = PROJECT_ROOT / "assets" / "example_speech.wav"
#: a real talking-head clip with speech (224x224, AAC): a short reference video
SHARED_CLIP = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4"
#: another real talking head: a driving video for motion/expression transfer
SHARED_DRIVER = shared_data_dir() / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_517600055.mp4"
#: a real clip whose face fills a small part of the frame (360x288, MPEG-1 + MP2): paste-back
SHARED_SMALL_FACE = shared_data_dir() / "av" / "rizkiarm__LipNet__bbaf2n.mpg"


def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def speech(seconds: float, offset: float = 0.4) -> np.ndarray:
    """``seconds`` of the project's example speech at 16 kHz (starting ``offset`` s in, past the lead-in)."""
    from toolkit.io.media import read_audio

    audio = read_audio(EXAMPLE_SPEECH, sr=AUDIO_SAMPLE_RATE)
    a = int(offset * AUDIO_SAMPLE_RATE)
    return audio[a : a + int(seconds * AUDIO_SAMPLE_RATE)].copy()


def write_wav(path: Path, audio: np.ndarray, sr: int = AUDIO_SAMPLE_RATE, channels: int = 1) -> Path:
    """16-bit PCM WAV; ``channels`` > 1 writes the same signal, slightly different per channel."""
    a = np.asarray(audio, np.float64)
    if channels > 1:
        a = np.stack([a * (1.0 - 0.2 * c) for c in range(channels)], axis=1)
    pcm = (np.clip(a, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def resample(audio: np.ndarray, sr: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, AUDIO_SAMPLE_RATE)
    return resample_poly(audio, sr // g, AUDIO_SAMPLE_RATE // g).astype(np.float32)


def music(seconds: float, sr: int = 44_100) -> np.ndarray:
    """A few bars of synthetic music: chords and a kick drum, no speech."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for i, root in enumerate((220.0, 174.6, 261.6, 196.0)):
        sel = (t >= i * seconds / 4) & (t < (i + 1) * seconds / 4)
        for ratio in (1.0, 1.26, 1.5):
            out[sel] += 0.12 * np.sin(2 * np.pi * root * ratio * t[sel])
    beat = (t % 0.5) < 0.08
    out[beat] += 0.5 * np.sin(2 * np.pi * 60 * t[beat]) * np.exp(-((t[beat] % 0.5) * 40))
    return out.astype(np.float32)


def write_png(path: Path, image: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(image).save(path)
    return path


def write_video(path: Path, frames, audio: np.ndarray | None = None) -> Path:
    from toolkit.io.media import write_video as _write

    return _write(path, frames, fps=25, audio=audio, sr=AUDIO_SAMPLE_RATE)


def moving_face_frames(n: int, size: tuple[int, int] = (288, 512)) -> np.ndarray:
    """``n`` frames (W x H = ``size``) of the astronaut's face drifting slightly: a vertical phone-style video."""
    import cv2

    w, h = size
    img = astronaut()
    face = cv2.resize(img[0:400, 60:460], (w, int(w * 1.0)), interpolation=cv2.INTER_AREA)
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:] = (40, 60, 90)
    for i in range(n):
        dy = int(h * 0.25 + 6 * np.sin(i / 5))
        frames[i, dy : dy + face.shape[0]] = face[: h - dy]
    return frames


def two_faces() -> np.ndarray:
    """The astronaut twice: a large face on the left, a small one on the right."""
    import cv2

    img = astronaut()
    canvas = np.full((512, 800, 3), 30, np.uint8)
    canvas[:, :512] = img
    small = cv2.resize(img[0:300, 110:410], (180, 180), interpolation=cv2.INTER_AREA)
    canvas[60:240, 580:760] = small
    return canvas


def no_face() -> np.ndarray:
    import skimage.data

    return skimage.data.coffee()


def face_and_speech(folder: Path, seconds: float) -> dict[str, Path]:
    """The astronaut photo as a PNG and ``seconds`` of the example speech as a WAV in ``folder``."""
    return {
        "face": write_png(folder / "face.png", astronaut()),
        "speech": write_wav(folder / "speech.wav", speech(seconds)),
    }
