"""Quiet start-up chatter of native libraries (MediaPipe, absl, TensorFlow Lite).

Creating a MediaPipe face landmarker writes five lines to the process's stderr
from C++ (absl/glog warnings such as "Sets FaceBlendshapesGraph acceleration to
xnnpack by default", "Created TensorFlow Lite XNNPACK delegate for CPU"). They
are not problems and cannot be turned off with environment variables
(``GLOG_minloglevel`` / ``TF_CPP_MIN_LOG_LEVEL`` are ignored by MediaPipe's
absl logging), so :func:`quiet_native_stderr` points file descriptor 2 at a
temporary file while the landmarker is created, then passes on every captured
line that is not one of those informational messages (errors always get
through, and everything gets through when the creation fails).

``TOOLKIT_NATIVE_LOGS=1`` (what ``toolkit generate -v`` sets) shows them all.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

ENV = "TOOLKIT_NATIVE_LOGS"

#: informational lines of absl/glog (I/W severity) and TensorFlow Lite's delegate notice
_NOISE = re.compile(
    r"^(WARNING: Logging before InitGoogle\(\) is written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ \S+:\d+\] .*"
    r"|INFO: Created TensorFlow Lite .*)$"
)
_lock = threading.Lock()


def native_logs_shown() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def show_native_logs(show: bool = True) -> None:
    """Show (or hide again) the native libraries' informational logs, in this process and its children."""
    if show:
        os.environ[ENV] = "1"
    else:
        os.environ.pop(ENV, None)


def filter_noise(text: str) -> str:
    """``text`` without the native libraries' informational lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not _NOISE.match(line.rstrip("\n")))


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold back the native informational lines written to fd 2 inside the block (see the module doc)."""
    if native_logs_shown():
        yield
        return
    with _lock, tempfile.TemporaryFile(mode="w+b") as sink:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        saved = os.dup(2)
        failed = True
        try:
            os.dup2(sink.fileno(), 2)
            yield
            failed = False
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            kept = text if failed else filter_noise(text)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
