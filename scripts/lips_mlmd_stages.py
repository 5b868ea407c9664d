"""Where does Psi's mouth gain go between the learner and the leaderboard? M-LMD per stage.

    PYTHONPATH=$PWD .venv/bin/python scripts/lips_mlmd_stages.py \
        --benchmark eval/benchmarks/shared_val8_k8.json --out /tmp/lips_stages [--no-render] [--clips a,b]

The learner validation scores Psi's frontalised mouth (no head motion, -34 % mouth LMD vs a still mouth);
the leaderboard's M-LMD (``toolkit.metrics.lmd.M_LMD``: dlib mouth points 48-67 on the 256x256 evaluation
frames, **not centred**) scores the rendered video against the real continuation, so it also counts where the
head is. This script measures, for every clip of a benchmark, the M-LMD against the real continuation's dlib
points at each stage, and splits it into its two parts:

* ``position``: distance between the centroids of the generated and the real mouth (px; head placement);
* ``shape``: the M-LMD of the two mouths after each is centred on its own centroid (px; the lips).

Stages (``cmd_*`` are the 68 points the renderer is commanded to draw, i.e. ``apply_motion`` of the
expression posed by the motion, mapped from the reference crop to the evaluation frame; ``render_*`` are the
rendered, pasted-back frames read by dlib exactly as ``toolkit evaluate`` reads them):

* ``static``            the most frontal reference frame t_M held still (the leaderboard's ``static``);
* ``cmd_static``        t_M's own points at t_M's pose (the command of a still face);
* ``cmd_real``          the real motion and the real expression (the landmark-driven command);
* ``cmd_neutral_real``  the real motion with the reference's still mouth (p_{t,M});
* ``cmd_psi_real``      the real motion with Psi's mouth;
* ``cmd_neutral_phi``   Phi's motion with the still mouth;
* ``cmd_psi_phi``       Phi's motion with Psi's mouth (what ``pipeline`` hands the renderer);
* ``render_real``       the landmark-driven render (``3d-warp-landmark``);
* ``render_psi_real``   rendered with the real motion and Psi's mouth;
* ``render_neutral_phi`` rendered with Phi's motion and the still mouth;
* ``render_psi_phi``    rendered with Phi's motion and Psi's mouth (``pipeline`` / ``3d-warp-audio``);
* ``cmd_real_phi``, ``render_real_phi``  Phi's motion with the *real* mouth (perfect lips, learned head):
  the best M-LMD any expression learner can reach under Phi's head placement.

The ``cmd_*`` points come from the pipeline's tracker (MediaPipe mapped to the 68 iBUG points), the truth
from dlib: ``cmd_real`` against the truth is the floor of that convention difference.

Per stage it prints M-LMD, position, shape, and the lip-sync scores of ``toolkit.metrics.lipsync``
(MOC, amplitude ratio, closure rate) against the real continuation; means over clips, as the leaderboard.
Points are cached per clip and stage in ``--out``; ``--fresh`` recomputes named stages.
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
    "static", "cmd_static", "cmd_real", "cmd_neutral_real", "cmd_psi_real", "cmd_neutral_phi", "cmd_psi_phi",
    "render_real", "render_psi_real", "render_neutral_phi", "render_psi_phi", "cmd_real_phi", "render_real_phi",
)  # fmt: skip
MOUTH = list(range(48, 68))


def mouth_parts(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """M-LMD, its position part (centroid distance) and its shape part (centred M-LMD), mean over frames
    with points in both (px at the evaluation size)."""
    from toolkit.metrics.lmd import M_LMD, lmd

    g = np.asarray(generated, np.float64)[:, :, :2]
    r = np.asarray(real, np.float64)[:, :, :2]
    n = min(len(g), len(r))
    g, r = g[:n], r[:n]
    ok = np.isfinite(g).all(axis=(1, 2)) & np.isfinite(r).all(axis=(1, 2))
    gm, rm = g[ok][:, MOUTH], r[ok][:, MOUTH]
    gc, rc = gm.mean(axis=1, keepdims=True), rm.mean(axis=1, keepdims=True)
    return {
        "m_lmd": lmd(g, r, M_LMD),
        "position": float(np.linalg.norm(gc - rc, axis=2).mean()),
        "shape": float(np.linalg.norm((gm - gc) - (rm - rc), axis=2).mean(axis=1).mean()),
        "dy": float((gc - rc)[..., 1].mean()),
    }


def lip_scores(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    from toolkit.metrics.lipsync import reenactment_scores

    n = min(len(generated), len(real))
    return reenactment_scores(np.asarray(generated[:n], np.float64)[..., :2], np.asarray(real[:n], np.float64))


def crop_to_eval(points: np.ndarray, ref, size: int = 256) -> np.ndarray:
    """(T, 68, 2+) points in the reference crop's pixels -> the evaluation frame's pixels (centre square crop
    of the full frame, resized to ``size``), as ``eval.video.to_eval_frame`` maps the frames."""
    x0, y0, x1, y1 = ref.crop_box
    h, w = ref.frame_size  # (height, width), as choose_crop_box takes it
    full = np.asarray(points, np.float64)[..., :2].copy()
    full[..., 0] = x0 + full[..., 0] * (x1 - x0) / ref.size
    full[..., 1] = y0 + full[..., 1] * (y1 - y0) / ref.size
    side = min(w, h)
    full[..., 0] -= (w - side) // 2
    full[..., 1] -= (h - side) // 2
    return full * size / side


def clip_stages(clip, args, cache: Path, fresh: set, dlib) -> dict[str, np.ndarray]:
    from eval.adapters.pipeline import PipelineMethod
    from eval.runner import _ClipData
    from eval.video import to_eval_frame
    from toolkit.motion.disentangle import apply_motion
    from toolkit.pipeline import renderers
    from toolkit.pipeline.inputs import load_audio
    from toolkit.pipeline.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.progress import StageClock
    from toolkit.pipeline.stages import expression_from_track, motion_from_track, scale_expression, track_driving_video

    data = _ClipData(clip, 256)
    n = clip.n_driving
    stage = StageCache(cache, clip.clip_id, fresh)
    out = stage.values

    stage("gt", lambda: dlib.video(data.ground_truth()[:n]).points)
    inputs = data.method_inputs(seed=0)
    frames = np.asarray(inputs.reference_frames)
    stage("static", lambda: np.repeat(dlib.video(to_eval_frame(frames[inputs.frontal_index], 256)[None]).points, n, 0))
    method = PipelineMethod(renderer="3d-warp")
    cfg = method.config.with_overrides(
        seed=0,
        reference_frames=len(frames),
        k=len(inputs.reference_indices),
        max_paste_side=max(256, *frames.shape[1:3]),
    )
    pipe = TalkingHeadPipeline(cfg)
    held: dict[str, object] = {}

    def get(key: str):
        if key not in held:
            if key == "ref":
                held[key] = pipe.prepare(
                    frames, reference_indices=list(inputs.reference_indices), reference_audio=inputs.reference_audio
                )
            elif key == "speech":
                held[key] = load_audio(inputs.driving_audio, 0, True)
            elif key == "drv":
                held[key] = track_driving_video(data.native()[clip.tau : clip.tau + n], cfg, n, StageClock())
            elif key == "phi":
                held[key] = pipe.plan_motion(get("ref"), get("speech"))
            elif key == "psi":
                held[key] = pipe.plan_expression(get("ref"), get("speech"))
            elif key == "real_motion":
                real = motion_from_track(get("drv"), get("ref"), n, same_camera=True)
                held[key] = pipe._scaled_motion(get("ref"), real)
            elif key == "real_expr":
                ref = get("ref")
                held[key] = scale_expression(expression_from_track(get("drv"), ref, n), ref.identity68, 1.0)
            elif key == "neutral":
                ref = get("ref")
                held[key] = np.repeat(ref.identity68[None], n, 0)
        return held[key]

    def posed(expr_key: str, motion_key: str | None):
        ref = get("ref")
        expr = get(expr_key)
        pose = ref.frontal_pose[np.zeros(n, int)] if motion_key is None else get(motion_key)
        return expr[:n], pose[:n]

    def command(expr_key: str, motion_key: str | None) -> np.ndarray:
        expr, pose = posed(expr_key, motion_key)
        return crop_to_eval(apply_motion(expr, pose), get("ref"))

    stage("cmd_static", lambda: command("neutral", None))
    stage("cmd_real", lambda: command("real_expr", "real_motion"))
    stage("cmd_neutral_real", lambda: command("neutral", "real_motion"))
    stage("cmd_psi_real", lambda: command("psi", "real_motion"))
    stage("cmd_neutral_phi", lambda: command("neutral", "phi"))
    stage("cmd_psi_phi", lambda: command("psi", "phi"))
    stage("cmd_real_phi", lambda: command("real_expr", "phi"))
    if not args.no_render:
        h, w = frames.shape[1:3]

        def rendered(expr_key: str, motion_key: str) -> np.ndarray:
            expr, pose = posed(expr_key, motion_key)
            ref = get("ref")
            renderer = renderers.make_renderer(renderers.resolve_renderer(cfg), ref, cfg)
            video = []
            for _, _, _, chunk in pipe._chunks(ref, renderer, pose, expr, StageClock()):
                video += [to_eval_frame(f[:h, :w], 256) for f in chunk]
            video = np.stack(video)
            if args.keep_frames:
                np.save(cache / f"{clip.clip_id}.{expr_key}_{motion_key}.frames.npy", video)
            return dlib.video(video).points

        stage("render_real", lambda: rendered("real_expr", "real_motion"))
        stage("render_psi_real", lambda: rendered("psi", "real_motion"))
        stage("render_neutral_phi", lambda: rendered("neutral", "phi"))
        stage("render_psi_phi", lambda: rendered("psi", "phi"))
        stage("render_real_phi", lambda: rendered("real_expr", "phi"))
    return out


def plot_clip(clip_id: str, cache: Path, path: Path) -> None:
    """Two panels for one clip: the mouth opening (``toolkit.metrics.lipsync.mouth_opening``) over time and the
    mouth centroid's x / y (px at the evaluation size), real vs each stage, so the two parts of M-LMD are seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.metrics.lipsync import mouth_opening
    from toolkit.viz.figure import save_figure

    lines = (
        ("gt", "real (dlib)", "k"),
        ("static", "static", "0.6"),
        ("render_real", "landmark-driven render", "C2"),
        ("render_psi_real", "Psi, real motion, rendered", "C0"),
        ("render_psi_phi", "Psi + Phi (pipeline), rendered", "C3"),
    )
    fig, axes = plt.subplots(3, 1, figsize=(12, 7.5), sharex=True)
    for key, label, colour in lines:
        pts = np.load(cache / f"{clip_id}.{key}.npy")
        centre = pts[:, MOUTH, :2].mean(axis=1)
        axes[0].plot(mouth_opening(pts), color=colour, lw=1.2, label=label)
        axes[1].plot(centre[:, 0], color=colour, lw=1.2)
        axes[2].plot(centre[:, 1], color=colour, lw=1.2)
    axes[0].axhline(0.035, color="0.8", ls="--", lw=0.8)
    axes[0].set_ylabel("mouth opening\n(inner gap / IOD)")
    axes[1].set_ylabel("mouth centre x (px)")
    axes[2].set_ylabel("mouth centre y (px)")
    axes[2].set_xlabel("frame (25 fps), dlib 68 points on the 256x256 evaluation frames")
    axes[0].legend(fontsize=7, ncol=3, loc="upper right")
    fig.suptitle(f"{clip_id.split('-')[0][-40:]}: lips vs head placement (scripts/lips_mlmd_stages.py)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(ap, "cache folder (points per clip and stage) and stages.json")
    ap.add_argument("--no-render", action="store_true", help="only the commanded (landmark-level) stages")
    ap.add_argument("--keep-frames", action="store_true", help="also keep the rendered evaluation frames (.npy)")
    ap.add_argument("--plot", default="", help="PNG: opening and mouth position over time of the first clip done")
    args = ap.parse_args(argv)

    import torch

    from eval.benchmark import load_benchmark
    from eval.features import FeatureConfig
    from eval.landmarks68 import Dlib68

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dlib = Dlib68(FeatureConfig(fid=None, csim=None).dlib)  # as `toolkit evaluate` reads frames
    bench = load_benchmark(args.benchmark)
    fresh = comma_set(args.fresh)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for clip in selected_clips(bench.clips, args.clips):
        pts = clip_stages(clip, args, out, fresh, dlib)
        gt = pts["gt"]
        rows[clip.clip_id] = {s: {**mouth_parts(pts[s], gt), **lip_scores(pts[s], gt)} for s in STAGES if s in pts}
        print(clip.clip_id[:40].ljust(40), " ".join(f"{s}={r['m_lmd']:.2f}" for s, r in rows[clip.clip_id].items()),
              flush=True)  # fmt: skip
    keys = ("m_lmd", "position", "shape", "dy", "MOC", "AmpRatio", "Closure", "Closure-GT")
    mean = {
        s: {k: float(np.nanmean([r[s].get(k, np.nan) for r in rows.values() if s in r])) for k in keys}
        for s in STAGES
        if any(s in r for r in rows.values())
    }
    print(f"{'stage':20s} " + " ".join(f"{k[:10]:>10s}" for k in keys) + "  vs static M-LMD")
    for s, m in mean.items():
        rel = m["m_lmd"] / mean["static"]["m_lmd"] - 1
        print(f"{s:20s} " + " ".join(f"{m[k]:10.3f}" for k in keys) + f"  {100 * rel:+.1f} %")
    if args.plot:
        plot_clip(next(iter(rows)), out, Path(args.plot))
    (out / "stages.json").write_text(json.dumps({"benchmark": args.benchmark, "clips": rows, "mean": mean}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
