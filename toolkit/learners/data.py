"""Training data for the learners, read from ``toolkit preprocess`` records.

Everything fits in memory (the shared data is ~15 minutes of 25 fps video):
each clip keeps its loudness-normalised 16 kHz audio, its frontalised 68
landmarks and its head motion. Batches are cut on the fly:

* :class:`ExpressionBatcher`: short segments (``segment_frames``) of random
  clips with speech; noise is mixed into each segment's waveform at an SNR
  relative to the *whole clip's* speech power (so a pause inside a segment
  gets the same noise level as the rest of the clip), then the audio windows
  x_{t-3:t+4} are cut; each segment gets a random reference frame of the
  same clip.
* :class:`MotionBatcher`: sequences of tau reference frames + the frames to
  predict, from clips with or without audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import AUDIO_WINDOW_AFTER, AUDIO_WINDOW_BEFORE, SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError
from toolkit.learners.frontend import normalise_loudness
from toolkit.learners.noise import NoiseBank, mix_at_snr, signal_power


@dataclass
class ClipData:
    clip_id: str
    speaker: str
    has_audio: bool
    audio: np.ndarray  # (T * 640,) float32, loudness-normalised (zeros when silent)
    frontal68: np.ndarray  # (T, 68, 3)
    motion: np.ndarray  # (T, 6)
    detected: np.ndarray  # (T,) bool
    frontal_index: int
    speech_power: float

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])


#: loud-frame RMS below which a sound track counts as digital silence (some shared clips carry
#: an all-zero audio stream: they are motion data, not speech data)
SILENT_TRACK_RMS = 1e-4


def load_clip_data(root: str | Path, clip_ids: Sequence[str]) -> list[ClipData]:
    """Read records into memory (audio loudness-normalised once here).

    A clip whose sound track is digital silence is loaded as a clip without audio.
    """
    from toolkit.data.records import load_clip

    out = []
    for cid in clip_ids:
        rec = load_clip(root, cid)
        raw = rec.audio() if rec.has_audio else None
        has_speech = raw is not None and _loud_rms(raw) > SILENT_TRACK_RMS
        audio = normalise_loudness(raw) if has_speech else np.zeros(rec.n_frames * SAMPLES_PER_FRAME, np.float32)
        out.append(
            ClipData(
                clip_id=cid,
                speaker=rec.speaker,
                has_audio=has_speech,
                audio=audio,
                frontal68=np.asarray(rec.frontal68, np.float32),
                motion=rec.head_motion,
                detected=np.asarray(rec.detected, bool),
                frontal_index=int(rec.frontal_index),
                speech_power=signal_power(audio),
            )
        )
    return out


def _loud_rms(audio: np.ndarray) -> float:
    n = audio.size // SAMPLES_PER_FRAME
    if n == 0:
        return 0.0
    frames = np.asarray(audio[: n * SAMPLES_PER_FRAME], np.float64).reshape(n, SAMPLES_PER_FRAME)
    return float(np.percentile(np.sqrt(np.mean(frames * frames, axis=1)), 95))


def estimate_av_offset(clip: ClipData, max_lag: int = 8, min_gain: float = 0.1, min_corr: float = 0.25) -> int:
    """Audio delay (frames) of a clip, from mouth opening vs speech energy; 0 unless the evidence is clear.

    r(l) = corr(opening[t + l], energy_dB[t]); the best l within +-max_lag is returned when
    r(best) >= min_corr and r(best) - r(0) >= min_gain (a clear, sizeable peak inside the range), else 0. A negative
    l means the sound comes |l| frames after the mouth moves (the audio track is late).
    """
    from toolkit.learners.evaluation import frame_energy_db, mouth_opening

    if not clip.has_audio or clip.n_frames < 4 * max_lag + 25:
        return 0
    op = mouth_opening(clip.frontal68)
    e = frame_energy_db(clip.audio, clip.n_frames)
    m = max_lag
    core = slice(m, clip.n_frames - m)

    def r(lag: int) -> float:
        a, b = op[m + lag : clip.n_frames - m + lag], e[core]
        if a.std() < 1e-9 or b.std() < 1e-9:
            return 0.0
        return float(np.corrcoef(a, b)[0, 1])

    corrs = {lag: r(lag) for lag in range(-m, m + 1)}
    best = max(corrs, key=corrs.get)
    # a peak on the edge of the search range is not a located peak
    if abs(best) < m and corrs[best] >= min_corr and corrs[best] - corrs[0] >= min_gain:
        return int(best)
    return 0


def shift_audio(audio: np.ndarray, lag: int) -> np.ndarray:
    """Re-align a clip's audio found ``lag`` frames off by :func:`estimate_av_offset` (zeros fill the gap)."""
    if lag == 0:
        return audio
    k = -lag * SAMPLES_PER_FRAME  # lag < 0: the audio is late, take it from later
    out = np.zeros_like(audio)
    if k > 0:
        out[: audio.size - k] = audio[k:]
    else:
        out[-k:] = audio[: audio.size + k]
    return out


