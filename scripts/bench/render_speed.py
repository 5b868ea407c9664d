"""Speed of the 3D-aware module: mesh build, projection + composition per rasteriser backend.

Measures on a real shared clip (tracked with the default MediaPipe tracker,
head motion from the motion disentangler) at 256x256:

* mesh build time (cold = first build in the process, including the mesh
  topology and the compiled kernels' load/compile; warm = median of later builds);
* frames per second of ``generator_inputs`` (Eq. 1 projection, rasterisation,
  texture lookup, Eq. 2 matching) + ``compose`` (3D-warp output), one frame
  per call and in batches of 64, for every available backend;
* the rasteriser alone;
* expression-driven projection + composition (batches of 64) with the mouth interior painted from
  the reference frames (``toolkit.render.mouth``), and without it (ratio printed).

Ratios are printed against the pure-numpy backend measured in the same run.
Run it niced on a quiet machine; the load average before and after is printed
(other jobs sharing the 2 cores slow every number down)::

    nice -n 10 .venv/bin/python scripts/bench/render_speed.py [--clip PATH] [--frames 100] [--repeats 3] [--size 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DEFAULT_CLIP = "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_731200067.mp4"


def clip_path(given: str | None) -> Path | None:
    """The clip to time: ``given``, else the shared data's DEFAULT_CLIP; None (after saying so) when missing."""
    from toolkit.paths import shared_data_dir

    clip = Path(given) if given else shared_data_dir() / DEFAULT_CLIP
    if not clip.is_file():
        print(f"clip {clip} not found: give --clip or set TOOLKIT_DATA")
        return None
    return clip


def load(clip: Path, n_frames: int, size: int):  # type: ignore[no-untyped-def]
    from toolkit.io.media import read_video
    from toolkit.motion import disentangle
    from toolkit.render.warp3d import ReferenceTrack
    from toolkit.tracking import make_tracker

    frames = read_video(clip, fps=25, size=(size, size), max_frames=n_frames)
    track = make_tracker("mediapipe").track(frames)
    motion = disentangle(track.landmarks, valid=track.reliable)
    ref = ReferenceTrack(track.landmarks, motion.pose, motion.frontal68, track.detected)
    return frames, ref, motion


def timeit(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Best of ``repeats`` wall times (seconds): the least disturbed by other jobs."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_backend(backend: str, frames, ref, motion, size: int, repeats: int) -> tuple:  # type: ignore[no-untyped-def]
    """(name, fps one frame per call, fps batch 64, fps projection only, fps rasteriser only,
    fps batch 64 expression-driven with the mouth interior from the references, the same without it)."""
    from toolkit.render.project import project_mesh
    from toolkit.render.rasterize import rasterize
    from toolkit.render.warp3d import Warp3D, Warp3DConfig, compose

    n = len(frames)
    rot, trans, scale = motion.rotation, motion.translation, motion.scale
    warp = Warp3D(frames, ref, Warp3DConfig(backend=backend, batch_size=64))
    use_numba = None if backend != "numpy" else False
    verts = warp.mesh.posed(rot, trans, scale)

    def single() -> None:
        for i in range(n):
            gi = warp.generator_inputs(motion.pose[i : i + 1])
            compose(gi, use_numba)

    def batched() -> None:
        compose(warp.generator_inputs(motion.pose), use_numba)

    plain = Warp3D(frames, ref, Warp3DConfig(backend=backend, batch_size=64, mouth_from_references=False))

    def driven() -> None:
        # expression-driven (mouth and jaw moved), mouth interior painted from the nearest reference
        compose(warp.generator_inputs(motion.pose, motion.frontal68), use_numba)

    def driven_own_mouth() -> None:
        # the same without the mouth interior from the references (baseline measured in the same run)
        compose(plain.generator_inputs(motion.pose, motion.frontal68), use_numba)

    def project_only() -> None:
        project_mesh(warp.mesh, rot, trans, scale, backend=backend)

    def raster_only() -> None:
        rasterize(verts, warp.mesh.faces, size, size, backend=backend)

    for fn in (single, batched, driven, driven_own_mouth, project_only, raster_only):  # warm-up (JIT, caches)
        fn()
    return (
        backend,
        n / timeit(single, repeats),
        n / timeit(batched, repeats),
        n / timeit(project_only, repeats),
        n / timeit(raster_only, repeats),
        n / timeit(driven, repeats),
        n / timeit(driven_own_mouth, repeats),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default=None, help=f"video (default: shared data {DEFAULT_CLIP})")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="", help="comma-separated subset (default: every available one)")
    args = parser.parse_args(argv)

    clip = clip_path(args.clip)
    if clip is None:
        return 1
    print(f"cores visible: {len(os.sched_getaffinity(0))}, nice {os.nice(0)}, load before: {os.getloadavg()}")
    frames, ref, motion = load(clip, args.frames, args.size)
    n = len(frames)
    print(f"clip {clip.name}: {n} frames at {args.size}x{args.size}")

    from toolkit.render.mesh import build_face_mesh
    from toolkit.render.rasterize import available_backends

    k = int(np.argmin(np.abs(motion.rotation).sum(1)))
    args_mesh = (frames[k], ref.landmarks[k], ref.rotation[k], ref.translation[k], float(ref.scale[k]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        mesh = build_face_mesh(*args_mesh)
        cold = time.perf_counter() - t0
        warm = statistics.median(timeit(lambda: build_face_mesh(*args_mesh), 1) for _ in range(5))
    print(
        f"mesh: {mesh.n_vertices} vertices, {len(mesh.faces)} triangles; build cold {cold * 1e3:.0f} ms "
        f"(topology + kernel load/compile), warm {warm * 1e3:.1f} ms"
    )

    chosen = [b for b in available_backends() if not args.backends or b in args.backends.split(",")]
    rows = [measure_backend(b, frames, ref, motion, args.size, args.repeats) for b in chosen]

    base = {r[0]: r for r in rows}.get("numpy", rows[-1])
    print()
    print("backend    | proj+compose fps (1/call) | proj+compose fps (batch 64) | projection only | rasteriser only")
    for name, fs, fb, fp, fr, _, _ in rows:
        print(
            f"{name:10s} | {fs:8.0f} (x{fs / base[1]:4.1f} numpy)   | {fb:8.0f} (x{fb / base[2]:4.1f} numpy)     "
            f"| {fp:8.0f} fps     | {fr:8.0f} fps"
        )
    print()
    print("backend    | expression-driven, batch 64: mouth interior from references | own texture-frame mouth")
    for name, _, _, _, _, fd, fo in rows:
        print(f"{name:10s} | {fd:8.0f} fps (x{fd / fo:4.2f} of the right column)                 | {fo:8.0f} fps")
    print(f"\nload after: {os.getloadavg()} (1, 5, 15 min; 2 cores shared with other jobs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
