"""Frame-index arithmetic shared by the pipeline, the learners' evaluation and the benchmark methods."""

from __future__ import annotations

import numpy as np


def back_and_forth(n_out: int, n_in: int, start: int = 0) -> np.ndarray:
    """Indices of ``n_out`` frames of an ``n_in``-frame sequence played forwards, then backwards, and so on.

    The ends are not repeated (0, 1, ..., n_in-1, n_in-2, ..., 1, 0, 1, ...), so there is no jump and no
    frozen frame at the turns. ``start`` shifts the phase: frame ``t`` of the output is step ``t + start``.
    """
    if n_in <= 1:
        return np.zeros(n_out, np.int64)
    period = 2 * (n_in - 1)
    k = (np.arange(n_out, dtype=np.int64) + start) % period
    return np.where(k < n_in, k, period - k)
