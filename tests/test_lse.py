"""LSE through the evaluation's feature extractor (``toolkit evaluate --syncnet``).

SyncNet's weights are not obtainable here (docs/EVALUATION.md), so this checks the wiring with the
real SyncNet architecture at random initialisation, saved as a user's file would be: the numbers
are meaningless, the path from frames and audio to cached LSE-D / LSE-C / offset is what is tested.
"""

from __future__ import annotations

import numpy as np
import pytest

from eval.features import FeatureCache, FeatureConfig, FeatureExtractor
from eval.landmarks68 import Dlib68, Dlib68Config
from eval.metrics.lse import LseConfig, build_syncnet
from tests.pipeline_media import SHARED_CLIP
from toolkit.constants import AUDIO_SAMPLE_RATE
from toolkit.io.media import iter_frames, read_audio


def test_lip_sync_is_computed_then_read_from_the_cache(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    weights = tmp_path / "syncnet_v2.model"
    torch.save(build_syncnet().state_dict(), weights)
    frames = np.stack([f for _, f in zip(range(40), iter_frames(SHARED_CLIP, size=224), strict=False)])
    landmarks = Dlib68(Dlib68Config()).video(frames).points
    audio = read_audio(SHARED_CLIP, sr=AUDIO_SAMPLE_RATE)[: len(frames) * AUDIO_SAMPLE_RATE // 25]
    config = LseConfig(model=str(weights), batch_size=8)
    extractor = FeatureExtractor(
        FeatureConfig(fid=None, csim=None, pose_backend=None, lse=config), FeatureCache(tmp_path / "cache")
    )
    calls = []

    def inputs():
        calls.append(1)
        return frames, landmarks, audio

    first = extractor.lip_sync("video", "audio", inputs)
    assert set(first) == {"LSE-D", "LSE-C", "offset"}
    assert np.isfinite(first["LSE-D"]) and first["LSE-C"] >= 0 and abs(first["offset"]) <= config.vshift
    again = extractor.lip_sync("video", "audio", inputs)
    assert again == first and len(calls) == 1
