"""Choose Psi's settings on held-out *training* people (a dev split), never on the validation people.

    TOOLKIT_CACHE=... nice -n 10 .venv/bin/python scripts/expression_dev_split.py VARIANTS.json OUT.jsonl \
        [--data DIR] [--set KEY=VALUE ...]

The training task (``toolkit.learners.tasks.ExpressionTask``) is built once with the validation groups
*and* the dev groups (:data:`DEV_GROUPS`: eight people with several seconds of continuous English speech)
held out; then every variant of ``VARIANTS.json`` is trained in-process with the training loop's own
schedule and step seeds (``toolkit.learners.train``: the same result as ``toolkit train expression``
with that ``--seed`` and ``--set``) and scored on the dev clips only (reference = first tau = 64
frames, scored on the next 500): MOC, amplitude ratio, closure, mouth LMD vs the most frontal
reference frame held still, for the reference identity formed as the neutral mouth or the mean of the
reference frames, with and without a one-frame delay, the correlation at other lags, and the photo case.

VARIANTS.json: a list of ``{"name": str, "set": [KEY=VALUE, ...], "seed": int, "steps": int}``, or
``{"name": str, "ensemble": [names trained before]}`` (mean of their displacements).
The validation people are asserted absent from the scored clips.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: dev people (split groups of ``toolkit.learners.split``): continuous English speech, >= tau + 25 frames
DEV_GROUPS = (
    "latentsync-demo",
    "wyhsirius__lia__vox_driving3",
    "avcrossnet_e3",
    "avcrossnet_e4",
    "lrs2_00016",
    "lrs2_00019",
    "tanshuai0219__edtalk__mouth_source",
    "retalking_4",
)
TAU = 64
SCORED = 500


def dev_config(data: str, overrides: list[str]):
    from toolkit.learners.config import load_config
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group

    groups = [*DEFAULT_VAL_GROUPS, *(split_group(g) for g in DEV_GROUPS)]
    return load_config(
        "expression",
        ROOT / "configs" / "expression.yaml",
        [f"data.val_speakers=[{','.join(groups)}]", *overrides],
        data,
    )


def score(net, clips) -> dict[str, float]:
    """Dev-clip means of the lip-sync and LMD scores (see module doc)."""
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.learners.evaluation import mouth_lmd
    from toolkit.learners.expression import ExpressionLearner
    from toolkit.learners.tasks import reference_frame
    from toolkit.metrics.lipsync import mouth_opening, opening_correlation, reenactment_scores

    learner = ExpressionLearner(net)
    cfg = net.config
    saved = (cfg.inference_identity, cfg.delay_frames)
    rows = []
    for c in clips:
        refs, gt = c.frontal68[:TAU], c.frontal68[TAU : TAU + SCORED]
        ref_audio = c.audio[: TAU * SAMPLES_PER_FRAME]
        photo = c.frontal68[reference_frame(c.motion, TAU)]
        row = {"still": mouth_lmd(np.repeat(photo[None], len(gt), 0), gt)}
        for mode in ("neutral", "mean"):
            for delay in (0, 1):
                cfg.inference_identity, cfg.delay_frames = mode, delay
                pred = learner.predict(c.audio, refs, ref_audio, normalise=False)[TAU : TAU + SCORED]
                s = reenactment_scores(pred, gt)
                tag = f"{mode}_d{delay}"
                row.update({f"MOC_{tag}": s["MOC"], f"Amp_{tag}": s["AmpRatio"], f"LMD_{tag}": mouth_lmd(pred, gt)})
                row.update({f"Closure_{tag}": s["Closure"], f"ClosureErr_{tag}": s["Closure-Err"]})
                if (mode, delay) == ("neutral", 0):
                    po, go = mouth_opening(pred), mouth_opening(gt)
                    for lag in range(-3, 4):  # lag < 0: the prediction at t matches the truth at t - lag
                        a, b = (po[lag:], go[: len(go) - lag]) if lag >= 0 else (po[:lag], go[-lag:])
                        row[f"lag{lag}"] = opening_correlation(a, b)
        cfg.inference_identity, cfg.delay_frames = saved
        single = learner.predict(c.audio, photo, normalise=False)[TAU : TAU + SCORED]
        row["LMD_photo"], row["MOC_photo"] = mouth_lmd(single, gt), reenactment_scores(single, gt)["MOC"]
        rows.append(row)
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
    for k in [k for k in out if k.startswith("LMD_")]:
        out[f"{k}_vs_still"] = out[k] / out["still"] - 1
    return out


def train_variant(task, data: str, overrides: list[str], variant: dict):
    """A fresh network trained as ``toolkit.learners.train.train`` would (schedule, step seeds)."""
    import torch

    from toolkit.learners.expression import ExpressionNet
    from toolkit.learners.train import _step_seed, lr_factor

    cfg = dev_config(data, [*overrides, *variant.get("set", [])])
    cfg.seed = int(variant.get("seed", 0))
    cfg.optim.steps = steps = int(variant.get("steps", cfg.optim.steps))
    task.config = cfg
    task.batcher.single_reference_probability = cfg.single_reference_probability
    task.batcher.identity = cfg.net.identity
    old = task.net
    torch.manual_seed(cfg.seed)
    net = ExpressionNet(cfg.net)
    net.set_pca(old.pca_mean.numpy(), old.pca_components.numpy(), old.coeff_scale.numpy())
    task.net = task.model = net
    if cfg.loss.viseme > 0:  # the training-only viseme head (labels were set up when the task was built)
        from toolkit.learners.expression import VisemeHeadModel
        from toolkit.metrics.lipsync import VISEME_CLASSES

        if task.batcher.labels is None:
            raise SystemExit("loss.viseme needs the task built with it: pass --set loss.viseme=W for every variant")
        task.model = VisemeHeadModel(net, len(VISEME_CLASSES))
    task.opt = torch.optim.AdamW(task.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    for step in range(steps):
        task.set_lr(lr_factor(step, steps, cfg.optim.final_lr_ratio))
        ss = _step_seed(cfg.seed, 0, step)
        torch.manual_seed(int(ss.generate_state(1)[0]))
        task.train_step(np.random.default_rng(ss))
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    import torch

    from toolkit.learners.expression import ExpressionEnsemble
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.learners.tasks import ExpressionTask

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants")
    ap.add_argument("out")
    ap.add_argument("--data", default="/work/runs_i16/all2", help="folder written by `toolkit preprocess`")
    ap.add_argument("--set", action="append", default=[], help="override for every variant")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO)
    task = ExpressionTask(dev_config(args.data, args.set), Path(args.out).parent, 0, 1, logging.getLogger("dev"))
    dev = {split_group(g) for g in DEV_GROUPS}
    clips = [c for c in task.val_clips if split_group(c.speaker) in dev and c.n_frames > TAU + 25]
    assert not any(split_group(c.speaker) in DEFAULT_VAL_GROUPS for c in clips)
    print(f"dev clips: {len(clips)}, scored frames {sum(min(SCORED, c.n_frames - TAU) for c in clips)}", flush=True)
    trained = {}
    for v in json.loads(Path(args.variants).read_text()):
        t0 = time.perf_counter()
        if "ensemble" in v:
            net = ExpressionEnsemble([trained[n] for n in v["ensemble"]]).eval()
        else:
            net = trained[v["name"]] = train_variant(task, args.data, args.set, v)
        rec = {"name": v["name"], "seconds": round(time.perf_counter() - t0), **score(net, clips)}
        print(json.dumps(rec), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
