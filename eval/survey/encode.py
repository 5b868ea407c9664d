"""Re-encode study videos so that nothing but their content tells methods apart.

Every video a rater sees goes through :func:`encode_study_video`: the same
codec (H.264 + AAC), frame rate, frame size, audio rate and no container
metadata. Different methods write different codecs, sizes and encoder tags; a
rater (or the browser's "video info") could otherwise tell them apart.

The same function builds the attention-check video whose audio is delayed by a
second, and the optional side-by-side view (reference on the left, candidate on
the right). ffmpeg comes from imageio-ffmpeg; ``toolkit.io.media.probe`` is
used for the audio-stream test when that module is present.
"""

from __future__ import annotations

import random
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import InputFileError, MediaError
from toolkit.io.atomic import atomic_path
from toolkit.io.formats import IMAGE_SUFFIXES


@dataclass(frozen=True)
class EncodeSettings:
    """One encoding for every video in a study."""

    size: int = 256  # each panel is size x size; other aspect ratios are letterboxed
    fps: int = 25
    crf: int = 20  # visually near-transparent at this size; methods are not blurred by the study
    audio_rate: int = 48000
    audio_bitrate: str = "128k"
    max_seconds: float | None = None  # cut longer videos (None = full length)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def has_audio(path: Path) -> bool:
    """True when ``path`` has an audio stream (an unreadable file is an InputFileError)."""
    from toolkit.io.media import probe

    return probe(path).has_audio


@dataclass(frozen=True)
class Variation:
    """A video's own small, imperceptible encoding variation (every study video has one)."""

    crf: float
    audio_gain: float
    #: a top-level ISO BMFF ``free`` box of this fraction of the file's size is appended (players skip it):
    #: without it, two encodes of a video that compresses alike (a blurred one) differ by a few bytes only
    padding: float = 0.0


#: crf is drawn from settings.crf +- CRF_JITTER; the audio gain from [1 - GAIN_JITTER, 1] (< 0.05 dB);
#: the padding from [0, PADDING_MAX] of the file size
CRF_JITTER = 0.5
GAIN_JITTER = 0.005
PADDING_MAX = 0.05


def draw_variation(settings: EncodeSettings, rng: random.Random, unlike: Variation | None = None) -> Variation:
    """A per-video variation; with ``unlike``, one far enough from it that the two encodes differ in every byte.

    Without it, a repeated video re-encoded from the same source with the same
    settings is byte-identical to the original (same size, same ETag), and the
    repeat attention check is visible in the browser's developer tools. Every
    video, checks or not, is drawn from the same distribution, so the variation
    itself tells nothing about a video's role.
    """
    while True:
        v = Variation(
            crf=round(settings.crf + rng.uniform(-CRF_JITTER, CRF_JITTER), 2),
            audio_gain=round(1.0 - rng.uniform(0.0, GAIN_JITTER), 5),
            padding=round(rng.uniform(0.0, PADDING_MAX), 4),
        )
        if unlike is None or (
            abs(v.crf - unlike.crf) >= 0.2
            and abs(v.audio_gain - unlike.audio_gain) >= 0.001
            and abs(v.padding - unlike.padding) >= 0.01
        ):
            return v


def _append_free_box(path: Path, fraction: float) -> None:
    """Append a top-level ``free`` box (8-byte header + zeros) of ``fraction`` of the file's size."""
    n = int(path.stat().st_size * fraction)
    if n >= 8:
        with path.open("ab") as f:
            f.write(struct.pack(">I", n) + b"free" + bytes(n - 8))


def _output_seconds(video: Path, settings: EncodeSettings) -> float:
    from toolkit.io.media import probe

    seconds = float(probe(video).duration or 0.0)
    return min(seconds, settings.max_seconds) if settings.max_seconds else seconds


def _rotate_audio(window_s: float, delay_s: float) -> str:
    """Filter steps that play the sound ``delay_s`` late, the first ``delay_s`` seconds taken from its end.

    A silent start (``adelay``) would be audible as such and would lower the
    audio bitrate (about 86 instead of 120 kb/s), which gives the check away.
    Videos shorter than the delay fall back to silence.
    """
    if window_s <= delay_s + 0.04:
        return f",adelay=delays={round(delay_s * 1000)}:all=1"
    cut = window_s - delay_s
    return (
        f",apad,atrim=end={window_s:.3f},asetpts=N/SR/TB,asplit=2[late][early];"
        f"[late]atrim=start={cut:.3f},asetpts=PTS-STARTPTS[head];"
        f"[early]atrim=end={cut:.3f},asetpts=PTS-STARTPTS[tail];"
        "[head][tail]concat=n=2:v=0:a=1"
    )


