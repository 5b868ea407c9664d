"""Audio features frame-aligned with 25 fps video (numpy only).

Frame ``t`` of the video covers audio samples ``[t*640, (t+1)*640)`` at 16 kHz
(``toolkit.constants``). Every function here takes the number of video frames
``n_frames`` and first fits the audio to exactly ``n_frames * 640`` samples
(zero-padding or trimming at the end), so every feature has one row per video
frame, whatever the rounding of the source durations.

- :func:`audio_windows`: the paper's raw-audio window x_{t-3:t+4} (Sec. 3.2).
- :func:`log_mel`: 80-band log-mel, 4 frames of 10 ms per video frame.
- :func:`mix_at_snr`: noise augmentation at an exact SNR (the expression
  learner mixes noise at 6-30 dB, Sec. 3.2).
- :func:`onset_envelope` / :func:`audio_onsets`: spectral-flux onsets at
  25 fps, the audio beats of the head-motion beat-alignment metric.
"""

from __future__ import annotations

import functools

import numpy as np

from toolkit.constants import (
    AUDIO_SAMPLE_RATE,
    AUDIO_WINDOW_AFTER,
    AUDIO_WINDOW_BEFORE,
    AUDIO_WINDOW_FRAMES,
    SAMPLES_PER_FRAME,
)
from toolkit.errors import SilentAudioError

#: STFT for the mel features: 25 ms Hann window, 10 ms hop, 512-point FFT (16 kHz)
MEL_WIN_LENGTH: int = 400
MEL_HOP_LENGTH: int = 160
MEL_N_FFT: int = 512
MEL_FRAMES_PER_VIDEO_FRAME: int = SAMPLES_PER_FRAME // MEL_HOP_LENGTH  # 4
#: band edges of the mel filterbank, the usual choice for 16 kHz speech (Tacotron / Wav2Lip)
MEL_FMIN: float = 55.0
MEL_FMAX: float = 7600.0
#: floor added before the log so digital silence maps to log(1e-6) ~ -13.8 instead of -inf
LOG_MEL_EPS: float = 1e-6


