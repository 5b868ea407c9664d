"""Small pieces of the documentation figures: labelled tiles, label bars, compact PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toolkit.io.atomic import atomic_path


def tile(img: np.ndarray, size: int = 192) -> np.ndarray:
    """``img`` area-resized to ``size`` x ``size`` (uint8 RGB)."""
    import cv2

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def label_bar(labels: list[str], cell: int = 192) -> np.ndarray:
    """A white strip with one label per ``cell``-wide column."""
    import cv2

    bar = np.full((28, cell * len(labels), 3), 255, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(bar, text, (i * cell + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def caption(img: np.ndarray, text: str, size: int = 192) -> np.ndarray:
    """Resize to ``size`` and write ``text`` on a white strip at the top."""
    import cv2

    out = tile(img, size).copy()
    cv2.rectangle(out, (0, 0), (size, 16), (255, 255, 255), -1)
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def write_doc_png(path: str | Path, image: np.ndarray) -> None:
    """256-colour (dithered) PNG, written atomically: a quarter of the size of a true-colour one, for docs."""
    from PIL import Image

    quantised = Image.fromarray(image).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    with atomic_path(path) as tmp:
        quantised.save(tmp, format="PNG", optimize=True)


def save_figure(fig: Any, path: str | Path, dpi: int | None = 110) -> Path:
    """Write a matplotlib figure as a PNG, atomically, and close it; returns the path.

    The one way the toolkit, the evaluation suite and the scripts write their plots (laid out by
    the caller: call ``fig.tight_layout()`` first where wanted).
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path
