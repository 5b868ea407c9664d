"""Renderer artefacts on real shared clips (issue 18): lip closure, texture frame choice, mouth interior."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from toolkit.paths import shared_data_dir

ANDREW = "av/FuxiVirtualHuman__styletalk__andrew_clip_1.mp4"
N_FRAMES = 64


def _tracked(relative: str, n: int = N_FRAMES, size: int = 256):
    # the render benchmark's loader (frames, tracked ReferenceTrack, disentangled motion), not a copy of it
    from scripts.bench.render_speed import load

    path = shared_data_dir() / relative
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found (set TOOLKIT_DATA to the shared data folder)")
    return load(path, n, size)


@pytest.fixture(scope="module")
def andrew():
    """andrew_clip_1's first 64 frames: its most frontal frame (pose only) has closed eyes."""
    return _tracked(ANDREW)


def _gap_ratio(points68: np.ndarray) -> np.ndarray:
    from toolkit.render.lips import inner_lip_gap

    p = np.asarray(points68, np.float64).reshape(-1, 68, 3)
    return inner_lip_gap(p) / np.linalg.norm(p[:, 48] - p[:, 54], axis=-1)


def test_texture_frame_has_open_eyes_where_the_most_frontal_frame_blinks(andrew):
    from toolkit.render.mesh import eye_openness
    from toolkit.render.warp3d import choose_texture_frame

    frames, ref, motion = andrew
    eyes = eye_openness(ref.landmarks)
    t_m = int(motion.frontal_index)
    # the premise: pose alone picks a frame with (nearly) closed eyes
    assert eyes[t_m] < 0.6 * np.percentile(eyes, 80)
    choice = choose_texture_frame(frames, ref)
    assert choice.index != t_m
    assert eyes[choice.index] >= 0.75 * np.percentile(eyes, 80)
    # still near-frontal: within the pose slack of the most frontal frame
    assert choice.pose_cost[choice.index] <= choice.pose_cost.min() + 0.09 + 1e-9


def test_transferred_lips_close_exactly_when_the_drivers_close(andrew):
    from toolkit.render.lips import inner_lip_gap, set_inner_lip_gap

    _, ref, _ = andrew
    drv = ref.frontal68.astype(np.float64)
    # relative transfer onto an open-mouthed identity (what expression_from_video does before the fix)
    identity = drv[int(np.argmax(_gap_ratio(drv)))]
    relative = identity[None] + (drv - np.median(drv, axis=0)[None])
    fixed = set_inner_lip_gap(relative, drv, 1.0)
    closed = int(np.argmin(_gap_ratio(drv)))
    assert inner_lip_gap(relative[closed])[0] > 2 * inner_lip_gap(drv[closed])[0] + 0.5  # the bug: lips stay apart
    np.testing.assert_allclose(inner_lip_gap(fixed), inner_lip_gap(drv), atol=1e-3)
    # only the lips move
    moved = np.abs(fixed - relative).max(axis=(0, 2)) > 1e-3  # float32 rounding elsewhere
    assert set(np.flatnonzero(moved)) <= {50, 51, 52, 56, 57, 58, 61, 62, 63, 65, 66, 67}


