"""Lip-sync metrics that need no SyncNet (its weights are not obtainable here).

All of them read the mouth opening of 68-point landmarks (dlib's on video frames,
:mod:`eval.landmarks68`, or the learner's frontalised landmarks), in one definition:

``opening`` (per frame)
    mean vertical gap of the three inner-lip pairs (61, 67), (62, 66), (63, 65),
    divided by the inter-ocular distance (outer eye corners 36 and 45), so that it
    does not depend on the face's size in the frame.
``closed`` (per frame)
    ``opening < CLOSED_OPENING`` = 0.035 (lip gap below 0.035 inter-ocular distances).

Self-reenactment (the real continuation is the ground truth), frame by frame:

``MOC`` (mouth-opening correlation)
    Pearson correlation of generated and real ``opening`` over the frames where both
    have landmarks (NaN when either is constant, e.g. a still face).
``AmpRatio`` (opening amplitude ratio)
    std of generated ``opening`` / std of real ``opening`` (1 = same amplitude).
``Closure`` / ``Closure-GT``
    share of frames ``closed``, generated and real; ``Closure-Err`` = |generated - real|
    per clip, in percentage points.

Any video + any English speech (no ground truth): phone-aligned viseme checks.
Word timings from Whisper (faster-whisper, the packaged ``tiny.en`` of
:mod:`toolkit.audio.whisper`), phone timings by forced alignment of those words with
pocketsphinx 5.1.1 (en-us acoustic model and CMU dictionary of its wheel, wide beams),
run on stretches of consecutive in-dictionary words (out-of-dictionary words split a
stretch; a stretch that fails to align is split in halves, down to single words, and a
word that still fails is dropped and counted). Phone ``p`` covers the
video frames whose centre lies inside it.

``Bilabial-Closed``
    share of bilabial phones (P, B, M) during which the lips close (``closed`` on at
    least one of the phone's frames; a bilabial closure is brief, and the landmark
    tracker and the 40 ms frame often catch only one frame of it).
``Vowel/Bilabial``
    mean ``opening`` over the frames of open vowels (AA, AE, AH, AO, AW, AY) divided
    by mean ``opening`` over the frames of bilabials (higher = better articulated).

Both are "not applicable" (NaN with a reason) when the audio is not English speech:
Whisper ``tiny.en`` knows only English, so a transcript whose mean segment log-prob
is below :data:`MIN_ENGLISH_LOGPROB`, that is a repetition loop (gzip compression ratio above
:data:`MAX_TRANSCRIPT_COMPRESSION`) or that has fewer than :data:`MIN_ALIGNED_PHONES`
aligned phones is treated as not English (or not speech).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, VIDEO_FPS
from toolkit.tracking.landmarks68 import INNER_LIP_PAIRS

#: outer eye corners, for the inter-ocular distance
OUTER_EYE_CORNERS: tuple[int, int] = (36, 45)
#: lips count as closed below this opening (inner-lip gap / inter-ocular distance)
CLOSED_OPENING = 0.035
BILABIALS: frozenset[str] = frozenset({"P", "B", "M"})
OPEN_VOWELS: frozenset[str] = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})
#: transcripts below this mean segment log-probability are not English speech for tiny.en
MIN_ENGLISH_LOGPROB = -1.0
#: transcripts whose gzip compression ratio is above this are repetition loops (Whisper's own hallucination
#: threshold): tiny.en hears some non-English speech as "a bit of a bit of ..." with a passing log-prob
MAX_TRANSCRIPT_COMPRESSION = 2.4
#: fewer aligned phones than this: the viseme checks are not applicable
MIN_ALIGNED_PHONES = 10
#: audio around each aligned stretch of words (s): Whisper's word edges are approximate
ALIGN_PAD_S = 0.15
#: pocketsphinx frame rate (frames per second of its alignment)
SPHINX_FRAME_RATE = 100

METRIC_DEFINITIONS: dict[str, str] = {
    "MOC": "Pearson correlation of generated vs real mouth opening (inner-lip gap / outer-eye-corner distance, "
    "dlib 68 points), frames with landmarks in both",
    "AmpRatio": "std of generated mouth opening / std of real mouth opening",
    "Closure": f"share of generated frames with lips closed (opening < {CLOSED_OPENING} inter-ocular distances)",
    "Closure-GT": f"share of real frames with lips closed (opening < {CLOSED_OPENING} inter-ocular distances)",
    "Closure-Err": "|Closure - Closure-GT| per clip, percentage points",
    "Bilabial-Closed": "share of P/B/M phones (Whisper tiny.en words, pocketsphinx 5.1.1 forced alignment) with "
    f"lips closed on at least one of their frames (opening < {CLOSED_OPENING}); NaN = not English speech",
    "Vowel/Bilabial": "mean opening on open-vowel frames (AA AE AH AO AW AY) / mean opening on P/B/M frames; "
    "NaN = not English speech",
}


def mouth_opening_px(landmarks68: np.ndarray) -> np.ndarray:
    """(T,) mean vertical inner-lip gap in the landmarks' own units (pixels for dlib points)."""
    lm = np.asarray(landmarks68, np.float64)
    return np.mean([np.abs(lm[:, lo, 1] - lm[:, up, 1]) for up, lo in INNER_LIP_PAIRS], axis=0)


