"""Errors the toolkit raises for problems a user can fix.

Every error says what was wrong and what to do about it. The CLI, the app and
the notebooks print ``str(error)`` and nothing else (no traceback), so the
message must stand on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class ToolkitError(Exception):
    """Base class: a problem with the user's input or setup, with a fix."""

    #: short machine-readable code, used by the batch report and the app
    code: str = "error"

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}".strip())


class InputFileError(ToolkitError):
    """The file is missing, empty, unreadable or of an unsupported kind."""

    code = "bad-file"


class MediaError(ToolkitError):
    """The file could be opened but its audio/video streams are unusable."""

    code = "bad-media"


class NoAudioError(MediaError):
    code = "no-audio"


class SilentAudioError(MediaError):
    code = "silent-audio"


class TooShortError(MediaError):
    code = "too-short"


class TooLongError(MediaError):
    code = "too-long"


class NoFaceError(ToolkitError):
    """No usable face was found; names the frames concerned."""

    code = "no-face"

    def __init__(self, problem: str, fix: str = "", frames: Sequence[int] = ()) -> None:
        self.frames = list(frames)
        super().__init__(problem, fix)


class ConfigError(ToolkitError):
    """An option or a configuration file (generation, learners, generator) has an unusable value."""

    code = "bad-config"


class WeightsNotFoundError(ToolkitError):
    """Pretrained weights are needed but are not present locally."""

    code = "weights-missing"


def frame_ranges(frames: Iterable[int]) -> str:
    """Compact human-readable frame list: [0,1,2,5,7,8] -> '0-2, 5, 7-8'."""
    frames = sorted(set(int(f) for f in frames))
    if not frames:
        return "none"
    parts: list[str] = []
    start = prev = frames[0]
    for f in [*frames[1:], None]:
        if f is not None and f == prev + 1:
            prev = f
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if f is not None:
            start = prev = f
    return ", ".join(parts)
