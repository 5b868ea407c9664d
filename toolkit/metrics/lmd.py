"""Landmark distances (LMD) between generated and ground-truth frames.

Landmarks are dlib's 68 points (:mod:`eval.landmarks68`) found on frames
area-resized to a fixed evaluation size (256x256 by default), so distances are
in pixels of that size. Three variants, named in every result:

``LMD`` (the author's variant, Chen et al. 2018, used by the paper's Table 1)
    mouth points 48-67; each 20-point set (generated, ground truth) is centred
    on its own mean; per frame the 20 Euclidean distances are **summed**;
    averaged over frames.
``M-LMD``
    mouth points 48-67, **not** centred (raw positions, so head position
    errors count); per frame the **mean** of the 20 distances; averaged over frames.
``F-LMD``
    all 68 points, not centred; per frame the mean of the 68 distances;
    averaged over frames.

Frames where either video has no landmarks are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError

MOUTH_POINTS: tuple[int, ...] = tuple(range(48, 68))
FACE_POINTS: tuple[int, ...] = tuple(range(68))


@dataclass(frozen=True)
class LMDVariant:
    name: str
    points: tuple[int, ...]
    centred: bool
    reduce: str  # "sum" or "mean" over points, per frame

    def describe(self, size: int) -> str:
        which = "mouth 48-67" if self.points == MOUTH_POINTS else "all 68 points"
        centred = "each set centred on its mean" if self.centred else "not centred"
        return (
            f"{self.name} ({which}, {centred}, {self.reduce} of per-point Euclidean distances per frame, "
            f"mean over frames; dlib 68 points on {size}x{size} frames, px)"
        )


LMD_AUTHOR = LMDVariant("LMD", MOUTH_POINTS, centred=True, reduce="sum")
M_LMD = LMDVariant("M-LMD", MOUTH_POINTS, centred=False, reduce="mean")
F_LMD = LMDVariant("F-LMD", FACE_POINTS, centred=False, reduce="mean")
VARIANTS: tuple[LMDVariant, ...] = (LMD_AUTHOR, M_LMD, F_LMD)


def per_frame_distance(generated: np.ndarray, reference: np.ndarray, variant: LMDVariant) -> np.ndarray:
    """(T,) distance of each frame; NaN where either set has no landmarks.

    ``generated`` and ``reference`` are (T, 68, 2) (or (T, 68, 3): x, y used) landmark arrays.
    """
    generated = np.asarray(generated, np.float64)
    reference = np.asarray(reference, np.float64)
    if generated.shape != reference.shape or generated.ndim != 3 or generated.shape[1] != 68:
        raise ToolkitError(
            f"LMD needs two (T, 68, 2) landmark arrays of equal shape; got {generated.shape} and {reference.shape}.",
            "Give dlib 68-point landmarks of the same number of frames.",
        )
    idx = list(variant.points)
    g = generated[:, idx, :2]
    r = reference[:, idx, :2]
    if variant.centred:
        g = g - g.mean(axis=1, keepdims=True)
        r = r - r.mean(axis=1, keepdims=True)
    d = np.linalg.norm(g - r, axis=2)  # (T, P)
    return d.sum(axis=1) if variant.reduce == "sum" else d.mean(axis=1)


def lmd(generated: np.ndarray, reference: np.ndarray, variant: LMDVariant = LMD_AUTHOR) -> float:
    """Mean over frames (with landmarks in both) of :func:`per_frame_distance`; NaN if no such frame."""
    d = per_frame_distance(generated, reference, variant)
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")
