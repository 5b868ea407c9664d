"""Where does the power of Phi's head motion come from? Band powers of Phi's parts against the real motion.

    PYTHONPATH=$PWD .venv/bin/python scripts/motion_hf_sources.py --data RECORDS \
        [--motion checkpoints/motion] [--tau 1] [--seeds 3] [--json out.json] [--plot out.png]

On the checkpoint's speaker-disjoint validation clips (``data.val_speakers`` of its training config), with
``tau`` reference frames (tau = 1: the single-image prior, the last reference frame, no reference audio, as
the pipeline gives it a photo), Phi predicts the rest of each clip and the rotation (degrees) is split into:

* ``full``         what ``MotionLearner.predict`` returns;
* ``no_noise``     the same with the noise input zero (the audio-driven part: the mean motion);
* ``noise_part``   full - no_noise (what the seeded noise adds);
* ``no_decoder``   full without the learned temporal decoder (its input);
* ``no_anchor``    full without the pull towards the last reference pose.

For each it prints the absolute spectral power (deg^2, periodogram as ``eval.metrics.motion_naturalness``:
Hann window, linear detrend, summed over the three axes) in the bands 0-0.5-1-2-3-inf Hz as a ratio to the
real motion's, next to the share above 3 Hz and the velocity / acceleration ratios. A high-frequency *share*
above the real one can be too much power above 3 Hz or too little below it (a share is relative); the band
ratios say which. The plot shows three clips' yaw / pitch (generated vs real) and the mean spectra.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.constants import SAMPLES_PER_FRAME  # noqa: E402

BANDS_HZ: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, float("inf"))
PARTS: tuple[str, ...] = ("full", "no_noise", "noise_part", "no_decoder", "no_anchor")


def band_powers(rotation_deg: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """(T, 3) -> absolute power per band (BANDS_HZ), periodogram as eval.metrics.motion_naturalness."""
    from scipy.signal import periodogram

    f, p = periodogram(np.asarray(rotation_deg, np.float64), fs=fps, window="hann", detrend="linear", axis=0)
    p = p.sum(axis=1)
    df = f[1] - f[0]
    return np.array([p[(f > lo) & (f <= hi)].sum() * df for lo, hi in itertools.pairwise(BANDS_HZ)])


def mean_spectrum(rotation_deg: np.ndarray, n_fft: int = 64, fps: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """Welch spectrum (deg^2 / Hz, summed over axes) of a (T, 3) curve."""
    from scipy.signal import welch

    f, p = welch(np.asarray(rotation_deg, np.float64), fs=fps, nperseg=n_fft, axis=0)
    return f, p.sum(axis=1)


def predict_parts(learner, ref: np.ndarray, ref_audio, drive: np.ndarray, n: int, seed: int) -> dict:
    """Rotation (n, 3) in degrees of every part (module doc) for one clip and seed."""
    net = learner.net
    full = learner.predict(ref, ref_audio, drive, seed=seed, n_frames=n)
    quiet = learner.predict(ref, ref_audio, drive, seed=seed, n_frames=n, stochastic=False)
    decoder, anchor = net.decoder, net.config.anchor_frames
    try:
        net.decoder = None
        no_dec = learner.predict(ref, ref_audio, drive, seed=seed, n_frames=n)
        net.decoder = decoder
        net.config.anchor_frames = 0.0
        no_anchor = learner.predict(ref, ref_audio, drive, seed=seed, n_frames=n)
    finally:
        net.decoder, net.config.anchor_frames = decoder, anchor
    deg = {k: np.degrees(v[:, :3]) for k, v in (("full", full), ("no_noise", quiet), ("no_decoder", no_dec),
                                                 ("no_anchor", no_anchor))}  # fmt: skip
    deg["noise_part"] = deg["full"] - deg["no_noise"]
    return deg


def dynamics(rot_deg: np.ndarray) -> dict[str, float]:
    from eval.metrics import motion_naturalness as mn
    from toolkit.metrics.head_motion import pose_diversity

    return {
        "velocity": mn.mean_abs_difference(rot_deg, 1),
        "acceleration": mn.mean_abs_difference(rot_deg, 2),
        "hf_share": mn.high_frequency_share(rot_deg),
        "spread": pose_diversity(np.radians(rot_deg), np.zeros_like(rot_deg))[0],
    }


def plot(curves: list, spectra: dict, tau: int, path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.viz.figure import save_figure

    fig, axes = plt.subplots(len(curves) + 1, 2, figsize=(12, 2.4 * (len(curves) + 1)), squeeze=False)
    for row, (clip_id, gt, parts) in zip(axes, curves):
        for ax, k, name in zip(row, (1, 0), ("yaw (y axis)", "pitch (x axis)")):
            ax.plot(gt[:, k] - gt[:, k].mean(), color="0.5", lw=1.2, label="real")
            ax.plot(parts["full"][:, k] - parts["full"][:, k].mean(), color="C0", lw=1.1, label=f"{label}, seed 0")
            ax.plot(parts["no_noise"][:, k] - parts["no_noise"][:, k].mean(), color="C1", lw=0.9,
                    label="noise input zero")  # fmt: skip
            ax.set_title(f"{clip_id.split('__')[-1][:40]}: {name}, tau = {tau}", fontsize=8)
            ax.set_ylabel("deg (minus mean)", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    ax = axes[-1, 0]
    for key, colour in (("real", "0.5"), ("full", "C0"), ("no_noise", "C1"), ("noise_part", "C2"),
                        ("no_decoder", "C3")):  # fmt: skip
        f, p = spectra[key]
        ax.semilogy(f[1:], p[1:], color=colour, label=key)
    ax.axvline(3.0, color="k", ls=":", lw=0.8)
    ax.set_xlabel("Hz")
    ax.set_ylabel("rotation power (deg^2/Hz)", fontsize=8)
    ax.legend(fontsize=7)
    ax = axes[-1, 1]
    f, real = spectra["real"]
    for key, colour in (("full", "C0"), ("no_noise", "C1"), ("no_decoder", "C3")):
        ax.semilogy(f[1:], spectra[key][1][1:] / real[1:], color=colour, label=f"{key} / real")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.axvline(3.0, color="k", ls=":", lw=0.8)
    ax.set_xlabel("Hz")
    ax.legend(fontsize=7)
    fig.suptitle("Phi's head rotation vs the real one, validation clips (scripts/motion_hf_sources.py)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by `toolkit preprocess`")
    ap.add_argument("--motion", default=str(ROOT / "checkpoints" / "motion"))
    ap.add_argument("--label", default="Phi")
    ap.add_argument("--tau", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--ref-tau", type=int, default=64, help="prediction starts after this many frames")
    ap.add_argument("--max-frames", type=int, default=0, help="predict at most this many frames (0 = the whole clip)")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    args = ap.parse_args(argv)

    import torch

    from scripts.eval_learners import _validation_people_clips
    from toolkit.learners.motion import MotionLearner

    torch.set_num_threads(1)
    learner = MotionLearner.load(args.motion)
    val = _validation_people_clips(Path(args.data), learner.info)
    start = args.ref_tau
    val = [c for c in val if c.has_audio and c.n_frames >= start + 64]
    powers: dict[str, list[np.ndarray]] = {k: [] for k in ("real", *PARTS)}
    dyn: dict[str, list[dict]] = {k: [] for k in ("real", *PARTS)}
    welch: dict[str, list[np.ndarray]] = {k: [] for k in ("real", *PARTS)}
    curves = []
    freqs = None
    for c in val:
        n = c.n_frames - start if args.max_frames <= 0 else min(c.n_frames - start, args.max_frames)
        gt = np.degrees(c.motion[start : start + n, :3])
        drive = c.audio[start * SAMPLES_PER_FRAME :]
        ref = c.motion[start - args.tau : start]
        first = (start - args.tau) * SAMPLES_PER_FRAME
        ref_audio = None if args.tau == 1 else c.audio[first : start * SAMPLES_PER_FRAME]
        for s in range(args.seeds):
            parts = predict_parts(learner, ref, ref_audio, drive, n, s)
            for k, v in (("real", gt), *parts.items()):
                if k == "real" and s > 0:
                    continue
                powers[k].append(band_powers(v))
                dyn[k].append(dynamics(v))
                freqs, p = mean_spectrum(v)
                welch[k].append(p)
            if s == 0 and len(curves) < 3:
                curves.append((c.clip_id, gt, parts))
    real_p = np.mean(powers["real"], axis=0)
    real_d = {k: float(np.mean([d[k] for d in dyn["real"]])) for k in dyn["real"][0]}
    result: dict = {
        "checkpoint": args.motion, "tau": args.tau, "seeds": args.seeds, "clips": len(val),
        "bands_hz": [str(b) for b in BANDS_HZ], "real": {"band_power": real_p.tolist(), **real_d},
    }  # fmt: skip
    band_names = [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(BANDS_HZ)]
    print(f"{args.label}, tau = {args.tau}, {len(val)} validation clips x {args.seeds} seeds; rotation, ratio to real")
    print(f"{'part':11s} " + " ".join(f"{b:>8s}" for b in band_names) + "  hf_share  velocity  accel  spread")
    print(
        f"{'real (abs)':11s} " + " ".join(f"{v:8.3f}" for v in real_p)
        + f"  {real_d['hf_share']:.4f}  {real_d['velocity']:.3f}  {real_d['acceleration']:.3f}  {real_d['spread']:.3f}"
    )  # fmt: skip
    for k in PARTS:
        p = np.mean(powers[k], axis=0) / real_p
        d = {m: float(np.mean([x[m] for x in dyn[k]])) for m in real_d}
        print(
            f"{k:11s} " + " ".join(f"{v:8.3f}" for v in p)
            + f"  {d['hf_share'] / real_d['hf_share']:6.2f}x  {d['velocity'] / real_d['velocity']:6.3f}"
            f"  {d['acceleration'] / real_d['acceleration']:6.3f}  {d['spread'] / real_d['spread']:6.3f}"
        )  # fmt: skip
        result[k] = {"band_power_ratio": p.tolist(), **{f"{m}_ratio": d[m] / real_d[m] for m in real_d}}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.plot:
        spectra = {k: (freqs, np.mean(v, axis=0)) for k, v in welch.items()}
        plot(curves, spectra, args.tau, Path(args.plot), args.label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
