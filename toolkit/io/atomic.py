"""Atomic file writes: a reader sees the old file or the complete new one.

Everything the toolkit writes for a user (videos, records, results) goes
through here, so a killed run never leaves a half-written file behind.

Temporary files are hidden beside the output and named
``.<output name>.<kind>-<pid>-<8 random characters><suffix>`` (:func:`make_temp_file`).
A run that is killed outright (SIGKILL, power cut) cannot remove them; the
process id in the name lets a later run tell them from the files of a run
still in progress and remove exactly those (:func:`remove_stale_temp_files`),
never anything else in the folder. :func:`interrupt_on_termination` turns
SIGTERM and SIGHUP into KeyboardInterrupt, so the usual clean-up runs on them too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from toolkit.errors import InputFileError

#: kinds of temporary file: "part" (the output being written), "video" (its silent video before muxing)
TEMP_KINDS = ("part", "video")


def make_temp_file(final: Path, kind: str, suffix: str) -> Path:
    """Create an empty hidden temporary file beside ``final``, named for :func:`remove_stale_temp_files`."""
    if kind not in TEMP_KINDS:
        raise ValueError(f"unknown temporary file kind {kind!r}")
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.{kind}-{os.getpid()}-", suffix=suffix, dir=final.parent)
    os.close(fd)
    return Path(tmp)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temp_files(final: str | os.PathLike[str], *, own: bool = False) -> list[Path]:
    """Remove the temporary files that runs which have died left beside ``final``; returns them.

    Only names this module makes for ``final`` are considered (``.<name>.<kind>-<pid>-XXXXXXXX<suffix>``,
    mkstemp's 8 characters), and only those whose process no longer exists: another run writing
    the same output keeps its files, and no file a user made is touched. ``own``: this process's
    too (a write of ``final`` being abandoned: an interrupt can land between creating a temporary
    file and recording its name, so the name is not always known to the code that cleans up).
    """
    final = Path(final)
    pattern = re.compile(
        rf"\.{re.escape(final.name)}\.(?:{'|'.join(TEMP_KINDS)})-(\d+)-[a-z0-9_]{{8}}(?:\.[A-Za-z0-9]{{1,8}})?"
    )
    removed = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:  # no folder yet: nothing to clean
        return []
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(m.group(1))
        if _process_alive(pid) and not (own and pid == os.getpid()):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


#: main-thread state of :func:`interrupts_deferred` (depth of nesting, the signal that arrived meanwhile)
_deferred: dict[str, Any] = {"depth": 0, "pending": None}


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """A section in which an interrupt from :func:`interrupt_on_termination` waits until the section ends.

    For steps that must not be cut in two: creating a temporary file and starting the
    process that writes it, then recording both. An interrupt in between would leave a
    writer process that nobody stops and that creates its file after the clean-up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferred["depth"] += 1
    pending = None
    try:
        yield
    finally:
        _deferred["depth"] -= 1
        if _deferred["depth"] == 0:  # (if the section raised, that exception unwinds instead)
            pending, _deferred["pending"] = _deferred["pending"], None
    if pending is not None:
        raise KeyboardInterrupt(pending)


@contextlib.contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise KeyboardInterrupt (as Ctrl-C does), so temporary files are removed.

    Their default action ends the process at once, skipping every ``finally``; only
    SIGKILL still does (its leftovers go with the next run, :func:`remove_stale_temp_files`).
    SIGINT is handled here too, to honour :func:`interrupts_deferred`. Signals that are
    ignored (``nohup``) or handled by someone else are left as they are; does nothing
    outside the main thread, where handlers cannot be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if _deferred["depth"]:
            _deferred["pending"] = name
            return
        raise KeyboardInterrupt(name)

    # only default actions are replaced: SIGHUP under nohup stays ignored
    defaults = {
        signal.SIGTERM: signal.SIG_DFL,
        signal.SIGHUP: signal.SIG_DFL,
        signal.SIGINT: signal.default_int_handler,
    }
    signals = [s for s, default in defaults.items() if signal.getsignal(s) == default]
    previous = {s: signal.signal(s, interrupt) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def check_output_file(
    out: str | os.PathLike[str], inputs: Mapping[str, Any] | None = None, what: str = "output"
) -> Path:
    """``out`` as a Path, refused with an InputFileError unless it can be written as a file.

    Checked before any work: a folder (existing, or a path ending in a slash), a parent
    that is a file, something that is not a regular file (device, pipe), or one of
    ``inputs`` (name -> path, e.g. {"reference": ..., "audio": ...}) would otherwise
    fail after the whole run, or overwrite an input.
    """
    text = os.fspath(out)
    if not text or text.endswith(("/", os.sep)):
        raise InputFileError(
            f"The {what} path '{text}' ends with a slash: it names a folder, not a file.",
            f"Give a file name, e.g. {text or './'}result.mp4.",
        )
    path = Path(text)
    if path.is_dir():
        raise InputFileError(
            f"The {what} path '{path}' is a folder.", f"Give a file name inside it, e.g. {path / 'result.mp4'}."
        )
    if path.exists() and not path.is_file():
        raise InputFileError(f"The {what} path '{path}' is not a regular file.", "Give a file name to write to.")
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputFileError(
                    f"The {what} path '{path}' is inside '{parent}', which is a file, not a folder.",
                    "Give a path in an existing folder (or one that can be made).",
                )
            break
    for name, given in (inputs or {}).items():
        if isinstance(given, (str, os.PathLike)) and path.exists() and Path(given).exists():
            with contextlib.suppress(OSError):
                if path.samefile(given):
                    raise InputFileError(
                        f"The {what} path '{path}' is the {name}: writing it would destroy the input.",
                        "Give another output file name.",
                    )
    return path


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` on success.

    The temporary file lives in the same directory (same filesystem, so the
    rename is atomic) and keeps the final suffix so tools that sniff the
    extension (ffmpeg) behave. On any exception the temporary file is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp_path: Path | None = None
    try:
        tmp_path = make_temp_file(final, "part", suffix if suffix is not None else final.suffix)
        yield tmp_path
        # mkstemp creates 0600; give the file the mode a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    except BaseException:
        if tmp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
        with contextlib.suppress(OSError):
            remove_stale_temp_files(final, own=True)  # e.g. a side file whose name was never recorded
        raise


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], label: str = "writing") -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``; rename it to ``final`` on success.

    ``final`` must not exist or be an empty folder. On any exception the temporary folder
    and everything in it are removed, so a reader sees no folder or the complete one.
    """
    import shutil

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.{label}-", dir=final.parent))
    try:
        yield work
        if final.exists():
            final.rmdir()
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
