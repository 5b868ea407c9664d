"""The cross-fade's compiled kernel gives the numpy form's bytes (every uint8 pair, every fade weight)."""

from __future__ import annotations

import numpy as np
import pytest


def test_compiled_crossfade_matches_the_numpy_form_bit_for_bit_in_place():
    pytest.importorskip("numba")
    from toolkit.render.matcher import MatcherConfig, crossfade_pixels

    x = np.arange(256, dtype=np.uint8)
    frame = np.repeat(x, 256).reshape(256, 256, 1)
    faded = np.tile(x, 256).reshape(256, 256, 1)
    n = MatcherConfig().crossfade_frames
    for step in range(1, n + 1):
        w = float(np.float32(step / (n + 1.0)))  # as the matcher stores it (float32)
        expected = np.clip(w * frame.astype(np.float32) + (1 - w) * faded + 0.5, 0, 255).astype(np.uint8)
        assert np.array_equal(crossfade_pixels(frame, faded, w), expected)
        out = frame.copy()
        assert crossfade_pixels(out, faded, w, out=out) is out  # in place
        assert np.array_equal(out, expected)
    # a non-contiguous frame takes the numpy form: the same bytes
    strided = crossfade_pixels(frame[:, ::2], faded[:, ::2], 0.5)
    assert np.array_equal(strided, crossfade_pixels(frame, faded, 0.5)[:, ::2])