def fit_to_frames(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """``float32`` audio trimmed or zero-padded at the end to exactly ``n_frames * 640`` samples."""
    a = np.asarray(audio, np.float32).ravel()
    n = int(n_frames) * SAMPLES_PER_FRAME
    if a.size == n:
        return a
    out = np.zeros(n, np.float32)
    k = min(n, a.size)
    out[:k] = a[:k]
    return out


def audio_windows(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """The paper's x_{t-3:t+4}: for each video frame t, the 7 frames of audio t-3 .. t+3.

    Returns ``float32 (n_frames, 7, 640)``; row ``[t, k]`` is video frame ``t - 3 + k``'s
    640 samples, zeros where that frame is outside the clip. ``[t, 3]`` is frame t itself.
    """
    if n_frames <= 0:
        return np.zeros((0, AUDIO_WINDOW_FRAMES, SAMPLES_PER_FRAME), np.float32)
    per_frame = fit_to_frames(audio, n_frames).reshape(n_frames, SAMPLES_PER_FRAME)
    padded = np.zeros((n_frames + AUDIO_WINDOW_FRAMES - 1, SAMPLES_PER_FRAME), np.float32)
    padded[AUDIO_WINDOW_BEFORE : AUDIO_WINDOW_BEFORE + n_frames] = per_frame
    # (n_frames, 640, 7) view -> (n_frames, 7, 640) copy
    view = np.lib.stride_tricks.sliding_window_view(padded, AUDIO_WINDOW_FRAMES, axis=0)
    out = np.ascontiguousarray(view.transpose(0, 2, 1))
    assert AUDIO_WINDOW_AFTER == AUDIO_WINDOW_FRAMES - AUDIO_WINDOW_BEFORE
    return out


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    f_sp = 200.0 / 3
    mel = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.cache
def mel_filterbank(
    n_mels: int = 80,
    sr: int = AUDIO_SAMPLE_RATE,
    n_fft: int = MEL_N_FFT,
    fmin: float = MEL_FMIN,
    fmax: float = MEL_FMAX,
) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters on the Slaney mel scale, area-normalised."""
    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, fft_freqs.size))
    for i in range(n_mels):
        lo, mid, hi = mel_points[i : i + 3]
        rising = (fft_freqs - lo) / max(mid - lo, 1e-9)
        falling = (hi - fft_freqs) / max(hi - mid, 1e-9)
        fb[i] = np.maximum(0.0, np.minimum(rising, falling))
        fb[i] *= 2.0 / (hi - lo)  # equal area per band (Slaney normalisation)
    fb.flags.writeable = False
    return fb


def _power_spectrogram(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """``(n_frames * 4, 257)`` power spectra, window m centred on sample 80 + 160 m.

    The four windows of video frame t are centred at t*640 + 80, +240, +400, +560: the
    centres of its four 10 ms quarters, so they are centred on the video frame as a group.
    Zeros stand in for samples outside the clip.
    """
    a = fit_to_frames(audio, n_frames)
    n_windows = n_frames * MEL_FRAMES_PER_VIDEO_FRAME
    first_centre = MEL_HOP_LENGTH // 2  # 80
    lead = MEL_WIN_LENGTH // 2 - first_centre  # 120 zeros so window 0 starts at sample -120
    padded = np.zeros(lead + a.size + MEL_WIN_LENGTH, np.float32)
    padded[lead : lead + a.size] = a
    frames = np.lib.stride_tricks.sliding_window_view(padded, MEL_WIN_LENGTH)[::MEL_HOP_LENGTH][:n_windows]
    window = np.hanning(MEL_WIN_LENGTH + 1)[:-1].astype(np.float32)  # periodic Hann
    spec = np.fft.rfft(frames * window, n=MEL_N_FFT, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def log_mel(audio: np.ndarray, n_frames: int, n_mels: int = 80, sr: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """Log-mel spectrogram aligned with the video: ``float32 (n_frames, n_mels, 4)``.

    25 ms Hann windows every 10 ms (16 kHz audio), four per video frame, centred on the
    frame's four 10 ms quarters (see :func:`_power_spectrogram`); power spectrum through
    an ``n_mels``-band Slaney mel filterbank (55-7600 Hz), then ``ln(mel + 1e-6)``.
    ``[t, :, j]`` is the j-th 10 ms step of video frame t.
    """
    if sr != AUDIO_SAMPLE_RATE:
        raise ValueError(f"log_mel expects {AUDIO_SAMPLE_RATE} Hz audio (got sr={sr}); resample with read_audio")
    if n_frames <= 0:
        return np.zeros((0, n_mels, MEL_FRAMES_PER_VIDEO_FRAME), np.float32)
    power = _power_spectrogram(audio, n_frames)  # (4T, 257)
    mel = power @ mel_filterbank(n_mels).T.astype(np.float32)  # (4T, n_mels)
    logm = np.log(mel + LOG_MEL_EPS).astype(np.float32)
    return np.ascontiguousarray(logm.reshape(n_frames, MEL_FRAMES_PER_VIDEO_FRAME, n_mels).transpose(0, 2, 1))


def mix_at_snr(
    speech: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    rng: np.random.Generator | None = None,
    *,
    avoid_clipping: bool = True,
) -> np.ndarray:
    """Add ``noise`` to ``speech`` at exactly ``snr_db`` (power ratio over the whole clip).

    The noise is looped (if shorter) or cropped to the speech length, starting at a random
    offset drawn from ``rng`` (offset 0 when ``rng`` is None), then scaled so that
    ``10 log10(mean(speech^2) / mean(scaled_noise^2)) == snr_db``. With ``avoid_clipping``
    a mixture peaking above 1.0 is scaled down as a whole, which keeps the SNR. Returns
    ``float32`` of the speech's length. Raises :class:`SilentAudioError` if either input is
    all zeros (the SNR would be undefined).
    """
    s = np.asarray(speech, np.float64).ravel()
    n = np.asarray(noise, np.float64).ravel()
    if s.size == 0:
        return np.zeros(0, np.float32)
    p_s = float(np.mean(s**2))
    if n.size == 0 or not np.any(n):
        raise SilentAudioError("The noise for mixing is empty or all zeros.", "Pick a noise file with sound in it.")
    if p_s == 0.0:
        raise SilentAudioError("The speech to mix noise into is all zeros.", "Mix noise into real speech only.")
    start = int(rng.integers(n.size)) if rng is not None else 0
    segment = n[(start + np.arange(s.size)) % n.size]
    p_n = float(np.mean(segment**2))
    if p_n == 0.0 and start != 0:  # that stretch of the noise is silent: take it from the start
        segment = n[np.arange(s.size) % n.size]
        p_n = float(np.mean(segment**2))
    if p_n == 0.0:
        raise SilentAudioError(
            "The noise is silent over the stretch mixed into the speech.", "Pick a noise file with sound throughout."
        )
    gain = np.sqrt(p_s / (p_n * 10.0 ** (snr_db / 10.0)))
    mix = s + gain * segment
    if avoid_clipping:
        peak = float(np.max(np.abs(mix)))
        if peak > 1.0:
            mix /= peak
    return mix.astype(np.float32)


def onset_envelope(audio: np.ndarray, n_frames: int, n_mels: int = 40) -> np.ndarray:
    """Spectral-flux onset strength per video frame, ``float32 (n_frames,)`` in [0, 1].

    Flux = mean over mel bands of the positive increase of the log-mel (dB) from one
    10 ms step to the next (Bello et al. 2005); the four 10 ms values of a video frame
    are summed, and the curve is divided by its maximum (all zeros for silence).
    """
    if n_frames <= 0:
        return np.zeros(0, np.float32)
    power = _power_spectrogram(audio, n_frames)
    mel = power @ mel_filterbank(n_mels).T.astype(np.float32)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)  # an 80 dB floor, so flux in near-silence is not noise
    flux = np.maximum(0.0, np.diff(db, axis=0, prepend=db[:1])).mean(axis=1)
    env = flux.reshape(n_frames, MEL_FRAMES_PER_VIDEO_FRAME).sum(axis=1)
    peak = float(env.max())
    return (env / peak).astype(np.float32) if peak > 0 else np.zeros(n_frames, np.float32)


def audio_onsets(
    audio: np.ndarray,
    n_frames: int,
    *,
    delta: float = 0.07,
    pre_max: int = 1,
    post_max: int = 1,
    pre_avg: int = 4,
    post_avg: int = 4,
    wait: int = 2,
) -> np.ndarray:
    """Frame indices (``int64``, 25 fps) of audio onsets: the audio beats.

    Peak picking on :func:`onset_envelope` (the rule of librosa's ``peak_pick``):
    frame t is an onset if its strength is the maximum over ``[t-pre_max, t+post_max]``,
    is at least ``delta`` above the mean over ``[t-pre_avg, t+post_avg]``, and comes more
    than ``wait`` frames after the previous onset.
    """
    env = onset_envelope(audio, n_frames)
    if env.size == 0 or not np.any(env):
        return np.zeros(0, np.int64)
    onsets: list[int] = []
    for t in range(env.size):
        lo_m, hi_m = max(0, t - pre_max), min(env.size, t + post_max + 1)
        if env[t] <= 0 or env[t] < env[lo_m:hi_m].max():
            continue
        lo_a, hi_a = max(0, t - pre_avg), min(env.size, t + post_avg + 1)
        if env[t] < env[lo_a:hi_a].mean() + delta:
            continue
        if onsets and t - onsets[-1] <= wait:
            continue
        onsets.append(t)
    return np.asarray(onsets, np.int64)


__all__ = [
    "MEL_FRAMES_PER_VIDEO_FRAME",
    "MEL_HOP_LENGTH",
    "MEL_WIN_LENGTH",
    "audio_onsets",
    "audio_windows",
    "fit_to_frames",
    "log_mel",
    "mel_filterbank",
    "mix_at_snr",
    "onset_envelope",
]
