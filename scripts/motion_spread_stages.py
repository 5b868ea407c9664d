"""Where does the head's rotation spread go? Per-stage rotation std against the real continuation.

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_spread_stages.py \
        --benchmark eval/benchmarks/shared_val8_k8.json --out /tmp/stages [--single-image] [--no-render] [--dlib]
    PYTHONPATH=$PWD .venv/bin/python scripts/motion_spread_stages.py --out /tmp/sweep --sweep

For every clip of a benchmark (reference = the first tau frames, the rest of the clip = the real
continuation) it measures the rotation diversity (``toolkit.metrics.head_motion.pose_diversity``: std over
time of each axis-angle component, degrees, mean of the three) at each stage between the learned head
motion and the evaluated video:

* ``gt_eval``       the real continuation, tracked on the evaluation frames (what ``toolkit evaluate`` compares to);
* ``ref_eval``      the reference frames (first tau), tracked the same way;
* ``gt_pipe``       the real continuation tracked by the pipeline's own reference tracker (face crop);
* ``ref_pipe``      the reference as the pipeline prepares it (``Reference.pose``: what Phi is given);
* ``phi``           the head motion the pipeline renders (Phi's output after motion scaling);
* ``phi_render``    the pipeline's frames (``pipeline`` method), tracked on the evaluation frames;
* ``real_cmd``      the real continuation's motion as the landmark-driven pipeline renders it
  (``motion_from_track``: the same renderer driven by the real motion);
* ``real_render``   those frames, tracked on the evaluation frames.

``phi_render / phi`` and ``real_render / real_cmd`` say how much the renderer (plus the tracker) keeps;
``phi / gt_eval`` how much Phi produces. Ratios are of the means over clips, as in the leaderboard.
It also prints each stage's rotation velocity, acceleration and share of power above 3 Hz
(``eval.metrics.motion_naturalness``, rotation part) against ``gt_eval``.

``--dlib`` adds an independent reading of the real and the rendered videos (``gt_dlib``,
``phi_render_dlib``, ``real_render_dlib``): dlib's 68 points (the LMD landmarks), the canonical face's
27 stable iBUG points fitted to them in 2D. If both trackers agree on the real video but not on the
rendered one, the difference is in how the evaluation's tracker reads rendered faces.

``--sweep`` draws known head turns (a 10-degree yaw sine, then a pitch sine, around the frontal pose)
with the pipeline's renderer from every clip's reference and prints the slope read / drawn for both
trackers (1 = read as drawn).

Poses are cached in ``--out`` (one .npy per clip and stage; rendered frames too), so a rerun only
recomputes the stages named by ``--fresh``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.stage_cache import StageCache, add_stage_arguments, comma_set, selected_clips  # noqa: E402

STAGES = (
    "gt_eval", "ref_eval", "gt_pipe", "ref_pipe", "phi", "phi_render", "real_cmd", "real_render",
    "gt_dlib", "phi_render_dlib", "real_render_dlib",
)  # fmt: skip


def rotation_std_deg(rotation: np.ndarray) -> float:
    from toolkit.metrics.head_motion import pose_diversity

    rot = np.asarray(rotation, np.float64).reshape(-1, 3)
    rot = rot[np.isfinite(rot).all(axis=1)]
    return pose_diversity(rot, np.zeros_like(rot))[0]


def axis_slopes(drawn: dict[str, np.ndarray], read: dict[str, np.ndarray]) -> dict[str, float]:
    """Least-squares slope read / drawn of yaw, pitch and roll (relative to each clip's first frame, minus the
    clip's mean), pooled over clips: 1 = the rendered turn is read at the size it was drawn."""
    from scipy.spatial.transform import Rotation

    from toolkit.render.project import euler_yaw_pitch_roll

    def angles(rot: np.ndarray) -> np.ndarray:
        mats = Rotation.from_rotvec(np.asarray(rot, np.float64)).as_matrix()
        a = np.degrees(euler_yaw_pitch_roll(mats @ mats[0].T[None]))
        return a - a.mean(axis=0)

    pairs = [(angles(drawn[c]), angles(read[c][: len(drawn[c])])) for c in drawn if c in read]
    d = np.concatenate([p[0][: len(p[1])] for p in pairs])
    r = np.concatenate([p[1] for p in pairs])
    return {
        name: float((d[:, k] * r[:, k]).sum() / (d[:, k] ** 2).sum()) for k, name in enumerate(("yaw", "pitch", "roll"))
    }


def rotation_dynamics(rotation: np.ndarray) -> dict[str, float]:
    """Mean |first / second difference| (deg per frame) and the share of power above 3 Hz of a rotation curve
    (``eval.metrics.motion_naturalness``, rotation part only)."""
    from eval.metrics import motion_naturalness as mn

    rot = np.degrees(np.asarray(rotation, np.float64).reshape(-1, 3))
    rot = rot[np.isfinite(rot).all(axis=1)]
    return {
        "velocity": mn.mean_abs_difference(rot, 1),
        "acceleration": mn.mean_abs_difference(rot, 2),
        "hf_share": mn.high_frequency_share(rot),
    }


def eval_pose(frames: np.ndarray) -> np.ndarray:
    """Rotation (T, 3) of frames at the evaluation size, tracked exactly as ``toolkit evaluate`` does."""
    from eval.features import FeatureCache, FeatureConfig, FeatureExtractor

    extractor = eval_pose.extractor  # type: ignore[attr-defined]
    if extractor is None:
        extractor = FeatureExtractor(FeatureConfig(fid=None, csim=None), FeatureCache(eval_pose.cache_dir))  # type: ignore[attr-defined]
        eval_pose.extractor = extractor  # type: ignore[attr-defined]
    pose = extractor._pose(frames)
    if not pose["rotation"].size:
        raise RuntimeError(str(pose["error"]))
    return pose["rotation"]


def dlib_pose(frames: np.ndarray) -> np.ndarray:
    """Rotation (T, 3) from an independent tracker: dlib's 68 points (the LMD landmarks of ``toolkit evaluate``),
    the canonical face's 27 stable iBUG points fitted to them in 2D (weak perspective, the canonical depth).
    Frames without dlib points are NaN."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    from toolkit.motion.canonical import load_canonical

    if eval_pose.extractor is None:  # type: ignore[attr-defined]
        eval_pose(frames[:2])
    points = eval_pose.extractor.dlib.video(frames).points.astype(np.float64)  # type: ignore[attr-defined]
    canon = load_canonical()
    model = canon.ibug68[list(canon.stable_ibug68)].astype(np.float64)
    model = model - model.mean(0)
    out = np.full((len(points), 3), np.nan)
    guess = np.zeros(3)
    for t, pts in enumerate(points[:, list(canon.stable_ibug68)]):
        if not np.isfinite(pts).all():
            continue
        target = pts - pts.mean(0)
        size = np.sqrt((target**2).sum() / (model[:, :2] ** 2).sum())

        def residual(p: np.ndarray, target: np.ndarray = target) -> np.ndarray:
            rotated = Rotation.from_rotvec(p[:3]).apply(model)[:, :2] * p[3]
            return (rotated - rotated.mean(0) - target).ravel()

        fit = least_squares(residual, np.r_[guess, size]).x
        out[t] = guess = fit[:3]
    return out


eval_pose.extractor = None  # type: ignore[attr-defined]
eval_pose.cache_dir = "."  # type: ignore[attr-defined]


def clip_stages(
    clip, method, landmark_method, single_image: bool, render: bool, cache: Path, fresh: set, dlib: bool = False
) -> dict:
    """Rotation (T, 3) of every stage for one clip (cached as npz)."""
    from eval.runner import _ClipData
    from eval.video import to_eval_frame
    from toolkit.pipeline.config import GenerationConfig
    from toolkit.pipeline.inputs import load_audio
    from toolkit.pipeline.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.progress import StageClock
    from toolkit.pipeline.stages import motion_from_track, scale_motion, track_driving_video

    data = _ClipData(clip, 256)
    stage = StageCache(cache, clip.clip_id, fresh)
    out = stage.values

    n = clip.n_driving
    stage("gt_eval", lambda: eval_pose(data.ground_truth())[:n])
    stage("ref_eval", lambda: eval_pose(np.stack([to_eval_frame(f, 256) for f in data.native()[: clip.tau]])))
    inputs = data.method_inputs(seed=0)
    frames = np.asarray(inputs.reference_frames)
    indices, ref_audio = list(inputs.reference_indices), inputs.reference_audio
    if single_image:
        frames, indices, ref_audio = frames[indices[:1]], [0], None
    cfg = GenerationConfig(output="paste-back", max_seconds=0, allow_silent_audio=True).with_overrides(
        seed=0, reference_frames=len(frames), k=max(1, len(indices)), max_paste_side=max(256, *frames.shape[1:3])
    )
    pipe = TalkingHeadPipeline(cfg)
    ref_holder: list = []

    def ref():
        if not ref_holder:
            ref_holder.append(pipe.prepare(frames, reference_indices=indices, reference_audio=ref_audio))
        return ref_holder[0]

    stage("ref_pipe", lambda: ref().pose.rotation)
    speech = load_audio(inputs.driving_audio, 0, True)
    stage("phi", lambda: pipe.plan_motion(ref(), speech).rotation[:n])
    drv_holder: list = []

    def drv():
        if not drv_holder:
            gt_native = data.native()[clip.tau : clip.tau + n]
            drv_holder.append(track_driving_video(gt_native, cfg, n, StageClock()))
        return drv_holder[0]

    stage("gt_pipe", lambda: drv().pose.rotation)

    def real_cmd():
        return scale_motion(motion_from_track(drv(), ref(), n), ref().frontal_pose, cfg.motion_scale).rotation

    stage("real_cmd", real_cmd)
    if render:

        def rendered(m, with_gt: bool) -> np.ndarray:
            inp = data.method_inputs(seed=0, with_driving_video=with_gt)
            video = np.stack([to_eval_frame(f, 256) for f in m.generate(inp)])
            np.save(cache / f"{clip.clip_id}.{'real' if with_gt else 'phi'}_frames.npy", video)
            return eval_pose(video)

        stage("phi_render", lambda: rendered(method, False))
        if not single_image:
            stage("real_render", lambda: rendered(landmark_method, True))
    if dlib:
        for name, frames_of in (
            ("gt_dlib", data.ground_truth),
            ("phi_render_dlib", lambda: np.load(cache / f"{clip.clip_id}.phi_frames.npy")),
            ("real_render_dlib", lambda: np.load(cache / f"{clip.clip_id}.real_frames.npy")),
        ):
            if name == "gt_dlib" or (cache / f"{clip.clip_id}.{name.split('_')[0]}_frames.npy").exists():
                stage(name, lambda f=frames_of: dlib_pose(f())[:n])
    return out


def sweep_gains(clip, cache: Path, amplitude_deg: float = 10.0, period: int = 50) -> dict[str, float]:
    """Known head turns through the pipeline's renderer, read back by both trackers.

    The reference is prepared as the pipeline does; the renderer draws a smooth yaw sine (one period of
    ``period`` frames, ``amplitude_deg``) then a pitch sine around the frontal pose, with the reference's
    own expression; the rendered face crops are tracked by the evaluation's MediaPipe tracker and by dlib.
    Returns the least-squares slopes read / commanded of yaw and pitch (1 = the rotation is read as drawn).
    """
    from scipy.spatial.transform import Rotation

    from eval.runner import _ClipData
    from toolkit.motion.pose import HeadPose
    from toolkit.pipeline.config import GenerationConfig
    from toolkit.pipeline.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.progress import StageClock
    from toolkit.pipeline.renderers import Warp3DRenderer
    from toolkit.render.project import euler_yaw_pitch_roll, from_yaw_pitch_roll

    inputs = _ClipData(clip, 256).method_inputs(seed=0)
    frames = np.asarray(inputs.reference_frames)
    cfg = GenerationConfig(output="crop", max_seconds=0, allow_silent_audio=True).with_overrides(
        reference_frames=len(frames), k=len(inputs.reference_indices)
    )
    ref = TalkingHeadPipeline(cfg).prepare(
        frames, reference_indices=list(inputs.reference_indices), reference_audio=inputs.reference_audio
    )
    pose = ref.frontal_pose
    wave = np.radians(amplitude_deg) * np.sin(2 * np.pi * np.arange(period) / period)
    ypr = np.zeros((2 * period, 3))
    ypr[:period, 0], ypr[period:, 1] = wave, wave
    frontal = Rotation.from_rotvec(pose.rotation[0].astype(np.float64)).as_matrix()
    rot = Rotation.from_matrix(from_yaw_pitch_roll(ypr) @ frontal[None]).as_rotvec()
    held = pose[np.zeros(len(rot), int)]
    sweep = HeadPose(rot, held.translation, held.scale)
    expression = np.repeat(ref.identity68[None], len(sweep), 0)
    rendered = np.asarray(Warp3DRenderer(ref, cfg).render(sweep, expression, StageClock()).frames)
    np.save(cache / f"{clip.clip_id}.sweep_frames.npy", rendered)
    out = {}
    for name, read in (("mediapipe", eval_pose(rendered)), ("dlib", dlib_pose(rendered))):
        ok = np.isfinite(read).all(axis=1)
        # relative to what the tracker reads at the first frame (drawn at the frontal pose itself)
        base = Rotation.from_rotvec(read[np.flatnonzero(ok)[0]]).as_matrix()
        got = euler_yaw_pitch_roll(Rotation.from_rotvec(read[ok]).as_matrix() @ base.T[None])
        want = ypr[ok]
        for axis, (lo, hi) in (("yaw", (0, period)), ("pitch", (period, 2 * period))):
            sel = np.zeros(len(ypr), bool)
            sel[lo:hi] = True
            sel = sel[ok]
            k = 0 if axis == "yaw" else 1
            g, w = got[sel, k] - got[sel, k].mean(), want[sel, k] - want[sel, k].mean()
            out[f"{name}_{axis}"] = float((g * w).sum() / (w * w).sum())
    return out


def plot_curves(curves: dict[str, dict[str, np.ndarray]], path: Path, n_clips: int = 3) -> None:
    """Yaw and pitch (degrees, relative to the frontal pose of the first drawn frame) of Phi's motion as drawn and
    as read back from the rendered video by the evaluation's tracker and by dlib, next to the real motion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.spatial.transform import Rotation

    from toolkit.render.project import euler_yaw_pitch_roll
    from toolkit.viz.figure import save_figure

    shown = [c for c in curves if "phi_render_dlib" in curves[c]][:n_clips]
    fig, axes = plt.subplots(len(shown), 2, figsize=(12, 2.6 * len(shown)), squeeze=False)
    lines = (
        ("gt_eval", "real (MediaPipe)", "0.6"),
        ("phi", "Phi, drawn", "C0"),
        ("phi_render", "Phi rendered, read by MediaPipe", "C3"),
        ("phi_render_dlib", "Phi rendered, read by dlib-68", "C2"),
    )
    for row, clip_id in zip(axes, shown):
        for key, label, colour in lines:
            rot = np.asarray(curves[clip_id][key], np.float64)
            ok = np.isfinite(rot).all(axis=1)
            ypr = np.full((len(rot), 3), np.nan)
            mats = Rotation.from_rotvec(rot[ok]).as_matrix()
            ypr[ok] = np.degrees(euler_yaw_pitch_roll(mats @ mats[0].T[None]))
            for ax, k in zip(row, (0, 1)):
                ax.plot(ypr[:, k] - np.nanmean(ypr[:, k]), color=colour, lw=1.2, label=label)
        for ax, name in zip(row, ("yaw", "pitch")):
            ax.set_title(f"{clip_id.split('__')[-1]}: {name}", fontsize=8)
            ax.set_ylabel("deg (minus mean)", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("frame (25 fps)")
    axes[-1, 1].set_xlabel("frame (25 fps)")
    fig.suptitle("Rotation of Phi's head motion, drawn and read back (scripts/motion_spread_stages.py)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(ap, "cache folder (poses, rendered frames) and stages.json")
    ap.add_argument("--single-image", action="store_true", help="the pipeline-single-image method (tau = 1)")
    ap.add_argument("--no-render", action="store_true", help="skip the rendered stages")
    ap.add_argument(
        "--dlib", action="store_true", help="also the independent dlib-68 pose of the real and rendered videos"
    )
    ap.add_argument("--sweep", action="store_true", help="only the known-rotation sweep through the renderer")
    ap.add_argument("--plot", default="", help="PNG: yaw and pitch of three clips, drawn and read back (with --dlib)")
    args = ap.parse_args(argv)

    import torch

    from eval.adapters.pipeline import PipelineMethod
    from eval.benchmark import load_benchmark

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    eval_pose.cache_dir = str(out / "features")  # type: ignore[attr-defined]
    bench = load_benchmark(args.benchmark)
    if args.sweep:
        gains = {}
        for clip in selected_clips(bench.clips, args.clips):
            gains[clip.clip_id] = sweep_gains(clip, out)
            print(clip.clip_id[:44].ljust(44), " ".join(f"{k}={v:.3f}" for k, v in gains[clip.clip_id].items()))
        mean = {k: float(np.mean([g[k] for g in gains.values()])) for k in next(iter(gains.values()))}
        print("mean read/commanded:", " ".join(f"{k}={v:.3f}" for k, v in mean.items()))
        (out / "sweep.json").write_text(json.dumps({"clips": gains, "mean": mean}, indent=2))
        return 0
    method = PipelineMethod(single_image=args.single_image)
    landmark_method = PipelineMethod(driving="landmarks")
    fresh = comma_set(args.fresh)
    rows, dynamics, curves = {}, {}, {}
    for clip in selected_clips(bench.clips, args.clips):
        rot = clip_stages(clip, method, landmark_method, args.single_image, not args.no_render, out, fresh, args.dlib)
        rows[clip.clip_id] = {name: rotation_std_deg(r) for name, r in rot.items()}
        curves[clip.clip_id] = rot
        dynamics[clip.clip_id] = {name: rotation_dynamics(r) for name, r in rot.items()}
        print(clip.clip_id[:44].ljust(44), " ".join(f"{k}={v:5.2f}" for k, v in rows[clip.clip_id].items()), flush=True)
    means = {
        s: float(np.mean([r[s] for r in rows.values() if s in r])) for s in STAGES if any(s in r for r in rows.values())
    }
    ratios = {f"{a}/{b}": means[a] / means[b] for a, b in (
        ("ref_eval", "gt_eval"), ("gt_pipe", "gt_eval"), ("ref_pipe", "ref_eval"), ("phi", "gt_eval"),
        ("phi", "ref_pipe"), ("phi_render", "phi"), ("phi_render", "gt_eval"), ("real_cmd", "gt_pipe"),
        ("real_render", "real_cmd"), ("real_render", "gt_eval"), ("gt_dlib", "gt_eval"),
        ("phi_render_dlib", "gt_dlib"), ("real_render_dlib", "gt_dlib"), ("phi_render_dlib", "phi"),
    ) if a in means and b in means}  # fmt: skip
    print("mean rotation std (deg):", " ".join(f"{k}={v:.3f}" for k, v in means.items()))
    print("ratios:", " ".join(f"{k}={v:.3f}" for k, v in ratios.items()))
    # the rotation's dynamics per stage (mean over clips; velocity / acceleration as ratios to gt_eval)
    keys = ("velocity", "acceleration", "hf_share")
    dyn = {s: {k: float(np.nanmean([d[s][k] for d in dynamics.values() if s in d])) for k in keys} for s in means}
    for s, d in dyn.items():
        g = dyn["gt_eval"]
        print(
            f"{s:17s} rotation velocity {d['velocity']:.3f} deg/frame ({d['velocity'] / g['velocity']:.3f} x GT), "
            f"acceleration {d['acceleration']:.3f} ({d['acceleration'] / g['acceleration']:.3f} x GT), "
            f"share > 3 Hz {d['hf_share']:.4f} ({d['hf_share'] / g['hf_share']:.2f} x GT)"
        )
    result = {
        "benchmark": args.benchmark,
        "single_image": args.single_image,
        "clips": rows,
        "mean": means,
        "ratios": ratios,
        "dynamics": dyn,
        "note": "rotation only (degrees): translation units differ between the stages",
    }
    for drawn, read in (("phi", "phi_render"), ("real_cmd", "real_render")):
        have = {c: r for c, r in curves.items() if drawn in r and read in r}
        if have:
            slopes = axis_slopes({c: r[drawn] for c, r in have.items()}, {c: r[read] for c, r in have.items()})
            result[f"slopes {read}/{drawn}"] = slopes
            print(f"read / drawn, {read} / {drawn}:", " ".join(f"{k} {v:.3f}" for k, v in slopes.items()))
    (out / "stages.json").write_text(json.dumps(result, indent=2))
    if args.plot:
        plot_curves(curves, Path(args.plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
