"""Audio-video offsets of Psi's TRAINING clips, measured by held-out Psi networks (no validation person used).

    TOOLKIT_CACHE=... nice -n 10 .venv/bin/python scripts/expression_av_offsets.py --work DIR --json OUT.json \
        [--data /work/runs11_i16/all2] [--folds 5] [--seeds 0] [--max-lag 5] [--offsets OFFSETS.json]

The training clips (validation groups held out, as ``configs/expression.yaml``) are loaded *without* any
re-alignment (``data.sync_correction_max_frames=0``). Their split groups (people, ``toolkit.learners.split``)
are dealt into ``--folds`` folds; for each fold, networks of the shipped recipe (configs/expression.yaml,
the training loop of ``scripts/expression_dev_split.py``; ``--seeds``) are trained on the other folds and
predict the fold's clips from their own audio (identity: the clip's own frames, neutral mouth; no pause gate,
the network's smoothing; the ensemble mean of the seeds). So no clip's offset is measured by a network that
saw that person.

Per clip, r(l) = Pearson correlation of the predicted opening at frame t with the real opening at frame t + l,
l in -max_lag..max_lag (the same sign as ``toolkit.learners.data.estimate_av_offset``: l > 0 = the mouth moves
l frames after the sound, the audio track is early; ``shift_audio(audio, l)`` re-aligns it). Also the energy
estimator used in training today (``estimate_av_offset``, its lag and its r at lags -8..8).

Per person (split group): the frame-weighted mean of the clips' r(l) -> the group's lag (clips of one person
usually come from one recording pipeline, and short clips alone are noisy).

``--offsets`` writes the file that ``data.sync_offsets`` of the expression recipe reads, by one of
:data:`OFFSET_RULES` (``--rule``; ``--rewrite`` makes it from an existing ``--json`` without measuring):
{"offsets": {clip_id: lag}, "drop": [clip_id, ...], "rule": str, "rule_name": str}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

MIN_FRAMES = 20


def lag_curve(pred: np.ndarray, real: np.ndarray, max_lag: int) -> dict[int, float]:
    """r(l) = corr(pred[t], real[t + l]) over the frames where both exist, l in -max_lag..max_lag."""
    out = {}
    n = min(len(pred), len(real))
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, b = pred[: n - lag], real[lag:n]
        else:
            a, b = pred[-lag:n], real[: n + lag]
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        out[lag] = float(np.corrcoef(a, b)[0, 1]) if a.size > 5 and a.std() > 1e-9 and b.std() > 1e-9 else np.nan
    return out


def best_lag(curve: dict[int, float]) -> tuple[int, float, float]:
    """(lag, r at it, r at it - r at 0); lag 0 and NaNs when the curve is undefined."""
    vals = {k: v for k, v in curve.items() if np.isfinite(v)}
    if not vals or 0 not in vals:
        return 0, float("nan"), float("nan")
    k = max(vals, key=vals.get)
    return int(k), float(vals[k]), float(vals[k] - vals[0])


def _person_lag(g: dict, max_lag: int) -> int:
    """A person's pooled lag when its peak is inside the range, at least 0.3 and 0.02 above r(0), else 0."""
    return int(g["lag"]) if (abs(g["lag"]) < max_lag and g["r"] >= 0.3 and g["gain"] >= 0.02) else 0


def _own_lag_located(r: dict, max_lag: int) -> bool:
    return bool(np.isfinite(r["psi_r"]) and r["psi_r"] >= 0.3 and abs(r["psi_lag"]) < max_lag)


def rule_person_drop(rows: list[dict], groups: dict[str, dict], max_lag: int) -> tuple[dict[str, int], list[str]]:
    """person_drop (the first rule, fixed before any dev-split score was seen): a person's clips take the
    person's pooled lag (``_person_lag``); a clip whose own located lag (peak inside the range, r >= 0.3) is 2
    or more frames from it is dropped (its timing disagrees with its person's: unsure)."""
    offsets, drop = {}, []
    for r in rows:
        lag = _person_lag(groups[r["group"]], max_lag)
        if _own_lag_located(r, max_lag) and abs(r["psi_lag"] - lag) >= 2:
            drop.append(r["clip_id"])
        elif lag:
            offsets[r["clip_id"]] = lag
    return offsets, drop


def rule_person(rows: list[dict], groups: dict[str, dict], max_lag: int) -> tuple[dict[str, int], list[str]]:
    """person: every clip takes its person's pooled lag (``_person_lag``); nothing dropped."""
    lags = {r["clip_id"]: _person_lag(groups[r["group"]], max_lag) for r in rows}
    return {k: v for k, v in lags.items() if v}, []


def rule_large(rows: list[dict], groups: dict[str, dict], max_lag: int) -> tuple[dict[str, int], list[str]]:
    """large: only persons whose pooled lag is 3 frames or more are shifted (by it); nothing dropped."""
    lags = {r["clip_id"]: _person_lag(groups[r["group"]], max_lag) for r in rows}
    return {k: v for k, v in lags.items() if abs(v) >= 3}, []


