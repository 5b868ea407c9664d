"""Displacement scale (amplitude restore) for the seed ensemble on the dev split (networks trained without
the dev and validation people).

Record of session 9 (issue 16), run from the repository root with session 9's paths inside:
    cd REPO && TOOLKIT_CACHE=/work/cache_i16 PYTHONPATH=. python \
        eval/benchmarks/results/expression_dev_split/displacement_gain_s9.py
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

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.learners.evaluation import mouth_lmd
from toolkit.learners.expression import (
    ExpressionEnsemble,
    ExpressionLearner,
    ExpressionNet,
    reference_identity,
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
for seed in (1, 2, 0):
    p = Path(f"/work/runs9_i16/dev_s{seed}.pt")
    while seed == 0 and not p.exists():
        time.sleep(20)
    if p.exists():
        net = ExpressionNet(eds.dev_config(data, []).net)
        net.load_state_dict(torch.load(p))
        net.eval()
    else:
        t0 = time.time()
        net = eds.train_variant(task, data, [], {"name": f"s{seed}", "seed": seed})
        print("train", seed, time.time() - t0, flush=True)
        torch.save(net.state_dict(), p)
    nets.append(net)
nets = [nets[2], nets[0], nets[1]]
T, S = eds.TAU, eds.SCORED
out = {}
for name, net in (("s0", nets[0]), ("ens3", ExpressionEnsemble(nets).eval())):
    learner = ExpressionLearner(net)
    for mode in ("neutral", "mean"):
        net.config.inference_identity = mode
        preds = []
        for c in clips:
            refs, gt = c.frontal68[:T], c.frontal68[T : T + S]
            raw = learner.predict(c.audio, refs, c.audio[: T * SAMPLES_PER_FRAME], normalise=False, lip_contact=False)[
                T : T + S
            ]
            ident, _ = reference_identity(refs, learner.identity_mode)
            photo = c.frontal68[reference_frame(c.motion, T)]
            preds.append((raw, ident, gt, photo))
        for k in (1.0, 1.1, 1.2, 1.3, 1.4):
            rows = []
            for raw, ident, gt, photo in preds:
                pred = uncross_lips(ident[None] + k * (raw - ident[None]))
                s = reenactment_scores(pred, gt)
                rows.append(
                    {
                        "MOC": s["MOC"],
                        "Amp": s["AmpRatio"],
                        "Closure": s["Closure"],
                        "ClosureGT": s["Closure-GT"],
                        "ClErr": s["Closure-Err"],
                        "LMD": mouth_lmd(pred, gt),
                        "still": mouth_lmd(np.repeat(photo[None], len(gt), 0), gt),
                    }
                )
            m = {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}
            m["ClErr_median"] = float(np.nanmedian([r["ClErr"] for r in rows]))
            m["LMD_vs_still"] = m["LMD"] / m["still"] - 1
            out[f"{name} {mode} x{k}"] = m
            print(f"{name} {mode} x{k}", json.dumps({a: round(b, 4) for a, b in m.items()}), flush=True)
Path("/work/runs9_i16/scale_dev.json").write_text(json.dumps(out, indent=1))
