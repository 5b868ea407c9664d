"""POST-HOC diagnosis on the 9 validation clips, run after the one validation run of the dev-chosen
candidate (3-seed ensemble + mean identity + one-frame delay, MOC 0.494 < v3's 0.564): which part lost
MOC. Nothing here chose v4's settings except, as the model card says, dropping the delay.

    TOOLKIT_CACHE=... PYTHONPATH=. python eval/benchmarks/results/expression_dev_split/posthoc_validation_parts.py \
        V3_CHECKPOINT ENSEMBLE_CHECKPOINT DATA_DIR OUT.json
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path.cwd() / "scripts"))
from eval_learners import _split_clips

from toolkit.constants import SAMPLES_PER_FRAME
from toolkit.learners.evaluation import mouth_lmd
from toolkit.learners.expression import ExpressionLearner
from toolkit.metrics.lipsync import reenactment_scores

TAU = 64
v3_path, ens_path, data, out_path = sys.argv[1:5]
nets = {"v3": ExpressionLearner.load(v3_path), "ens3": ExpressionLearner.load(ens_path)}
_, val = _split_clips(Path(data), nets["v3"].info)
val = [c for c in val if c.has_audio and c.n_frames > TAU]
res = {}
for name, learner in nets.items():
    for mode in ("neutral", "mean"):
        for delay in (0, 1):
            for contact in (False, True):
                learner.net.config.inference_identity, learner.net.config.delay_frames = mode, delay
                moc, lmd = [], []
                for c in val:
                    gt = c.frontal68[TAU:]
                    refs, ref_audio = c.frontal68[:TAU], c.audio[: TAU * SAMPLES_PER_FRAME]
                    pred = learner.predict(c.audio, refs, ref_audio, lip_contact=contact)[TAU:]
                    moc.append(reenactment_scores(pred, gt)["MOC"])
                    lmd.append(mouth_lmd(pred, gt))
                key = f"{name} {mode} delay{delay} contact{int(contact)}"
                res[key] = {
                    "MOC": round(float(np.mean(moc)), 4),
                    "LMD": round(float(np.mean(lmd)), 3),
                    "MOC_per_clip": [round(x, 3) for x in moc],
                }
                print(key, res[key], flush=True)
Path(out_path).write_text(json.dumps(res, indent=1))