def inter_ocular(landmarks68: np.ndarray) -> np.ndarray:
    """(T,) distance between the outer eye corners (points 36 and 45), x and y."""
    lm = np.asarray(landmarks68, np.float64)
    a, b = OUTER_EYE_CORNERS
    return np.linalg.norm(lm[:, a, :2] - lm[:, b, :2], axis=1)


def mouth_opening(landmarks68: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap / inter-ocular distance (NaN where landmarks are missing)."""
    iod = inter_ocular(landmarks68)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mouth_opening_px(landmarks68) / np.where(iod > 1e-6, iod, np.nan)


def _pair(gen: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g, r = np.asarray(gen, np.float64), np.asarray(real, np.float64)
    n = min(g.size, r.size)
    g, r = g[:n], r[:n]
    ok = np.isfinite(g) & np.isfinite(r)
    return g[ok], r[ok]


def opening_correlation(gen_opening: np.ndarray, real_opening: np.ndarray) -> float:
    """MOC: Pearson correlation of two opening curves; NaN if fewer than 3 frames or one is constant."""
    g, r = _pair(gen_opening, real_opening)
    if g.size < 3 or g.std() < 1e-9 or r.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(g, r)[0, 1])


def amplitude_ratio(gen_opening: np.ndarray, real_opening: np.ndarray) -> float:
    """std(generated opening) / std(real opening) over frames with both; NaN if the real one is constant."""
    g, r = _pair(gen_opening, real_opening)
    if g.size < 3 or r.std() < 1e-9:
        return float("nan")
    return float(g.std() / r.std())


def closure_rate(opening: np.ndarray, threshold: float = CLOSED_OPENING) -> float:
    """Share of frames (with landmarks) whose opening is below ``threshold``."""
    o = np.asarray(opening, np.float64)
    o = o[np.isfinite(o)]
    return float((o < threshold).mean()) if o.size else float("nan")


def reenactment_scores(gen_landmarks68: np.ndarray, real_landmarks68: np.ndarray) -> dict[str, float]:
    """MOC, AmpRatio, Closure, Closure-GT, Closure-Err of one clip from two (T, 68, 2|3) landmark arrays."""
    g, r = mouth_opening(gen_landmarks68), mouth_opening(real_landmarks68)
    n = min(g.size, r.size)
    g, r = g[:n], r[:n]
    both = np.isfinite(g) & np.isfinite(r)
    closure, closure_gt = closure_rate(g[both]), closure_rate(r[both])
    return {
        "MOC": opening_correlation(g, r),
        "AmpRatio": amplitude_ratio(g, r),
        "Closure": closure,
        "Closure-GT": closure_gt,
        "Closure-Err": 100.0 * abs(closure - closure_gt),
    }


# ------------------------------------------------------------------ phone alignment


@dataclass(frozen=True)
class Phone:
    name: str  # ARPAbet without stress, upper case ("P", "AA")
    start: float  # seconds
    end: float


@dataclass
class SpeechAlignment:
    """Whisper words + pocketsphinx phones of one audio; ``applicable`` False with a ``reason`` otherwise."""

    applicable: bool
    reason: str
    text: str
    mean_logprob: float
    phones: list[Phone] = field(default_factory=list)
    words_aligned: int = 0
    words_dropped: int = 0
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechAlignment:
        """The inverse of :meth:`to_dict` (keys that are not fields, e.g. a cache's ``clip_id``, are ignored)."""
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "phones": [Phone(**p) for p in fields.get("phones", [])]})


@functools.cache
def _whisper_asr(model: str | None) -> Any:
    from faster_whisper import WhisperModel

    from toolkit.audio.whisper import resolve_whisper_model

    ref = resolve_whisper_model(model)
    return WhisperModel(str(ref.path), device="cpu", compute_type="int8", cpu_threads=1), ref.name


