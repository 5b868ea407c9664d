"""Voice activity per video frame (Silero VAD), so that pauses close the mouth.

Psi maps speech features to mouth shapes; on a pause between phrases, or on noise and
music, nothing in its features says "no speech", and the measured result (issue 16) was
a mouth that sits slightly open on noise. A voice-activity probability per 40 ms frame
lets the expression stage pull the mouth back to the person's neutral (closed) shape where
nobody speaks.

**The model.** Silero VAD v5, the 16 kHz "sequence" ONNX export
(``silero_vad/data/silero_vad_16k_sequence.onnx``) shipped inside the PyPI wheel ``silero-vad``
6.2.3 (MIT), found through the installed package (importlib; the package's Python code is not
imported) and checked by SHA-256; it runs in onnxruntime. Protocol (the model's, read from the
package): chunks of 512 samples at 16 kHz, each preceded by the last 64 samples of the previous
chunk (zeros before the first), an LSTM state (h, c) carried over; output = the probability that
the chunk is speech. The sequence export takes up to 512 chunks per call: the streaming export
(``silero_vad.onnx``, one chunk per call) cost 0.10 s per second of audio on this loaded CPU,
as much as the Whisper features; on a 25 s shared speech clip the two give identical
probabilities (max difference 0.0) and the sequence export is 3x faster.

**Per frame.** Chunk ``i`` covers samples ``[512 i, 512 (i + 1))``; video frame ``t`` covers
``[640 t, 640 (t + 1))``; a frame's probability is the overlap-weighted mean of the chunks
it touches.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.errors import ToolkitError, WeightsNotFoundError

PACKAGE_NAME = "silero-vad"
PACKAGE_MODULE = "silero_vad"
PACKAGE_VERSION = "6.2.3"
MODEL_FILE = "data/silero_vad_16k_sequence.onnx"
MODEL_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"
MODEL_NAME = f"Silero VAD v5 (ONNX, {PACKAGE_NAME} {PACKAGE_VERSION})"
#: samples per model call at 16 kHz, and the samples of the previous chunk prepended to each call
CHUNK_SAMPLES = 512
CONTEXT_SAMPLES = 64
#: chunks per onnxruntime call
BLOCK_CHUNKS = 512


def model_path() -> Path:
    """The packaged ONNX file, SHA-256 checked; a clear error naming the package when missing or altered."""
    from toolkit.io.hashing import file_sha256_cached

    fix = f"Install it: pip install {PACKAGE_NAME}=={PACKAGE_VERSION} --no-deps"
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"The voice activity model is missing: the Python package {PACKAGE_NAME} is not installed.", fix + "."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise WeightsNotFoundError(
            f"The voice activity model {path} is missing from the installed package {PACKAGE_NAME}.",
            fix + " --force-reinstall.",
        )
    got = file_sha256_cached(path)
    if got != MODEL_SHA256:
        raise WeightsNotFoundError(
            f"The voice activity model {path} is corrupt or not the one {PACKAGE_NAME} {PACKAGE_VERSION} ships "
            f"(SHA-256 {got[:12]}..., expected {MODEL_SHA256[:12]}...).",
            fix + " --force-reinstall.",
        )
    return path


@functools.cache
def _session(path: str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # the export has unused initialisers: onnxruntime warns on every load
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a damaged file
        raise WeightsNotFoundError(
            f"The voice activity model {path} could not be loaded: {e}",
            f"Reinstall it: pip install --force-reinstall {PACKAGE_NAME}=={PACKAGE_VERSION} --no-deps.",
        ) from e


def chunk_speech_probability(audio: np.ndarray) -> np.ndarray:
    """(ceil(N / 512),) speech probability of each 32 ms chunk of 16 kHz mono audio."""
    a = np.asarray(audio, np.float32).reshape(-1)
    if a.size == 0:
        return np.zeros(0, np.float32)
    if not np.all(np.isfinite(a)):
        raise ToolkitError("Audio contains NaN or infinite samples.", "Check the decoding of the audio file.")
    n_chunks = int(np.ceil(a.size / CHUNK_SAMPLES))
    padded = np.zeros(CONTEXT_SAMPLES + n_chunks * CHUNK_SAMPLES, np.float32)
    padded[CONTEXT_SAMPLES : CONTEXT_SAMPLES + a.size] = a
    sess = _session(str(model_path()))
    # row i = the 64 samples before chunk i, then chunk i (a view, no copy)
    rows = np.lib.stride_tricks.sliding_window_view(padded, CONTEXT_SAMPLES + CHUNK_SAMPLES)[::CHUNK_SAMPLES]
    h = np.zeros((1, 1, 128), np.float32)
    c = np.zeros((1, 1, 128), np.float32)
    out = np.empty(n_chunks, np.float32)
    for i in range(0, n_chunks, BLOCK_CHUNKS):
        block = np.ascontiguousarray(rows[i : i + BLOCK_CHUNKS])
        prob, h, c = sess.run(["speech_probs", "hn", "cn"], {"input": block, "h": h, "c": c})
        out[i : i + len(block)] = np.asarray(prob, np.float32).reshape(-1)
    return out


def frame_speech_probability(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames,) speech probability per 25 fps video frame (overlap-weighted mean of the 32 ms chunks)."""
    chunks = chunk_speech_probability(audio)
    out = np.zeros(n_frames, np.float32)
    if chunks.size == 0:
        return out
    # cumulative probability mass over samples, read at the frame boundaries
    edges_chunk = np.arange(chunks.size + 1) * CHUNK_SAMPLES
    mass = np.concatenate([[0.0], np.cumsum(chunks.astype(np.float64) * CHUNK_SAMPLES)])
    edges = np.minimum(np.arange(n_frames + 1) * SAMPLES_PER_FRAME, edges_chunk[-1])
    cum = np.interp(edges, edges_chunk, mass)
    width = np.diff(edges).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(width > 0, np.diff(cum) / np.maximum(width, 1), 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


#: a frame counts as speech above this probability; speech is widened by PAUSE_MARGIN_FRAMES on each side
SPEECH_THRESHOLD = 0.2
PAUSE_MARGIN_FRAMES = 3
#: only pauses at least this long (10 frames = 0.4 s) close the mouth: short gaps inside a phrase keep
#: co-articulation (on the learners' validation a gate on every low-probability frame cost 0.04 MOC)
MIN_PAUSE_FRAMES = 10
#: Gaussian ramp (frames) into and out of a pause, so the lips close and open smoothly
PAUSE_RAMP_FRAMES = 2.0


def speech_gate(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames,) weight in [0, 1] per video frame: 1 while someone speaks, 0 inside a pause of at least
    :data:`MIN_PAUSE_FRAMES` (or noise / music without a voice), a smooth ramp between."""
    from scipy.ndimage import binary_opening, gaussian_filter1d, maximum_filter1d

    p = frame_speech_probability(audio, n_frames)
    speech = maximum_filter1d((p > SPEECH_THRESHOLD).astype(np.uint8), 2 * PAUSE_MARGIN_FRAMES + 1) > 0
    pause = binary_opening(~speech, np.ones(MIN_PAUSE_FRAMES, bool))
    gate = gaussian_filter1d(1.0 - pause.astype(np.float32), PAUSE_RAMP_FRAMES, mode="nearest")
    return np.clip(gate, 0.0, 1.0).astype(np.float32)
