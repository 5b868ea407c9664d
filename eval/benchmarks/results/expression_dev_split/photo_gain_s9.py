"""Photo identity (n = 1) on the dev split: ensemble of the three dev seeds, displacement gain 1.0 vs 1.4.

Record of session 9 (issue 16), run from the repository root with session 9's paths inside:
    cd REPO && TOOLKIT_CACHE=/work/cache_i16 PYTHONPATH=. python \
        eval/benchmarks/results/expression_dev_split/photo_gain_s9.py
"""

import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "scripts")
import expression_dev_split as eds

from toolkit.learners.evaluation import mouth_lmd
from toolkit.learners.expression import (
    ExpressionEnsemble,
    ExpressionLearner,
    ExpressionNet,
    uncross_lips,
)
from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
from toolkit.learners.tasks import ExpressionTask, reference_frame
from toolkit.metrics.lipsync import reenactment_scores

torch.set_num_threads(1)
logging.basicConfig(level=logging.WARNING)
data = "/work/runs_i16/all2"
task = ExpressionTask(eds.dev_config(data, []), Path("/work/runs9_i16"), 0, 1, logging.getLogger("dev"))
dev = {split_group(g) for g in eds.DEV_GROUPS}
clips = [c for c in task.val_clips if split_group(c.speaker) in dev and c.n_frames > eds.TAU + 25]
assert not any(split_group(c.speaker) in DEFAULT_VAL_GROUPS for c in clips)
nets = []
for seed in (0, 1, 2):
    net = ExpressionNet(eds.dev_config(data, []).net)
    net.load_state_dict(torch.load(f"/work/runs9_i16/dev_s{seed}.pt"))
    nets.append(net.eval())
T, S = eds.TAU, eds.SCORED
out = {}
for name, net in (("s0", nets[0]), ("ens3", ExpressionEnsemble(nets).eval())):
    learner = ExpressionLearner(net)
    preds = []
    for c in clips:
        gt = c.frontal68[T : T + S]
        photo = c.frontal68[reference_frame(c.motion, T)]
        raw = learner.predict(c.audio, photo, normalise=False, lip_contact=False)[T : T + S]
        preds.append((raw, photo, gt))
    for k in (0.8, 1.0, 1.2, 1.4):
        rows = []
        for raw, photo, gt in preds:
            pred = uncross_lips(photo[None] + k * (raw - photo[None]))
            s = reenactment_scores(pred, gt)
            rows.append(
                {
                    "LMD": mouth_lmd(pred, gt),
                    "MOC": s["MOC"],
                    "Amp": s["AmpRatio"],
                    "Closure": s["Closure"],
                    "still": mouth_lmd(np.repeat(photo[None], len(gt), 0), gt),
                }
            )
        m = {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}
        out[f"{name} photo x{k}"] = m
        print(f"{name} photo x{k}", json.dumps({a: round(b, 4) for a, b in m.items()}), flush=True)
Path("/work/runs9_i16/photo_gain_dev.json").write_text(json.dumps(out, indent=1))