def test_open_mouth_texture_frame_closes_its_lips(andrew):
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, Warp3DConfig

    frames, ref, _ = andrew
    gaps = _gap_ratio(ref.frontal68)
    open_k, closed_k = int(np.argmax(gaps)), int(np.argmin(gaps))
    assert gaps[open_k] > 0.2 and gaps[closed_k] < 0.08
    ids = np.arange(0, N_FRAMES, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warp = Warp3D(frames[ids], ReferenceTrack.from_any(ref, ids), Warp3DConfig(frontal_index=int(open_k // 4)))
    assert warp.mesh.mouth_textured, "the texture frame shows an open mouth"
    targets = np.array([closed_k, open_k])
    gi = warp.generator_inputs(ref.pose[targets], ref.frontal68[targets])
    # closed target: the mouth fan has (almost) no pixels left, the lips meet
    from toolkit.render.project import project_mesh

    proj = project_mesh(
        warp.mesh, ref.rotation[targets], ref.translation[targets], ref.scale[targets],
        offsets=warp.rig.offsets(ref.frontal68[targets]),
    )  # fmt: skip
    fan = proj.fragments.triangle - warp.mesh.mouth_faces_start
    fan_pixels = ((fan >= 0) & (fan < 20)).sum(axis=(1, 2))
    # the fan shrinks with the gap (the "closed" frame is not exactly closed)
    assert fan_pixels[0] < 0.1 * fan_pixels[1], fan_pixels
    assert gi.rendered.shape[0] == 2


def test_mouth_interior_is_the_nearest_reference_warped_to_the_target_lips(andrew):
    from toolkit.render.project import project_mesh
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, Warp3DConfig

    frames, ref, _ = andrew
    open_k = int(np.argmax(_gap_ratio(ref.frontal68)))
    ids = np.array(sorted({0, 8, open_k, 40}))
    target = [open_k]
    errors = {}
    for paint in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # texture frame 8 (mouth less open than the target): its own interior would be stretched
            warp = Warp3D(
                frames[ids], ReferenceTrack.from_any(ref, ids),
                Warp3DConfig(frontal_index=int(np.flatnonzero(ids == 8)[0]), mouth_from_references=paint),
            )  # fmt: skip
        gi = warp.generator_inputs(ref.pose[target], ref.frontal68[target])
        proj = project_mesh(
            warp.mesh, ref.rotation[target], ref.translation[target], ref.scale[target],
            offsets=warp.rig.offsets(ref.frontal68[target]),
        )  # fmt: skip
        fan = proj.fragments.triangle[0] - warp.mesh.mouth_faces_start
        inside = (fan >= 0) & (fan < 20)
        assert inside.sum() > 100
        errors[paint] = np.abs(gi.rendered[0].astype(np.float64) - frames[open_k])[inside].mean()
        if paint:
            assert warp.mouth.choose(ref.frontal68[target])[0] == int(np.flatnonzero(ids == open_k)[0])
    # the target's own frame is a reference: its interior, mapped triangle by triangle, comes back
    assert errors[True] < 6.0 and errors[True] < 0.5 * errors[False], errors


def test_single_photo_gets_no_invented_interior(andrew):
    from toolkit.render.warp3d import ReferenceTrack, Warp3D

    frames, ref, _ = andrew
    closed_k = int(np.argmin(_gap_ratio(ref.frontal68)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warp = Warp3D(frames[closed_k : closed_k + 1], ReferenceTrack.from_any(ref, [closed_k]))
    assert warp.mouth is not None and not warp.mouth.usable.any()
    open_k = int(np.argmax(_gap_ratio(ref.frontal68)))
    gi = warp.generator_inputs(ref.pose[[closed_k]], ref.frontal68[[open_k]])
    from toolkit.render.project import project_mesh

    proj = project_mesh(
        warp.mesh, ref.rotation[[closed_k]], ref.translation[[closed_k]], ref.scale[[closed_k]],
        offsets=warp.rig.offsets(ref.frontal68[[open_k]]),
    )  # fmt: skip
    fan = proj.fragments.triangle[0] - warp.mesh.mouth_faces_start
    inside = (fan >= 0) & (fan < 20)
    assert inside.sum() > 30
    # a dark interior (the mesh's mouth colour gradient), never white teeth
    assert gi.rendered[0][inside].astype(np.float64).mean() < 90


FRINGE = "av/tanshuai0219__EDTalk__mouth_source.mp4"


def test_fringe_is_kept_off_the_face_texture_and_warned_about():
    from toolkit.render.checks import reference_warnings
    from toolkit.render.warp3d import Warp3D

    frames, ref, _ = _tracked(FRINGE, n=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warp = Warp3D(frames, ref)
    mesh = warp.mesh
    from toolkit.render.mesh import HairOverForeheadWarning

    hair_notes = [w for w in caught if issubclass(w.category, HairOverForeheadWarning)]
    assert hair_notes and all("hair over the forehead" in str(w.message) for w in hair_notes)
    # the fringe points of the texture frame (dark, above the brows) have no weight: the matched frame shows there
    from toolkit.render.mesh import canonical_vertices, forehead_hair

    k = mesh.source_index
    lm = ref.landmarks[k]
    canon = canonical_vertices(lm, ref.rotation[k], ref.translation[k], float(ref.scale[k]))
    hair = forehead_hair(frames[k], lm, canon, 0.42)
    assert hair.sum() >= 3
    assert (mesh.alpha[: len(hair)][hair] == 0).all()
    colour = frames[k][lm[:468, 1].astype(int), lm[:468, 0].astype(int)].astype(np.float64).mean(axis=1)
    assert colour[hair[:468]].max() < 0.5 * np.median(colour)
    messages = reference_warnings(frames, ref.landmarks, ref.rotation, ref.frontal68)
    assert any("hair covers the forehead" in m for m in messages), messages


def test_clean_reference_gets_no_warnings_and_a_tiny_face_does(andrew):
    from toolkit.render.checks import reference_warnings

    frames, ref, _ = andrew
    assert reference_warnings(frames, ref.landmarks, ref.rotation, ref.frontal68) == []
    # the same face seen from 4x further away (64 px crop of a 256 px one)
    small = reference_warnings(frames, ref.landmarks, ref.rotation, ref.frontal68, source_px_per_crop_px=0.25)
    assert len(small) == 1 and "pixels wide" in small[0]
    # every frame with the mouth open / eyes shut (the frames that show it, repeated)
    gaps = _gap_ratio(ref.frontal68)
    opened = np.flatnonzero(gaps > 0.2)
    msgs = reference_warnings(frames[opened], ref.landmarks[opened], ref.rotation[opened], ref.frontal68[opened])
    assert any("mouth is open in every reference frame" in m for m in msgs), msgs


def test_paste_back_keeps_the_full_resolution_frame_outside_the_face():
    """A 256 px face crop pasted into a real 1080p frame: only the face comes from the crop."""
    from types import SimpleNamespace

    import cv2

    from toolkit.io.media import read_video
    from toolkit.pipeline.paste import PasteBack

    path = shared_data_dir() / "av/ajay-sainy__Wav2Lip-GFPGAN__kim_7s_raw.mp4"
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found")
    frame = read_video(path, fps=25, max_frames=1)[0]
    h, w = frame.shape[:2]
    box = (w // 2 - 300, h // 2 - 300, w // 2 + 300, h // 2 + 300)
    ref = SimpleNamespace(frame_size=(h, w), crop_box=box, full_frames={3: frame})
    crop = cv2.resize(frame[box[1] : box[3], box[0] : box[2]], (256, 256), interpolation=cv2.INTER_AREA)
    face = np.zeros((256, 256), np.float32)
    face[80:180, 80:180] = 1.0  # where the renderer drew the face
    paste = PasteBack(ref, max_side=1920)
    sharp, soft = paste.apply(crop, 3, face), paste.apply(crop, 3)
    x0, y0, x1, y1 = paste.box
    # outside the face (inside the pasted box) the frame itself, untouched
    ring = np.ones((y1 - y0, x1 - x0), bool)
    ring[int(0.2 * (y1 - y0)) : int(0.8 * (y1 - y0)), int(0.2 * (x1 - x0)) : int(0.8 * (x1 - x0))] = False
    assert np.abs(sharp[y0:y1, x0:x1][ring].astype(int) - frame[y0:y1, x0:x1][ring]).max() <= 1

    # the old paste (whole box from the upscaled crop) is softer there
    def detail(img):
        return cv2.Laplacian(cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY), cv2.CV_64F)[ring].var()

    assert detail(sharp) > 1.2 * detail(soft)


def test_mouth_interior_comes_from_a_reference_opened_at_least_as_far(andrew):
    from toolkit.render.lips import lip_opening
    from toolkit.render.warp3d import ReferenceTrack, Warp3D

    frames, ref, _ = andrew
    ids = np.arange(0, N_FRAMES, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warp = Warp3D(frames[ids], ReferenceTrack.from_any(ref, ids))
    targets = ref.frontal68
    ref_open, tgt_open = lip_opening(ref.frontal68[ids]), lip_opening(targets)
    usable = warp.mouth.usable
    wide = (ref_open[None, usable] >= tgt_open[:, None]).any(axis=1)  # targets some usable reference covers
    chosen = warp.mouth.choose(targets)
    assert (ref_open[chosen[wide]] >= tgt_open[wide]).all()
    # the premise: by mouth shape alone, narrower references were picked (their lips filled the thin opening)
    warp.mouth.gaps = None
    shape_only = warp.mouth.choose(targets)
    assert (ref_open[shape_only[wide]] < tgt_open[wide]).sum() >= 3
