"""The noise set used to augment speech while training the expression learner.

Paper Sec. 3.2: "we mix x with a randomly selected noise file in 6 to 30 dB
SNRs with 3 dB increments to increase the network robustness". The paper does
not say which noise files. We build the set from real recordings plus
generated noise, so that it works offline and is reproducible from a seed:

* **room tone**: the non-speech stretches of the training clips' own audio
  (frames whose energy is at least ``NonSpeechConfig.below_peak_db`` below the
  clip's loud frames, in runs of at least 200 ms). Digital silence (all zeros)
  is dropped: it carries no noise.
* **babble**: several real speech recordings summed at equal loudness with
  random offsets (the shared ``speech/`` folder). Only the speakers listed in
  :data:`BABBLE_SPEAKER_PATTERN` are used (the LibriSpeech excerpts), so the
  other speech recordings stay unseen for the generalisation check.
* **coloured noise**: white, pink, brown, blue and violet noise (power
  spectrum ~ f^alpha with alpha = 0, -1, -2, 1, 2), generated from the seed.

Mixing uses ``toolkit.audio.features.mix_at_snr`` where that function exists
(one SNR definition for the whole project); :func:`mix_at_snr` here is the
same definition, used only as a fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError

#: the paper's SNR levels: 6 to 30 dB in 3 dB increments
SNR_LEVELS_DB: tuple[float, ...] = tuple(float(x) for x in range(6, 31, 3))

#: speech files (by name) that make the babble noise: the LibriSpeech excerpts
#: (``<speaker>-<chapter>-<utterance>.flac``); everything else in speech/ is
#: kept for the unseen-speaker check
BABBLE_SPEAKER_PATTERN = r"Resemblyzer__\d+-\d+-\d+\.flac$"

COLOURS: dict[str, float] = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0, "violet": 2.0}

_EPS = 1e-12


def signal_power(x: np.ndarray) -> float:
    """Mean square of a waveform (float64 accumulate)."""
    x = np.asarray(x, np.float64)
    return float(np.mean(x * x)) if x.size else 0.0


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix ``noise`` into ``speech`` at ``snr_db`` (toolkit.audio.features' definition), float32."""
    from toolkit.audio.features import mix_at_snr as mix

    return np.asarray(mix(speech, noise, snr_db), np.float32)


def measured_snr_db(speech: np.ndarray, mixed: np.ndarray) -> float:
    """SNR of ``mixed`` with respect to the clean ``speech`` (noise = mixed - speech)."""
    speech = np.asarray(speech, np.float64)
    noise = np.asarray(mixed, np.float64)[: speech.size] - speech
    return 10.0 * np.log10(signal_power(speech) / max(signal_power(noise), _EPS))


