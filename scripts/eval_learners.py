"""Validation of the shipped learners on the speaker-disjoint split, against baselines.

    .venv/bin/python scripts/eval_learners.py --data /path/to/preprocessed \
        [--expression checkpoints/expression] [--motion checkpoints/motion] \
        [--json out.json] [--plot docs/img/motion_curves.png]

Everything goes through the public inference API (``ExpressionLearner.predict``,
``MotionLearner.predict``). The validation clips are the ones the checkpoint's
training config held out (``data.val_speakers``, see toolkit/learners/split.py).

Expression learner Psi (landmark space: frontalised 68 points, canonical
units ~ pixels of a 256 px face crop; the author's mouth LMD from
``eval.metrics.lmd``):
  reference = the most frontal of the first tau = 64 frames; scored on frames
  tau.. of every validation clip with audio; baselines: the reference
  expression held still, the clip's own mean expression (validation mean).
  With noise: the clip's audio mixed at 10 dB SNR with one seeded draw of each
  noise kind (room tone, babble, coloured), averaged.
Generalisation: Psi on speech of speakers seen nowhere in training or
validation (``../shared/data/speech`` minus the babble sources and minus files
of people in the video data), with a validation person's face as identity:
Pearson correlation of mouth opening (inner lips) with frame energy (dB).
Head motion learner Phi: tau = 64 reference frames, the rest of each
validation clip predicted (mean over seeds); pose error, diversity ratios to
the ground truth and beat alignment (``eval.metrics.head_motion``) vs a still
head (last reference pose held) and the reference motion replayed back and forth;
motion naturalness (``eval.metrics.motion_naturalness``: velocity and
acceleration ratios, share of power above 3 Hz) of the same predictions, and of
Phi's output low-passed afterwards (``phi_lowpass``: what a filter alone does).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.constants import SAMPLES_PER_FRAME  # noqa: E402

#: speech files of people who appear in the video data (or may): not "unseen"
SEEN_SPEECH_PATTERN = r"AOC|Obama|681600002|EAMM__00015|EAMM__741400104"


def _split_clips(data: Path, info: dict) -> tuple[list, list]:
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.split import speaker_split
    from toolkit.learners.tasks import _records

    d = info["train_config"]["data"]
    recs = _records(data)
    split = speaker_split([(c, s) for c, s, _, _ in recs], d["val_speakers"], d["val_fraction"])
    return load_clip_data(data, split.train), load_clip_data(data, split.val)


def training_licenses(data: Path, info: dict, with_silent: bool) -> dict:
    """Seconds and clip counts of the checkpoint's training clips per license (../shared/data/MANIFEST.tsv)."""
    import csv

    from toolkit.data.records import clip_dir
    from toolkit.learners.split import speaker_split
    from toolkit.learners.tasks import _records
    from toolkit.paths import shared_data_dir

    manifest = shared_data_dir() / "MANIFEST.tsv"
    licenses: dict[str, str] = {}
    if manifest.exists():
        with open(manifest, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                licenses[Path(row["local_path"]).name] = row["license"]
    d = info["train_config"]["data"]
    recs = _records(data)
    split = speaker_split([(c, s) for c, s, _, _ in recs], d["val_speakers"], d["val_fraction"])
    frames = {c: (n, a) for c, _, a, n in recs}
    out: dict[str, dict] = {}
    for cid in split.train:
        n, has_audio = frames[cid]
        if not has_audio and not with_silent:
            continue
        meta = json.loads((clip_dir(data, cid) / "meta.json").read_text())
        lic = licenses.get(Path(meta.get("source", "")).name, "unknown (not in MANIFEST.tsv)")
        e = out.setdefault(lic, {"clips": 0, "seconds": 0.0})
        e["clips"] += 1
        e["seconds"] = round(e["seconds"] + n / 25.0, 1)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["seconds"]))


