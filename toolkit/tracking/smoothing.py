"""Temporal smoothing of landmark tracks, without lag.

Tracking is done offline on whole clips, so the filter may look ahead: a
zero-phase filter removes per-frame jitter without delaying anything. A causal
filter such as One-Euro (the usual choice for live tracking) trades jitter for
lag on fast motion, and lag on the lips is exactly what a lip-sync model must
not learn. The Savitzky-Golay filter (a local least-squares polynomial fit,
here order 2 over 5 frames = 200 ms at 25 fps) is zero-phase and keeps the
peaks of fast movements (a lip closure of 2-3 frames keeps most of its
amplitude, unlike a moving average or Gaussian of the same width), while
flattening the frame-to-frame jitter of the landmark network. At the ends of
a run it fits the polynomial to the first/last window (no padding artefacts).

Runs of reliable frames are filtered independently, so nothing is smeared
across a long gap.

The filter is computed here with numpy (the same result as
``scipy.signal.savgol_filter(..., mode="interp")``, which a test checks):
importing ``scipy.signal`` costs 1-2 s of every command's start-up.
"""

from __future__ import annotations

import numpy as np


def savgol_smooth(values: np.ndarray, reliable: np.ndarray, window: int = 5, order: int = 2) -> np.ndarray:
    """Smooth ``values`` (T, ...) along time, run by run of ``reliable`` frames."""
    out = np.array(values, dtype=np.float32, copy=True)
    padded = np.concatenate([[False], np.asarray(reliable, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        length = int(stop - start)
        w = min(window, length if length % 2 == 1 else length - 1)
        if w <= order:
            continue  # too short to fit the polynomial: leave as is
        out[start:stop] = savgol_filter(values[start:stop], w, order)
    return out


def savgol_filter(values: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing along axis 0 (odd ``window`` <= len, ``order`` < ``window``).

    Interior frames: the value at the centre of a least-squares polynomial fitted to
    the window around them. The first and last ``window // 2`` frames: the polynomial
    fitted to the first / last window, evaluated at their positions (scipy's
    ``mode="interp"``).
    """
    x = np.asarray(values, np.float64)
    n, half = x.shape[0], window // 2
    flat = x.reshape(n, -1)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    # weights that give the fitted polynomial's value at offset 0
    centre = np.linalg.pinv(np.vander(offsets, order + 1, increasing=True))[0]
    out = np.empty_like(flat)
    windows = np.lib.stride_tricks.sliding_window_view(flat, window, axis=0)  # (n - window + 1, d, window)
    out[half : n - half] = windows @ centre
    positions = np.arange(window, dtype=np.float64)
    fit = np.linalg.pinv(np.vander(positions, order + 1, increasing=True))  # (order + 1, window)
    at = np.vander(positions, order + 1, increasing=True)  # value of each power at each position
    out[:half] = at[:half] @ (fit @ flat[:window])
    out[n - half :] = at[window - half :] @ (fit @ flat[n - window :])
    return out.reshape(x.shape)
