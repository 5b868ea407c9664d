"""How much mouth-opening correlation (MOC) the ground truth itself leaves to an audio-driven predictor.

    nice -n 10 .venv/bin/python scripts/expression_moc_ceiling.py [--data /work/runs_i16/all2] [--json OUT]

For the dev people of ``scripts/expression_dev_split.py`` and the speaker-disjoint validation people, on
the frames Psi is scored on (after the first tau = 64 reference frames, up to 500): the correlation of the
real mouth opening (``toolkit.metrics.lipsync.mouth_opening``) with

* itself shifted by 1 and 2 frames (what an audio-video offset of one or two frames in the recording, or
  a prediction that late, costs by itself), and
* itself smoothed over time as Psi's output is (Gaussian sigma 1, 1.5, 2 frames: what the smoothing costs
  a perfect predictor).

Mean over clips; no network is involved.
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


def main(argv: list[str] | None = None) -> int:
    import expression_dev_split as eds

    from toolkit.data.records import done_clip_ids
    from toolkit.learners.data import load_clip_data
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.metrics.lipsync import mouth_opening

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/runs_i16/all2", help="folder written by `toolkit preprocess`")
    ap.add_argument("--json", help="write the per-group means here")
    args = ap.parse_args(argv)
    groups = {"dev": {split_group(g) for g in eds.DEV_GROUPS}, "validation": set(DEFAULT_VAL_GROUPS)}
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in groups}
    for clip in load_clip_data(args.data, done_clip_ids(args.data)):
        for name, members in groups.items():
            if split_group(clip.speaker) in members and clip.n_frames > TAU + 25 and clip.has_audio:
                rows[name].append(ceiling_rows(mouth_opening(clip.frontal68[TAU : TAU + SCORED])))
    out = {
        name: {"clips": len(r), **{k: round(float(np.nanmean([x[k] for x in r])), 4) for k in r[0]}}
        for name, r in rows.items()
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
