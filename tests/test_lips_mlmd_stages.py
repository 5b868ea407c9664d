"""scripts/lips_mlmd_stages.py: its two measuring pieces on a real clip (fast, no rendering)."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.paths import shared_data_dir

CLIP = shared_data_dir() / "av" / "ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4"  # 1920x1080: not square


@pytest.mark.skipif(not CLIP.exists(), reason="shared clip not available")
def test_commanded_points_land_on_the_evaluation_frame_of_a_wide_video() -> None:
    """The pipeline's own 68 points of the reference (crop pixels), mapped by ``crop_to_eval``, fall on dlib's
    points of the same frames as ``toolkit evaluate`` reads them (centre square crop, 256x256)."""
    from eval.features import FeatureConfig
    from eval.landmarks68 import Dlib68
    from eval.video import to_eval_frame
    from scripts.lips_mlmd_stages import MOUTH, crop_to_eval, mouth_parts
    from toolkit.io.media import iter_frames
    from toolkit.pipeline.config import GenerationConfig
    from toolkit.pipeline.pipeline import TalkingHeadPipeline

    frames = np.stack(list(iter_frames(CLIP, fps=25, max_frames=6)))
    assert frames.shape[2] != frames.shape[1]  # the case a (width, height) mix-up gets wrong
    ref = TalkingHeadPipeline(GenerationConfig(output="crop", max_seconds=0)).prepare(frames)
    mapped = crop_to_eval(ref.landmarks68, ref)
    dlib = Dlib68(FeatureConfig(fid=None, csim=None).dlib).video(np.stack([to_eval_frame(f) for f in frames])).points
    parts = mouth_parts(mapped, dlib)
    assert parts["position"] < 3.0 and parts["m_lmd"] < 4.0  # px at 256: trackers differ by a little, not a face
    # the split itself: a pure shift of the mouth is all position, no shape
    shifted = dlib.copy()
    shifted[:, MOUTH] += np.array([3.0, 4.0], np.float32)
    moved = mouth_parts(shifted, dlib)
    assert moved["position"] == pytest.approx(5.0, abs=1e-4) and moved["shape"] == pytest.approx(0.0, abs=1e-4)
    assert moved["m_lmd"] == pytest.approx(5.0, abs=1e-4) and moved["dy"] == pytest.approx(4.0, abs=1e-4)
