"""Keep large freed buffers in the process's heap instead of handing them back to the kernel.

Rendering makes frame-sized arrays for every chunk (100 frames at 512x512: the rendered faces, the
masks, the depth, the rasteriser's scratch, the moved backgrounds: about 0.5 GB a chunk). glibc's
``malloc`` serves each of them with a fresh ``mmap`` (anything above 32 MB always is) and returns it
with ``munmap`` when the array is freed, so the next chunk's arrays fault in and zero every page
again: measured with ``perf`` on ``toolkit generate --size 512``, a quarter of the whole run's CPU
time was the kernel clearing pages (``clear_page_erms``), 8.5 of 28 CPU-seconds being system time.

:func:`keep_freed_buffers` raises glibc's ``M_MMAP_THRESHOLD`` (so such arrays come from the heap)
and ``M_TRIM_THRESHOLD`` (so freed ones stay there for the next chunk). The frames made are the same
byte for byte (only where the memory comes from changes); the price is that the process keeps its
peak memory until it exits (the peak itself is unchanged). A no-op where the C library is not glibc,
and when ``TOOLKIT_KEEP_FREED_MEMORY=0``. Arrays allocated in other threads come from glibc's per-thread
arenas, which this does not change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ENV = "TOOLKIT_KEEP_FREED_MEMORY"
#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap (1 GiB: every per-chunk array at 512; larger ones keep mmap)
MMAP_THRESHOLD = 1 << 30
#: free memory at the heap's top above this is given back (mallopt takes a C int: its maximum)
TRIM_THRESHOLD = (1 << 31) - 1

_done: bool | None = None


def keep_freed_buffers() -> bool:
    """Set the allocator once per process; True when it is set (glibc, not disabled by ``ENV``)."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get(ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
