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


def _hand_over_mouth(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The frames with a hand over mouth and chin: real skin (a cheek patch of the first frame, stretched) on a
    palm, four fingers with darker gaps and a wrist running out of the bottom edge, following the face.
    No shared clip shows a hand over the face, so this constructed one stands in for it."""
    import cv2

    lm0 = landmarks[0]
    side = 0.12 * np.linalg.norm(lm0[234, :2] - lm0[454, :2])
    x0, y0 = (lm0[50, :2] - side / 2).astype(int)
    patch = frames[0][y0 : y0 + int(side), x0 : x0 + int(side)].astype(np.float32)
    out = []
    for f, p in zip(frames, landmarks):
        h, w = f.shape[:2]
        fw, fh = np.linalg.norm(p[234, :2] - p[454, :2]), np.linalg.norm(p[10, :2] - p[152, :2])
        cx, cy = 0.5 * (p[13, :2] + p[14, :2]) + np.array([0.0, 0.12 * fh])
        mask, gaps = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (int(cx), int(cy)), (int(0.32 * fw), int(0.22 * fh)), -15, 0, 360, 1.0, -1)
        for i, dx in enumerate((-0.24, -0.08, 0.08, 0.24)):
            base = np.array([cx + dx * fw, cy - 0.1 * fh])
            tip = base + np.array([0.08 * fw, -0.22 * fh])
            cv2.line(mask, tuple(base.astype(int)), tuple(tip.astype(int)), 1.0, max(2, int(0.13 * fw)))
            if i:
                gap = base - np.array([0.08 * fw, 0.0])
                end = tuple((gap + 0.9 * (tip - base)).astype(int))
                cv2.line(gaps, tuple(gap.astype(int)), end, 1.0, max(1, int(0.012 * fw)))
        wrist = [[cx - 0.22 * fw, cy], [cx + 0.25 * fw, cy], [cx + 0.35 * fw, h + 10], [cx - 0.15 * fw, h + 10]]
        cv2.fillPoly(mask, [np.asarray(wrist, np.int32)], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.01 * fw))[..., None]
        shade = 1.0 - 0.35 * cv2.GaussianBlur(gaps, (0, 0), max(1.0, 0.006 * fw))[..., None]
        hand = cv2.resize(patch, (w, h), interpolation=cv2.INTER_CUBIC) * shade
        out.append(np.clip(mask * hand + (1.0 - mask) * f + 0.5, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.mark.parametrize("clip", [NO_GLASSES, GLASSES, "av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4"])
def test_a_hand_over_the_mouth_is_warned_about_and_the_plain_clip_is_not(clip, tmp_path):
    from toolkit.io.media import VideoWriter, read_video
    from toolkit.pipeline.pipeline import TalkingHeadPipeline, _reference_warnings
    from toolkit.render.checks import ReferenceLimits, mouth_line_contrast
    from toolkit.tracking import make_tracker

    path = shared_data_dir() / clip
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found (set TOOLKIT_DATA to the shared data folder)")
    limit = ReferenceLimits().covered_mouth_line
    pipeline = TalkingHeadPipeline()
    ref = pipeline.prepare(path)  # the pipeline's own reference stage and warning path
    assert not any("a hand" in m for m in _reference_warnings(ref)), clip
    assert np.mean(mouth_line_contrast(ref.crops, ref.landmarks) < limit) <= 0.15

    frames = read_video(path, fps=25, max_frames=24)
    covered = _hand_over_mouth(frames, make_tracker("mediapipe").track(frames).landmarks)
    with VideoWriter(tmp_path / "hand.mp4", fps=25) as writer:
        for frame in covered:
            writer.write(frame)
    ref = pipeline.prepare(tmp_path / "hand.mp4")
    assert ref.detected is None or ref.detected.all()  # the landmarker still finds the face, lips under the hand
    assert np.mean(mouth_line_contrast(ref.crops, ref.landmarks) < limit) >= 0.75
    messages = _reference_warnings(ref)
    assert sum("a hand" in m and "mouth and chin are uncovered" in m for m in messages) == 1, messages
