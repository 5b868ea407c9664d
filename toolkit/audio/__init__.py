"""Audio features frame-aligned with 25 fps video (``toolkit.audio.features``: log-mel, windows;
``toolkit.audio.whisper``: Whisper encoder features, the speech front end of the expression learner)."""

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
from toolkit.audio.whisper import WhisperFrontEnd, whisper_features
from toolkit.io.media import check_not_silent

__all__ = [
    "WhisperFrontEnd",
    "audio_onsets",
    "audio_windows",
    "check_not_silent",
    "fit_to_frames",
    "log_mel",
    "mel_filterbank",
    "mix_at_snr",
    "onset_envelope",
    "whisper_features",
]