def correct_av_offsets(clips: list[ClipData], max_lag: int = 8) -> dict[str, int]:
    """Shift the audio of training clips with a clear audio-video offset, in place; returns {clip_id: lag}."""
    fixed = {}
    for c in clips:
        lag = estimate_av_offset(c, max_lag)
        if lag:
            c.audio = shift_audio(c.audio, lag)
            fixed[c.clip_id] = lag
    return fixed


def read_sync_offsets(path: str | Path) -> tuple[dict[str, int], set[str]]:
    """The measured offsets file of ``data.sync_offsets``: ({clip_id: lag}, {clip ids to drop})."""
    import json

    p = Path(path)
    try:
        d = json.loads(p.read_text())
        offsets = {str(k): int(v) for k, v in d["offsets"].items()}
        drop = {str(c) for c in d.get("drop", [])}
    except FileNotFoundError:
        raise ToolkitError(
            f"The offsets file {p} (data.sync_offsets) does not exist.",
            "Write it with scripts/expression_av_offsets.py --offsets FILE, or set data.sync_offsets to ''.",
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ToolkitError(
            f"The offsets file {p} is not a valid offsets file ({e}).",
            'Expected {"offsets": {clip_id: lag_frames}, "drop": [clip_id, ...]}.',
        ) from None
    return offsets, drop


def align_training_clips(
    clips: list[ClipData], max_lag: int, offsets_file: str = ""
) -> tuple[dict[str, int], list[str]]:
    """Re-align training clips' audio in place, the one place both learners do it (validation clips never pass
    here); returns ({clip_id: lag applied}, [clip ids to leave out of the speech data]).

    ``offsets_file`` (``data.sync_offsets``) given: its measured lags (:func:`read_sync_offsets`) and drop list;
    else the energy estimate :func:`correct_av_offsets` up to ``max_lag`` frames (0 = off)."""
    if not offsets_file:
        return (correct_av_offsets(clips, max_lag) if max_lag > 0 else {}), []
    offsets, drop = read_sync_offsets(offsets_file)
    applied = {}
    for c in clips:
        lag = offsets.get(c.clip_id, 0)
        if lag and c.has_audio:
            c.audio = shift_audio(c.audio, lag)
            applied[c.clip_id] = lag
    return applied, sorted(c.clip_id for c in clips if c.clip_id in drop)


#: training labels need a surer transcript than the viseme metrics: Whisper tiny.en's mean segment log-prob at
#: least this (the metrics: -1.0; between the two were mostly misheard GRID commands and short Arabic clips
#: heard as English phrases) ...
VISEME_LABEL_MIN_LOGPROB = -0.8


def viseme_labels(clips: Sequence[ClipData], cache_dir: str | Path = "", log: Any = None) -> list[np.ndarray]:
    """Per clip: (T,) int64 viseme class of every frame (``toolkit.metrics.lipsync.viseme_frame_labels``) from the
    Whisper + pocketsphinx phone alignment of the clip's audio *as given* (call it after the training clips are
    re-aligned, so that the labels follow the shifted audio); :data:`~toolkit.metrics.lipsync.NO_VISEME` on
    clips without audio, whose audio is not English, or whose transcript is unsure (:data:`VISEME_LABEL_MIN_LOGPROB`,
    or a repetition loop: ``toolkit.metrics.lipsync.MAX_TRANSCRIPT_COMPRESSION``, which alignments made since
    session 12 refuse themselves). The alignment is cached per audio content in ``cache_dir``
    ('' = <TOOLKIT_CACHE>/visemes) as JSON (about 0.2 s of compute per second of speech on this CPU)."""
    import hashlib
    import json
    import time

    from toolkit.metrics.lipsync import (
        MAX_TRANSCRIPT_COMPRESSION,
        NO_VISEME,
        SpeechAlignment,
        align_speech,
        transcript_compression_ratio,
        viseme_frame_labels,
    )
    from toolkit.paths import cache_dir as default_cache

    folder = Path(cache_dir) if cache_dir else default_cache() / "visemes"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    t0 = time.perf_counter()
    for i, c in enumerate(clips):
        if not c.has_audio:
            out.append(np.full(c.n_frames, NO_VISEME, np.int64))
            continue
        a = np.ascontiguousarray(c.audio, np.float32)
        path = folder / f"{hashlib.sha256(a.tobytes()).hexdigest()[:32]}.json"
        if path.is_file():
            al = SpeechAlignment.from_dict(json.loads(path.read_text()))
        else:
            al = align_speech(a)
            path.write_text(json.dumps({**al.to_dict(), "clip_id": c.clip_id}))
        unsure = (
            al.mean_logprob < VISEME_LABEL_MIN_LOGPROB
            or transcript_compression_ratio(al.text) > MAX_TRANSCRIPT_COMPRESSION
        )
        out.append(np.full(c.n_frames, NO_VISEME, np.int64) if unsure else viseme_frame_labels(al, c.n_frames))
        if log is not None and (i + 1) % 25 == 0:
            log.info(f"viseme labels: {i + 1}/{len(clips)} clips, {time.perf_counter() - t0:.0f} s")
    return out


def windows_for_frames(audio: np.ndarray, start: int, n: int) -> np.ndarray:
    """(n, 7, 640) windows x_{t-3:t+4} for frames start..start+n-1 of a clip's audio (zero outside the clip)."""
    lo = (start - AUDIO_WINDOW_BEFORE) * SAMPLES_PER_FRAME
    hi = (start + n + AUDIO_WINDOW_AFTER - 1) * SAMPLES_PER_FRAME
    seg = np.zeros(hi - lo, np.float32)
    a, b = max(lo, 0), min(hi, audio.size)
    if b > a:
        seg[a - lo : b - lo] = audio[a:b]
    return frames_to_windows(seg, n)


def frames_to_windows(padded: np.ndarray, n: int) -> np.ndarray:
    """Audio already padded with 3 frames before and 3 after -> (n, 7, 640) windows."""
    frames = padded.reshape(-1, SAMPLES_PER_FRAME)  # (n + 6, 640)
    idx = np.arange(n)[:, None] + np.arange(AUDIO_WINDOW_BEFORE + AUDIO_WINDOW_AFTER)[None, :]
    return frames[idx]


def mix_relative_to_clip(segment: np.ndarray, noise: np.ndarray, snr_db: float, clip_power: float) -> np.ndarray:
    """Add ``noise`` so that its power is ``clip_power / 10^(snr/10)`` (the clip's SNR, not the segment's)."""
    seg_power = signal_power(segment)
    if seg_power < 1e-10 or clip_power < 1e-10:
        p_noise = max(signal_power(noise), 1e-12)
        gain = np.sqrt(clip_power / (p_noise * 10.0 ** (snr_db / 10.0)))
        return (segment + gain * noise[: segment.size]).astype(np.float32)
    # mix_at_snr scales to the segment's power; shift the requested SNR by the segment/clip power ratio
    return mix_at_snr(segment, noise, snr_db + 10.0 * np.log10(seg_power / clip_power))


class ExpressionBatcher:
    """Random training batches for Psi: windows, reference coefficients, target displacement."""

    def __init__(
        self,
        clips: list[ClipData],
        coeffs: list[np.ndarray],
        segment_frames: int,
        noise: NoiseBank | None,
        noise_probability: float,
        snr_levels_db: Sequence[float],
        gain_db: float = 0.0,
        single_reference_probability: float = 0.25,
        max_reference_frames: int = 64,
        identity: str = "mean",
    ) -> None:
        keep = [i for i, c in enumerate(clips) if c.has_audio and c.n_frames >= segment_frames]
        if not keep:
            raise ToolkitError(
                f"No training clip with audio and at least {segment_frames} frames.",
                "Preprocess talking-head videos with speech (e.g. ../shared/data/av) and point --data at them.",
            )
        self.clips = [clips[i] for i in keep]
        self.coeffs = [coeffs[i] for i in keep]
        self.segment_frames = segment_frames
        self.identity = identity
        self.noise = noise
        self.noise_probability = noise_probability
        self.snr_levels_db = tuple(snr_levels_db)
        self.gain_db = gain_db
        self.single_reference_probability = single_reference_probability
        self.max_reference_frames = max_reference_frames
        lengths = np.array([c.n_frames - segment_frames + 1 for c in self.clips], np.float64)
        self.weights = lengths / lengths.sum()
        #: per kept clip, (T,) viseme labels (set_labels; loss.viseme), None = batches carry no labels
        self.labels: list[np.ndarray] | None = None

    def set_labels(self, clips: Sequence[ClipData], labels: Sequence[np.ndarray]) -> None:
        """Frame labels (viseme classes) of ``clips`` (any superset of the batcher's clips): batches then carry
        ``labels`` (S * L,) beside the targets. Sampling (and its random stream) is unchanged."""
        by_id = {c.clip_id: np.asarray(lab, np.int64) for c, lab in zip(clips, labels)}
        for c in self.clips:
            if by_id[c.clip_id].shape != (c.n_frames,):
                raise ToolkitError(f"Viseme labels of {c.clip_id} do not cover its {c.n_frames} frames.", "Relabel.")
        self.labels = [by_id[c.clip_id] for c in self.clips]

    def _segment_labels(self, starts: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        if self.labels is None:
            return {}
        L = self.segment_frames
        return {"labels": np.concatenate([self.labels[ci][s : s + L] for ci, s in starts])}

    def sample(self, n_segments: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        L = self.segment_frames
        win, ref, tgt, snrs, nref = [], [], [], [], []
        starts = []
        for ci in rng.choice(len(self.clips), size=n_segments, p=self.weights):
            clip, co = self.clips[int(ci)], self.coeffs[int(ci)]
            s = int(rng.integers(0, clip.n_frames - L + 1))
            starts.append((int(ci), s))
            lo = (s - AUDIO_WINDOW_BEFORE) * SAMPLES_PER_FRAME
            padded = np.zeros((L + AUDIO_WINDOW_BEFORE + AUDIO_WINDOW_AFTER - 1) * SAMPLES_PER_FRAME, np.float32)
            a, b = max(lo, 0), min(lo + padded.size, clip.audio.size)
            padded[a - lo : b - lo] = clip.audio[a:b]
            snr = np.inf
            if self.noise is not None and rng.random() < self.noise_probability:
                snr = float(self.snr_levels_db[int(rng.integers(len(self.snr_levels_db)))])
                piece, _ = self.noise.sample(padded.size, rng)
                padded = mix_relative_to_clip(padded, piece, snr, clip.speech_power)
            if self.gain_db > 0:
                padded = padded * np.float32(10.0 ** (rng.uniform(-self.gain_db, self.gain_db) / 20.0))
            win.append(frames_to_windows(padded, L))
            r_coeff, n_ref = self._reference(clip, co, s, L, rng)
            ref.append(np.repeat(r_coeff[None], L, axis=0))
            nref.append(np.full(L, n_ref, np.float32))
            tgt.append(co[s : s + L] - r_coeff)
            snrs.append(snr)
        return {
            "windows": np.concatenate(win).astype(np.float32),
            "reference": np.concatenate(ref).astype(np.float32),
            "target": np.concatenate(tgt).astype(np.float32),
            "n_reference": np.concatenate(nref),
            "snr": np.array(snrs, np.float32),
            **self._segment_labels(starts),
        }

    def _reference(
        self, clip: ClipData, co: np.ndarray, s: int, L: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, int]:
        """Reference identity of a segment [s, s+L): one random detected frame (probability
        ``single_reference_probability``) or the mean of 16..max_reference_frames consecutive frames,
        placed outside the segment when the clip is long enough (at inference the reference
        frames never overlap the frames being predicted)."""
        if rng.random() < self.single_reference_probability:
            detected = np.flatnonzero(clip.detected)
            r = int(rng.choice(detected)) if detected.size else int(rng.integers(clip.n_frames))
            return co[r], 1
        n = int(rng.integers(16, self.max_reference_frames + 1))
        n = min(n, clip.n_frames)
        starts = np.arange(clip.n_frames - n + 1)
        apart = starts[(starts + n <= s) | (starts >= s + L)]
        w = int(rng.choice(apart if apart.size else starts))
        if self.identity == "neutral":
            from toolkit.learners.evaluation import mouth_opening
            from toolkit.learners.expression import neutral_frame_indices

            idx = w + neutral_frame_indices(mouth_opening(clip.frontal68[w : w + n]))
            return co[idx].mean(axis=0), n
        return co[w : w + n].mean(axis=0), n


class FeatureExpressionBatcher(ExpressionBatcher):
    """Training batches for Psi v2 from precomputed Whisper feature tracks (toolkit.learners.expression).

    Each clip has a clean track and noisy tracks (the clip's audio mixed with noise once, at a random SNR, before
    the features were computed); a segment takes a noisy one with probability ``noise_probability``. Clips,
    segment sampling and the reference identity (the neutral mouth) are :class:`ExpressionBatcher`'s.
    """

    def __init__(
        self,
        clips: list[ClipData],
        coeffs: list[np.ndarray],
        tracks: list[list[np.ndarray]],
        segment_frames: int,
        context: int,
        noise_probability: float,
        single_reference_probability: float = 0.25,
        max_reference_frames: int = 64,
        identity: str = "neutral",
    ) -> None:
        super().__init__(
            clips,
            coeffs,
            segment_frames,
            None,
            noise_probability,
            (),
            0.0,
            single_reference_probability,
            max_reference_frames,
            identity,
        )
        by_id = {c.clip_id: t for c, t in zip(clips, tracks)}
        self.tracks = [by_id[c.clip_id] for c in self.clips]
        self.context = context

    def sample(self, n_segments: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        from toolkit.learners.expression import feature_windows

        L = self.segment_frames
        win, ref, tgt, nref, noisy = [], [], [], [], []
        starts = []
        for ci in rng.choice(len(self.clips), size=n_segments, p=self.weights):
            clip, co, tracks = self.clips[int(ci)], self.coeffs[int(ci)], self.tracks[int(ci)]
            s = int(rng.integers(0, clip.n_frames - L + 1))
            starts.append((int(ci), s))
            use_noisy = len(tracks) > 1 and rng.random() < self.noise_probability
            track = tracks[int(rng.integers(1, len(tracks)))] if use_noisy else tracks[0]
            win.append(feature_windows(track, s, L, self.context))
            r_coeff, n_ref = self._reference(clip, co, s, L, rng)
            ref.append(np.repeat(r_coeff[None], L, axis=0))
            nref.append(np.full(L, n_ref, np.float32))
            tgt.append(co[s : s + L] - r_coeff)
            noisy.append(use_noisy)
        return {
            "windows": np.concatenate(win).astype(np.float32),
            "reference": np.concatenate(ref).astype(np.float32),
            "target": np.concatenate(tgt).astype(np.float32),
            "n_reference": np.concatenate(nref),
            "noisy": np.array(noisy, bool),
            **self._segment_labels(starts),
        }


def _clip_logmel(logmel: Any, clip: ClipData, chunk: int = 512) -> np.ndarray:
    """(T, N_MELS, N_MEL_FRAMES) log-mel of every frame's audio window x_{t-3:t+4} of a clip."""
    import torch

    with torch.no_grad():
        parts = [
            logmel(torch.from_numpy(windows_for_frames(clip.audio, a, min(chunk, clip.n_frames - a)))).numpy()
            for a in range(0, clip.n_frames, chunk)
        ]
    return np.concatenate(parts).astype(np.float32)


class MotionBatcher:
    """Random training batches for Phi: reference motion + audio, driving audio, target motion."""

    def __init__(
        self, clips: list[ClipData], predict_frames: int, min_predict: int = 16, logmel: Any | None = None
    ) -> None:
        """``logmel``: the network's fixed front end (toolkit.learners.frontend.LogMel); given, batches carry
        each frame's log-mel, computed once per clip, instead of its raw audio windows (the same input, cheaper)."""
        self.clips = [c for c in clips if c.n_frames >= 1 + min_predict]
        self._logmel = {c.clip_id: _clip_logmel(logmel, c) for c in self.clips} if logmel is not None else None
        if not self.clips:
            raise ToolkitError(
                f"No training clip with at least {1 + min_predict} frames.", "Preprocess longer talking-head videos."
            )
        self.predict_frames = predict_frames
        self.min_predict = min_predict
        self._beat_closeness: dict[str, np.ndarray] = {}

    def beat_closeness(self, clip: ClipData) -> np.ndarray:
        """(T,) exp(-d^2 / (2 sigma^2)) of every frame to the clip's nearest audio onset (sigma: the beat
        alignment metric's, toolkit.metrics.head_motion); all NaN for a clip without speech or onsets."""
        if clip.clip_id not in self._beat_closeness:
            from toolkit.audio.features import audio_onsets
            from toolkit.metrics.head_motion import BEAT_SIGMA_FRAMES

            closeness = np.full(clip.n_frames, np.nan, np.float32)
            onsets = audio_onsets(clip.audio, clip.n_frames) if clip.has_audio else np.zeros(0)
            if onsets.size:
                d = np.abs(np.arange(clip.n_frames)[:, None] - onsets[None, :]).min(axis=1)
                closeness = np.exp(-(d**2) / (2.0 * BEAT_SIGMA_FRAMES**2)).astype(np.float32)
            self._beat_closeness[clip.clip_id] = closeness
        return self._beat_closeness[clip.clip_id]

    def sample(
        self, batch: int, tau: int, rng: np.random.Generator, predict_frames: int | None = None
    ) -> dict[str, np.ndarray]:
        """A batch with one tau; the predicted length is as long as the eligible clips allow
        (<= ``predict_frames``, default the batcher's)."""
        want = self.predict_frames if predict_frames is None else predict_frames
        eligible = [c for c in self.clips if c.n_frames >= tau + self.min_predict]
        if not eligible:
            eligible, tau = self.clips, 1
        L = min(want, min(c.n_frames for c in eligible) - tau)
        # prefer long predictions: clips shorter than tau + predict_frames only when nothing else fits
        long = [c for c in eligible if c.n_frames >= tau + want]
        if long:
            eligible, L = long, want
        w = np.array([c.n_frames - tau - L + 1 for c in eligible], np.float64)
        picks = rng.choice(len(eligible), size=batch, p=w / w.sum())
        ref_m, ref_w, drv_w, tgt, audio_on, beats = [], [], [], [], [], []
        for i in picks:
            c = eligible[int(i)]
            s = int(rng.integers(0, c.n_frames - tau - L + 1))
            ref_m.append(c.motion[s : s + tau])
            if self._logmel is not None:
                ref_w.append(self._logmel[c.clip_id][s : s + tau])
                drv_w.append(self._logmel[c.clip_id][s + tau : s + tau + L])
            else:
                ref_w.append(windows_for_frames(c.audio, s, tau))
                drv_w.append(windows_for_frames(c.audio, s + tau, L))
            tgt.append(c.motion[s + tau : s + tau + L])
            audio_on.append(c.has_audio)
            beats.append(self.beat_closeness(c)[s + tau : s + tau + L])
        return {
            "ref_motion": np.stack(ref_m).astype(np.float32),
            "ref_windows": np.stack(ref_w).astype(np.float32),
            "driving_windows": np.stack(drv_w).astype(np.float32),
            "target": np.stack(tgt).astype(np.float32),
            "has_audio": np.array(audio_on, bool),
            "beat_closeness": np.stack(beats).astype(np.float32),
        }
