"""Lip-sync LSE-D / LSE-C with SyncNet (runs where a user supplies ``syncnet_v2.model``).

The field's protocol (field.md; the SyncNet authors' ``syncnet_python``):
video at 25 fps, audio 16 kHz mono; SyncNet embeds 5-frame windows of 224x224
face crops and the 20 MFCC steps (13 coefficients, 10 ms hop) under them;
for every offset in [-15, 15] frames the mean over windows of the Euclidean
distance between the two embeddings is taken; LSE-D is the minimum over
offsets, LSE-C the median over offsets minus that minimum.

What differs from ``syncnet_python``, and is written into the results:

* face boxes come from the suite's dlib 68 points (their bounding box) on the
  256x256 evaluation frames instead of the S3FD detector; like the original
  pipeline they are median-filtered over 13 frames and the crop is the same
  (crop scale 0.4: from the box top to 1.8 box-halves below the centre,
  0.7 box widths either side, grey 110 padding), resized to 224x224;
* frames are not round-tripped through JPEG files; the audio is the driving
  audio as float, scaled to 16-bit range (SyncNet's MFCCs were computed on
  int16 samples).

The SyncNet weights are not obtainable here; nothing in the test suite can
check the numbers against published ones. ``SyncNet`` below is the network of
``syncnet_python`` (same layers, same parameter names), so its state dict loads
as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError, WeightsNotFoundError

SYNCNET_FILE = "syncnet_v2.model"
CROP_SIZE = 224
WINDOW_FRAMES = 5
MFCC_STEPS_PER_FRAME = 4
MFCC_WINDOW = 20


@dataclass(frozen=True)
class LseConfig:
    model: str  # path of syncnet_v2.model
    vshift: int = 15
    crop_scale: float = 0.4
    smooth_frames: int = 13
    batch_size: int = 20

    def describe(self) -> str:
        return (
            f"LSE-D / LSE-C (SyncNet {Path(self.model).name}; offsets +-{self.vshift} frames; 5-frame windows vs 20 "
            f"MFCC steps; face crops from dlib 68-point boxes, median-filtered over {self.smooth_frames} frames, "
            f"crop scale {self.crop_scale}, 224x224; driving audio)"
        )


def build_syncnet(embedding_size: int = 1024) -> Any:
    """SyncNet's two streams (audio: MFCC 13x20 -> embedding; lips: 5 x 224x224 BGR -> embedding)."""
    import torch
    from torch import nn

    def conv2(i: int, o: int, k: Any, s: Any = (1, 1), p: Any = (1, 1)) -> list[nn.Module]:
        return [nn.Conv2d(i, o, kernel_size=k, stride=s, padding=p), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    def conv3(i: int, o: int, k: Any, s: Any = (1, 1, 1), p: Any = 0) -> list[nn.Module]:
        return [nn.Conv3d(i, o, kernel_size=k, stride=s, padding=p), nn.BatchNorm3d(o), nn.ReLU(inplace=True)]

    def head() -> nn.Module:
        return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding_size))

    class SyncNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # parameter names follow syncnet_python's model, so its state dict loads unchanged
            self.netcnnaud = nn.Sequential(
                *conv2(1, 64, (3, 3)),
                nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
                *conv2(64, 192, (3, 3)),
                nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
                *conv2(192, 384, (3, 3)),
                *conv2(384, 256, (3, 3)),
                *conv2(256, 256, (3, 3)),
                nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
                *conv2(256, 512, (5, 4), p=(0, 0)),
            )
            self.netfcaud = head()
            self.netfclip = head()
            self.netcnnlip = nn.Sequential(
                *conv3(3, 96, (5, 7, 7), s=(1, 2, 2)),
                nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
                *conv3(96, 256, (1, 5, 5), s=(1, 2, 2), p=(0, 1, 1)),
                nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
                *conv3(256, 256, (1, 3, 3), p=(0, 1, 1)),
                *conv3(256, 256, (1, 3, 3), p=(0, 1, 1)),
                *conv3(256, 256, (1, 3, 3), p=(0, 1, 1)),
                nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
                *conv3(256, 512, (1, 6, 6)),
            )

        def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
            return self.netfcaud(self.netcnnaud(x).flatten(1))

        def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
            return self.netfclip(self.netcnnlip(x).flatten(1))

    return SyncNet().eval()


def load_syncnet(path: str | Path) -> Any:
    import torch

    p = Path(path)
    if not p.is_file():
        raise WeightsNotFoundError(
            f"SyncNet weights {p} not found.",
            f"LSE needs {SYNCNET_FILE} from the SyncNet authors (syncnet_python's download_model.sh); give its path.",
        )
    net = build_syncnet()
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            state = state.state_dict()
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ToolkitError(
            f"{p} is not a SyncNet state dict ({type(exc).__name__}: {exc}).", "Give syncnet_v2.model."
        ) from exc
    return net