def rule_clip(rows: list[dict], groups: dict[str, dict], max_lag: int) -> tuple[dict[str, int], list[str]]:
    """clip: a clip of 75 frames or more with a located own lag (peak inside the range, r >= 0.3, 0.05 above
    r(0)) takes it; other clips take their person's pooled lag; nothing dropped."""
    out = {}
    for r in rows:
        own = _own_lag_located(r, max_lag) and r["n_frames"] >= 75 and r["psi_gain_over_0"] >= 0.05
        lag = int(r["psi_lag"]) if own else _person_lag(groups[r["group"]], max_lag)
        if lag:
            out[r["clip_id"]] = lag
    return out, []


OFFSET_RULES = {"person_drop": rule_person_drop, "person": rule_person, "large": rule_large, "clip": rule_clip}


def write_offsets(res: dict, rule: str, path: str | Path) -> dict:
    """Write the ``data.sync_offsets`` file of ``rule`` from a measurement (this script's JSON); returns its summary."""
    residual, drop = OFFSET_RULES[rule](res["clips"], res["groups"], res["max_lag"])
    # measured on clips already re-aligned by the energy rule (--start energy): the lags add up
    total = {r["clip_id"]: int(r.get("applied_before", 0)) + residual.get(r["clip_id"], 0) for r in res["clips"]}
    offsets = {k: v for k, v in total.items() if v and k not in drop}
    doc = (OFFSET_RULES[rule].__doc__ or "").strip()
    Path(path).write_text(json.dumps({"offsets": offsets, "drop": drop, "rule": doc, "rule_name": rule}, indent=1))
    hist: dict[str, int] = {}
    for v in offsets.values():
        hist[str(v)] = hist.get(str(v), 0) + 1
    return {"rule": rule, "shifted": len(offsets), "dropped": len(drop), "histogram": dict(sorted(hist.items()))}