def coloured_noise(n_samples: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ~ f^alpha, unit RMS, float32."""
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples)
    freqs[0] = freqs[1] if n_samples > 1 else 1.0  # no infinite DC gain for brown/pink
    spectrum *= freqs ** (alpha / 2.0)  # amplitude ~ f^(alpha/2) <=> power ~ f^alpha
    x = np.fft.irfft(spectrum, n=n_samples)
    x -= x.mean()
    return (x / max(np.sqrt(np.mean(x * x)), _EPS)).astype(np.float32)


@dataclass
class NonSpeechConfig:
    """How non-speech stretches are found in a clip's own audio."""

    #: a frame is non-speech when its RMS is this far below the clip's 95th-percentile frame RMS
    below_peak_db: float = 30.0
    #: shortest run kept (frames of 40 ms): 5 = 200 ms
    min_frames: int = 5
    #: frames with RMS below this are digital silence (padding), not noise
    digital_silence_rms: float = 1e-5


def non_speech_segments(audio: np.ndarray, config: NonSpeechConfig | None = None) -> list[np.ndarray]:
    """Low-energy stretches (room tone, breaths, hum) of one clip's audio, frame-aligned."""
    config = config or NonSpeechConfig()
    n = audio.size // SAMPLES_PER_FRAME
    if n == 0:
        return []
    frames = np.asarray(audio[: n * SAMPLES_PER_FRAME], np.float64).reshape(n, SAMPLES_PER_FRAME)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    loud = np.percentile(rms, 95)
    if loud < config.digital_silence_rms:
        return []
    quiet = (rms < loud * 10.0 ** (-config.below_peak_db / 20.0)) & (rms > config.digital_silence_rms)
    segments: list[np.ndarray] = []
    start = None
    for i, q in enumerate([*quiet.tolist(), False]):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= config.min_frames:
                segments.append(frames[start:i].reshape(-1).astype(np.float32))
            start = None
    return segments


def make_babble(speech: list[np.ndarray], n_samples: int, n_talkers: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of ``n_talkers`` random speech recordings, each at unit RMS, random start, looped."""
    if not speech:
        raise ToolkitError(
            "No speech recordings to build babble noise from.", "Point the noise set at a speech folder."
        )
    out = np.zeros(n_samples, np.float64)
    for k in rng.choice(len(speech), size=min(n_talkers, len(speech)), replace=False):
        s = np.asarray(speech[int(k)], np.float64)
        s = s / max(np.sqrt(np.mean(s * s)), _EPS)
        reps = int(np.ceil((n_samples + s.size) / s.size))
        looped = np.tile(s, reps)
        offset = int(rng.integers(0, s.size))
        out += looped[offset : offset + n_samples]
    return (out / max(np.sqrt(np.mean(out * out)), _EPS)).astype(np.float32)


@dataclass
class NoiseItem:
    name: str
    kind: str  # "room" | "babble" | "coloured"
    audio: np.ndarray  # float32, 16 kHz


@dataclass
class NoiseBank:
    """A set of noise recordings; ``sample`` cuts a random piece of a random one."""

    items: list[NoiseItem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in self.items:
            out[it.kind] = out.get(it.kind, 0) + 1
        return out

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for it in self.items:
            out[it.kind] = out.get(it.kind, 0.0) + it.audio.size / AUDIO_SAMPLE_RATE
        return out

    def sample(self, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """A random ``n_samples`` piece of a random noise item (looped if shorter)."""
        if not self.items:
            raise ToolkitError("The noise set is empty.", "Build it with build_noise_bank() from real recordings.")
        item = self.items[int(rng.integers(len(self.items)))]
        a = item.audio
        if a.size < n_samples:
            a = np.tile(a, int(np.ceil(n_samples / a.size)) + 1)
        start = int(rng.integers(0, a.size - n_samples + 1))
        return a[start : start + n_samples], item.name

    def augment(
        self, speech: np.ndarray, rng: np.random.Generator, snr_levels_db: tuple[float, ...] = SNR_LEVELS_DB
    ) -> tuple[np.ndarray, float, str]:
        """Mix a random noise piece into ``speech`` at a random level from ``snr_levels_db``."""
        snr = float(snr_levels_db[int(rng.integers(len(snr_levels_db)))])
        noise, name = self.sample(speech.size, rng)
        return mix_at_snr(speech, noise, snr), snr, name


def babble_sources(speech_dir: str | Path) -> list[Path]:
    """Speech files of the shared ``speech/`` folder that feed the babble noise."""
    speech_dir = Path(speech_dir)
    if not speech_dir.is_dir():
        return []
    return sorted(p for p in speech_dir.iterdir() if re.search(BABBLE_SPEAKER_PATTERN, p.name))


def build_noise_bank(
    clip_audio: list[np.ndarray],
    speech_dir: str | Path | None,
    seed: int = 0,
    n_babble: int = 8,
    babble_talkers: int = 4,
    seconds_per_item: float = 10.0,
    non_speech: NonSpeechConfig | None = None,
    max_babble_files: int = 0,
) -> NoiseBank:
    """Room tone from ``clip_audio`` (training clips only), babble from ``speech_dir``, coloured noise.

    Every part is optional except the coloured noise, so the bank is never
    empty; what was found is listed by :meth:`NoiseBank.kinds`. ``max_babble_files`` > 0
    reads only that many speech files (a seeded choice), to keep small runs fast.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds_per_item * AUDIO_SAMPLE_RATE)
    items: list[NoiseItem] = []
    room: list[np.ndarray] = []
    for audio in clip_audio:
        room.extend(non_speech_segments(audio, non_speech))
    if room:
        # one item per clip would over-weight a few long pauses: pool and cut into equal items
        pooled = np.concatenate(room)
        for i in range(max(1, pooled.size // n)):
            items.append(NoiseItem(f"room-{i}", "room", pooled[i * n : (i + 1) * n]))
    if speech_dir is not None:
        from toolkit.io.media import read_audio

        sources = babble_sources(speech_dir)
        if 0 < max_babble_files < len(sources):
            sources = [sources[int(i)] for i in sorted(rng.choice(len(sources), max_babble_files, replace=False))]
        speech = [read_audio(p, sr=AUDIO_SAMPLE_RATE) for p in sources]
        speech = [s for s in speech if s.size > SAMPLES_PER_FRAME]
        if speech:
            for i in range(n_babble):
                items.append(NoiseItem(f"babble-{i}", "babble", make_babble(speech, n, babble_talkers, rng)))
    for name, alpha in COLOURS.items():
        items.append(NoiseItem(f"{name}-noise", "coloured", coloured_noise(n, alpha, rng)))
    return NoiseBank(items)