@functools.cache
def _sphinx_decoder() -> Any:
    from pocketsphinx import Decoder

    # wide beams: the sub-word (phone) alignment fails with the default ones
    return Decoder(lm=None, beam=1e-120, pbeam=1e-120, wbeam=1e-100, loglevel="FATAL")


def transcript_compression_ratio(text: str) -> float:
    """len(text) / len(gzip of text) in bytes (Whisper's repetition measure); 0 for an empty text."""
    import zlib

    raw = text.encode()
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _clean_word(w: str) -> str:
    return re.sub(r"[^a-z']", "", w.lower()).strip("'")


def _align_stretch(pcm: np.ndarray, words: list[str], offset_s: float) -> list[Phone] | None:
    d = _sphinx_decoder()
    buf = pcm.tobytes()
    try:
        d.set_align_text(" ".join(words))
        d.start_utt()
        d.process_raw(buf, full_utt=True)
        d.end_utt()
        d.set_alignment()
        d.start_utt()
        d.process_raw(buf, full_utt=True)
        d.end_utt()
        phones = []
        for w in d.get_alignment():
            for p in w:
                name = re.sub(r"\d", "", p.name).upper()
                if name in {"SIL", "+NSN+", "+SPN+", "+BREATH+"}:
                    continue
                start = offset_s + p.start / SPHINX_FRAME_RATE
                phones.append(Phone(name, start, start + p.duration / SPHINX_FRAME_RATE))
        return phones
    except RuntimeError:  # pocketsphinx could not fit the words to this stretch of audio
        return None


def align_speech(audio: np.ndarray, model: str | None = None) -> SpeechAlignment:
    """Whisper word timings then pocketsphinx phone alignment of 16 kHz mono audio (cached per audio)."""
    a = np.ascontiguousarray(np.asarray(audio, np.float32).ravel())
    key = hashlib.sha256(a.tobytes()).hexdigest() + f"|{model}"
    return _align_cached(key, a, model)


_ALIGN_CACHE: dict[str, SpeechAlignment] = {}


