"""The learners behind the pipeline, loaded once per process and run in bounded memory.

Both learners (``toolkit.learners``) take whole sequences. For long audio the
pipeline calls them on overlapping chunks so that memory stays bounded (the
motion learner's audio stem alone would need about 2 GB for 10 minutes):

* expression learner Psi works frame by frame on its audio window, so each
  chunk (``EXPRESSION_CHUNK``) gets the learner's ``context_frames`` of audio on
  either side (4 for the log-mel v1, 33 for the Whisper v2) and is cut exactly;
* head motion learner Phi sees about 2.6 s of audio around each frame, so each
  chunk after the first starts ``MOTION_CONTEXT`` frames early (its start-up
  pull towards the reference pose decays there and is dropped), and the
  ``MOTION_OVERLAP`` frames shared by two chunks are cross-faded.

Units: the learners work in pixels of a 256 px face crop (as ``toolkit
preprocess`` makes them); other output sizes are converted here.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import AUDIO_WINDOW_BEFORE, SAMPLES_PER_FRAME
from toolkit.errors import WeightsNotFoundError
from toolkit.pipeline.config import GenerationConfig
from toolkit.pipeline.stages import Reference

LEARNER_CROP_SIZE: int = 256
#: frames per expression-learner call (60 s): the learners normalise loudness per call, so chunks
#: are long enough to hold speech and pauses, as the training clips do
EXPRESSION_CHUNK: int = 1500
MOTION_CHUNK: int = 500
MOTION_CONTEXT: int = 96
MOTION_OVERLAP: int = 32

_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


def _load(kind: str, path: str | None) -> Any:
    key = (kind, str(Path(path).resolve()) if path else "")
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load_uncached(kind, path)
        return _cache[key]


def _load_uncached(kind: str, path: str | None) -> Any:
    from toolkit.paths import checkpoints_dir

    where = Path(path) if path else checkpoints_dir() / kind
    if not where.exists():
        raise WeightsNotFoundError(
            f"The {kind} learner checkpoint is missing ({where}).",
            f"Train it with `toolkit train {kind}` or pass --{kind}-checkpoint; or use "
            + ("--motion still|reference." if kind == "motion" else "--expression reference."),
        )
    if kind == "expression":
        from toolkit.learners.expression import ExpressionLearner

        return ExpressionLearner.load(path)
    from toolkit.learners.motion import MotionLearner

    return MotionLearner.load(path)


def expression_learner(config: GenerationConfig) -> Any:
    return _load("expression", config.expression_checkpoint)


def motion_learner(config: GenerationConfig) -> Any:
    return _load("motion", config.motion_checkpoint)


def warm_up(config: GenerationConfig) -> threading.Thread:
    """Start loading, in a background thread, what this generation will need later.

    A fresh process pays seconds of one-off cost before its first frame: importing
    torch, loading the learners, loading the rasteriser's compiled numba kernels from
    their on-disk cache. Started first, this overlaps them with decoding and face
    tracking (the second core is otherwise idle then). Nothing here can fail a
    generation: an error is left for the stage that needs the thing to raise.
    Models stay cached for the process (:func:`_load`), so later calls cost nothing.
    """

    def work() -> None:
        with contextlib.suppress(Exception):  # reported by the stage that uses the model
            if config.motion_source().kind == "learned":
                motion_learner(config)
            if config.expression_source().kind == "audio":
                expression_learner(config)
        with contextlib.suppress(Exception):
            _warm_render_kernels()

    thread = threading.Thread(target=work, name="warm-up", daemon=True)
    thread.start()
    return thread


def _warm_render_kernels() -> None:
    """Call each compiled render kernel once on a one-triangle mesh (same argument types as real use)."""
    from toolkit.render.rasterize import blend, pick_backend, rasterize, shade_textured

    if pick_backend("auto") != "numba":
        return
    verts = np.array([[[1.0, 1.0, 1.0], [6.0, 1.0, 1.0], [1.0, 6.0, 1.0]]], np.float32)
    faces = np.array([[0, 1, 2]], np.int32)
    uv, alpha = verts[0, :, :2].copy(), np.ones(3, np.float32)
    texture = np.zeros((8, 8, 3), np.uint8)
    for batch in (1, 2):
        fragments = rasterize(np.repeat(verts, batch, axis=0), faces, 8, 8)
        image, mask = shade_textured(fragments, faces, uv, alpha, texture)
        blend(image, mask, image)


def predict_expression(
    ref: Reference, audio: np.ndarray, start: int, stop: int, config: GenerationConfig
) -> np.ndarray:
    """Psi's frontalised 68-point landmarks (stop - start, 68, 3) for output frames [start, stop)."""
    learner = expression_learner(config)
    n_total = audio.size // SAMPLES_PER_FRAME
    context = getattr(learner, "context_frames", AUDIO_WINDOW_BEFORE + 1)
    lo = max(0, start - context)
    hi = min(n_total, stop + context)
    identity = learner.identity_input(ref.frontal68, ref.frontal_index)  # v2: the neutral mouth of the reference
    out = learner.predict(
        audio[lo * SAMPLES_PER_FRAME : hi * SAMPLES_PER_FRAME], identity, offset=expression_offset(ref, learner)
    )
    return np.asarray(out[start - lo : stop - lo], np.float32)


