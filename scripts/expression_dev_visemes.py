"""Viseme diagnostics of dev-split Psi networks (held-out *training* people; never the validation people).

    TOOLKIT_CACHE=... nice -n 10 .venv/bin/python scripts/expression_dev_visemes.py --work DIR --tags base,vis0.5 \
        --out OUT.json [--data /work/runs11_i16/all2] [--set KEY=VALUE ...] [--viseme-cache DIR] [--gain 1.3]

For the networks ``DIR/{tag}_s{seed}.pt`` written by ``scripts/expression_dev_gain.py`` (same ``--set`` as there,
minus ``loss.viseme``, which does not change the network's shape):

* ``probe``: how well the viseme classes (``toolkit.metrics.lipsync.VISEME_CLASSES``) can be read from each
  network's audio embedding: a linear classifier (softmax regression, class-balanced, 300 Adam steps) fitted on
  the labelled frames of the training clips (clean features, labels of ``toolkit.learners.data.viseme_labels``)
  and scored on the labelled frames of the dev clips: balanced accuracy (mean per-class recall) and the
  bilabial recall. Higher = a more phonetic embedding. The Whisper features themselves (window mean) as a
  reference row.
* ``visemes``: the ensemble of the tag's seeds (mean identity, displacement gain ``--gain``, the shipped
  inference path) on the dev clips (reference = first 64 frames, scored on the next 500): Bilabial-Closed and
  Vowel/Bilabial of the predicted opening against the Whisper + pocketsphinx phones of the clip's audio, the
  same for the real opening (the reference range), and MOC.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import expression_dev_split as eds  # noqa: E402


def _embed(net, tracks: list[np.ndarray], context: int) -> np.ndarray:
    import torch

    from toolkit.learners.expression import feature_windows

    out = []
    with torch.no_grad():
        for track in tracks:
            n = len(track) - 2 * context
            w = torch.from_numpy(feature_windows(track, 0, n, context))
            out.append(net.audio(w).numpy() if net is not None else w.mean(dim=1).numpy())
    return np.concatenate(out)


def probe(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, n_classes: int) -> dict:
    """Class-balanced softmax regression (standardised inputs, 300 Adam steps, seed 0) -> held-out scores."""
    import torch

    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    xt = torch.from_numpy(((x_tr - mu) / sd).astype(np.float32))
    xe = torch.from_numpy(((x_te - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(y_tr)
    counts = np.bincount(y_tr, minlength=n_classes).astype(np.float64)
    weight = torch.as_tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)).float()
    torch.manual_seed(0)
    lin = torch.nn.Linear(xt.shape[1], n_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(xt), yt, weight=weight).backward()
        opt.step()
    with torch.no_grad():
        pred = lin(xe).argmax(1).numpy()
    recalls = {int(c): float(np.mean(pred[y_te == c] == c)) for c in np.unique(y_te)}
    return {"balanced_accuracy": float(np.mean(list(recalls.values()))), "recall": recalls, "n_test": int(y_te.size)}


def main(argv: list[str] | None = None) -> int:
    import torch

    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.learners.data import viseme_labels
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner, ExpressionNet, whisper_track
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.learners.tasks import ExpressionTask
    from toolkit.metrics.lipsync import (
        VISEME_CLASSES,
        align_speech,
        mouth_opening,
        opening_correlation,
        viseme_scores,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/runs11_i16/all2")
    ap.add_argument("--work", required=True)
    ap.add_argument("--tags", required=True, help="comma-separated network tags of scripts/expression_dev_gain.py")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--viseme-cache", default="")
    ap.add_argument("--gain", type=float, default=1.3)
    ap.add_argument("--out", required=True)
    ap.add_argument("--figure", default="", help="PNG: opening curves of --figure-clips, real and every tag")
    ap.add_argument("--figure-clips", default="0,3", help="indices of the dev clips in the figure")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    cfg = eds.dev_config(args.data, args.set)
    task = ExpressionTask(cfg, Path(args.work), 0, 1, logging.getLogger("dev"))
    dev = {split_group(g) for g in eds.DEV_GROUPS}
    clips = [c for c in task.val_clips if split_group(c.speaker) in dev and c.n_frames > eds.TAU + 25]
    assert not any(split_group(c.speaker) in DEFAULT_VAL_GROUPS for c in clips)
    ctx, model = cfg.net.context_frames, cfg.net.whisper_model
    train_clips = task.batcher.clips
    y_tr = np.concatenate(viseme_labels(train_clips, args.viseme_cache))
    y_te = np.concatenate(viseme_labels(clips, args.viseme_cache))
    tr_tracks = [t[0] for t in task.batcher.tracks]
    te_tracks = [whisper_track(c.audio, c.n_frames, ctx, model) for c in clips]
    m_tr, m_te = y_tr >= 0, y_te >= 0
    n_cls = len(VISEME_CLASSES)
    result: dict = {"classes": list(VISEME_CLASSES), "train_labelled": int(m_tr.sum()), "dev_labelled": int(m_te.sum())}
    result["probe"] = {
        "whisper_window_mean": probe(
            _embed(None, tr_tracks, ctx)[m_tr], y_tr[m_tr], _embed(None, te_tracks, ctx)[m_te], y_te[m_te], n_cls
        )
    }
    print("whisper", result["probe"]["whisper_window_mean"]["balanced_accuracy"], flush=True)
    alignments = [align_speech(c.audio) for c in clips]
    real_rows = []
    for c, al in zip(clips, alignments):
        o = mouth_opening(c.frontal68[: eds.TAU + eds.SCORED]).astype(np.float64)
        o[: eds.TAU] = np.nan
        real_rows.append(viseme_scores(o, al))
    result["real"] = {k: float(np.nanmean([r[k] for r in real_rows])) for k in ("Bilabial-Closed", "Vowel/Bilabial")}
    result["applicable_dev_clips"] = int(sum(a.applicable for a in alignments))
    curves: dict[str, list[np.ndarray]] = {}
    for tag in args.tags.split(","):
        nets = []
        for seed in args.seeds.split(","):
            net = ExpressionNet(cfg.net)
            net.load_state_dict(torch.load(Path(args.work) / f"{tag}_s{seed}.pt"))
            nets.append(net.eval())
        probes = [
            probe(_embed(n, tr_tracks, ctx)[m_tr], y_tr[m_tr], _embed(n, te_tracks, ctx)[m_te], y_te[m_te], n_cls)
            for n in nets
        ]
        for n in nets:
            n.config.inference_identity, n.config.displacement_gain = "mean", args.gain
        moc_seed = []
        for n in nets:  # each network alone (MOC does not depend on the gain)
            single = ExpressionLearner(n)
            moc_seed.append(
                float(
                    np.nanmean(
                        [
                            opening_correlation(
                                mouth_opening(
                                    single.predict(
                                        c.audio,
                                        c.frontal68[: eds.TAU],
                                        c.audio[: eds.TAU * SAMPLES_PER_FRAME],
                                        normalise=False,
                                    )[eds.TAU : eds.TAU + eds.SCORED]
                                ),
                                mouth_opening(c.frontal68[eds.TAU : eds.TAU + eds.SCORED]),
                            )
                            for c in clips
                        ]
                    )
                )
            )
        learner = ExpressionLearner(ExpressionEnsemble(nets).eval())
        rows = []
        curves[tag] = []
        for c, al in zip(clips, alignments):
            refs, ref_audio = c.frontal68[: eds.TAU], c.audio[: eds.TAU * SAMPLES_PER_FRAME]
            pred = learner.predict(c.audio, refs, ref_audio, normalise=False)[: eds.TAU + eds.SCORED]
            o = mouth_opening(pred).astype(np.float64)
            o[: eds.TAU] = np.nan
            curves[tag].append(o)
            row = viseme_scores(o, al)
            row["MOC"] = opening_correlation(o[eds.TAU :], mouth_opening(c.frontal68[eds.TAU : eds.TAU + eds.SCORED]))
            rows.append(row)
        result[tag] = {
            "MOC_per_seed": moc_seed,
            "probe_balanced_accuracy_per_seed": [p["balanced_accuracy"] for p in probes],
            "probe_bilabial_recall_per_seed": [p["recall"].get(1, float("nan")) for p in probes],
            **{k: float(np.nanmean([r[k] for r in rows])) for k in ("Bilabial-Closed", "Vowel/Bilabial", "MOC")},
            "per_clip": rows,
        }
        print(tag, json.dumps({k: v for k, v in result[tag].items() if k != "per_clip"}), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    if args.figure:
        figure(args.figure, [int(i) for i in args.figure_clips.split(",")], clips, alignments, curves)
    return 0


def figure(path: str, which: list[int], clips, alignments, curves: dict[str, list[np.ndarray]]) -> None:
    """Opening over the first 10 s of the scored frames: real (black) and each tag, P/B/M phones shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.metrics.lipsync import BILABIALS, CLOSED_OPENING, mouth_opening

    fig, axes = plt.subplots(len(which), 1, figsize=(13, 3.2 * len(which)), squeeze=False)
    t0, t1 = eds.TAU, eds.TAU + 250
    for ax, i in zip(axes[:, 0], which):
        c, al = clips[i], alignments[i]
        t = np.arange(t0, min(t1, c.n_frames)) / 25.0
        ax.plot(t, mouth_opening(c.frontal68[t0 : t0 + len(t)]), "k", lw=2, label="real")
        for tag, cs in curves.items():
            ax.plot(t, cs[i][t0 : t0 + len(t)], lw=1.3, label=tag)
        for p in al.phones:
            if p.name in BILABIALS and t[0] <= p.start <= t[-1]:
                ax.axvspan(p.start, p.end, color="tab:red", alpha=0.2)
        ax.axhline(CLOSED_OPENING, color="grey", ls=":", lw=1)
        ax.set_title(f"dev clip {c.clip_id[:60]} (red: P/B/M phones; dotted: closed threshold)", fontsize=9)
        ax.set_ylabel("opening")
    axes[-1, 0].set_xlabel("s")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    raise SystemExit(main())