def face_crops(frames: np.ndarray, landmarks68: np.ndarray, config: LseConfig) -> np.ndarray:
    """(T, 224, 224, 3) BGR float32 crops in syncnet_python's layout, from frames and 68-point boxes."""
    import cv2
    from scipy.signal import medfilt

    lm = np.asarray(landmarks68, np.float64)[..., :2]
    ok = np.isfinite(lm).all(axis=(1, 2))
    if not ok.any():
        raise ToolkitError("LSE needs a face in the video; dlib found none.", "Check the generated video.")
    idx = np.arange(len(lm))
    lo, hi = np.nanmin(lm, axis=1), np.nanmax(lm, axis=1)  # (T, 2)
    for a in (lo, hi):
        for d in range(2):
            a[:, d] = np.interp(idx, idx[ok], a[ok, d])
    size = np.maximum(hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]) / 2
    cx, cy = (lo[:, 0] + hi[:, 0]) / 2, (lo[:, 1] + hi[:, 1]) / 2
    k = config.smooth_frames if config.smooth_frames % 2 else config.smooth_frames + 1
    if len(size) >= k:
        size, cx, cy = medfilt(size, k), medfilt(cx, k), medfilt(cy, k)
    cs = config.crop_scale
    out = np.empty((len(frames), CROP_SIZE, CROP_SIZE, 3), np.float32)
    for t, frame in enumerate(frames):
        bs = float(size[t])
        pad = int(bs * (1 + 2 * cs))
        bgr = np.pad(frame[..., ::-1], ((pad, pad), (pad, pad), (0, 0)), constant_values=110)
        my, mx = cy[t] + pad, cx[t] + pad
        face = bgr[int(my - bs) : int(my + bs * (1 + 2 * cs)), int(mx - bs * (1 + cs)) : int(mx + bs * (1 + cs))]
        out[t] = cv2.resize(np.ascontiguousarray(face), (CROP_SIZE, CROP_SIZE))
    return out


def mfcc(audio: np.ndarray) -> np.ndarray:
    """(13, steps) MFCCs as syncnet_python computes them (python_speech_features defaults, int16 scale)."""
    try:
        import python_speech_features
    except ImportError as exc:
        raise ToolkitError(
            "LSE needs the package python_speech_features (SyncNet's MFCCs).",
            "pip install python_speech_features==0.6",
        ) from exc
    pcm = np.round(np.clip(np.asarray(audio, np.float64), -1, 1) * 32767)
    return np.asarray(python_speech_features.mfcc(pcm, AUDIO_SAMPLE_RATE), np.float64).T


def lse(
    frames: np.ndarray, landmarks68: np.ndarray, audio: np.ndarray, net: Any, config: LseConfig
) -> dict[str, float]:
    """LSE-D, LSE-C and the best offset (frames) of a video (T, H, W, 3) RGB and its 16 kHz audio."""
    import torch

    crops = face_crops(frames, landmarks68, config)
    cc = mfcc(audio)
    n = min(len(crops), len(audio) // SAMPLES_PER_FRAME)
    last = n - WINDOW_FRAMES
    if last <= 2 * config.vshift:
        raise ToolkitError(
            f"LSE needs more than {WINDOW_FRAMES + 2 * config.vshift} frames; the video has {n}.", "Use longer clips."
        )
    video = torch.from_numpy(crops.transpose(3, 0, 1, 2)[None].copy())  # (1, 3, T, 224, 224)
    aud = torch.from_numpy(cc[None, None].astype(np.float32))  # (1, 1, 13, steps)
    lip_feats, aud_feats = [], []
    with torch.inference_mode():
        for i in range(0, last, config.batch_size):
            js = range(i, min(last, i + config.batch_size))
            lip_feats.append(net.forward_lip(torch.cat([video[:, :, j : j + WINDOW_FRAMES] for j in js])))
            s = MFCC_STEPS_PER_FRAME
            aud_feats.append(net.forward_aud(torch.cat([aud[..., j * s : j * s + MFCC_WINDOW] for j in js])))
        lip = torch.cat(lip_feats)
        snd = torch.cat(aud_feats)
        v = config.vshift
        padded = torch.nn.functional.pad(snd, (0, 0, v, v))
        dists = torch.stack(
            [torch.nn.functional.pairwise_distance(lip[[i]].repeat(2 * v + 1, 1), padded[i : i + 2 * v + 1])
             for i in range(len(lip))], dim=1
        )  # fmt: skip
        mean_dist = dists.mean(dim=1)  # (2v+1,) over offsets
        best, best_idx = torch.min(mean_dist, 0)
        return {
            "LSE-D": float(best),
            "LSE-C": float(torch.median(mean_dist) - best),
            "offset": float(v - int(best_idx)),
        }
