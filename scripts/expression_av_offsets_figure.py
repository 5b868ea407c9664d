"""Look at measured audio-video offsets: real opening vs held-out Psi vs the audio and its P/B/M phones.

    nice -n 10 .venv/bin/python scripts/expression_av_offsets_figure.py --offsets-json OFFSETS.json --work DIR \
        --clips PART [PART ...] [--data DIR] [--seconds 4] [--out FIG.png] [--json BILABIAL.json]

For each clip (a part of a training clip id in OFFSETS.json, written by scripts/expression_av_offsets.py with
the fold networks in DIR): the waveform, the phones of its English transcript (pocketsphinx alignment of
Whisper's words, ``toolkit.metrics.lipsync.align_speech``; P/B/M red, open vowels blue), the real mouth opening,
and the opening predicted by the fold network that never saw the person, as is (lag 0). A second check that
needs no network: the bilabial lag, the shift l (frames, -5..5) that minimises the mean real opening at the
middle frames of the P/B/M phones (lips must be closed there), same sign as the Psi lag (l > 0: the mouth
closes l frames after the phone is heard).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bilabial_lag(real_opening: np.ndarray, phones: list, fps: float, max_lag: int = 5) -> dict[str, float]:
    """{lag: mean real opening at the P/B/M phones' middle frames + lag} and the minimising lag."""
    from toolkit.metrics.lipsync import BILABIALS

    mids = [int(round((p.start + p.end) / 2 * fps)) for p in phones if p.name in BILABIALS]
    out: dict[str, float] = {}
    for lag in range(-max_lag, max_lag + 1):
        v = [real_opening[m + lag] for m in mids if 0 <= m + lag < len(real_opening)]
        out[str(lag)] = float(np.nanmean(v)) if v else float("nan")
    finite = {k: v for k, v in out.items() if np.isfinite(v)}
    return {"n_bilabials": len(mids), "opening_by_lag": out, "lag": int(min(finite, key=finite.get)) if finite else 0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offsets-json", required=True)
    ap.add_argument("--work", required=True, help="the fold networks of scripts/expression_av_offsets.py")
    ap.add_argument("--clips", nargs="+", required=True)
    ap.add_argument("--data", default="/work/runs11_i16/all2")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", help="write the bilabial lags of the clips here")
    ap.add_argument("--bilabial-all", action="store_true", help="also the bilabial lag of every English training clip")
    ap.add_argument("--not-english", default="arabic_", help="group-name prefix of clips without English speech")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from toolkit.constants import SAMPLES_PER_FRAME, VIDEO_FPS
    from toolkit.learners.config import load_config
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner, ExpressionNet
    from toolkit.metrics.lipsync import BILABIALS, OPEN_VOWELS, align_speech, mouth_opening
    from toolkit.viz.figure import save_figure

    res = json.loads(Path(args.offsets_json).read_text())
    rows = {r["clip_id"]: r for r in res["clips"]}
    cfg = load_config("expression", ROOT / "configs" / "expression.yaml", res["recipe_overrides"], args.data)
    picked = [next(cid for cid in rows if part.lower() in cid.lower()) for part in args.clips]
    fig, axes = plt.subplots(len(picked), 1, figsize=(12, 2.9 * len(picked)), squeeze=False)
    checks = {}
    for ax, cid in zip(axes[:, 0], picked):
        r = rows[cid]
        nets = []
        for seed in res["seeds"]:
            net = ExpressionNet(cfg.net)
            net.load_state_dict(torch.load(Path(args.work) / f"fold{r['fold']}_of{res['folds']}_s{seed}.pt"))
            nets.append(net.eval())
        learner = ExpressionLearner(nets[0] if len(nets) == 1 else ExpressionEnsemble(nets).eval())
        clip = load_clip_data(args.data, [cid])[0]  # as recorded: no re-alignment
        pred = mouth_opening(learner.predict(clip.audio, clip.frontal68, normalise=False, pause_gate=False))
        real = mouth_opening(clip.frontal68)
        al = align_speech(clip.audio)
        checks[cid] = {"psi_lag": r["psi_lag"], "energy_lag": r["energy_lag_used_in_training"]}
        checks[cid].update(bilabial_lag(real, al.phones, VIDEO_FPS))
        n = min(clip.n_frames, int(args.seconds * VIDEO_FPS))
        t = np.arange(n) / VIDEO_FPS
        top = max(0.5, float(np.nanmax(real[:n])) * 1.1)
        audio = clip.audio[: n * SAMPLES_PER_FRAME]
        ax.plot(np.arange(audio.size) / 16000.0, top * 0.87 + 0.1 * top * audio / max(1e-6, np.abs(audio).max()),
                color="0.7", lw=0.4)  # fmt: skip
        for p in al.phones:
            color = "tab:red" if p.name in BILABIALS else "tab:blue" if p.name in OPEN_VOWELS else None
            if color and p.start < n / VIDEO_FPS:
                ax.axvspan(p.start, p.end, color=color, alpha=0.15, lw=0)
                ax.text((p.start + p.end) / 2, top * 0.74, p.name, fontsize=6, ha="center", color=color)
        ax.plot(t, real[:n], color="k", lw=1.6, label="real opening")
        ax.plot(t, pred[:n], color="tab:orange", lw=1.3, label="held-out Psi (lag 0)")
        ax.set_title(
            f"{cid}: Psi lag {r['psi_lag']:+d} (r {r['psi_r']:.2f} vs {r['psi_r_by_lag']['0']:.2f} at 0), "
            f"person lag {res['groups'][r['group']]['lag']:+d}, bilabial lag {checks[cid]['lag']:+d} "
            f"({checks[cid]['n_bilabials']} P/B/M), energy rule {r['energy_lag_used_in_training']:+d}",
            fontsize=8,
        )
        ax.set_xlim(0, n / VIDEO_FPS)
        ax.set_ylim(0, top)
        ax.set_ylabel("opening / IOD")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("seconds (phones: P/B/M red, open vowels blue; lag > 0 = mouth after sound)")
    fig.tight_layout()
    save_figure(fig, Path(args.out), dpi=100)
    summary = {}
    if args.bilabial_all:
        for cid, r in rows.items():
            if cid in checks or r["group"].startswith(args.not_english):
                continue
            clip = load_clip_data(args.data, [cid])[0]
            checks[cid] = {"psi_lag": r["psi_lag"], "energy_lag": r["energy_lag_used_in_training"]}
            checks[cid].update(bilabial_lag(mouth_opening(clip.frontal68), align_speech(clip.audio).phones, VIDEO_FPS))
        # clips with enough P/B/M for a located minimum
        ok = [v for v in checks.values() if v["n_bilabials"] >= 3]
        b = np.array([v["lag"] for v in ok])
        p = np.array([v["psi_lag"] for v in ok])
        e = np.array([v["energy_lag"] for v in ok])
        summary = {
            "clips_with_3_or_more_bilabials": len(ok),
            "histogram_bilabial_lag": {str(k): int((b == k).sum()) for k in range(-5, 6) if (b == k).any()},
            **{
                f"{name}_mean_abs_difference_to_bilabial_lag": float(np.mean(np.abs(x - b))) if len(ok) else None
                for name, x in (("psi_lag", p), ("energy_lag", e), ("zero", 0 * b))
            },
            **{
                f"{name}_within_1_of_bilabial_lag": float(np.mean(np.abs(x - b) <= 1)) if len(ok) else None
                for name, x in (("psi_lag", p), ("energy_lag", e), ("zero", 0 * b))
            },
            "corr_psi_lag_bilabial_lag": float(np.corrcoef(p, b)[0, 1]) if len(ok) > 2 and p.std() * b.std() else None,
        }
        print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "clips": checks}, indent=1))
    print(json.dumps({k: {a: b for a, b in v.items() if a != "opening_by_lag"} for k, v in checks.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
