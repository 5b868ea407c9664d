"""How visible the seam of a pasted face is: colour step and sharpness mismatch across it.

Both compare the output with the real frame at the same place, so a step or a sharpness change that
the real face itself has there (a jaw shadow, a hairline) is not counted. The seam lies where the
paste's face weight ``alpha`` (H, W, 0..1, the face crop's share of each output pixel) crosses from 1 to
0. With ``width`` pixels (default 4 % of the larger side, at least 3):

* inner ring: ``alpha >= 0.95`` within ``width`` of the blend band (0.05 < alpha < 0.95); outer ring:
  ``alpha <= 0.05`` within ``width`` of it; core: all of ``alpha >= 0.95``.
* colour error (CIE Lab, Delta E units): the ring pair is cut into ``sectors`` angular sectors around the
  face's centre; in each, the step = mean Lab (inner) - mean Lab (outer), and the error is
  ``|step(output) - step(real)|``; the mean over sectors with pixels on both sides. 0 = no colour step
  beyond the real frame's own.
* sharpness match across the seam: ``(L(output, inner) / L(output, outer)) / (L(real, inner) / L(real,
  outer))`` with ``L`` the mean absolute Laplacian (3x3) of the grey image over a region. 1 = the face's
  side of the seam is as sharp relative to the frame's side as in the real frame; below 1 = softer (an
  upscaled face). With ``region="core"`` the whole face (``alpha >= 0.95``) instead of the inner ring: how
  sharp the face is as a whole relative to the frame around it.
"""

from __future__ import annotations

import numpy as np


def seam_rings(alpha: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inner ring, outer ring, core) boolean masks of a paste weight ``alpha`` (H, W)."""
    import cv2

    a = np.asarray(alpha, np.float32)
    w = int(width) if width else max(3, int(round(0.04 * max(a.shape))))
    band = ((a > 0.05) & (a < 0.95)).astype(np.uint8)
    near = cv2.dilate(band, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * w + 1, 2 * w + 1))) > 0
    core = a >= 0.95
    return near & core, near & (a <= 0.05), core


def _grey(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(img, np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)


def seam_colour_error(
    output: np.ndarray, real: np.ndarray, alpha: np.ndarray, sectors: int = 16, width: int | None = None
) -> float:
    """Mean over angular sectors of |colour step across the seam (output) - (real)|, Delta E (CIE Lab)."""
    import cv2

    inner, outer, core = seam_rings(alpha, width)
    if not inner.any() or not outer.any():
        return float("nan")
    ys, xs = np.nonzero(core)
    cy, cx = ys.mean(), xs.mean()
    yy, xx = np.mgrid[: alpha.shape[0], : alpha.shape[1]]
    sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    labs = [cv2.cvtColor(np.asarray(v, np.float32) / 255.0, cv2.COLOR_RGB2LAB) for v in (output, real)]
    errors = []
    for s in range(sectors):
        i, o = inner & (sector == s), outer & (sector == s)
        if i.sum() < 4 or o.sum() < 4:
            continue
        steps = [lab[i].mean(axis=0) - lab[o].mean(axis=0) for lab in labs]
        errors.append(float(np.linalg.norm(steps[0] - steps[1])))
    return float(np.mean(errors)) if errors else float("nan")


def seam_sharpness_match(
    output: np.ndarray, real: np.ndarray, alpha: np.ndarray, width: int | None = None, region: str = "ring"
) -> float:
    """(inner ring, or face core / outer ring Laplacian energy) of the output over the real frame's; 1 = matched."""
    import cv2

    inner, outer, core = seam_rings(alpha, width)
    face = {"ring": inner, "core": core}[region]
    if not outer.any() or not face.any():
        return float("nan")
    ratios = []
    for img in (output, real):
        lap = np.abs(cv2.Laplacian(_grey(img), cv2.CV_32F, ksize=3))
        ratios.append(float(lap[face].mean()) / max(float(lap[outer].mean()), 1e-6))
    return ratios[0] / max(ratios[1], 1e-9)
