"""SSIM (colour) and PSNR (grey) between generated and ground-truth frames.

The field's protocol (field.md): frames are resized to 256x256 with area
interpolation (done once by :mod:`eval.video`), SSIM is scikit-image's
``structural_similarity`` on the colour frames (7x7 uniform window, sample
covariance, K1=0.01, K2=0.03, data range 255, mean over the three channels),
PSNR is computed on grey frames.

:func:`ssim_frames` is a batched re-implementation of exactly that formula
with OpenCV box filters (several times faster than calling scikit-image per
frame); ``tests/test_metrics.py`` checks it against scikit-image to 1e-9.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import ToolkitError

#: PSNR of identical frames. Any two different 8-bit 256x256 frames score at
#: most 10*log10(255^2 * 65536) = 96.3 dB, so 100 dB marks "identical" only.
PSNR_CAP_DB: float = 100.0
SSIM_WINDOW: int = 7
SSIM_K1: float = 0.01
SSIM_K2: float = 0.03
DATA_RANGE: float = 255.0


def describe_ssim(size: int) -> str:
    return (
        f"SSIM (scikit-image structural_similarity on colour frames, 7x7 uniform window, data range 255, "
        f"{size}x{size} area-resized, mean over frames)"
    )


def describe_psnr(size: int) -> str:
    return (
        f"PSNR (grey frames, OpenCV ITU-R 601 weights, uint8, {size}x{size} area-resized, per frame, "
        f"capped at {PSNR_CAP_DB:g} dB, mean over frames)"
    )


def _check_pair(generated: np.ndarray, reference: np.ndarray) -> None:
    if generated.shape != reference.shape:
        raise ToolkitError(
            f"SSIM/PSNR need frames of equal shape; got {generated.shape} and {reference.shape}.",
            "Resize both videos to the evaluation size first (eval.video.to_eval_frames).",
        )
    if generated.ndim != 4 or generated.shape[-1] != 3:
        raise ToolkitError(f"Expected frames (T, H, W, 3), got shape {generated.shape}.", "Pass RGB uint8 videos.")


def ssim_frames(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame colour SSIM, (T,) float64; same numbers as scikit-image's default SSIM."""
    import cv2

    _check_pair(generated, reference)
    win = SSIM_WINDOW
    n_window = win * win
    cov_norm = n_window / (n_window - 1)
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    pad = (win - 1) // 2

    def box(img: np.ndarray) -> np.ndarray:
        # interior values equal scipy's uniform_filter; the border (cropped below) does not matter
        return cv2.boxFilter(img, ddepth=-1, ksize=(win, win), normalize=True, borderType=cv2.BORDER_REFLECT)

    out = np.empty(len(generated), np.float64)
    for i, (x8, y8) in enumerate(zip(generated, reference)):
        x = x8.astype(np.float64)
        y = y8.astype(np.float64)
        ux, uy = box(x), box(y)
        vx = cov_norm * (box(x * x) - ux * ux)
        vy = cov_norm * (box(y * y) - uy * uy)
        vxy = cov_norm * (box(x * y) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        # mean per channel over the interior, then mean over channels (scikit-image's channel_axis rule)
        out[i] = s[pad:-pad, pad:-pad].mean(axis=(0, 1), dtype=np.float64).mean()
    return out


def to_grey(frames: np.ndarray) -> np.ndarray:
    """RGB uint8 (T, H, W, 3) -> grey uint8 (T, H, W) with OpenCV's ITU-R 601 weights."""
    import cv2

    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def psnr_frames(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame PSNR on grey frames in dB, (T,) float64, capped at :data:`PSNR_CAP_DB`."""
    _check_pair(generated, reference)
    a = to_grey(generated).astype(np.float64)
    b = to_grey(reference).astype(np.float64)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(DATA_RANGE**2 / mse)
    return np.minimum(psnr, PSNR_CAP_DB)


def ssim_psnr_reference_loop(generated: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward per-frame scikit-image implementation (baseline and cross-check)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ssim, psnr = [], []
    for x, y in zip(generated, reference):
        ssim.append(structural_similarity(y, x, channel_axis=-1, data_range=DATA_RANGE))
        gx, gy = to_grey(x[None])[0], to_grey(y[None])[0]
        psnr.append(PSNR_CAP_DB if np.array_equal(gx, gy) else peak_signal_noise_ratio(gy, gx, data_range=DATA_RANGE))
    return np.asarray(ssim, np.float64), np.minimum(np.asarray(psnr, np.float64), PSNR_CAP_DB)