def _align_cached(key: str, a: np.ndarray, model: str | None) -> SpeechAlignment:
    if key in _ALIGN_CACHE:
        return _ALIGN_CACHE[key]
    asr, model_name = _whisper_asr(model)
    segments, _ = asr.transcribe(
        a,
        language="en",
        word_timestamps=True,
        beam_size=1,
        # greedy only: faster-whisper's default temperature fallback samples when the greedy transcript scores
        # badly, and that sampling made the metric differ from run to run (and between Ray workers)
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    segments = list(segments)
    words = [w for s in segments for w in (s.words or [])]
    text = " ".join(s.text.strip() for s in segments)
    lp = float(np.mean([s.avg_logprob for s in segments])) if segments else float("-inf")
    out = SpeechAlignment(False, "", text, lp, model=f"{model_name} + pocketsphinx 5.1.1 en-us")
    if not words:
        out.reason = "no speech recognised"
    elif lp < MIN_ENGLISH_LOGPROB:
        out.reason = f"not English speech (Whisper tiny.en mean log-prob {lp:.2f} < {MIN_ENGLISH_LOGPROB})"
    elif (ratio := transcript_compression_ratio(text)) > MAX_TRANSCRIPT_COMPRESSION:
        out.reason = (
            f"not English speech (Whisper tiny.en's transcript is a repetition loop: compression ratio {ratio:.2f} "
            f"> {MAX_TRANSCRIPT_COMPRESSION})"
        )
    if out.reason:
        _ALIGN_CACHE[key] = out
        return out
    d = _sphinx_decoder()
    pcm = (np.clip(a, -1.0, 1.0) * 32767).astype(np.int16)
    stretches: list[list[Any]] = [[]]
    for w in words:
        cw = _clean_word(w.word)
        if cw and d.lookup_word(cw) is not None:
            stretches[-1].append((cw, float(w.start), float(w.end)))
        else:  # an out-of-dictionary word (or a number) ends the stretch
            out.words_dropped += 1
            stretches.append([])
    duration = a.size / AUDIO_SAMPLE_RATE
    todo = [run for run in stretches if run]
    while todo:
        run = todo.pop()
        s0 = max(0.0, run[0][1] - ALIGN_PAD_S)
        s1 = min(duration, run[-1][2] + ALIGN_PAD_S)
        pcm_run = pcm[int(s0 * AUDIO_SAMPLE_RATE) : int(s1 * AUDIO_SAMPLE_RATE)]
        phones = _align_stretch(pcm_run, [w for w, _, _ in run], s0)
        if phones is not None:
            out.phones.extend(phones)
            out.words_aligned += len(run)
        elif len(run) > 1:  # a stretch that does not fit: align its halves separately
            todo += [run[: len(run) // 2], run[len(run) // 2 :]]
        else:
            out.words_dropped += 1
    out.phones.sort(key=lambda p: p.start)
    if len(out.phones) < MIN_ALIGNED_PHONES:
        out.reason = f"only {len(out.phones)} phones aligned (< {MIN_ALIGNED_PHONES})"
    else:
        out.applicable = True
    _ALIGN_CACHE[key] = out
    return out


def phone_frames(phone: Phone, n_frames: int, fps: float = VIDEO_FPS) -> np.ndarray:
    """Indices of the video frames whose centre lies inside the phone (at least the nearest frame)."""
    centres = (np.arange(n_frames) + 0.5) / fps
    idx = np.flatnonzero((centres >= phone.start) & (centres < phone.end))
    if idx.size == 0:
        mid = int(np.clip(np.floor((phone.start + phone.end) / 2 * fps), 0, max(n_frames - 1, 0)))
        idx = np.array([mid]) if n_frames else idx
    return idx


#: viseme classes of the expression learner's auxiliary training objective (``loss.viseme``), index = class id.
#: Frames outside every aligned phone of English speech are ``silence``.
VISEME_CLASSES: tuple[str, ...] = ("silence", "bilabial", "labiodental", "rounded", "open_vowel", "vowel", "consonant")
VISEME_OF_PHONE: dict[str, int] = {
    **{p: 1 for p in BILABIALS},
    **{p: 2 for p in ("F", "V")},
    **{p: 3 for p in ("W", "UW", "UH", "OW", "OY")},
    **{p: 4 for p in OPEN_VOWELS},
    **{p: 5 for p in ("EH", "ER", "EY", "IH", "IY")},
}
#: the frame label of frames without one (audio not English, or not covered by the alignment)
NO_VISEME = -1


def viseme_frame_labels(alignment: SpeechAlignment, n_frames: int, fps: float = VIDEO_FPS) -> np.ndarray:
    """(n_frames,) int64 viseme class (:data:`VISEME_CLASSES`) of every video frame from the phone alignment.

    A frame takes the class of the phone its centre lies in (every other phone: ``consonant``); frames in no
    phone are ``silence`` when every recognised word was aligned, else :data:`NO_VISEME` (a dropped word, e.g.
    a number or a name outside the dictionary, leaves a gap that is speech). Audio that is not English
    speech (``alignment.applicable`` False) gives :data:`NO_VISEME` everywhere (masked out of the loss)."""
    labels = np.full(n_frames, NO_VISEME, np.int64)
    if not alignment.applicable or n_frames <= 0:
        return labels
    if alignment.words_dropped == 0:
        labels[:] = 0
    centres = (np.arange(n_frames) + 0.5) / fps
    for p in alignment.phones:
        labels[(centres >= p.start) & (centres < p.end)] = VISEME_OF_PHONE.get(p.name, 6)
    return labels


def viseme_scores(opening: np.ndarray, alignment: SpeechAlignment, fps: float = VIDEO_FPS) -> dict[str, Any]:
    """Bilabial-Closed and Vowel/Bilabial of one opening curve against the phones of its audio."""
    nan = float("nan")
    if not alignment.applicable:
        return {"Bilabial-Closed": nan, "Vowel/Bilabial": nan, "viseme_note": f"not applicable: {alignment.reason}"}
    o = np.asarray(opening, np.float64)
    closed_flags, bil_open, vow_open = [], [], []
    for p in alignment.phones:
        idx = phone_frames(p, o.size, fps)
        vals = o[idx]
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            continue
        if p.name in BILABIALS:
            closed_flags.append(bool((vals < CLOSED_OPENING).any()))
            bil_open.extend(vals)
        elif p.name in OPEN_VOWELS:
            vow_open.extend(vals)
    bil = float(np.mean(closed_flags)) if closed_flags else nan
    ratio = float(np.mean(vow_open) / np.mean(bil_open)) if bil_open and vow_open and np.mean(bil_open) > 0 else nan
    return {
        "Bilabial-Closed": bil,
        "Vowel/Bilabial": ratio,
        "n_bilabial": len(closed_flags),
        "n_vowel_frames": len(vow_open),
    }


__all__ = [
    "CLOSED_OPENING",
    "METRIC_DEFINITIONS",
    "NO_VISEME",
    "VISEME_CLASSES",
    "Phone",
    "SpeechAlignment",
    "align_speech",
    "amplitude_ratio",
    "closure_rate",
    "mouth_opening",
    "mouth_opening_px",
    "opening_correlation",
    "reenactment_scores",
    "viseme_frame_labels",
    "viseme_scores",
]