def _mean(rows: list[dict], key: str) -> float:
    v = np.array([r[key] for r in rows if key in r], np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def evaluate_expression(path: Path, data: Path, speech_dir: Path, tau: int, seed: int) -> dict:
    from toolkit.io.media import read_audio
    from toolkit.learners.evaluation import frame_energy_db, mouth_lmd, mouth_opening
    from toolkit.learners.expression import ExpressionLearner
    from toolkit.learners.noise import babble_sources, build_noise_bank, mix_at_snr
    from toolkit.learners.tasks import reference_frame

    learner = ExpressionLearner.load(path)
    train, val = _split_clips(data, learner.info)
    val = [c for c in val if c.has_audio and c.n_frames > tau]
    bank = build_noise_bank([c.audio for c in train if c.has_audio], speech_dir, seed=seed + 1)
    kinds = sorted(bank.kinds())
    rng = np.random.default_rng(seed)
    per_clip = []
    t0 = time.perf_counter()
    n_scored = 0
    for c in val:
        r = reference_frame(c.motion, tau)
        ident = c.frontal68[r]
        refs = c.frontal68[:tau]
        ref_n = tau * SAMPLES_PER_FRAME
        gt = c.frontal68[tau:]
        row = {"clip": c.clip_id, "frames": len(gt), "reference_frame": r}
        psi = learner.predict(c.audio, refs, c.audio[:ref_n])[tau:]
        row["psi"] = mouth_lmd(psi, gt)
        row["psi_single_frame"] = mouth_lmd(learner.predict(c.audio, ident)[tau:], gt)
        row["psi_uncalibrated"] = mouth_lmd(learner.predict(c.audio, refs)[tau:], gt)
        row["psi_unsmoothed"] = mouth_lmd(learner.predict(c.audio, refs, c.audio[:ref_n], smooth_frames=0)[tau:], gt)
        row["still_reference"] = mouth_lmd(np.repeat(ident[None], len(gt), 0), gt)
        row["still_reference_mean"] = mouth_lmd(np.repeat(refs.mean(0, keepdims=True), len(gt), 0), gt)
        row["validation_mean"] = mouth_lmd(np.repeat(gt.mean(0, keepdims=True), len(gt), 0), gt)
        noisy = []
        for kind in kinds:
            items = [it for it in bank.items if it.kind == kind]
            item = items[int(rng.integers(len(items)))]
            noise = np.tile(item.audio, int(np.ceil(c.audio.size / item.audio.size)) + 1)
            start = int(rng.integers(0, item.audio.size))
            mixed = mix_at_snr(c.audio, noise[start : start + c.audio.size], 10.0)
            row[f"psi_10db_{kind}"] = mouth_lmd(learner.predict(mixed, refs, mixed[:ref_n])[tau:], gt)
            noisy.append(row[f"psi_10db_{kind}"])
        row["psi_10db"] = float(np.mean(noisy))
        # real mouth opening vs energy on the same clips, for scale
        e = frame_energy_db(c.audio, c.n_frames)[tau:]
        row["corr_gt_opening_energy"] = float(np.corrcoef(mouth_opening(gt), e)[0, 1])
        row["corr_psi_opening_energy"] = float(np.corrcoef(mouth_opening(psi), e)[0, 1])
        row["corr_psi_gt_opening"] = float(np.corrcoef(mouth_opening(psi), mouth_opening(gt))[0, 1])
        per_clip.append(row)
        n_scored += len(gt)
    seconds = time.perf_counter() - t0
    keys = [
        "psi",
        "psi_single_frame",
        "psi_uncalibrated",
        "psi_unsmoothed",
        "psi_10db",
        *[f"psi_10db_{k}" for k in kinds],
        "still_reference",
        "still_reference_mean",
        "validation_mean",
    ]
    # primary: mean over clips (each validation video counts once, as benchmark tables do)
    w = np.array([r["frames"] for r in per_clip], np.float64)
    summary = {k: float(np.mean([r[k] for r in per_clip])) for k in keys}
    for k in ("psi", "psi_single_frame", "psi_10db", "still_reference_mean", "validation_mean"):
        summary[f"{k}_vs_still_reference"] = summary[k] / summary["still_reference"] - 1
    summary["frame_weighted"] = {k: float(np.sum(w * np.array([r[k] for r in per_clip])) / w.sum()) for k in keys}
    for k in ("corr_gt_opening_energy", "corr_psi_opening_energy", "corr_psi_gt_opening"):
        summary[k] = _mean(per_clip, k)

    # generalisation: unseen speakers' speech, a validation person's face
    babble = {p.name for p in babble_sources(speech_dir)}
    files = sorted(
        p
        for p in speech_dir.iterdir()
        if p.name not in babble and not re.search(SEEN_SPEECH_PATTERN, p.name, re.IGNORECASE)
    )
    # the face: a validation person's tau reference frames with their own audio (calibration)
    ident_clip = val[0]
    refs, ref_audio = ident_clip.frontal68[:tau], ident_clip.audio[: tau * SAMPLES_PER_FRAME]
    unseen = []
    for p in files:
        audio = read_audio(p)
        pred = learner.predict(audio, refs, ref_audio)
        e = frame_energy_db(audio, len(pred))
        unseen.append({"file": p.name, "frames": len(pred), "corr": float(np.corrcoef(mouth_opening(pred), e)[0, 1])})
    corr = np.array([u["corr"] for u in unseen])
    return {
        "checkpoint": str(path),
        "training_data_licenses": training_licenses(data, learner.info, with_silent=True),
        "units": "frontalised 68-point landmarks, canonical units (~ px of a 256 px face crop)",
        "metric": "LMD (author variant, eval.metrics.lmd.LMD_AUTHOR): mouth 48-67, centred, sum over points, "
        "mean over frames; summary = mean over clips (frame_weighted: every frame counts once)",
        "tau": tau,
        "validation_clips": len(per_clip),
        "validation_frames": int(w.sum()),
        "noise_kinds_at_10db": kinds,
        "summary": summary,
        "per_clip": per_clip,
        "unseen_speakers": {
            "identity_from": ident_clip.clip_id,
            "files": len(unseen),
            "seconds": round(sum(u["frames"] for u in unseen) / 25.0, 1),
            "corr_mean": float(corr.mean()),
            "corr_median": float(np.median(corr)),
            "corr_min": float(corr.min()),
            "positive_fraction": float((corr > 0).mean()),
            "per_file": unseen,
        },
        "seconds_per_validation_frame": seconds / max(1, n_scored),
    }


#: sigma (frames) of the Gaussian low-pass of the ``phi_lowpass`` row
LOWPASS_SIGMA = 2.0


def evaluate_motion(
    path: Path, data: Path, tau: int, seeds: int, plot: Path | None, plot_baseline: Path | None = None
) -> dict:
    from scipy.ndimage import gaussian_filter1d

    from eval.metrics import motion_naturalness as mn
    from toolkit.learners.evaluation import motion_scores, reference_loop
    from toolkit.learners.motion import MotionLearner

    learner = MotionLearner.load(path)
    _, val = _split_clips(data, learner.info)
    val = [c for c in val if c.has_audio and c.n_frames >= tau + 25]
    rows: dict[str, list[dict]] = {"phi": [], "phi_tau1": [], "phi_lowpass": [], "still": [], "reference_loop": []}
    natural: dict[str, list[dict]] = {name: [] for name in rows}
    predict_seconds, predicted_frames = 0.0, 0
    curves = []
    for c in val:
        n = c.n_frames - tau
        gt = c.motion[tau:]
        drive = c.audio[tau * SAMPLES_PER_FRAME :]
        ref_audio = c.audio[: tau * SAMPLES_PER_FRAME]
        audio = drive[: n * SAMPLES_PER_FRAME]
        t0 = time.perf_counter()
        preds = [learner.predict(c.motion[:tau], ref_audio, drive, seed=s, n_frames=n) for s in range(seeds)]
        predict_seconds += time.perf_counter() - t0
        predicted_frames += n * seeds
        single = [learner.predict(c.motion[tau - 1 : tau], None, drive, seed=s, n_frames=n) for s in range(seeds)]
        lowpass = [gaussian_filter1d(p, LOWPASS_SIGMA, axis=0, mode="nearest") for p in preds]
        still = np.repeat(c.motion[tau - 1 : tau], n, 0)
        loop = reference_loop(c.motion[:tau], n)
        for name, ps in (
            ("phi", preds), ("phi_tau1", single), ("phi_lowpass", lowpass), ("still", [still]),
            ("reference_loop", [loop]),
        ):  # fmt: skip
            scores = [motion_scores(p, gt, audio) for p in ps]
            rows[name].append({"clip": c.clip_id, "frames": n, **{k: _mean(scores, k) for k in scores[0]}})
            natural[name] += [mn.clip_values(p[:, :3], p[:, 3:], gt[:, :3], gt[:, 3:]) for p in ps]
        curves.append((c.clip_id, c.motion, preds[0], loop))
    summary = {}
    for name, rs in rows.items():
        w = np.array([r["frames"] for r in rs], np.float64)
        for key in rs[0]:
            if key in ("clip", "frames"):
                continue
            v = np.array([r.get(key, np.nan) for r in rs], np.float64)
            ok = np.isfinite(v)
            summary[f"{name}.{key}"] = float(np.sum(w[ok] * v[ok]) / w[ok].sum()) if ok.any() else float("nan")
        agg = mn.aggregate(natural[name])
        summary[f"{name}.velocity_ratio"] = agg[mn.VELOCITY_RATIO]
        summary[f"{name}.acceleration_ratio"] = agg[mn.ACCELERATION_RATIO]
        summary[f"{name}.hf_share"] = agg[mn.HF_SHARE]
        summary["gt.hf_share"] = agg[mn.GT_HF_SHARE]
    summary["phi.predict_seconds_per_audio_second"] = predict_seconds / max(1, predicted_frames) * 25.0
    if plot is not None:
        baseline = None
        if plot_baseline is not None:
            old = MotionLearner.load(plot_baseline)
            baseline = [
                old.predict(c.motion[:tau], c.audio[: tau * SAMPLES_PER_FRAME], c.audio[tau * SAMPLES_PER_FRAME :],
                            seed=0, n_frames=c.n_frames - tau)
                for c in val[:3]
            ]  # fmt: skip
        plot_motion_curves(curves[:3], tau, plot, baseline)
    return {
        "checkpoint": str(path),
        "training_data_licenses": training_licenses(
            data, learner.info, with_silent=bool(learner.info["train_config"].get("use_silent_clips", True))
        ),
        "tau": tau,
        "seeds": seeds,
        "validation_clips": len(val),
        "validation_frames": int(sum(c.n_frames - tau for c in val)),
        "definitions": {
            "rot_err_deg": "mean geodesic angle between predicted and true head rotation (degrees)",
            "trans_err_px": "mean Euclidean translation error (px of the 256 px crop)",
            "rot_div_ratio / trans_div_ratio": "pose_diversity (eval.metrics.head_motion): prediction / truth",
            "beat_align": "eval.metrics.head_motion.beat_alignment(motion_beats(prediction), audio_onsets(audio)); "
            "beat_align_gt = the same for the real motion",
            "still": "the last reference pose held",
            "reference_loop": "the reference motion replayed back and forth from its last frame",
            "phi_tau1": "Phi from a single reference frame (tau = 1, no reference audio): the learned prior",
            "phi_lowpass": f"Phi's output low-passed afterwards (Gaussian, sigma {LOWPASS_SIGMA:g} frames)",
            "velocity_ratio / acceleration_ratio / hf_share": "eval.metrics.motion_naturalness on the predicted "
            "(T, 6) motion vs the real one (rotation deg, translation px of the 256 px crop): mean |first / second "
            "difference|, prediction / truth (ratio of the means over clips and seeds; mean of rotation and "
            "translation ratios); share of spectral power above 3 Hz (gt.hf_share: the real motion's)",
            "phi.predict_seconds_per_audio_second": "wall time of MotionLearner.predict (tau = 64) per second of "
            "driving audio, this machine, loaded by other jobs",
        },
        "summary": summary,
        "per_clip": rows,
    }


def plot_motion_curves(curves: list, tau: int, out: Path, baseline: list | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.io.atomic import atomic_path

    names = ["pitch (deg)", "yaw (deg)", "roll (deg)", "translation x (px)"]
    fig, axes = plt.subplots(len(curves), 4, figsize=(16, 2.9 * len(curves)), squeeze=False)
    for row, (cid, real, pred, loop) in enumerate(curves):
        t_all = np.arange(len(real)) / 25.0
        t_pred = (tau + np.arange(len(pred))) / 25.0
        for j in range(4):
            ax = axes[row, j]
            conv = np.degrees if j < 3 else (lambda x: x)
            ax.axvspan(0, tau / 25.0, color="0.92", lw=0)
            ax.plot(t_all, conv(real[:, j]), color="black", lw=1.3, label="real")
            ax.plot(t_pred, conv(pred[:, j]), color="tab:blue", lw=1.3, label="Phi (seed 0)")
            ax.plot(t_pred, conv(loop[:, j]), color="tab:orange", lw=0.9, ls="--", label="reference loop")
            if baseline is not None:
                ax.plot(t_pred, conv(baseline[row][:, j]), color="tab:red", lw=0.8, alpha=0.7, label="Phi v1 (seed 0)")
            ax.set_title(f"{cid[:34]}: {names[j]}" if j == 0 else names[j], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if row == len(curves) - 1:
                ax.set_xlabel("time (s); grey = the tau = 64 reference frames", fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle("Head motion learner Phi on validation speakers: generated vs real", fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    from toolkit.paths import checkpoints_dir, shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder written by `toolkit preprocess`")
    ap.add_argument("--expression", default=str(checkpoints_dir() / "expression"))
    ap.add_argument("--motion", default=str(checkpoints_dir() / "motion"))
    ap.add_argument("--only", choices=["expression", "motion"], help="evaluate one learner")
    ap.add_argument("--speech-dir", default=str(shared_data_dir() / "speech"))
    ap.add_argument("--tau", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--plot", help="PNG of generated vs real head motion for 3 validation clips")
    ap.add_argument("--plot-baseline", help="also plot this (older) motion checkpoint's curves in --plot")
    args = ap.parse_args(argv)
    results = {}
    if args.only in (None, "expression"):
        results["expression"] = evaluate_expression(
            Path(args.expression), Path(args.data), Path(args.speech_dir), args.tau, args.seed
        )
        print(json.dumps({"expression": results["expression"]["summary"]}, indent=2))
        print(json.dumps({k: v for k, v in results["expression"]["unseen_speakers"].items() if k != "per_file"}))
    if args.only in (None, "motion"):
        results["motion"] = evaluate_motion(
            Path(args.motion), Path(args.data), args.tau, args.seeds, Path(args.plot) if args.plot else None,
            Path(args.plot_baseline) if args.plot_baseline else None,
        )
        print(json.dumps({"motion": results["motion"]["summary"]}, indent=2))
    if args.json:
        from toolkit.io.atomic import write_json_atomic

        write_json_atomic(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
