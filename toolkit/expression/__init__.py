"""Expression space (paper Sec. 3.2, App. A.2): PCA of frontalised 68-point landmarks."""

from __future__ import annotations

from toolkit.expression.pca import ExpressionPCA

__all__ = ["ExpressionPCA"]