def expression_offset(ref: Reference, learner: Any) -> np.ndarray | None:
    """Psi's per-person calibration from the reference frames and their own speech, computed once per
    reference (every chunk of the output subtracts the same offset); None for a photo or a reference
    without sound. Measured on the learners' validation people (driving audio only, as here): mouth
    LMD 35.2 uncalibrated vs 30.5 calibrated (scripts/eval_learners.py protocol, issue 16)."""
    if "expression_offset" not in ref.cache:
        offset = None
        calibrate = getattr(learner, "calibration_offset", None)
        if calibrate is not None and ref.audio is not None and not ref.is_still and np.abs(ref.audio).max() > 0:
            identity = learner.identity_input(ref.frontal68, ref.frontal_index)
            offset = calibrate(identity, np.asarray(ref.audio, np.float32)[: ref.n_frames * SAMPLES_PER_FRAME])
        ref.cache["expression_offset"] = offset
    return ref.cache["expression_offset"]


def predict_head_motion(ref: Reference, audio: np.ndarray, n_frames: int, config: GenerationConfig) -> np.ndarray:
    """Phi's head motion (n_frames, 6) for the driving audio, in the reference crop's pixels."""
    learner = motion_learner(config)
    to_learner = LEARNER_CROP_SIZE / ref.size
    ref_motion = ref.pose.motion  # a new array: the learner's crop scale is applied to it here
    ref_motion[:, 3:] *= to_learner
    out = np.zeros((n_frames, 6), np.float32)
    start, chunk_index = 0, 0
    while start < n_frames:
        stop = min(n_frames, start + MOTION_CHUNK)
        lo = 0 if start == 0 else max(0, start - MOTION_CONTEXT)
        hi = min(n_frames, stop + MOTION_OVERLAP)
        part = learner.predict(
            ref_motion,
            ref.audio,
            audio[lo * SAMPLES_PER_FRAME : hi * SAMPLES_PER_FRAME],
            seed=config.seed + 7919 * chunk_index,
            n_frames=hi - lo,
        )
        part = np.asarray(part, np.float32)[start - lo :]  # frames [start, hi)
        if start == 0:
            out[start:hi] = part
        else:
            # frames [start, start + overlap) were also made by the previous chunk: cross-fade
            k = min(MOTION_OVERLAP, hi - start)
            w = np.linspace(0.0, 1.0, k + 2, dtype=np.float32)[1:-1, None]
            out[start : start + k] = (1 - w) * out[start : start + k] + w * part[:k]
            out[start + k : hi] = part[k:]
        start, chunk_index = stop, chunk_index + 1
    out[:, 3:] /= to_learner
    return out