def _panel_filter(label_in: str, label_out: str, s: EncodeSettings, hold_last: bool) -> str:
    chain = (
        f"[{label_in}]fps={s.fps},scale={s.size}:{s.size}:force_original_aspect_ratio=decrease,"
        f"pad={s.size}:{s.size}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
    )
    if hold_last:  # a reference shorter than the candidate holds its last frame
        chain += ",tpad=stop_mode=clone:stop=-1"
    return chain + f"[{label_out}]"


def encode_study_video(
    video: Path,
    out: Path,
    settings: EncodeSettings,
    *,
    audio: Path | None = None,
    audio_delay_s: float = 0.0,
    reference: Path | None = None,
    variation: Variation | None = None,
) -> None:
    """Write ``out`` (H.264 + AAC .mp4) from ``video``.

    audio: take the sound from this file instead of from ``video`` (a method
    output without sound, played with the benchmark's driving audio).
    audio_delay_s: delay the sound by this much (the attention check). The sound is
    rotated, not padded: the first ``audio_delay_s`` seconds play the end of the
    track, so the check has no silent start and the audio bitrate of any other item.
    reference: an image or video shown to the left of the candidate.
    variation: this video's draw of the per-video variation (:func:`draw_variation`):
    two encodes of one source then never share a byte, a size or an ETag.
    The output lasts as long as the candidate video (sound padded or cut).
    """
    variation = variation or Variation(crf=settings.crf, audio_gain=1.0)
    video = Path(video)
    if not video.is_file():
        raise InputFileError(f"video {video} does not exist.", "Check the method folder.")
    audio_src = Path(audio) if audio is not None else video
    if not audio_src.is_file():
        raise InputFileError(f"audio {audio_src} does not exist.", "Check the benchmark's driving audio paths.")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video)]
    audio_index = 0
    if audio is not None:
        cmd += ["-i", str(audio_src)]
        audio_index = 1
    filters = [_panel_filter("0:v", "cand", settings, hold_last=False)]
    if reference is not None:
        reference = Path(reference)
        if not reference.is_file():
            raise InputFileError(f"reference {reference} does not exist.", "Check the reference paths.")
        if reference.suffix.lower() in IMAGE_SUFFIXES:
            cmd += ["-loop", "1"]
        cmd += ["-i", str(reference)]
        ref_index = audio_index + 1
        filters.append(_panel_filter(f"{ref_index}:v", "ref", settings, hold_last=True))
        filters.append("[ref][cand]hstack=inputs=2:shortest=1,format=yuv420p[v]")
    else:
        filters.append("[cand]format=yuv420p[v]")
    achain = (
        f"[{audio_index}:a]aresample={settings.audio_rate},aformat=channel_layouts=mono,"
        f"volume={variation.audio_gain:.5f}"
    )
    if audio_delay_s > 0:
        achain += _rotate_audio(_output_seconds(video, settings), audio_delay_s)
    filters.append(achain + ",apad[a]")  # padded with silence, cut to the video by -shortest
    cmd += ["-filter_complex", ";".join(filters), "-map", "[v]", "-map", "[a]", "-shortest"]
    if settings.max_seconds:
        cmd += ["-t", f"{settings.max_seconds:.3f}"]
    cmd += [
        "-r", str(settings.fps),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", f"{variation.crf:.2f}",
        "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", settings.audio_bitrate,
        # no container or stream metadata: encoder names and titles would identify methods
        "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact",
        "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-movflags", "+faststart",
    ]  # fmt: skip
    with atomic_path(out, suffix=".mp4") as tmp:
        proc = subprocess.run([*cmd, str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            detail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
            if "matches no streams" in proc.stderr or "Stream specifier ':a'" in proc.stderr:
                raise MediaError(
                    f"{audio_src} has no audio track, so raters could not judge lip sync.",
                    "Mux the driving audio into the method's videos, or pass --benchmark so the "
                    "benchmark's driving audio is used.",
                )
            raise MediaError(f"ffmpeg could not re-encode {video}: {detail[0]}", "Check that the file plays.")
        _append_free_box(tmp, variation.padding)
