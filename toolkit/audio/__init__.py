"""Audio features frame-aligned with 25 fps video (see ``toolkit.audio.features``)."""

from __future__ import annotations

from toolkit.audio.features import (
    audio_onsets,
    audio_windows,
    fit_to_frames,
    log_mel,
    mel_filterbank,
    mix_at_snr,
    onset_envelope,
)
from toolkit.io.media import check_not_silent

__all__ = [
    "audio_onsets",
    "audio_windows",
    "check_not_silent",
    "fit_to_frames",
    "log_mel",
    "mel_filterbank",
    "mix_at_snr",
    "onset_envelope",
]
