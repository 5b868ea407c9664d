"""toolkit.io.heap: freed frame-sized arrays are reused from the heap, not faulted in again (glibc only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: a child process: allocates and frees a 96 MB array, then counts the page faults of a second one
CHILD = """
import resource, sys
import numpy as np
from toolkit.io.heap import keep_freed_buffers
print("set", keep_freed_buffers())
a = np.empty(96 << 20, np.uint8); a[:] = 1; del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.empty(96 << 20, np.uint8); b[:] = 2
print("faults", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(env_value: str | None) -> tuple[bool, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TOOLKIT_KEEP_FREED_MEMORY", None)
    if env_value is not None:
        env["TOOLKIT_KEEP_FREED_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True).stdout
    values = dict(line.split() for line in out.splitlines())
    return values["set"] == "True", int(values["faults"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_frame_buffer_is_reused_without_page_faults_and_the_switch_turns_it_off():
    pages = (96 << 20) // 4096  # 24,576 pages of 4 KiB
    kept, faults = _run(None)
    if not kept:
        pytest.skip("not glibc: keep_freed_buffers is a no-op")
    assert faults < 0.05 * pages, faults  # the second array sits where the first was
    kept, faults = _run("0")
    assert not kept
    assert faults > 0.5 * pages / 512, faults  # fresh mmap: faulted in again (4 KiB pages, or 2 MiB huge pages)
