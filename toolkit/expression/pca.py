"""Expression PCA (paper Sec. 3.2, App. A.2): 20 principal components of
frontalised 68-point landmarks.

The expression learner predicts PCA coefficients instead of 204 raw
coordinates; 20 components keep the mouth/jaw motion and drop tracker noise.
Shapes are flattened (68 * 3 = 204 values, x/y/z of the frontalised
landmarks from :mod:`toolkit.motion`) and centred on the training mean.

Artifacts are one ``.npz`` of plain arrays plus a JSON metadata string
(format version, n_components, what it was fitted on); loading uses
``allow_pickle=False``, so a file can never run code.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import N_EXPRESSION_PCA
from toolkit.errors import InputFileError, ToolkitError

FORMAT_VERSION = 1
_KIND = "expression-pca"


@dataclass
class ExpressionPCA:
    """PCA over flattened landmark shapes (default: 20 components of (68, 3) shapes)."""

    n_components: int = N_EXPRESSION_PCA
    #: free-text provenance written into the artifact (dataset, clips, frames)
    fitted_on: str = ""
    mean_: np.ndarray | None = None  # (D,)
    components_: np.ndarray | None = None  # (K, D) orthonormal rows
    explained_variance_: np.ndarray | None = None  # (K,)
    explained_variance_ratio_: np.ndarray | None = None  # (K,)
    point_shape: tuple[int, ...] = (68, 3)
    n_samples_: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    # -- fitting ------------------------------------------------------------------
    def fit(self, shapes: np.ndarray, fitted_on: str | None = None) -> ExpressionPCA:
        """Fit on (T, 68, 3) (or (T, D)) frontalised landmarks of a training set."""
        x, point_shape = self._flatten(shapes, fitting=True)
        n, d = x.shape
        if self.n_components < 1 or self.n_components > min(n, d):
            raise ToolkitError(
                f"Cannot fit {self.n_components} PCA components on {n} samples of dimension {d}.",
                f"Use at least {self.n_components} frames, or fewer components (at most {min(n, d)}).",
            )
        self.point_shape = point_shape
        self.mean_ = x.mean(axis=0)
        xc = x - self.mean_
        # SVD of the centred data: rows of vt are the principal axes
        _, sing, vt = np.linalg.svd(xc, full_matrices=False)
        var = sing**2 / max(n - 1, 1)
        total = var.sum()
        k = self.n_components
        # deterministic sign: largest-magnitude coordinate of each axis positive
        signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
        vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
        self.components_ = vt[:k]
        self.explained_variance_ = var[:k]
        self.explained_variance_ratio_ = var[:k] / total if total > 0 else np.zeros(k)
        self.n_samples_ = int(n)
        if fitted_on is not None:
            self.fitted_on = fitted_on
        return self

    # -- use ----------------------------------------------------------------------
    def transform(self, shapes: np.ndarray) -> np.ndarray:
        """(T, 68, 3) shapes -> (T, K) float32 coefficients."""
        self._require_fitted()
        x, _ = self._flatten(shapes)
        return ((x - self.mean_) @ self.components_.T).astype(np.float32)  # type: ignore[union-attr]

    def inverse_transform(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, K) (or (K,)) coefficients -> (T, 68, 3) float32 shapes."""
        self._require_fitted()
        c = np.asarray(coefficients, np.float64)
        single = c.ndim == 1
        c = np.atleast_2d(c)
        if c.shape[-1] != self.components_.shape[0]:  # type: ignore[union-attr]
            raise ToolkitError(
                f"Got {c.shape[-1]} PCA coefficients; this PCA has {self.components_.shape[0]}.",  # type: ignore[union-attr]
                "Use coefficients produced by the same PCA artifact.",
            )
        x = c @ self.components_ + self.mean_  # type: ignore[operator]
        out = x.reshape((c.shape[0], *self.point_shape)).astype(np.float32)
        return out[0] if single else out

    def reconstruct(self, shapes: np.ndarray) -> np.ndarray:
        return self.inverse_transform(self.transform(shapes))

    # -- persistence ----------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "format_version": FORMAT_VERSION,
            "n_components": int(self.n_components),
            "point_shape": list(self.point_shape),
            "n_samples": int(self.n_samples_),
            "fitted_on": self.fitted_on,
            "explained_variance_ratio_total": float(np.sum(self.explained_variance_ratio_))
            if self.explained_variance_ratio_ is not None
            else None,
            **self.extra,
        }

    def save(self, path: str | Path) -> Path:
        """Write the artifact atomically: arrays + JSON metadata in one .npz."""
        from toolkit.io.atomic import atomic_path

        self._require_fitted()
        path = Path(path)
        buf = io.BytesIO()
        np.savez(
            buf,
            mean=self.mean_.astype(np.float64),  # type: ignore[union-attr]
            components=self.components_.astype(np.float64),  # type: ignore[union-attr]
            explained_variance=self.explained_variance_.astype(np.float64),  # type: ignore[union-attr]
            explained_variance_ratio=self.explained_variance_ratio_.astype(np.float64),  # type: ignore[union-attr]
            metadata=np.array(json.dumps(self.metadata(), sort_keys=True)),
        )
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> ExpressionPCA:
        """Load an artifact written by :meth:`save` (never unpickles)."""
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"Expression PCA file '{path}' does not exist.", "Check the path, or fit a PCA first.")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["metadata"]))
                arrays = {k: z[k] for k in ("mean", "components", "explained_variance", "explained_variance_ratio")}
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
            raise InputFileError(
                f"'{path}' is not an expression PCA artifact ({exc}).", "Give a file written by ExpressionPCA.save()."
            ) from exc
        if meta.get("kind") != _KIND or int(meta.get("format_version", -1)) > FORMAT_VERSION:
            raise InputFileError(
                f"'{path}' is a {meta.get('kind')!r} file of format version {meta.get('format_version')}; "
                f"this toolkit reads {_KIND!r} up to version {FORMAT_VERSION}.",
                "Refit the PCA with this version of the toolkit, or update the toolkit.",
            )
        known = {
            "kind",
            "format_version",
            "n_components",
            "point_shape",
            "n_samples",
            "fitted_on",
            "explained_variance_ratio_total",
        }
        return cls(
            n_components=int(meta["n_components"]),
            fitted_on=str(meta.get("fitted_on", "")),
            mean_=arrays["mean"],
            components_=arrays["components"],
            explained_variance_=arrays["explained_variance"],
            explained_variance_ratio_=arrays["explained_variance_ratio"],
            point_shape=tuple(int(v) for v in meta["point_shape"]),
            n_samples_=int(meta.get("n_samples", 0)),
            extra={k: v for k, v in meta.items() if k not in known},
        )

    # -- helpers --------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.components_ is None or self.mean_ is None:
            raise ToolkitError("The expression PCA is not fitted.", "Call fit() or load a saved PCA first.")

    def _flatten(self, shapes: np.ndarray, fitting: bool = False) -> tuple[np.ndarray, tuple[int, ...]]:
        x = np.asarray(shapes, np.float64)
        if x.ndim < 2:
            raise ToolkitError(f"PCA input of shape {x.shape}: expected (T, 68, 3) or (T, D).", "Stack frames first.")
        point_shape = tuple(x.shape[1:])
        flat = x.reshape(x.shape[0], -1)
        if not fitting and flat.shape[1] != int(np.prod(self.point_shape)):
            raise ToolkitError(
                f"PCA input has frames of shape {point_shape}; this PCA was fitted on {self.point_shape}.",
                "Give frontalised landmarks of the same layout (e.g. HeadMotion.frontal68).",
            )
        if not np.isfinite(flat).all():
            raise ToolkitError("PCA input contains NaN/inf values.", "Fill or drop frames without a tracked face.")
        return flat, point_shape
