"""Synthesised media files for tests: good ones with known content, and bad ones.

Everything is made on the fly with the bundled ffmpeg or plain bytes, inside a
test's temporary folder (the ``tmp_media`` fixture in ``conftest.py`` wraps
this class). Known content makes assertions exact: a flash frame, a click
sample, a marker block in a known corner, a sine of known frequency.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from toolkit.io.media import ffmpeg_exe, write_video, write_wav


def run_ffmpeg(*args: str, input_bytes: bytes | None = None) -> None:
    """Run the bundled ffmpeg quietly; raise with its stderr on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, input=input_bytes, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')[-800:]}")


def sine(freq: float, seconds: float, sr: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class TmpMedia:
    """Factory of small media files under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    # ---------------------------------------------------------------- bad files
    def empty(self, name: str = "empty.mp4") -> Path:
        p = self.path(name)
        p.write_bytes(b"")
        return p

    def garbage(self, name: str = "corrupt.mp4", n_bytes: int = 4096, seed: int = 0) -> Path:
        """Random bytes with a media extension: ffmpeg cannot read it."""
        p = self.path(name)
        p.write_bytes(np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes())
        return p

    def text_as(self, name: str = "notes.mp4") -> Path:
        p = self.path(name)
        p.write_text("this is not a video\n" * 50)
        return p

    def truncated(self, source: Path, name: str = "truncated.mp4", keep: float = 0.3) -> Path:
        """The first ``keep`` fraction of ``source``'s bytes."""
        data = Path(source).read_bytes()
        p = self.path(name)
        p.write_bytes(data[: max(1, int(len(data) * keep))])
        return p

    # ---------------------------------------------------------------- audio
    def wav(
        self, audio: np.ndarray, sr: int, name: str | None = None, channels: int = 1, codec: str = "pcm_s16le"
    ) -> Path:
        """Write float mono ``audio`` at ``sr`` (copied to every channel) with any ffmpeg audio codec/extension."""
        name = name or f"tone_{sr}_{channels}ch.wav"
        p = self.path(name)
        data = np.repeat(np.asarray(audio, "<f4")[:, None], channels, axis=1)
        run_ffmpeg(
            "-f", "f32le", "-ar", str(sr), "-ac", str(channels), "-i", "pipe:0", "-c:a", codec, str(p),
            input_bytes=data.tobytes(),
        )  # fmt: skip
        return p

    def encode_audio(self, source: Path, ext: str, extra: tuple[str, ...] = ()) -> Path:
        """Re-encode an audio file to another format, chosen by extension (flac, mp3, aac, m4a, ogg, mp2)."""
        p = self.path(f"{Path(source).stem}.{ext}")
        run_ffmpeg("-i", str(source), *extra, str(p))
        return p

    # ---------------------------------------------------------------- video
    def flash_click_video(
        self, name: str = "flash_click.mp4", n_frames: int = 50, flash: int = 20, click_offset: int = 300
    ) -> tuple[Path, int, int]:
        """Black 25 fps video with one white frame and a click inside that frame's 640 samples.

        Returns (path, flash frame index, click sample index).
        """
        frames = np.zeros((n_frames, 48, 64, 3), np.uint8)
        frames[flash] = 255
        audio = np.zeros(n_frames * 640, np.float32)
        click = flash * 640 + click_offset
        audio[click : click + 32] = 0.9
        p = write_video(self.path(name), frames, fps=25, audio=audio)
        return p, flash, click

    def marker_video(self, name: str = "marker.mp4", n_frames: int = 6, fps: float = 25) -> Path:
        """64x48 (w x h) black frames with a red 8x8 block in the top-left corner."""
        frames = np.zeros((n_frames, 48, 64, 3), np.uint8)
        frames[:, :8, :8, 0] = 255
        return write_video(self.path(name), frames, fps=fps)

    def with_rotation(self, source: Path, degrees: int, name: str | None = None) -> Path:
        """Copy of ``source`` with display-matrix rotation metadata (as phones write it), no re-encode."""
        p = self.path(name or f"{Path(source).stem}_rot{degrees}.mp4")
        run_ffmpeg("-display_rotation", str(degrees), "-i", str(source), "-c", "copy", str(p))
        return p

    def counter_video(self, n_frames: int, fps: float, name: str | None = None, size: int = 32) -> Path:
        """Frame i is uniformly grey at level 4*i (so the source index can be read back), no audio."""
        frames = np.stack([np.full((size, size, 3), 4 * i, np.uint8) for i in range(n_frames)])
        return write_video(self.path(name or f"counter_{fps:g}fps.mp4"), frames, fps=fps, crf=0)

    def shifted_audio(self, source: Path, seconds: float, name: str) -> Path:
        """``source`` remuxed with its audio stream delayed by ``seconds`` (negative: the video delayed)."""
        p = self.path(name)
        if seconds >= 0:
            inputs = ["-i", str(source), "-itsoffset", f"{seconds}", "-i", str(source)]
        else:
            inputs = ["-itsoffset", f"{-seconds}", "-i", str(source), "-i", str(source)]
        run_ffmpeg(*inputs, "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", str(p))
        return p

    def still(self, ext: str = "png", width: int = 40, height: int = 30) -> Path:
        """A still image with a red top-left pixel block."""
        img = np.zeros((1, height, width, 3), np.uint8)
        img[0, :6, :6, 0] = 255
        raw = self.path(f"still_src_{ext}.mp4")
        write_video(raw, img, crf=0)
        p = self.path(f"still.{ext}")
        run_ffmpeg("-i", str(raw), "-frames:v", "1", str(p))
        return p

    def silent_speech_wav(self, seconds: float = 1.0, sr: int = 16000, name: str = "silence.wav") -> Path:
        return write_wav(self.path(name), np.zeros(round(seconds * sr), np.float32), sr)
