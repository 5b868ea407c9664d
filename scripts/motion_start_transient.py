"""Phi's start and end transients on held-out *training* people (a dev split): the mean head pose of the first
generated frames relative to the start pose, and of the last frames relative to the same frames generated with
the real audio after them, with and without the warm-up (``MotionNetConfig.warmup_frames``, both ends).

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_start_transient.py --data RECORDS --motion RUN/model \
        [--warmup 32] [--seeds 3] [--json OUT] [--plot OUT.png]

The checkpoint must have been trained with the dev people held out (``scripts/motion_dev_amplitude.py``'s
check). On every dev clip Phi predicts the frames after the first 64 (the benchmark's 136 at most) from

* ``video``: the 64-frame video reference with its audio (as the pipeline gives a reference video);
* ``photo``: one frame (frame 63, no reference audio) with the photo prior of the default checkpoint (median
  reference amplitude x 1.0 and slow-drift gain 2, ``checkpoints/motion_photo_prior_v2``'s setting);
* ``photo_still_prior``: one frame without the prior amplitude (the default's photo before session 12).

For each, before (``warmup_frames`` 0) and after (``--warmup``), the curve of pitch / yaw / roll (axis-angle
x / y / z, degrees) minus the start pose (the last reference frame, where the start anchor puts frame 0),
averaged over clips and seeds, and its mean over the first 20 frames; the same for the real continuation.
Also the raw network output (start anchor off), where the transient comes from, and the dynamics of the whole
prediction (``scripts/motion_hf_sources.dynamics``, ratio to the real motion) and the pose error, so that the
warm-up is seen not to change the rest of the motion.

The end (``end_*``): Phi without noise (the seeded noise of a shorter prediction is another sequence) on the
driving audio cut ``END_GAP`` frames before the predicted frames' end vs the same frames predicted with that real
audio after them; per axis the mean signed difference over the last ``END`` frames (mean over clips), the mean
absolute difference (clips, frames, axes) and the largest per-frame mean absolute difference; ``end_floor_abs``
is the mean absolute difference of the frames neither end reaches (the shorter audio's own loudness
normalisation: the part no end context can remove). The cut is at
frame 96 or later, where the start (warm-up, anchor) no longer reaches, so ``--warmup 0`` is also the end before
the end warm-up (the start-only warm-up of session 12 did not change it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAU = 64
HEAD = 40  # frames of the curves kept
FIRST = 20  # frames of the mean offset
END = 20  # last frames of the end measurement
END_GAP = 40  # frames of real audio after the cut (> the network's one-sided receptive field, 36 with the window)
REACH = 40  # frames of audio on either side that reach a frame (window 3, stem 1, blocks 32, decoder 4)
END_MIN_CUT = 96  # the start anchor's decay at the last END frames is below 0.2 %
AXES = ("pitch", "yaw", "roll")


def offset_summary(curve: np.ndarray) -> dict[str, float]:
    """(HEAD, 3) mean curve -> mean offset over the first FIRST frames per axis and the pitch curve's minimum."""
    out = {f"{a}_mean{FIRST}": round(float(curve[:FIRST, i].mean()), 3) for i, a in enumerate(AXES)}
    out[f"pitch_min{FIRST}"] = round(float(curve[:FIRST, 0].min()), 3)
    return out


