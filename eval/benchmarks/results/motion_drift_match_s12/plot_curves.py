"""Phi's rotation (pitch, yaw; degrees) with reference_drift_match off / on against the real continuation (the
records' track), for a few clips of a benchmark (seed = the benchmark's; Phi's output, before rendering).

    PYTHONPATH=$PWD python eval/benchmarks/results/motion_drift_match_s12/plot_curves.py RECORDS BENCHMARK CK_OFF \
        CK_ON OUT.png CLIP_ID...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.data.records import load_clip
from toolkit.learners.motion import MotionLearner


def main(data: str, benchmark: str, ck_off: str, ck_on: str, out: str, clip_ids: list[str]) -> None:
    bench = json.loads(Path(benchmark).read_text())
    tau, seed = int(bench["protocol"]["tau"]), int(bench["protocol"]["seed"])
    spans = {c["clip_id"]: c["driving"] for c in bench["clips"]}
    off, on = MotionLearner.load(Path(ck_off) / "motion"), MotionLearner.load(Path(ck_on) / "motion")
    fig, axes = plt.subplots(len(clip_ids), 2, figsize=(11, 2.6 * len(clip_ids)), squeeze=False)
    for row, clip_id in zip(axes, clip_ids, strict=True):
        rec = load_clip(Path(data), clip_id)
        motion, audio = np.asarray(rec.head_motion), np.asarray(rec.audio(), np.float32)
        a, b = spans[clip_id]
        args = (motion[:tau], audio[: tau * SAMPLES_PER_FRAME], audio[a * SAMPLES_PER_FRAME : b * SAMPLES_PER_FRAME])
        curves = {"real": motion[a:b], "off": off.predict(*args, seed=seed), "on": on.predict(*args, seed=seed)}
        for axis, (ax, name) in enumerate(zip(row, ("pitch", "yaw"), strict=True)):
            for label, m in curves.items():
                ax.plot(
                    np.degrees(m[:, axis]), label=f"{label}" + (f" (gain {on.last_drift_gain:.2f})" * (label == "on"))
                )
            ax.set_title(f"{clip_id[:48]}: {name}", fontsize=8)
            ax.set_xlabel("frame after the reference")
        row[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