def main(argv: list[str] | None = None) -> int:
    import expression_dev_split as eds
    import torch

    from toolkit.learners.config import load_config
    from toolkit.learners.data import FeatureExpressionBatcher, estimate_av_offset
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner, ExpressionNet
    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.learners.tasks import ExpressionTask
    from toolkit.metrics.lipsync import mouth_opening

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/runs11_i16/all2", help="folder written by `toolkit preprocess`")
    ap.add_argument("--work", required=True, help="folder for the fold networks (reused when present)")
    ap.add_argument("--json", required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--max-lag", type=int, default=5)
    ap.add_argument("--offsets", help="write the data.sync_offsets file here")
    ap.add_argument("--rule", default="person_drop", choices=sorted(OFFSET_RULES), help="how --offsets is made")
    ap.add_argument("--rewrite", action="store_true", help="only write --offsets from an existing --json")
    ap.add_argument("--set", action="append", default=[], help="recipe override for the fold networks")
    ap.add_argument(
        "--start",
        default="raw",
        choices=("raw", "energy"),
        help="measure on the clips as recorded, or after the recipe's re-alignment (the energy rule, or "
        "data.sync_offsets when --set gives one); the written offsets are then that lag plus the measured residual",
    )
    args = ap.parse_args(argv)
    if args.rewrite:
        if not args.offsets:
            ap.error("--rewrite needs --offsets")
        print(json.dumps(write_offsets(json.loads(Path(args.json).read_text()), args.rule, args.offsets)))
        return 0
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    overrides = [*(["data.sync_correction_max_frames=0"] if args.start == "raw" else []), *args.set]

    cfg = load_config("expression", ROOT / "configs" / "expression.yaml", overrides, args.data)
    assert set(cfg.data.val_speakers) == set(DEFAULT_VAL_GROUPS), "the recipe's validation groups changed"
    task = ExpressionTask(cfg, work, 0, 1, logging.getLogger("offsets"))
    before = dict(task.av_offsets)
    assert args.start == "energy" or not before
    full = task.batcher
    assert isinstance(full, FeatureExpressionBatcher)
    val_groups = {g.lower() for g in DEFAULT_VAL_GROUPS}
    assert not any(split_group(c.speaker) in val_groups for c in full.clips)
    group_of = {c.clip_id: split_group(c.speaker) for c in full.clips}
    fold_of = {g: int(hashlib.sha1(g.encode()).hexdigest()[:8], 16) % args.folds for g in set(group_of.values())}
    print(f"{len(full.clips)} training clips with speech, {len(fold_of)} people, {args.folds} folds", flush=True)

    rows = []
    for fold in range(args.folds):
        train_idx = [i for i, c in enumerate(full.clips) if fold_of[group_of[c.clip_id]] != fold]
        test = [c for c in full.clips if fold_of[group_of[c.clip_id]] == fold]
        sub = FeatureExpressionBatcher(
            [full.clips[i] for i in train_idx],
            [full.coeffs[i] for i in train_idx],
            [full.tracks[i] for i in train_idx],
            cfg.segment_frames,
            cfg.net.context_frames,
            cfg.noise.probability,
            cfg.single_reference_probability,
            cfg.data.tau,
            cfg.net.identity,
        )
        nets = []
        for seed in seeds:
            path = work / f"fold{fold}_of{args.folds}_s{seed}.pt"
            if path.exists():
                net = ExpressionNet(cfg.net)
                net.load_state_dict(torch.load(path))
            else:
                t0 = time.perf_counter()
                task.batcher = sub
                net = eds.train_variant(task, args.data, overrides, {"name": f"fold{fold}", "seed": seed})
                task.batcher = full
                torch.save(net.state_dict(), path)
                print(f"fold {fold} seed {seed}: trained on {len(train_idx)} clips in "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
            nets.append(net.eval())
        learner = ExpressionLearner(nets[0] if len(nets) == 1 else ExpressionEnsemble(nets).eval())
        for c in test:
            if c.n_frames < MIN_FRAMES:
                continue
            pred = learner.predict(c.audio, c.frontal68, normalise=False, pause_gate=False, lip_contact=False)
            curve = lag_curve(mouth_opening(pred), mouth_opening(c.frontal68), args.max_lag)
            lag, r_best, gain = best_lag(curve)
            e_lag = before.get(c.clip_id, 0) if args.start == "energy" else estimate_av_offset(c, 8)
            rows.append({
                "clip_id": c.clip_id, "group": group_of[c.clip_id], "fold": fold, "n_frames": c.n_frames,
                "psi_lag": lag, "psi_r": r_best, "psi_gain_over_0": gain,
                "psi_r_by_lag": {str(k): round(v, 4) for k, v in curve.items()},
                "energy_lag_used_in_training": e_lag, "applied_before": before.get(c.clip_id, 0),
            })  # fmt: skip
        print(f"fold {fold}: {len(test)} clips measured", flush=True)

    groups: dict[str, dict] = {}
    for g in sorted({r["group"] for r in rows}):
        rs = [r for r in rows if r["group"] == g]
        w = np.array([r["n_frames"] for r in rs], np.float64)
        pooled = {}
        for lag in range(-args.max_lag, args.max_lag + 1):
            v = np.array([r["psi_r_by_lag"][str(lag)] for r in rs], np.float64)
            ok = np.isfinite(v)
            pooled[lag] = float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else np.nan
        lag, r_best, gain = best_lag(pooled)
        groups[g] = {
            "clips": len(rs), "frames": int(w.sum()), "lag": lag, "r": r_best, "gain": gain,
            "r_by_lag": {str(k): round(v, 4) for k, v in pooled.items()},
            "clip_lags": sorted(r["psi_lag"] for r in rs),
        }  # fmt: skip

    def hist(values: list[int]) -> dict[str, int]:
        return {str(k): int(sum(v == k for v in values)) for k in range(-8, 9) if any(v == k for v in values)}

    confident = [r for r in rows if np.isfinite(r["psi_r"]) and r["psi_r"] >= 0.3 and abs(r["psi_lag"]) < args.max_lag]
    out = {
        "what": "per training clip audio-video offset, Psi networks trained without the clip's person (folds)",
        "data": args.data,
        "recipe_overrides": overrides,
        "start": args.start,
        "folds": args.folds,
        "seeds": seeds,
        "max_lag": args.max_lag,
        "sign": "lag > 0: the mouth moves lag frames after the sound (audio early); shift_audio(audio, lag) fixes it",
        "histogram_psi_lag_all_clips": hist([r["psi_lag"] for r in rows]),
        "histogram_psi_lag_confident_clips": hist([r["psi_lag"] for r in confident]),
        "confident_rule": "peak r >= 0.3 inside the lag range",
        "histogram_group_lag": hist([g["lag"] for g in groups.values()]),
        "histogram_group_lag_weighted_by_frames": {
            str(k): int(sum(g["frames"] for g in groups.values() if g["lag"] == k))
            for k in sorted({g["lag"] for g in groups.values()})
        },
        "histogram_energy_lag_used_in_training": hist([r["energy_lag_used_in_training"] for r in rows]),
        "mean_r_at_lag_all_clips": {
            str(k): float(np.nanmean([r["psi_r_by_lag"][str(k)] for r in rows]))
            for k in range(-args.max_lag, args.max_lag + 1)
        },
        "offset_rules": {k: (f.__doc__ or "").strip() for k, f in OFFSET_RULES.items()},
        "groups": groups,
        "clips": rows,
    }
    Path(args.json).write_text(json.dumps(out, indent=1))
    if args.offsets:
        print(json.dumps(write_offsets(out, args.rule, args.offsets)))
    print(json.dumps({k: v for k, v in out.items() if k.startswith("histogram") or k.startswith("mean_r")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
