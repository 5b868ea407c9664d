"""Expression PCA on frontalised landmarks of real clips: round trips, held-out error, artifacts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import InputFileError, ToolkitError
from toolkit.expression import ExpressionPCA

TRAIN = (
    "av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4",
    "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Audio_Source_00015.mp4",
    "silent/ali-vilab__dreamtalk__W009_front_surprised_level3_001.mp4",
)
HELD_OUT = "av/jixinya__EAMM__disgusted.mp4"
FRAMES = 40


def _frontal68(path: Path) -> np.ndarray:
    from toolkit.io.media import iter_frames
    from toolkit.motion import disentangle
    from toolkit.tracking import make_tracker

    track = make_tracker("mediapipe").track(iter_frames(path, max_frames=FRAMES))
    return disentangle(track.landmarks).frontal68


@pytest.fixture(scope="module")
def train(shared_file: Callable[[str], Path]) -> np.ndarray:
    return np.concatenate([_frontal68(shared_file(p)) for p in TRAIN])


@pytest.fixture(scope="module")
def held_out(shared_file: Callable[[str], Path]) -> np.ndarray:
    return _frontal68(shared_file(HELD_OUT))


@pytest.fixture(scope="module")
def pca(train: np.ndarray) -> ExpressionPCA:
    return ExpressionPCA().fit(train, fitted_on="3 shared clips x 40 frames (test)")


def test_twenty_components_reconstruct_real_landmarks_closely(pca, train, held_out) -> None:
    assert pca.n_components == 20 and pca.components_.shape == (20, 204)
    evr = pca.explained_variance_ratio_
    assert np.all(np.diff(evr) <= 1e-12) and 0.95 < evr.sum() <= 1.0
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(20), atol=1e-9)
    coeffs = pca.transform(train)
    assert coeffs.shape == (len(train), 20) and coeffs.dtype == np.float32
    err_train = np.linalg.norm(pca.inverse_transform(coeffs) - train, axis=-1).mean()
    # unexplained variance <-> reconstruction error (same quantity, two ways)
    resid_var = np.sum((pca.reconstruct(train) - train) ** 2) / (len(train) - 1)
    total_var = pca.explained_variance_.sum() / evr.sum()
    assert abs(resid_var / total_var - (1 - evr.sum())) < 1e-3
    # below a pixel on a 256 crop for the training frames; a new person with 5 components is worse than with 20
    assert err_train < 1.0
    err_held_20 = np.linalg.norm(pca.reconstruct(held_out) - held_out, axis=-1).mean()
    pca5 = ExpressionPCA(n_components=5).fit(train)
    err_held_5 = np.linalg.norm(pca5.reconstruct(held_out) - held_out, axis=-1).mean()
    assert err_held_20 < err_held_5


def test_full_rank_round_trip_is_exact(train) -> None:
    subset = train[:30]  # 30 samples -> rank 29 after centring; 30 components span everything
    full = ExpressionPCA(n_components=30).fit(subset)
    np.testing.assert_allclose(full.reconstruct(subset), subset, atol=1e-3)
    single = full.inverse_transform(full.transform(subset[:1])[0])
    assert single.shape == (68, 3)


def test_save_load_round_trip_without_pickle(pca, train, tmp_path) -> None:
    path = pca.save(tmp_path / "expression_pca.npz")
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        meta = json.loads(str(z["metadata"]))
    assert meta["format_version"] == 1 and meta["n_components"] == 20
    assert meta["fitted_on"].startswith("3 shared clips") and meta["point_shape"] == [68, 3]
    loaded = ExpressionPCA.load(path)
    np.testing.assert_array_equal(loaded.transform(train), pca.transform(train))
    np.testing.assert_array_equal(loaded.explained_variance_ratio_, pca.explained_variance_ratio_)


def test_bad_artifacts_and_inputs_are_clear_errors(pca, tmp_path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, metadata=np.array([{"kind": "expression-pca"}], dtype=object), mean=np.zeros(3))
    with pytest.raises(InputFileError, match="not an expression PCA"):
        ExpressionPCA.load(pickled)
    with pytest.raises(InputFileError, match="does not exist"):
        ExpressionPCA.load(tmp_path / "absent.npz")
    newer = tmp_path / "newer.npz"
    pca.save(newer)
    with np.load(newer) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["metadata"]))
    meta["format_version"] = 99
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(newer, **arrays)
    with pytest.raises(InputFileError, match="version 99"):
        ExpressionPCA.load(newer)
    with pytest.raises(ToolkitError, match="fitted on"):
        pca.transform(np.zeros((2, 478, 3)))
    with pytest.raises(ToolkitError, match="not fitted"):
        ExpressionPCA().transform(np.zeros((2, 68, 3)))
    with pytest.raises(ToolkitError, match="components on 5 samples"):
        ExpressionPCA().fit(np.zeros((5, 68, 3)))
