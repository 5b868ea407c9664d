"""A fixed log-mel front end applied inside the learners to raw audio windows.

Both learners take the paper's raw audio window x_{t-3:t+4} (7 frames x 40 ms,
``toolkit.audio.features.audio_windows``: (T, 7, 640) at 16 kHz) as input, as
the paper does. The paper's first layers learn directly on raw samples (50
kHz, Appendix A.1). With the ~9 minutes of speech we have, learning a
waveform filter bank from scratch is data-hungry and slow on a CPU, so the
first layer here is a fixed short-time Fourier transform + mel filter bank
(25 ms Hann windows, 10 ms hop, the project's 80-band Slaney mel filter bank
``toolkit.audio.features.mel_filterbank``, 55-7600 Hz) computed in torch on the
window. Everything after it is learned. Because it runs inside the model on
the waveform, noise augmentation (mixing in the waveform) needs no separate
feature cache, and the same code serves training and inference.

Loudness: :func:`normalise_loudness` scales a whole clip so that its loud
frames sit at a fixed level; training and inference both call it, so the
log-mel values do not depend on how loud a recording was made.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from toolkit.constants import AUDIO_SAMPLE_RATE, AUDIO_WINDOW_FRAMES, SAMPLES_PER_FRAME

N_FFT = 512
WIN_LENGTH = 400  # 25 ms at 16 kHz
HOP_LENGTH = 160  # 10 ms
N_MELS = 80
WINDOW_SAMPLES = AUDIO_WINDOW_FRAMES * SAMPLES_PER_FRAME  # 4480
#: mel frames per window with center=False: 1 + (4480 - 512) // 160 = 25
N_MEL_FRAMES = 1 + (WINDOW_SAMPLES - N_FFT) // HOP_LENGTH

#: level of the loud (95th-percentile) 40 ms frames after loudness normalisation
TARGET_LOUD_RMS = 0.1


def normalise_loudness(audio: np.ndarray, target_rms: float = TARGET_LOUD_RMS) -> np.ndarray:
    """Scale a clip so that its 95th-percentile 40 ms frame RMS equals ``target_rms``.

    Silent clips (all frames below 1e-5 RMS) are returned unchanged. The gain is
    capped at +40 dB so that a near-silent clip is not blown up into noise.
    """
    audio = np.asarray(audio, np.float32)
    n = audio.size // SAMPLES_PER_FRAME
    if n == 0:
        return audio.copy()
    frames = audio[: n * SAMPLES_PER_FRAME].astype(np.float64).reshape(n, SAMPLES_PER_FRAME)
    loud = float(np.percentile(np.sqrt(np.mean(frames * frames, axis=1)), 95))
    if loud < 1e-5:
        return audio.copy()
    gain = min(target_rms / loud, 100.0)
    return (audio * gain).astype(np.float32)


class LogMel(nn.Module):
    """(..., 7, 640) or (..., 4480) raw windows -> (..., N_MELS, N_MEL_FRAMES) log-mel."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(WIN_LENGTH), persistent=False)
        from toolkit.audio.features import mel_filterbank

        fb = np.asarray(mel_filterbank(N_MELS, AUDIO_SAMPLE_RATE, N_FFT), np.float32)
        self.register_buffer("filters", torch.from_numpy(fb.copy()), persistent=False)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        lead = windows.shape[:-2] if windows.shape[-1] == SAMPLES_PER_FRAME else windows.shape[:-1]
        x = windows.reshape(-1, WINDOW_SAMPLES).float()
        # pad the 400-sample Hann window to the FFT size, centred, as torch.stft does
        spec = torch.stft(
            x,
            n_fft=N_FFT,
            hop_length=HOP_LENGTH,
            win_length=WIN_LENGTH,
            window=self.window,
            center=False,
            return_complex=True,
        )  # (B, F, frames)
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.filters, power)  # (B, n_mels, frames)
        # log10 power floored at 1e-8 (about 80 dB below normalised speech), shifted and
        # scaled so that silence is -2.5 and loud speech bands sit around +1
        logmel = (torch.log10(mel + 1e-8) + 3.0) * 0.5
        return logmel.reshape(*lead, N_MELS, N_MEL_FRAMES)
