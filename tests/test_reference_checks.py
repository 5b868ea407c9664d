"""Reference warnings for glasses (issue 18, item 7), on real shared clips: the PC-AVS validation clip whose
speaker wears tinted glasses is warned about, a clip without glasses is not."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.paths import shared_data_dir

GLASSES = "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_741400163.mp4"
NO_GLASSES = "av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4"


def _tracked(relative: str, n: int = 8):
    from scripts.bench.render_speed import load

    path = shared_data_dir() / relative
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found (set TOOLKIT_DATA to the shared data folder)")
    frames, ref, _ = load(path, n, 256)
    return frames, ref


def test_glasses_are_warned_about_and_a_bare_face_is_not():
    from toolkit.render.checks import ReferenceLimits, nose_bridge_bar, reference_warnings

    limit = ReferenceLimits().glasses_bar
    frames, ref = _tracked(GLASSES)
    bar = nose_bridge_bar(frames, ref.landmarks)
    assert np.isfinite(bar).all() and bar.min() > 2 * limit, bar  # the bridge piece, in every frame
    messages = reference_warnings(frames, ref.landmarks, ref.rotation, ref.frontal68)
    assert sum("glasses over the eyes" in m for m in messages) == 1, messages

    frames, ref = _tracked(NO_GLASSES)
    bar = nose_bridge_bar(frames, ref.landmarks)
    assert np.isfinite(bar).all() and bar.max() < 0.5 * limit, bar
    messages = reference_warnings(frames, ref.landmarks, ref.rotation, ref.frontal68)
    assert not any("glasses" in m for m in messages), messages


def test_no_face_gives_no_bar():
    from toolkit.render.checks import nose_bridge_bar

    frames = np.zeros((2, 64, 64, 3), np.uint8)
    landmarks = np.full((2, 478, 3), np.nan)
    assert np.isnan(nose_bridge_bar(frames, landmarks)).all()
