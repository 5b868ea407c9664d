"""How much mouth-opening correlation (MOC) the ground truth itself leaves to an audio-driven predictor.

    nice -n 10 .venv/bin/python scripts/expression_moc_ceiling.py [--data /work/runs_i16/all2] [--json OUT]

For the dev people of ``scripts/expression_dev_split.py`` and the speaker-disjoint validation people, on
the frames Psi is scored on (after the first tau = 64 reference frames, up to 500): the correlation of the
real mouth opening (``toolkit.metrics.lipsync.mouth_opening``) with

* itself shifted by 1 and 2 frames (what an audio-video offset of one or two frames in the recording, or
  a prediction that late, costs by itself), and
* itself smoothed over time as Psi's output is (Gaussian sigma 1, 1.5, 2 frames: what the smoothing costs
  a perfect predictor).

Mean over clips; no network is involved. With ``--expression CKPT``, also Psi's own opening (reference =
the first 64 frames with their audio, as the learner validation does) against the real one at lags -3..3
frames, per validation clip (a shipped checkpoint was trained on the dev people). Where the best lag differs
from clip to clip (recordings with different audio-video offsets, or a latency of Psi that differs by
person), no single output delay serves them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

TAU, SCORED = 64, 500


def ceiling_rows(opening: np.ndarray) -> dict[str, float]:
    from scipy.ndimage import gaussian_filter1d

    from toolkit.metrics.lipsync import opening_correlation

    row = {f"shift{k}": opening_correlation(opening[k:], opening[:-k]) for k in (1, 2)}
    for sigma in (1.0, 1.5, 2.0):
        row[f"smooth{sigma}"] = opening_correlation(gaussian_filter1d(opening, sigma, mode="nearest"), opening)
    return row


def psi_lags(learner, clip, real: np.ndarray) -> dict[str, float]:
    """Psi's opening vs the real one at lags -3..3 (lag k > 0: Psi's frame t against the real frame t + k)."""
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.metrics.lipsync import mouth_opening, opening_correlation

    refs, ref_audio = clip.frontal68[:TAU], clip.audio[: TAU * SAMPLES_PER_FRAME]
    pred = mouth_opening(learner.predict(clip.audio, refs, ref_audio, normalise=False)[TAU : TAU + SCORED])
    row: dict[str, float] = {}
    for k in range(-3, 4):
        a, b = (pred[: len(pred) - k], real[k:]) if k >= 0 else (pred[-k:], real[: len(real) + k])
        row[f"lag{k}"] = round(opening_correlation(a, b), 4)
    row["best_lag"] = max(range(-3, 4), key=lambda k: row[f"lag{k}"])
    return row


def main(argv: list[str] | None = None) -> int:
    import expression_dev_split as eds

    from toolkit.data.records import done_clip_ids
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.metrics.lipsync import mouth_opening

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/runs_i16/all2", help="folder written by `toolkit preprocess`")
    ap.add_argument("--json", help="write the per-group means here")
    ap.add_argument("--expression", help="a Psi checkpoint: its MOC at lags -3..3 per clip")
    args = ap.parse_args(argv)
    learner = None
    if args.expression:
        from toolkit.learners.expression import ExpressionLearner

        learner = ExpressionLearner.load(args.expression)
    lags: dict[str, list[dict[str, float]]] = {}
    groups = {"dev": {split_group(g) for g in eds.DEV_GROUPS}, "validation": set(DEFAULT_VAL_GROUPS)}
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in groups}
    for clip in load_clip_data(args.data, done_clip_ids(args.data)):
        for name, members in groups.items():
            if split_group(clip.speaker) in members and clip.n_frames > TAU + 25 and clip.has_audio:
                real = mouth_opening(clip.frontal68[TAU : TAU + SCORED])
                rows[name].append(ceiling_rows(real))
                if learner is not None and name == "validation":  # shipped networks trained on the dev people
                    lags.setdefault(name, []).append({"clip": clip.clip_id, **psi_lags(learner, clip, real)})
    out = {
        name: {"clips": len(r), **{k: round(float(np.nanmean([x[k] for x in r])), 4) for k in r[0]}}
        for name, r in rows.items()
    }
    for name, per_clip in lags.items():
        out[name]["psi_lags"] = per_clip
        out[name]["psi_best_lags"] = [r["best_lag"] for r in per_clip]
        out[name]["psi_MOC_lag0"] = round(float(np.nanmean([r["lag0"] for r in per_clip])), 4)
        out[name]["psi_MOC_best_lag"] = round(float(np.nanmean([r[f"lag{r['best_lag']}"] for r in per_clip])), 4)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