def end_summary(ends: np.ndarray) -> dict[str, float]:
    """(clips x seeds, END, 3) end differences (degrees) -> signed mean per axis, mean and largest per-frame
    absolute difference."""
    out = {f"end_{a}_mean{END}": round(float(ends[:, :, i].mean()), 3) for i, a in enumerate(AXES)}
    out[f"end_abs_mean{END}"] = round(float(np.abs(ends).mean()), 3)
    out[f"end_abs_max_frame{END}"] = round(float(np.abs(ends).mean(axis=(0, 2)).max()), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by `toolkit preprocess`")
    ap.add_argument("--motion", required=True, help="checkpoint trained with the dev people held out")
    ap.add_argument("--warmup", type=int, default=32, help="warm-up frames measured against 0")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-frames", type=int, default=136)
    ap.add_argument("--json")
    ap.add_argument("--plot")
    args = ap.parse_args(argv)

    import torch

    from scripts.motion_dev_amplitude import dev_clips_and_amplitude, ratios
    from scripts.motion_hf_sources import dynamics
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.learners.evaluation import motion_scores
    from toolkit.learners.motion import MotionLearner

    torch.set_num_threads(1)
    learner = MotionLearner.load(args.motion)
    net = learner.net
    net.config.calibrate_min_frames = 2
    dev, base = dev_clips_and_amplitude(Path(args.data), learner, args.motion)
    settings = {  # name: (tau, prior amplitude frames, drift gain)
        "video": (TAU, 8, 2.0),
        "photo": (1, 8, 2.0),
        "photo_still_prior": (1, 0, 1.0),
    }
    net.prior_amplitude.copy_(torch.from_numpy(base))
    real = np.mean([np.degrees(c.motion[TAU : TAU + HEAD, :3] - c.motion[TAU - 1, :3]) for c in dev], axis=0)
    results: dict = {"checkpoint": args.motion, "dev_clips": [c.clip_id for c in dev], "seeds": args.seeds,
                     "real": {**offset_summary(real), "curve": real.round(3).tolist()}}  # fmt: skip
    anchor = net.config.anchor_frames
    for name, (tau, prior_frames, gain) in settings.items():
        net.config.prior_amplitude_frames, net.config.prior_drift_gain = prior_frames, gain
        for warmup in (0, args.warmup):
            net.config.warmup_frames = warmup
            curves, raw, pred, gt_dyn, errors, ends, floor = [], [], [], [], [], [], []
            for c in dev:
                n = min(c.n_frames - TAU, args.max_frames)
                ref, gt = c.motion[TAU - tau : TAU], c.motion[TAU : TAU + n]
                ref_audio = c.audio[: TAU * SAMPLES_PER_FRAME] if tau > 1 else None
                drive = c.audio[TAU * SAMPLES_PER_FRAME :]
                gt_dyn.append(dynamics(np.degrees(gt[:, :3])))
                for s in range(args.seeds):
                    p = learner.predict(ref, ref_audio, drive, s, n)
                    curves.append(np.degrees(p[:HEAD, :3] - ref[-1, :3]))
                    pred.append(dynamics(np.degrees(p[:, :3])))
                    errors.append(motion_scores(p, gt, None))
                    net.config.anchor_frames = 0.0
                    raw.append(np.degrees(learner.predict(ref, ref_audio, drive, s, n)[:HEAD, :3] - ref[-1, :3]))
                    net.config.anchor_frames = anchor
                cut = n - END_GAP
                if cut < END_MIN_CUT:
                    continue
                full = learner.predict(ref, ref_audio, drive, n_frames=n, stochastic=False)[:cut]
                alone = learner.predict(ref, ref_audio, drive[: cut * SAMPLES_PER_FRAME], n_frames=cut,
                                        stochastic=False)  # fmt: skip
                ends.append(np.degrees(alone[-END:, :3] - full[-END:, :3]).astype(np.float64))
                # frames neither end reaches: what the cut audio's own loudness normalisation changes
                floor.append(np.degrees(np.abs(alone[REACH : cut - REACH, :3] - full[REACH : cut - REACH, :3])).mean())
            curve, raw_curve = np.mean(curves, axis=0), np.mean(raw, axis=0)
            row = {
                **offset_summary(curve),
                "raw_pitch_first3": round(float(raw_curve[:3, 0].mean()), 3),
                **ratios(pred, gt_dyn),
                **{k: round(float(np.mean([e[k] for e in errors])), 3) for k in ("rot_err_deg", "trans_err_px")},
                "end_clips": len(ends),
                **end_summary(np.array(ends)),
                "end_floor_abs": round(float(np.mean(floor)), 3),
                "curve": curve.round(3).tolist(),
                "raw_curve": raw_curve.round(3).tolist(),
                "end_abs_curve": np.abs(np.array(ends, np.float64)).mean(axis=(0, 2)).round(3).tolist(),
            }
            results[f"{name}_warmup{warmup}"] = row
            print(name, f"warmup {warmup}:", {k: v for k, v in row.items() if "curve" not in k}, flush=True)
    print("real continuation:", {k: v for k, v in results["real"].items() if k != "curve"})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.warmup, Path(args.plot))
    return 0


def plot(results: dict, warmup: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.viz.figure import save_figure

    names = [k.rsplit("_warmup", 1)[0] for k in results if k.endswith("_warmup0")]
    fig, axes = plt.subplots(len(names), 4, figsize=(17, 2.7 * len(names)), squeeze=False)
    t = np.arange(HEAD)
    for row, name in zip(axes, names):
        for i, ax in enumerate(row[:3]):
            ax.plot(t, np.array(results["real"]["curve"])[:, i], color="0.5", label="real continuation")
            ax.plot(
                t, np.array(results[f"{name}_warmup0"]["curve"])[:, i], color="tab:red", label="before (no warm-up)"
            )
            ax.plot(t, np.array(results[f"{name}_warmup{warmup}"]["curve"])[:, i], color="tab:blue",
                    label=f"after ({warmup}-frame warm-up)")  # fmt: skip
            ax.axhline(0, color="k", lw=0.5)
            ax.axvspan(0, FIRST, color="0.9", zorder=0)
            ax.set_title(f"{name}: {AXES[i]}", fontsize=9)
            ax.set_xlabel("generated frame (25 fps)", fontsize=8)
            ax.set_ylabel("deg from start pose", fontsize=8)
        ax, te = row[3], np.arange(-END, 0)
        ax.plot(te, results[f"{name}_warmup0"]["end_abs_curve"], color="tab:red", label="no end context")
        ax.plot(te, results[f"{name}_warmup{warmup}"]["end_abs_curve"], color="tab:blue",
                label=f"{warmup} frames mirrored after the end")  # fmt: skip
        ax.set_ylim(bottom=0)
        ax.set_title(f"{name}: end, |cut - with real audio after|", fontsize=9)
        ax.set_xlabel("frame before the end of the audio", fontsize=8)
        ax.set_ylabel("deg, mean over axes", fontsize=8)
        ax.legend(fontsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Phi at the start and at the end, dev clips (held-out training people), mean over clips and seeds")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
