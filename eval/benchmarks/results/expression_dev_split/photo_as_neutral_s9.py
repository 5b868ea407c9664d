"""Photo identity variants on the dev split (a network trained without the dev and validation people).

Record of session 9 (issue 16), run from the repository root with session 9's paths inside:
    cd REPO && TOOLKIT_CACHE=/work/cache_i16 PYTHONPATH=. python \
        eval/benchmarks/results/expression_dev_split/photo_as_neutral_s9.py
"""

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "scripts")
import expression_dev_split as eds

from toolkit.learners.evaluation import mouth_lmd
from toolkit.learners.expression import ExpressionLearner, ExpressionNet
from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
from toolkit.learners.tasks import ExpressionTask, reference_frame
from toolkit.metrics.lipsync import mouth_opening, reenactment_scores
from toolkit.tracking.landmarks68 import INNER_LIP_PAIRS, OUTER_LIP_PAIRS

torch.set_num_threads(1)
logging.basicConfig(level=logging.WARNING)
data = "/work/runs_i16/all2"
task = ExpressionTask(eds.dev_config(data, []), Path("/work/runs9_i16"), 0, 1, logging.getLogger("dev"))
dev = {split_group(g) for g in eds.DEV_GROUPS}
clips = [c for c in task.val_clips if split_group(c.speaker) in dev and c.n_frames > eds.TAU + 25]
assert not any(split_group(c.speaker) in DEFAULT_VAL_GROUPS for c in clips)
netp = Path("/work/runs9_i16/dev_s0.pt")
if netp.exists():
    net = ExpressionNet(eds.dev_config(data, []).net)
    net.load_state_dict(torch.load(netp))
    net.eval()
else:
    t0 = time.time()
    net = eds.train_variant(task, data, [], {"name": "s0", "seed": 0})
    print("train", time.time() - t0)
    torch.save(net.state_dict(), netp)
learner = ExpressionLearner(net)


def close(photo, lower_share, gap=0.0):
    lm = np.array(photo, np.float32, copy=True)
    for (up, low), (oup, olow) in zip(INNER_LIP_PAIRS, OUTER_LIP_PAIRS):
        g = lm[low, 1] - lm[up, 1] - gap
        if g <= 0:
            continue
        for p in (up, oup):
            lm[p, 1] += (1 - lower_share) * g
        for p in (low, olow):
            lm[p, 1] -= lower_share * g
    return lm


rows = []
T = eds.TAU
S = eds.SCORED
for c in clips:
    gt = c.frontal68[T : T + S]
    photo = c.frontal68[reference_frame(c.motion, T)]
    row = {
        "clip": c.clip_id if hasattr(c, "clip_id") else str(c.speaker),
        "photo_open": float(mouth_opening(photo[None])[0]),
    }
    row["still"] = mouth_lmd(np.repeat(photo[None], len(gt), 0), gt)
    variants = {"base": (photo, 1), "n64": (photo, 64), "n8": (photo, 8)}
    for name, (ident, n) in variants.items():
        idl = ident if n == 1 else np.repeat(ident[None], n, 0)
        pred = learner.predict(c.audio, idl, normalise=False)[T : T + S]
        s = reenactment_scores(pred, gt)
        row[f"LMD_{name}"] = mouth_lmd(pred, gt)
        row[f"MOC_{name}"] = s["MOC"]
        row[f"Amp_{name}"] = s["AmpRatio"]
        row[f"Cl_{name}"] = s["Closure"]
    row["ClGT"] = s["Closure-GT"]
    rows.append(row)
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
mean = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0] if k != "clip"}
print("MEAN", json.dumps({k: round(v, 4) for k, v in mean.items()}))
Path("/work/runs9_i16/photo_dev2.json").write_text(json.dumps({"rows": rows, "mean": mean}, indent=1))
