"""The inner-lip opening of a target expression: absolute, not relative to a neutral face.

Expression transfer adds a driver's landmark motion *relative to its own neutral face* to the
reference identity (``toolkit.pipeline.stages.expression_from_video``). For the mouth opening that
loses the one thing a viewer checks first: whether the lips touch. The driver's neutral is the
median over its clip, which for someone talking is a half-open mouth, and the reference's own face
(the mesh's texture frame) may be open or closed, so the transferred opening is the driver's plus a
constant error: lips that never close, or that close while the driver's are apart (measured with
dlib on the validation clips: median error 24 points in the share of closed frames, see
``scripts/render_eval.py``).

:func:`set_inner_lip_gap` fixes that at the source: for each of the three inner-lip point pairs
(iBUG 61/67, 62/66, 63/65) it sets the gap vector (upper to lower lip) of the target to the driver's
own gap vector, scaled to the target face. The correction moves both lips by half of it, and the
outer-lip point above/below each pair with them, so the lips keep their thickness; a closed driver
mouth becomes exactly closed lips (gap 0), never crossed ones.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.tracking.landmarks68 import INNER_LIP_PAIRS, OUTER_LIP_PAIRS


def inner_lip_gap(points68: np.ndarray) -> np.ndarray:
    """``(T,)`` mean inner-lip gap (same units as the points): 0 for touching lips."""
    p = np.asarray(points68, np.float64)
    if p.ndim == 2:
        p = p[None]
    up = [a for a, _ in INNER_LIP_PAIRS]
    low = [b for _, b in INNER_LIP_PAIRS]
    return np.linalg.norm(p[:, low] - p[:, up], axis=-1).mean(axis=1)


def lip_opening(points68: np.ndarray) -> np.ndarray:
    """``(T,)`` inner-lip gap / mouth width (corner to corner): 0 for touching lips, ~0.3 wide open."""
    p = np.asarray(points68, np.float64)
    if p.ndim == 2:
        p = p[None]
    return inner_lip_gap(p) / np.maximum(np.linalg.norm(p[:, 48] - p[:, 54], axis=-1), 1e-9)


def set_inner_lip_gap(target68: np.ndarray, driver68: np.ndarray, ratio: float | np.ndarray = 1.0) -> np.ndarray:
    """``target68`` with the driver's inner-lip gap vectors (times ``ratio``), lips moved symmetrically.

    Args:
        target68: ``(T, 68, 3)`` transferred target expression (canonical frame).
        driver68: ``(T, 68, 3)`` the driver's own expression, same frames.
        ratio: target / driver face size (scalar or ``(T,)``).

    Returns:
        ``(T, 68, 3)`` float32.
    """
    tgt = np.array(target68, np.float64, copy=True)
    drv = np.asarray(driver68, np.float64)
    if tgt.ndim == 2:
        tgt, drv = tgt[None], drv.reshape(1, 68, -1)
    if tgt.shape != drv.shape or tgt.shape[1] != 68:
        raise ToolkitError(
            f"Target and driver expressions must both be (T, 68, 3); got {tgt.shape} and {drv.shape}.",
            "Give one driver frame per target frame.",
        )
    r = np.broadcast_to(np.asarray(ratio, np.float64).reshape(-1), (tgt.shape[0],))[:, None]
    for (up, low), (oup, olow) in zip(INNER_LIP_PAIRS, OUTER_LIP_PAIRS):
        want = (drv[:, low] - drv[:, up]) * r
        have = tgt[:, low] - tgt[:, up]
        half = (want - have) / 2.0
        tgt[:, up] -= half
        tgt[:, oup] -= half
        tgt[:, low] += half
        tgt[:, olow] += half
    return tgt.astype(np.float32)
