"""Per clip of a benchmark: the drift gain net.reference_drift_match picks and Phi's own rotation spread (degrees,
before rendering) with the option off / on, from the records' reference track and audio (not the renderer's).

    PYTHONPATH=$PWD python eval/benchmarks/results/motion_drift_match_s12/probe_gains.py RECORDS BENCHMARK CK_OFF CK_ON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.data.records import load_clip
from toolkit.learners.motion import MotionLearner, windowed_rotation_spread


def main(data: str, benchmark: str, ck_off: str, ck_on: str) -> None:
    root = Path(data)
    by_sha = {}
    for entry in json.loads((root / "manifest.json").read_text())["clips"]:
        meta = json.loads((root / "clips" / entry["clip_id"] / "meta.json").read_text())
        by_sha[meta["source_sha256"]] = entry["clip_id"]
    bench = json.loads(Path(benchmark).read_text())
    tau, seed = int(bench["protocol"]["tau"]), int(bench["protocol"]["seed"])
    off, on = MotionLearner.load(Path(ck_off) / "motion"), MotionLearner.load(Path(ck_on) / "motion")
    print(
        "| clip | gain | reference | Phi off (tau windows) | Phi on (tau windows) | Phi off (whole) | Phi on (whole) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for clip in bench["clips"]:
        rec = load_clip(root, by_sha[clip["video_sha256"]])
        motion, audio = np.asarray(rec.head_motion), np.asarray(rec.audio(), np.float32)
        a, b = clip["driving"]
        ref = motion[:tau]
        args = (ref, audio[: tau * SAMPLES_PER_FRAME], audio[a * SAMPLES_PER_FRAME : b * SAMPLES_PER_FRAME])
        m_off, m_on = off.predict(*args, seed=seed), on.predict(*args, seed=seed)
        deg = np.degrees
        row = [deg(windowed_rotation_spread(ref, tau))]
        row += [deg(windowed_rotation_spread(m, tau)) for m in (m_off, m_on)]
        row += [deg(windowed_rotation_spread(m, len(m))) for m in (m_off, m_on)]
        print(f"| {clip['clip_id'][:40]} | {on.last_drift_gain:.2f} | " + " | ".join(f"{v:.2f}" for v in row) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:5])
