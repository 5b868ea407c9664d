"""Paste-back seam (issue 18, item 6): a face pasted into a full-resolution frame is matched to it in sharpness
and colour. Real frames: kim_7s_raw (1920x1080), its own face crop made soft (a 256 px face upscaled into the
frame, as a render at 256 is) and tinted (a texture frame under other light), pasted back over itself."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics.seam import seam_colour_error, seam_sharpness_match
from toolkit.paths import shared_data_dir

KIM = "av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4"


@pytest.fixture(scope="module")
def kim():
    from eval.video import read_native_frames
    from toolkit.pipeline import GenerationConfig, TalkingHeadPipeline

    path = shared_data_dir() / KIM
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found (set TOOLKIT_DATA to the shared data folder)")
    frames = read_native_frames(path, 0, 2)
    cfg = GenerationConfig(output="paste-back", size=512, k=1, reference_frames=2, max_paste_side=1920)
    return frames, TalkingHeadPipeline(cfg).prepare(frames)


def _paste(ref, crop: np.ndarray, match_seam: bool):
    """Frame 0's crop pasted into frame 0 with an elliptical face weight; (output, paste box, face weight)."""
    import cv2

    from toolkit.pipeline.paste import PasteBack

    side = crop.shape[0]
    mask = np.zeros((side, side), np.float32)
    cv2.ellipse(mask, (side // 2, side // 2), (int(side * 0.3), int(side * 0.38)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), side / 40)
    paste = PasteBack(ref, 1920, match_seam=match_seam)
    out = paste.apply(crop, 0, mask)
    return out, paste.box, paste.last_alpha


def test_a_soft_tinted_face_is_matched_to_the_frame_at_the_seam(kim):
    import cv2

    frames, ref = kim
    real = frames[0]
    soft = cv2.resize(ref.crops[0], (256, 256), interpolation=cv2.INTER_AREA)  # a 256 px render of a ~600 px face
    tinted = np.clip(soft.astype(np.int16) + np.array([14, 4, -10], np.int16), 0, 255).astype(np.uint8)
    scores, boxes = {}, {}
    for match in (False, True):
        out, (x0, y0, x1, y1), alpha = _paste(ref, tinted, match)
        boxes[match], box_real = out[y0:y1, x0:x1], real[y0:y1, x0:x1]
        scores[match] = (
            seam_sharpness_match(boxes[match], box_real, alpha),
            seam_colour_error(boxes[match], box_real, alpha),
        )
    # the face's middle (eyes, mouth) stays as rendered: both corrections are confined to the seam
    h, w = alpha.shape
    centre = np.zeros_like(alpha, bool)
    centre[int(h * 0.4) : int(h * 0.6), int(w * 0.4) : int(w * 0.6)] = True
    centre &= alpha >= 0.99
    change = np.abs(boxes[True][centre].astype(np.float32) - boxes[False][centre].astype(np.float32))
    assert change.mean() < 1.0 and np.abs(change.mean(0)).max() < 2.0, change.mean(0)
    (sharp_off, colour_off), (sharp_on, colour_on) = scores[False], scores[True]
    # as rendered: the upscaled face is visibly softer than its surroundings, and tinted at the seam
    assert sharp_off < 0.8 and colour_off > 5.0, scores
    # matched: the face's side of the seam as sharp relative to the frame's side as in the real frame, and most
    # of the colour step gone
    assert 0.85 < sharp_on < 1.2 and colour_on < 0.5 * colour_off, scores


def test_seam_measures_of_the_real_frame_against_itself(kim):
    frames, ref = kim
    out, (x0, y0, x1, y1), alpha = _paste(ref, ref.crops[0], False)
    real = frames[0][y0:y1, x0:x1]
    assert seam_colour_error(real, real, alpha) == 0.0
    assert seam_sharpness_match(real, real, alpha) == pytest.approx(1.0)
    # the paste of the frame's own (downscaled to 512, upscaled back) crop: softer inside, same colour
    assert seam_sharpness_match(out[y0:y1, x0:x1], real, alpha) < 0.95
    assert seam_colour_error(out[y0:y1, x0:x1], real, alpha) < 1.5


def test_a_face_not_much_enlarged_is_left_as_rendered(kim):
    """Seam matching is for a face enlarged 1.5 times or more into the frame (a 256 px face in a 1080p frame);
    a face shrunk into it, or enlarged a little, is left as rendered."""
    from toolkit.pipeline.paste import SeamMatch

    frames, ref = kim
    face = ref.crops[0].astype(np.float32)
    frame = np.ascontiguousarray(frames[0][: face.shape[0], : face.shape[1]]).astype(np.float32)
    alpha = np.linspace(0.0, 1.0, face.shape[1], dtype=np.float32)[None].repeat(face.shape[0], 0)
    for upscale in (0.8, 1.2):
        assert np.array_equal(SeamMatch()(face, frame, alpha, upscale), face)
    assert not np.array_equal(SeamMatch()(face, frame, alpha, 2.0), face)
