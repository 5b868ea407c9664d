"""Before/after grid of the 3D-aware renderer on the hardest shared clips (README figure).

Each row is one case: the first 64 frames of a clip are the reference, the next frames drive it
(their own tracked head motion and expression: landmark-driven self-reenactment, so only the
renderer is judged) through the ``3d-warp-landmark`` benchmark method (face pasted back into the
matched reference frame). The astronaut row drives one photo (scikit-image's ``astronaut``) by
another clip's motion and expression (its "real" column is that driver; its renders are shown zoomed on the face).

Two steps, so the "before" can come from an export of an earlier commit::

    PYTHONPATH=/tmp/before python scripts/render_artefacts_grid.py render --out /tmp/grid_before
    PYTHONPATH=$PWD        python scripts/render_artefacts_grid.py render --out /tmp/grid_after
    PYTHONPATH=$PWD        python scripts/render_artefacts_grid.py combine /tmp/grid_before /tmp/grid_after \
        --png docs/img/render_artefacts_grid.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TAU = 64
#: (row label, reference clip or "astronaut", driving clip (None = the same clip's continuation))
CASES: tuple[tuple[str, str, str | None], ...] = (
    ("fringe", "av/tanshuai0219__EDTalk__mouth_source.mp4", None),
    ("jaw (AOC)", "av/OpenTalker__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4", None),
    ("photo (astronaut)", "astronaut", "av/OpenTalker__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"),
    ("glasses", "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_741400163.mp4", None),
    ("turned > 20 deg", "av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Audio_Source_741400104.mp4", None),
    ("eyes (andrew_clip_1)", "av/FuxiVirtualHuman__styletalk__andrew_clip_1.mp4", None),
)
SHOW = (4, 16, 28, 40)
#: rows whose generated frames are shown zoomed on the face (x0, y0, x1, y1 at 256x256): the photo's face is small
ZOOM = {"photo (astronaut)": (65, 10, 145, 90)}
N_DRIVE = 44


def render_case(reference: str, driving: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(generated, real) frames at 256x256 for the SHOW driving frames."""
    from eval.adapters.pipeline import PipelineMethod
    from eval.methods import MethodInputs
    from eval.video import read_native_frames, to_eval_frame
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.paths import shared_data_dir

    data = shared_data_dir()
    if reference == "astronaut":
        from skimage.data import astronaut

        ref = astronaut()[None]
        drv = read_native_frames(data / str(driving), TAU, TAU + N_DRIVE)
        real = np.stack([to_eval_frame(f) for f in drv])
    else:
        frames = read_native_frames(data / reference, 0, TAU + N_DRIVE)
        ref, drv = frames[:TAU], frames[TAU:]
        real = np.stack([to_eval_frame(f) for f in drv])
    n = len(drv)
    inputs = MethodInputs(
        clip_id=Path(reference).stem,
        reference_frames=ref,
        reference_indices=tuple(range(0, len(ref), max(1, len(ref) // 8)))[:8],
        frontal_index=0,
        reference_audio=np.zeros(len(ref) * SAMPLES_PER_FRAME, np.float32),
        driving_audio=np.zeros(n * SAMPLES_PER_FRAME, np.float32),
        n_frames=n,
        driving_frames=drv,
    )
    method = PipelineMethod(renderer="3d-warp", driving="landmarks", name="3d-warp-landmark")
    gen = np.stack([to_eval_frame(f) for f in method.generate(inputs)])
    return gen[list(SHOW)], real[list(SHOW)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("combine")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--png", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "render":
        import warnings

        warnings.simplefilter("ignore")
        args.out.mkdir(parents=True, exist_ok=True)
        for i, (label, reference, driving) in enumerate(CASES):
            gen, real = render_case(reference, driving)
            np.savez_compressed(args.out / f"{i}.npz", generated=gen, real=real)
            print(label, "done", flush=True)
        return 0
    import cv2

    from toolkit.io.atomic import atomic_path

    rows = []
    for i, (label, _, _) in enumerate(CASES):
        before, after = np.load(args.before / f"{i}.npz"), np.load(args.after / f"{i}.npz")
        tiles = []

        def view(img: np.ndarray, label: str = label) -> np.ndarray:
            if label not in ZOOM:
                return img
            x0, y0, x1, y1 = ZOOM[label]
            return cv2.resize(img[y0:y1, x0:x1], (256, 256), interpolation=cv2.INTER_CUBIC)

        for j in range(len(SHOW)):
            tiles.append(
                np.concatenate([after["real"][j], view(before["generated"][j]), view(after["generated"][j])], axis=1)
            )
        row = np.concatenate(tiles, axis=1)
        cv2.putText(row, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
        rows.append(row)
    head = np.zeros((28, rows[0].shape[1], 3), np.uint8)
    for j in range(len(SHOW)):
        for k, name in enumerate(("real", "before", "after")):
            cv2.putText(head, name, (j * 768 + k * 256 + 90, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    grid = np.concatenate([head, *rows], axis=0)
    grid = cv2.resize(grid, (grid.shape[1] // 2, grid.shape[0] // 2), interpolation=cv2.INTER_AREA)
    with atomic_path(args.png) as tmp:
        cv2.imwrite(str(tmp) + ".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        Path(str(tmp) + ".png").replace(tmp)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
