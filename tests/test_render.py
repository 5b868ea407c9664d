"""The 3D-aware module (toolkit.render) on real shared clips: mesh, projector, matcher, 3D-warp, controls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from toolkit.errors import ToolkitError
from toolkit.paths import shared_data_dir

CLIP = "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_731200067.mp4"
N_FRAMES = 60


@pytest.fixture(scope="module")
def clip():
    """First 60 frames of a real head-moving clip at 256x256, tracked and disentangled."""
    path = shared_data_dir() / CLIP
    if not path.is_file():
        pytest.skip(f"shared clip {path} not found (set TOOLKIT_DATA to the shared data folder)")
    from toolkit.io.media import read_video
    from toolkit.motion import disentangle
    from toolkit.render.warp3d import ReferenceTrack
    from toolkit.tracking import make_tracker

    frames = read_video(path, fps=25, size=(256, 256), max_frames=N_FRAMES)
    track = make_tracker("mediapipe").track(frames)
    motion = disentangle(track.landmarks, valid=track.reliable)
    ref = ReferenceTrack(track.landmarks, motion.pose, motion.frontal68, track.detected)
    return frames, ref


@pytest.fixture(scope="module")
def warp(clip):
    from toolkit.render.warp3d import Warp3D

    frames, ref = clip
    return Warp3D(frames[:32], _subset(ref, np.arange(32)))


def _subset(ref, ids):
    from toolkit.render.warp3d import ReferenceTrack

    return ReferenceTrack.from_any(ref, ids)


def _rotation_deg(a, b):
    from toolkit.motion.rigid import axis_angle_to_matrix

    rel = axis_angle_to_matrix(a) @ axis_angle_to_matrix(np.asarray(b).reshape(1, 3))[0].T
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))


# ---------------------------------------------------------------- topology and rasteriser


def test_topology_is_mediapipes_closed_surface_with_four_openings():
    from toolkit.render.mesh import mediapipe_topology

    topo = mediapipe_topology()
    assert topo.triangles.shape == (852, 3)
    assert sorted(len(x) for x in (topo.oval, topo.mouth, *topo.eyes)) == [16, 16, 20, 36]
    directed = [(int(t[k]), int(t[(k + 1) % 3])) for t in topo.triangles for k in range(3)]
    assert len(set(directed)) == len(directed), "winding must be consistent (each directed edge once)"
    assert 13 in topo.mouth and 14 in topo.mouth  # inner lips


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_rasteriser_covers_triangle_area_and_keeps_nearest(backend):
    from toolkit.render.rasterize import pick_backend, rasterize

    if backend not in ("numpy",) and pick_backend("auto") != backend:
        pytest.skip(f"{backend} not installed")
    far = [[10, 10, 5.0], [90, 10, 5.0], [10, 90, 5.0]]
    near = [[20, 20, 1.0], [60, 20, 1.0], [20, 60, 1.0]]
    verts = np.array(far + near, np.float32)
    faces = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
    frags = rasterize(verts, faces, 100, 100, backend=backend)
    assert abs(int(frags.covered.sum()) - 0.5 * 80 * 80) < 80 * 1.5  # area +- one edge of pixels
    assert frags.triangle[0, 30, 30] == 1 and np.isclose(frags.depth[0, 30, 30], 1.0)
    assert frags.triangle[0, 15, 70] == 0 and np.isclose(frags.depth[0, 15, 70], 5.0)
    assert np.allclose(frags.barycentric[frags.covered].sum(-1), 1.0, atol=1e-5)
    # a non-finite vertex drops its triangle only
    verts[0, 0] = np.nan
    frags = rasterize(verts, faces, 100, 100, backend=backend)
    assert set(np.unique(frags.triangle)) == {-1, 1}


def test_numba_and_numpy_rasterisers_agree_on_a_real_face(clip, warp):
    from toolkit.render.rasterize import available_backends, rasterize

    if "numba" not in available_backends():
        pytest.skip("numba not installed")
    _, ref = clip
    verts = warp.mesh.posed(ref.rotation[40:44], ref.translation[40:44], ref.scale[40:44])
    a = rasterize(verts, warp.mesh.faces, 256, 256, backend="numba")
    b = rasterize(verts, warp.mesh.faces, 256, 256, backend="numpy")
    assert a.covered.mean() > 0.1
    assert (a.triangle == b.triangle).mean() > 0.999
    both = a.covered & b.covered
    assert np.abs(a.depth[both] - b.depth[both]).max() < 1e-3


def test_bad_inputs_raise_toolkit_errors():
    from toolkit.render.rasterize import RenderBackendError, pick_backend, rasterize

    with pytest.raises(RenderBackendError, match="Unknown render backend"):
        pick_backend("opengl")
    with pytest.raises(ToolkitError, match="faces must be"):
        rasterize(np.zeros((3, 3), np.float32), np.array([[0, 1, 5]]), 8, 8)
    from toolkit.render.mesh import MeshBuildError, build_face_mesh

    with pytest.raises(MeshBuildError, match=r"468\+ MediaPipe"):
        build_face_mesh(np.zeros((64, 64, 3), np.uint8), np.zeros((68, 3)), np.zeros(3), np.zeros(3), 1.0)


# ---------------------------------------------------------------- mesh + projector (Eq. 1)


def test_eq1_places_the_mesh_on_each_frames_tracked_landmarks(clip, warp):
    _, ref = clip
    mesh = warp.mesh
    k = warp.frontal_index
    own = mesh.posed(ref.rotation[k][None], ref.translation[k][None], ref.scale[k][None])[0]
    assert np.abs(own[: mesh.n_landmarks] - ref.landmarks[k]).max() < 1e-2
    # other frames: the rigid upper face (brows, eyes, nose bridge) lands on that frame's landmarks
    rigid = [33, 133, 362, 263, 168, 6, 197, 105, 334]
    face_w = np.linalg.norm(ref.landmarks[k, 234, :2] - ref.landmarks[k, 454, :2])
    t = np.arange(32, N_FRAMES)
    posed = mesh.posed(ref.rotation[t], ref.translation[t], ref.scale[t])
    err = np.linalg.norm(posed[:, rigid, :2] - ref.landmarks[t][:, rigid, :2], axis=-1)
    assert np.median(err) / face_w < 0.03


def test_self_consistency_at_the_frontal_frames_own_pose(clip, warp):
    frames, ref = clip
    k = warp.frontal_index
    gi = warp.generator_inputs(ref.pose[k])
    inside = gi.mask[0] >= 0.99
    assert inside.sum() > 5000
    err = gi.rendered[0].astype(float)[inside] - frames[k].astype(float)[inside]
    psnr = 10 * np.log10(255.0**2 / max(float((err**2).mean()), 1e-12))
    assert psnr > 40.0
    assert gi.matched_index[0] == k  # Eq. 2: its own pose matches itself


def test_warp_beats_static_on_real_frames_at_other_poses(clip, warp):
    from skimage.metrics import structural_similarity

    from toolkit.render.mesh import mediapipe_topology

    frames, ref = clip
    k = warp.frontal_index
    t = np.arange(32, N_FRAMES)
    change = _rotation_deg(ref.rotation[t], ref.rotation[k])
    t = t[np.argsort(-change)[:6]]  # the most turned frames
    assert change.max() > 4.0, "the test clip should move its head"
    out = warp.render(ref.pose[t], ref.frontal68[t])
    import cv2

    gains = []
    for j, i in enumerate(t):
        mask = np.zeros((256, 256), np.uint8)
        cv2.fillPoly(mask, [np.round(ref.landmarks[i, mediapipe_topology().oval, :2]).astype(np.int32)], 1)
        inside = mask.astype(bool)
        _, s_warp = structural_similarity(out[j], frames[i], channel_axis=2, data_range=255, full=True)
        _, s_static = structural_similarity(frames[k], frames[i], channel_axis=2, data_range=255, full=True)
        gains.append(s_warp.mean(2)[inside].mean() - s_static.mean(2)[inside].mean())
    assert np.mean(gains) > 0.05, gains


def test_output_size_and_generator_inputs_shapes(clip, warp):
    from toolkit.render.warp3d import Warp3D, Warp3DConfig

    frames, ref = clip
    w = Warp3D(frames[:32], _subset(ref, np.arange(32)), Warp3DConfig(output_size=(128, 128)))
    gi = w.generator_inputs(ref.pose[40:45])
    assert gi.rendered.shape == (5, 128, 128, 3) and gi.rendered.dtype == np.uint8
    assert gi.matched.shape == (5, 128, 128, 3) and gi.mask.shape == (5, 128, 128)
    assert 0.0 <= gi.mask.min() and gi.mask.max() <= 1.0 and (gi.mask > 0.99).any()
    assert np.isfinite(gi.depth[gi.mask > 0]).all()
    assert gi.matched_index.min() >= 0 and gi.matched_index.max() < 32
    # the matched frames are the reference frames resized (each resized once and kept), as fresh arrays
    import cv2

    expected = np.stack([cv2.resize(frames[k], (128, 128), interpolation=cv2.INTER_AREA) for k in gi.matched_index])
    assert np.array_equal(gi.matched, expected)
    again = w._reference_frames_at(gi.matched_index, (128, 128))
    again[...] = 0  # the caller's to change (cross-faded in place): the kept copies stay as they were
    assert np.array_equal(w._reference_frames_at(gi.matched_index, (128, 128)), expected)


# ---------------------------------------------------------------- matcher (Eq. 2)


def test_matcher_is_eq2_and_supports_exclude_and_rank():
    from toolkit.render.matcher import MatcherConfig, match_motion

    refs = np.array([[0, 0, 0, 0, 0, 0], [0.1, 0, 0, 5, 0, 0], [0.3, 0, 0, 0, 0, 0]], np.float32)
    target = np.array([[0.12, 0, 0, 4, 0, 0], [0.28, 0, 0, 0, 0, 0]], np.float32)
    literal = MatcherConfig(translation_unit_px=1.0, image_plane_only=False)
    res = match_motion(target, refs, literal)
    assert res.index.tolist() == [1, 2]
    assert np.isclose(res.cost[0], 0.02**2 + 1.0, atol=1e-5)
    assert match_motion(target, refs, literal, exclude=np.array([1, -1])).index.tolist() == [0, 2]
    assert match_motion(target, refs, literal, rank=1).index.tolist() == [0, 0]
    with pytest.raises(ToolkitError, match=r"\(N, 6\)"):
        match_motion(np.zeros((2, 3)), refs)


# ---------------------------------------------------------------- expression rig


def test_expression_moves_mouth_and_jaw_only(warp):
    from toolkit.render.rig import mesh_points_68

    rig = warp.rig
    assert np.abs(rig.offsets(rig.reference68)).max() < 1e-4  # reference expression: no motion
    target = rig.reference68.copy()
    mouth_w = np.linalg.norm(target[48] - target[54])
    target[57:60, 1] += 0.3 * mouth_w  # lower outer lip down
    target[65:68, 1] += 0.3 * mouth_w  # lower inner lip down
    target[6:11, 1] += 0.2 * mouth_w  # chin down
    moved = warp.mesh.vertices + rig.offsets(target)[0]
    mesh68 = mesh_points_68(warp.mesh)
    from toolkit.tracking.landmarks68 import mediapipe_to_68

    new68 = mediapipe_to_68(moved[: warp.mesh.n_landmarks])
    assert np.allclose(new68[66] - mesh68[66], target[66] - rig.reference68[66], atol=0.02 * mouth_w)
    upper = list(range(17, 48))  # brows, nose, eyes stay
    assert np.abs(new68[upper] - mesh68[upper]).max() < 0.01 * mouth_w


# ---------------------------------------------------------------- edge cases


def test_extreme_poses_are_clamped_to_the_stated_limits(warp):
    from toolkit.motion.rigid import axis_angle_to_matrix
    from toolkit.render.controls import synthetic_motion
    from toolkit.render.project import PoseLimits, euler_yaw_pitch_roll, project_mesh

    mesh = warp.mesh
    pose = synthetic_motion("shake", 25, warp.held_pose(1), 85.0, 25.0)
    proj = project_mesh(mesh, pose.rotation, pose.translation, pose.scale, limits=PoseLimits())
    assert proj.clamp is not None and proj.clamp.n_clamped > 0
    assert np.abs(proj.clamp.yaw_pitch_roll_deg[:, 0]).max() > 80.0
    # the rendered pose is the clamped one: re-derive yaw from the vertices' rotation
    from toolkit.render.project import clamp_pose

    rot, _, _, _ = clamp_pose(mesh, pose.rotation, pose.translation, pose.scale, mesh.frame_size)
    rel = axis_angle_to_matrix(rot) @ axis_angle_to_matrix(mesh.source_rotation[None])[0].T
    assert np.degrees(np.abs(euler_yaw_pitch_roll(rel)[:, 0])).max() <= 55.0 + 1e-3
    assert proj.mask.max(axis=(1, 2)).min() > 0.5  # still a face in every frame


def test_occluded_frontal_frame_is_not_the_texture_source(clip):
    from toolkit.render.warp3d import Warp3D

    frames, ref = clip
    ids = np.arange(32)
    clean = Warp3D(frames[ids], _subset(ref, ids))
    occluded = frames[ids].copy()
    k = clean.frontal_index
    lm = ref.landmarks[k]
    x0, y0 = lm[:, :2].min(0).astype(int)
    x1, y1 = lm[:, :2].max(0).astype(int)
    occluded[k, (y0 + y1) // 2 : y1, x0:x1] = (200, 180, 40)  # a "hand" over the lower face
    warp = Warp3D(occluded, _subset(ref, ids))
    assert warp.texture_outliers[k] > 0.2
    assert warp.frontal_index != k


def test_tiny_face_warns_and_still_renders(clip):
    import cv2

    from toolkit.motion.pose import HeadPose
    from toolkit.render.warp3d import ReferenceTrack, Warp3D

    frames, ref = clip
    ids = np.arange(8)
    small = np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) for f in frames[ids]])
    f = 48 / 256
    tiny = ReferenceTrack(
        ref.landmarks[ids] * f, HeadPose(ref.rotation[ids], ref.translation[ids] * f, ref.scale[ids] * f)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warp = Warp3D(small, tiny)
    assert any("tiny face" in str(w.message) for w in caught)
    out = warp.render(tiny.pose)
    assert out.shape == (8, 48, 48, 3)
    assert np.abs(out.astype(int) - small.astype(int)).mean() < 20


# ---------------------------------------------------------------- controls, method, CLI


def test_controls_reproduce_identity_and_requested_amplitude(clip, warp):
    from toolkit.motion.rigid import axis_angle_to_matrix
    from toolkit.render.controls import retarget_motion, synthetic_motion, transfer_expression
    from toolkit.render.project import euler_yaw_pitch_roll

    _, ref = clip
    k = warp.frontal_index
    same = retarget_motion(ref.pose, ref.pose[k], ref.pose[k])
    assert np.allclose(same.rotation, ref.rotation, atol=1e-4)
    assert np.allclose(same.translation, ref.translation, atol=1e-2) and np.allclose(same.scale, ref.scale, atol=1e-5)
    nod = synthetic_motion("nod", 50, ref.pose[k], amplitude_deg=20, period_frames=50)
    rel = axis_angle_to_matrix(nod.rotation) @ axis_angle_to_matrix(ref.rotation[k][None])[0].T
    ypr = np.degrees(euler_yaw_pitch_roll(rel))
    assert abs(np.abs(ypr[:, 1]).max() - 20) < 0.5 and np.abs(ypr[:, [0, 2]]).max() < 1e-3
    neutral = np.median(ref.frontal68, axis=0)
    expr = transfer_expression(ref.frontal68, neutral)  # the clip's own expression on its own median face
    assert np.allclose(expr, ref.frontal68, atol=1e-4)
    # given the reference's frames, its neutral face is their median (as the driver's): the clip comes back
    assert np.allclose(transfer_expression(ref.frontal68, ref.frontal68), ref.frontal68, atol=1e-4)
    # one frame's face as the neutral adds that frame's own expression to every frame
    one = transfer_expression(ref.frontal68, ref.frontal68[k])
    assert np.abs(one - ref.frontal68).max() > 100 * np.abs(expr - ref.frontal68).max()


def test_warp3d_method_returns_frames(clip):
    from toolkit.render.warp3d import warp3d_method

    frames, ref = clip
    ids = np.arange(16)
    t = np.arange(50, 54)
    out = warp3d_method(frames[ids], _subset(ref, ids), ref.pose[t], None)
    assert out.shape == (4, 256, 256, 3) and out.dtype == np.uint8


def test_render_demo_cli_reports_a_missing_video(tmp_path, capsys):
    from toolkit.cli import main

    code = main(["render-demo", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4"), "--synthetic", "nod"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_yaw_pitch_roll_matches_scipys_intrinsic_yxz():
    from scipy.spatial.transform import Rotation

    from toolkit.render.project import euler_yaw_pitch_roll, from_yaw_pitch_roll

    rng = np.random.default_rng(0)
    angles = rng.uniform([-1.5, -1.4, -1.5], [1.5, 1.4, 1.5], size=(200, 3))
    mats = from_yaw_pitch_roll(angles)
    assert np.allclose(mats, Rotation.from_euler("YXZ", angles).as_matrix(), atol=1e-12)
    assert np.allclose(euler_yaw_pitch_roll(mats), angles, atol=1e-9)


def test_a_blinking_frontal_frame_is_not_the_texture_source(clip):
    from toolkit.render.warp3d import ReferenceTrack, Warp3D

    frames, ref = clip
    ids = np.arange(32)
    clean = Warp3D(frames[ids], _subset(ref, ids))
    k = clean.frontal_index
    lm = ref.landmarks[ids].copy()
    lm[k, 159] = lm[k, 145]  # upper lids onto lower lids: eyes shut
    lm[k, 386] = lm[k, 374]
    blink = ReferenceTrack(lm, ref.pose[ids], ref.frontal68[ids])
    assert Warp3D(frames[ids], blink).frontal_index != k


def test_record_generator_inputs_never_matches_a_reference_target_to_itself(clip):
    from types import SimpleNamespace

    from toolkit.render.warp3d import record_generator_inputs

    frames, ref = clip
    record = SimpleNamespace(
        landmarks=ref.landmarks,
        pose=ref.pose,
        frontal68=ref.frontal68,
        detected=ref.detected,
        frames=lambda: frames,
    )
    refs = np.arange(0, 32, 4)
    gi = record_generator_inputs(record, refs, refs[:4])
    assert (gi.matched_index != np.arange(4)).all()
    assert gi.rendered.shape == (4, 256, 256, 3)
