"""FID through pytorch-fid: InceptionV3 pool3 (2048-d) activations of all frames.

The field's protocol (field.md): pytorch-fid's ``InceptionV3`` with the
TF-ported FID weights (``pt_inception-2015-12-05-6726825d.pth``), pool3
features of all generated frames vs all ground-truth frames, Frechet distance
of the two Gaussians. FID depends on crop, resolution, image format and sample
count (biased for small N), so all of them are recorded with the value.

Weights are looked for at a given path, then in the library's cache
(``$TORCH_HOME/hub/checkpoints``); the library's own download is used only
when allowed. Without weights, :class:`InceptionFeatures` raises
:class:`~toolkit.errors.WeightsNotFoundError` saying where to put them, unless
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

from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.io.hashing import file_sha256

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
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
    engine: str = "onnxruntime"
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


def fid_identity(config: FidConfig) -> tuple[str, str]:
    """(label, weights id) of the network ``config`` asks for, without building it.

    The weights id is ``random-init(seed=N)`` or the sha256 of the weights file; it keys the
    feature cache, so a rerun whose activations are all cached never builds the network.
    """
    if config.random_init:
        return LABEL_RANDOM, f"random-init(seed={config.seed})"
    weights = find_fid_weights(config.weights)
    if weights is None:
        _, label, weights_id = build_inception(config)  # downloads (if allowed) or explains what is missing
        return label, weights_id
    return LABEL_FID, file_sha256(weights)


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
    if weights is None and not config.allow_download:
        raise WeightsNotFoundError(
            f"FID needs the Inception weights {FID_WEIGHTS_FILE}, not found in {library_cache_path().parent}.",
            f"Put the file there (or set TORCH_HOME), give its path with --fid-weights, allow pytorch-fid to "
            f"download it with --fid-download, or use --fid-random-init for a sanity number labelled "
            f"'{LABEL_RANDOM}'.",
        )
    if weights is None:  # the library's own download
        try:
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
        except Exception as exc:
            raise WeightsNotFoundError(
                f"pytorch-fid could not download {FID_WEIGHTS_FILE} ({type(exc).__name__}: {exc}).",
                "Download it elsewhere and give its path with --fid-weights.",
            ) from exc
        weights = library_cache_path()
        return model.eval(), LABEL_FID, file_sha256(weights)

    def builder() -> Any:
        net = _fid_inception_architecture()
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return net

    with _patched_fid_inception(builder):
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
    return model.eval(), LABEL_FID, file_sha256(weights)


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
