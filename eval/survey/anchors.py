"""Known-bad "anchor" versions of a real video, to calibrate a rating study.

Listening tests (MUSHRA, ITU-R BS.1534) mix a deliberately degraded "anchor"
into every set so that scores from different raters sit on a common scale and
raters who cannot tell a degraded video from a real one stand out. For talking
heads two natural anchors are a frozen first frame (no motion, right audio) and
a heavily blurred video (right motion, no detail). ``kind="copy"`` just cuts
and re-encodes the real video (the hidden reference).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from eval.survey.encode import ffmpeg_exe
from toolkit.errors import InputFileError, MediaError
from toolkit.io.atomic import atomic_path

ANCHOR_KINDS = ("copy", "frozen", "blur")


def make_anchor_video(src: Path, out: Path, kind: str, max_seconds: float | None = None) -> None:
    """Write an anchor version of ``src`` (with its audio) to ``out`` (.mp4)."""
    if kind not in ANCHOR_KINDS:
        raise InputFileError(f"unknown anchor kind {kind!r}.", f"Use one of: {', '.join(ANCHOR_KINDS)}.")
    src = Path(src)
    if not src.is_file():
        raise InputFileError(f"anchor source {src} does not exist.", "Check the path.")
    vf = {
        "copy": "null",
        # frame 0 repeated for ever; -shortest ends it with the audio
        "frozen": "loop=loop=-1:size=1:start=0,setpts=N/FRAME_RATE/TB",
        "blur": "gblur=sigma=8",
    }[kind]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(src)]
    if max_seconds:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-vf", vf + ",format=yuv420p", "-map", "0:v:0", "-map", "0:a:0?", "-shortest"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac", "-b:a", "128k"]
    with atomic_path(out, suffix=".mp4") as tmp:
        proc = subprocess.run([*cmd, str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise MediaError(f"ffmpeg could not make a {kind} anchor from {src}: {proc.stderr.strip()[-300:]}")
