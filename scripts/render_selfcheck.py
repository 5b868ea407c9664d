"""Self-check of the 3D-aware module on real preprocessed clips (issue 4's "Must show").

For every record (``toolkit preprocess`` output) with at least ``tau + 20`` frames:

* reference frames = ``[0, tau)``; ``K`` of them (evenly spaced, or all) are the
  matcher's candidates; the mesh comes from the most frontal, unoccluded one;
* **self-consistency**: the mesh rendered at its own frame's pose vs that frame,
  PSNR (grey) and SSIM (colour) inside the face mask (rendered mask >= 0.99);
* **other poses**: for the ground-truth frames ``[tau, n)``, rendered at each
  frame's true pose (tracked), compared with the real frame:
  face-mask SSIM (colour SSIM map averaged over the real frame's face-oval
  polygon), full-frame SSIM, and mouth LMD (dlib 68 points, the author's
  variant: mouth 48-67 centred, summed per frame), for

  - ``static``: the mesh's source frame repeated (the benchmark's ``static``);
  - ``matched``: the Eq. (2) matched reference frame ``y_ts`` alone;
  - ``3d-warp``: rendered face at the true pose over ``y_ts`` (frontal frame's expression);
  - ``3d-warp+expr``: the same, mouth/jaw driven by the true ``frontal68`` (oracle expression).

A clip is "pose-heavy" when the mean rotation between its ground-truth frames
and the mesh's source frame exceeds ``--pose-heavy-deg``.

Usage::

    nice -n 10 .venv/bin/python scripts/render_selfcheck.py --records DIR [--grid docs/img/render_grid.png]
        [--json OUT.json] [--k 8] [--max-gt 150]

Prints a per-clip table and the means; writes the JSON and the grid PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.io.atomic import write_json_atomic  # noqa: E402
from toolkit.viz.figure import caption, label_bar, tile, write_doc_png  # noqa: E402

TAU = 64


def face_oval_mask(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the face-oval polygon of MediaPipe landmarks (one frame)."""
    import cv2

    from toolkit.render.mesh import mediapipe_topology

    oval = mediapipe_topology().oval
    poly = np.round(landmarks[oval, :2] - 0.5).astype(np.int32)
    mask = np.zeros(size, np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    return mask.astype(bool)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) colour SSIM map (scikit-image's defaults: 7x7 window, mean over channels)."""
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(a, b, channel_axis=2, data_range=255, full=True)
    return full.mean(axis=2)


def psnr_grey(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    import cv2

    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    mse = float(((ga - gb) ** 2)[mask].mean()) if mask.any() else float("nan")
    return 100.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def rotation_deg(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    from toolkit.motion.rigid import axis_angle_to_matrix

    ma = axis_angle_to_matrix(rot_a)
    mb = axis_angle_to_matrix(np.asarray(rot_b).reshape(1, 3))[0]
    rel = ma @ mb.T[None]
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)
    return np.degrees(np.arccos(cos))


def evaluate_clip(record, k: int, max_gt: int, dlib68) -> dict:  # type: ignore[no-untyped-def]
    from toolkit.metrics.lmd import LMD_AUTHOR, lmd
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, compose

    frames = record.frames()
    n = len(frames)
    ref_ids = np.arange(TAU) if k >= TAU else np.unique(np.linspace(0, TAU - 1, k).round().astype(int))
    track = ReferenceTrack.from_any(record, ref_ids)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warp = Warp3D(frames[ref_ids], track)
    build_s = time.perf_counter() - t0
    src = int(ref_ids[warp.frontal_index])
    h, w = frames.shape[1:3]

    # self-consistency at the source frame's own pose
    own = warp.generator_inputs(record.pose[src])
    inside = own.mask[0] >= 0.99
    self_psnr = psnr_grey(own.rendered[0], frames[src], inside)
    self_ssim = float(ssim_map(own.rendered[0], frames[src])[inside].mean())

    gt_ids = np.arange(TAU, min(n, TAU + max_gt))
    gt = frames[gt_ids]
    rot = record.rotation[gt_ids]
    t0 = time.perf_counter()
    gi_pose = warp.generator_inputs(record.pose[gt_ids])
    render_s = time.perf_counter() - t0
    gi_expr = warp.generator_inputs(record.pose[gt_ids], record.frontal68[gt_ids])
    outputs = {
        "static": np.repeat(frames[src][None], len(gt_ids), axis=0),
        "matched": gi_pose.matched,
        "3d-warp": compose(gi_pose),
        "3d-warp+expr": compose(gi_expr),
    }
    masks = np.stack([face_oval_mask(record.landmarks[i], (h, w)) for i in gt_ids])
    gt_lm = dlib68.video(gt).points
    result: dict = {
        "clip_id": record.clip_id,
        "n_gt": len(gt_ids),
        "source_frame": src,
        "source_rotation_deg": float(np.degrees(np.linalg.norm(record.rotation[src]))),
        "mean_pose_change_deg": float(rotation_deg(rot, record.rotation[src]).mean()),
        "max_pose_change_deg": float(rotation_deg(rot, record.rotation[src]).max()),
        "clamped_frames": int(gi_pose.clamped.sum()),
        "mesh_build_s": build_s,
        "render_fps": len(gt_ids) / render_s,
        "self_psnr_mask": self_psnr,
        "self_ssim_mask": self_ssim,
        "mesh_warnings": [str(c.message) for c in caught],
        "methods": {},
    }
    for name, out in outputs.items():
        face_ssim = [float(ssim_map(o, g)[m].mean()) for o, g, m in zip(out, gt, masks)]
        full_ssim = [float(ssim_map(o, g).mean()) for o, g in zip(out, gt)]
        lm = dlib68.video(out).points
        result["methods"][name] = {
            "face_ssim": float(np.mean(face_ssim)),
            "ssim": float(np.mean(full_ssim)),
            "lmd_mouth": lmd(lm, gt_lm, LMD_AUTHOR),
        }
    result["_grid"] = (frames, src, gt_ids, gi_expr, outputs["3d-warp+expr"], rot, record.rotation[src])
    return result


def grid_rows(res: dict, n_rows: int = 2) -> list[np.ndarray]:
    """Rows (reference | rendered y~_t | matched y_ts | composed | real) at the largest pose changes."""
    frames, src, gt_ids, gi, composed, rot, src_rot = res["_grid"]
    change = rotation_deg(rot, src_rot)
    order = np.argsort(-change)
    picks: list[int] = []
    for j in order:  # spread the picks in time
        if all(abs(int(j) - p) > 10 for p in picks):
            picks.append(int(j))
        if len(picks) == n_rows:
            break
    rows = []
    for j in sorted(picks):
        cells = [frames[src], gi.rendered[j], gi.matched[j], composed[j], frames[gt_ids[j]]]
        rows.append(np.concatenate([tile(c) for c in cells], axis=1))
    return rows


def edge_cases(records: str, out_png: str) -> dict:
    """Rows of edge cases on real clips; returns the numbers shown."""
    import cv2

    from toolkit.data.records import load_clip, load_manifest
    from toolkit.motion.pose import HeadPose
    from toolkit.render.controls import synthetic_motion
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, compose

    done = {c["clip_id"]: c for c in load_manifest(records)["clips"] if c.get("status") == "done"}

    def find(prefix: str):  # type: ignore[no-untyped-def]
        for cid in done:
            if cid.startswith(prefix):
                return load_clip(records, cid)
        return None

    rows, notes = [], {}
    ids = np.arange(TAU)

    # 1. profile-ish frontal frame: the clip's most frontal frame is itself turned
    rec = find("Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010") or find("Hangz-nju-cuhk__Talking-Face_PC-AVS__Audio")
    if rec is not None:
        frames = rec.frames()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warp = Warp3D(frames[ids], ReferenceTrack.from_any(rec, ids))
        k = warp.frontal_index
        gt = np.arange(TAU, rec.n_frames)
        j = int(gt[np.argmax(rotation_deg(rec.rotation[gt], rec.rotation[k]))])
        gi = warp.generator_inputs(rec.pose[[k, j]])
        vis = (np.repeat(gi.mask[0][..., None], 3, axis=2) * 255).astype(np.uint8)
        angle = float(np.degrees(np.linalg.norm(rec.rotation[k])))
        change = float(rotation_deg(rec.rotation[[j]], rec.rotation[k])[0])
        notes["profile"] = {
            "clip": rec.clip_id,
            "source_rotation_deg": angle,
            "target_change_deg": change,
            "warnings": [str(c.message) for c in caught],
        }
        rows.append(
            [
                caption(frames[k], f"profile-ish source {angle:.0f} deg"),
                caption(vis, "mask: unseen side faded"),
                caption(gi.rendered[1], f"rendered, {change:.0f} deg away"),
                caption(compose(gi)[1], "3d-warp"),
                caption(frames[j], "real"),
            ]
        )

    # 2. extreme target poses: a 80-degree shake is clamped to the 55-degree yaw limit
    rec = find("yerfor__Real3DPortrait__May_5s") or find("FuxiVirtualHuman__styletalk__Obama_clip1")
    if rec is not None:
        frames = rec.frames()
        warp = Warp3D(frames[ids], ReferenceTrack.from_any(rec, ids))
        pose = synthetic_motion("shake", 24, warp.held_pose(1), 80.0, 24)
        pick = [0, 2, 4, 6, 18]  # yaw 0, 40, 69, 80 (clamped), -80 (clamped)
        gi = warp.generator_inputs(pose[pick])
        out = compose(gi)
        asked = 80.0 * np.sin(2 * np.pi * np.array(pick) / 24)
        notes["extreme"] = {
            "clip": rec.clip_id,
            "asked_yaw_deg": asked.round(1).tolist(),
            "clamped": gi.clamped.tolist(),
        }
        rows.append(
            [caption(o, f"yaw {a:+.0f}" + (" -> 55 (clamped)" if c else "")) for o, a, c in zip(out, asked, gi.clamped)]
        )

    # 3. partial occlusion: a "hand" painted over the lower face of the most frontal frame
    rec = find("Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_731200067")
    if rec is not None:
        frames = rec.frames()
        track = ReferenceTrack.from_any(rec, ids)
        clean = Warp3D(frames[ids], track)
        k = clean.frontal_index
        occluded = frames[ids].copy()
        lm = rec.landmarks[k]
        x0, y0 = lm[:, :2].min(0).astype(int)
        x1, y1 = lm[:, :2].max(0).astype(int)
        occluded[k, (y0 + y1) // 2 : y1, x0:x1] = (200, 170, 120)
        warp = Warp3D(occluded, track)
        forced = Warp3D(occluded, track, type(warp.config)(frontal_index=k))
        j = TAU + 20
        pose = rec.pose[[j]]
        notes["occlusion"] = {
            "clip": rec.clip_id,
            "occluded_frame": k,
            "chosen_source": warp.frontal_index,
            "outlier_fraction_occluded": float(warp.texture_outliers[k]),
            "outlier_fraction_chosen": float(warp.texture_outliers[warp.frontal_index]),
        }
        rows.append(
            [
                caption(occluded[k], f"occluded t_M ({warp.texture_outliers[k]:.0%} outliers)"),
                caption(compose(forced.generator_inputs(pose))[0], "forced on occluded t_M"),
                caption(occluded[warp.frontal_index], f"chosen source: frame {warp.frontal_index}"),
                caption(compose(warp.generator_inputs(pose))[0], "3d-warp (chosen source)"),
                caption(frames[j], "real"),
            ]
        )

    # 4. tiny face: the reference frames downscaled to 48x48 pixels
    rec = find("Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_731200067")
    if rec is not None:
        frames = rec.frames()
        f = 48 / frames.shape[2]
        small = np.stack([cv2.resize(x, (48, 48), interpolation=cv2.INTER_AREA) for x in frames])
        pose = HeadPose(rec.rotation, rec.translation * f, rec.scale * f)  # the poses in the 48 px frames
        track = ReferenceTrack(rec.landmarks[ids] * f, pose[ids])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warp = Warp3D(small[ids], track)
        gt = np.arange(TAU, min(rec.n_frames, TAU + 40))
        j = int(gt[np.argmax(rotation_deg(rec.rotation[gt], rec.rotation[warp.frontal_index]))])
        gi = warp.generator_inputs(pose[[j]])
        notes["tiny"] = {"clip": rec.clip_id, "size_px": 48, "warnings": [str(c.message) for c in caught]}
        big = lambda im: cv2.resize(im, (192, 192), interpolation=cv2.INTER_NEAREST)  # noqa: E731
        rows.append(
            [
                caption(big(small[warp.frontal_index]), "48 px reference t_M"),
                caption(big(gi.rendered[0]), "rendered"),
                caption(big(gi.matched[0]), "matched"),
                caption(big(compose(gi)[0]), "3d-warp"),
                caption(big(small[j]), "real (48 px)"),
            ]
        )

    width = max(len(r) for r in rows)
    blank = np.full((192, 192, 3), 255, np.uint8)
    grid = np.concatenate([np.concatenate(r + [blank] * (width - len(r)), axis=1) for r in rows], axis=0)
    write_doc_png(Path(out_png), grid)
    return notes


def controls_figure(records: str, out_png: str, reference: str, motion_from: str, expression_from: str) -> None:
    """Paper Fig. 16 on real clips: another clip's motion, synthetic nod/shake, another clip's expression."""
    from toolkit.data.records import load_clip
    from toolkit.render.controls import retarget_motion, synthetic_motion, transfer_expression
    from toolkit.render.warp3d import ReferenceTrack, Warp3D, compose

    ref = load_clip(records, reference)
    frames = ref.frames()
    ids = np.arange(min(TAU, ref.n_frames))
    warp = Warp3D(frames[ids], ReferenceTrack.from_any(ref, ids))
    cols = 6
    rows = []

    drv = load_clip(records, motion_from)
    moved = retarget_motion(drv.pose, drv.pose[drv.frontal_index], warp.held_pose(1))
    pick = np.linspace(0, min(len(moved), 100) - 1, cols).round().astype(int)
    drv_frames = drv.frames()
    rows.append([caption(drv_frames[i], "motion source" if j == 0 else "") for j, i in enumerate(pick)])
    out = warp.render(moved[pick])
    rows.append([caption(o, "(a) its head motion" if j == 0 else "") for j, o in enumerate(out)])
    for kind, label in (("shake", "(b) synthetic shake 20 deg"), ("nod", "(b) synthetic nod 15 deg")):
        amp = 20.0 if kind == "shake" else 15.0
        pose = synthetic_motion(kind, cols * 2, warp.held_pose(1), amp, cols * 2)
        out = warp.render(pose[np.arange(0, cols * 2, 2)])
        rows.append([caption(o, label if j == 0 else "") for j, o in enumerate(out)])
    src = load_clip(records, expression_from)
    expr = transfer_expression(src.frontal68, warp.rig.reference68)
    mouth_open = np.linalg.norm(src.frontal68[:, 66] - src.frontal68[:, 62], axis=1)
    pick = np.sort(np.argsort(-mouth_open)[:: max(1, len(mouth_open) // (cols * 3))][:cols])
    src_frames = src.frames()
    rows.append([caption(src_frames[i], "expression source" if j == 0 else "") for j, i in enumerate(pick)])
    n = len(pick)
    gi = warp.generator_inputs(warp.held_pose(n), expr[pick])
    rows.append([caption(o, "(c) its expression" if j == 0 else "") for j, o in enumerate(compose(gi))])
    write_doc_png(Path(out_png), np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", required=True, help="folder written by `toolkit preprocess`")
    parser.add_argument("--k", type=int, default=8, help="reference frames the matcher may choose from (64 = all)")
    parser.add_argument("--max-gt", type=int, default=150, help="ground-truth frames evaluated per clip")
    parser.add_argument("--pose-heavy-deg", type=float, default=6.0)
    parser.add_argument("--json", default=None, help="write all numbers here")
    parser.add_argument("--grid", default=None, help="write the grid PNG here")
    parser.add_argument("--grid-clips", type=int, default=4, help="pose-heaviest clips shown in the grid")
    parser.add_argument("--grid-ids", nargs="*", default=None, help="clip-id prefixes shown in the grid (in order)")
    parser.add_argument("--clips", nargs="*", default=None, help="only these clip ids")
    parser.add_argument("--edge-cases", default=None, help="write the edge-case PNG here and stop")
    parser.add_argument("--controls", default=None, help="write the Fig. 16 controls PNG here and stop")
    parser.add_argument(
        "--controls-clips",
        nargs=3,
        metavar=("REFERENCE", "MOTION_FROM", "EXPRESSION_FROM"),
        help="clip ids for --controls",
    )
    args = parser.parse_args(argv)
    if args.controls:
        if not args.controls_clips:
            parser.error("--controls needs --controls-clips REFERENCE MOTION_FROM EXPRESSION_FROM")
        controls_figure(args.records, args.controls, *args.controls_clips)
        print(f"wrote {args.controls}")
        return 0
    if args.edge_cases:
        print(json.dumps(edge_cases(args.records, args.edge_cases), indent=1))
        return 0

    from eval.landmarks68 import Dlib68
    from toolkit.data.records import load_clip, load_manifest

    manifest = load_manifest(args.records)
    ids = [c["clip_id"] for c in manifest["clips"] if c.get("status") == "done"]
    if args.clips:
        ids = [i for i in ids if i in set(args.clips)]
    dlib68 = Dlib68()
    results = []
    for clip_id in ids:
        record = load_clip(args.records, clip_id)
        if record.n_frames < TAU + 20:
            print(f"skip {clip_id}: {record.n_frames} frames < {TAU + 20}")
            continue
        t0 = time.perf_counter()
        res = evaluate_clip(record, args.k, args.max_gt, dlib68)
        m = res["methods"]
        print(
            f"{clip_id[:48]:48s} pose {res['mean_pose_change_deg']:5.1f} deg | self PSNR {res['self_psnr_mask']:5.1f} "
            f"SSIM {res['self_ssim_mask']:.3f} | faceSSIM static {m['static']['face_ssim']:.3f} "
            f"warp {m['3d-warp']['face_ssim']:.3f} +expr {m['3d-warp+expr']['face_ssim']:.3f} | LMD static "
            f"{m['static']['lmd_mouth']:.1f} warp {m['3d-warp']['lmd_mouth']:.1f} "
            f"+expr {m['3d-warp+expr']['lmd_mouth']:.1f} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        results.append(res)
    if not results:
        print("no clip long enough")
        return 1

    def summary(rows: list[dict]) -> dict:
        out: dict = {"n_clips": len(rows)}
        if not rows:
            return out
        out["self_psnr_mask"] = float(np.mean([r["self_psnr_mask"] for r in rows]))
        out["self_ssim_mask"] = float(np.mean([r["self_ssim_mask"] for r in rows]))
        for name in rows[0]["methods"]:
            out[name] = {
                key: float(np.nanmean([r["methods"][name][key] for r in rows]))
                for key in ("face_ssim", "ssim", "lmd_mouth")
            }
        return out

    heavy = [r for r in results if r["mean_pose_change_deg"] >= args.pose_heavy_deg]
    report = {
        "load_average_at_end": os.getloadavg(),
        "protocol": {
            "tau": TAU,
            "k": args.k,
            "max_gt": args.max_gt,
            "pose_heavy_deg": args.pose_heavy_deg,
            "lmd": "author's variant: dlib 68 mouth points 48-67 centred, summed per frame, px at the record size",
            "face_ssim": "colour SSIM map (skimage, 7x7) averaged over the real frame's MediaPipe face-oval polygon",
            "poses": "true tracked poses of the ground-truth frames (oracle motion); +expr: true frontal68",
        },
        "all": summary(results),
        "pose_heavy": summary(heavy),
        "clips": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
    }
    print(json.dumps({"all": report["all"], "pose_heavy": report["pose_heavy"]}, indent=1))
    if args.json:
        write_json_atomic(args.json, report)
    if args.grid:
        if args.grid_ids:
            chosen = [r for p in args.grid_ids for r in results if r["clip_id"].startswith(p)]
        else:
            chosen = sorted(results, key=lambda r: -r["mean_pose_change_deg"])[: args.grid_clips]
        rows = [row for r in chosen for row in grid_rows(r)]
        labels = ["reference y_tM", "rendered y~_t", "matched y_ts", "3d-warp output", "real frame y_t"]
        write_doc_png(Path(args.grid), np.concatenate([label_bar(labels), *rows], axis=0))
        print(f"wrote {args.grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
