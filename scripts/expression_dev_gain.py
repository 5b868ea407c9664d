"""Psi v5's inference settings checked on held-out *training* people (the dev split), never the validation people.

    TOOLKIT_CACHE=... nice -n 10 .venv/bin/python scripts/expression_dev_gain.py --work DIR --out OUT.json \
        [--data /work/runs_i16/all2] [--check gain,photo] [--seeds 0,1,2] [--ensembles 3] \
        [--set KEY=VALUE ...] [--tag dev] [--modes neutral,mean] [--gains 1.0,1.1,...] [--smooth SIGMA,...]

Networks: the v3 recipe (with ``--set`` overrides) trained with ``--seeds`` without the dev and the
validation people (``scripts/expression_dev_split.py``'s split and training loop; cached as
``DIR/{tag}_s{seed}.pt``, trained if missing, about a minute each on this CPU). Scored on the dev clips
(reference = first tau = 64 frames, calibrated on their audio; scored on the next 500):

* ``gain``: the displacement gain (``net.displacement_gain``, ``--gains``) for one network and the ensembles
  of the first n seeds (``--ensembles``), with the neutral or the mean reference identity (``--modes``),
  optionally at other inference smoothings (``--smooth``, Gaussian sigma in frames): MOC, amplitude, closure,
  closure error, mouth LMD vs the most frontal frame held still;
* ``photo``: one frame (the most frontal) as identity: the gain 0.8-1.4; the photo's mouth closed
  geometrically before it is given (inner lips brought together, the lower lip taking ``share`` of the
  gap); the photo passed as if it were 8 or 64 neutral frames.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import expression_dev_split as eds  # noqa: E402

GAINS = (1.0, 1.1, 1.2, 1.3, 1.4)
PHOTO_GAINS = (0.8, 1.0, 1.2, 1.4)


def dev_networks(
    task,
    data: str,
    work: Path,
    seeds: tuple[int, ...] = (0, 1, 2),
    overrides: list[str] | None = None,
    tag: str = "dev",
) -> list:
    import time

    import torch

    from toolkit.learners.expression import ExpressionNet

    overrides = list(overrides or [])
    nets = []
    for seed in seeds:
        path = work / f"{tag}_s{seed}.pt"
        if path.exists():
            net = ExpressionNet(eds.dev_config(data, overrides).net)
            net.load_state_dict(torch.load(path))
        else:
            t0 = time.perf_counter()
            net = eds.train_variant(task, data, overrides, {"name": f"s{seed}", "seed": seed})
            torch.save(net.state_dict(), path)
            print(f"trained {tag} seed {seed} in {time.perf_counter() - t0:.0f} s", flush=True)
        nets.append(net.eval())
    return nets


def close_mouth(photo: np.ndarray, lower_share: float) -> np.ndarray:
    """The photo's inner lips brought into contact (outer lips moving with them); the lower lip takes
    ``lower_share`` of each pair's gap."""
    from toolkit.tracking.landmarks68 import INNER_LIP_PAIRS, OUTER_LIP_PAIRS

    lm = np.array(photo, np.float32, copy=True)
    for (up, low), (oup, olow) in zip(INNER_LIP_PAIRS, OUTER_LIP_PAIRS):
        gap = lm[low, 1] - lm[up, 1]
        if gap > 0:
            lm[[up, oup], 1] += (1 - lower_share) * gap
            lm[[low, olow], 1] -= lower_share * gap
    return lm


def scores(pred: np.ndarray, gt: np.ndarray, photo: np.ndarray) -> dict[str, float]:
    from toolkit.learners.evaluation import mouth_lmd
    from toolkit.metrics.lipsync import reenactment_scores

    s = reenactment_scores(pred, gt)
    return {
        "MOC": s["MOC"],
        "Amp": s["AmpRatio"],
        "Closure": s["Closure"],
        "ClosureGT": s["Closure-GT"],
        "ClErr": s["Closure-Err"],
        "LMD": mouth_lmd(pred, gt),
        "still": mouth_lmd(np.repeat(photo[None], len(gt), 0), gt),
    }


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    m = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
    m["ClErr_median"] = float(np.nanmedian([r["ClErr"] for r in rows]))
    m["LMD_vs_still"] = m["LMD"] / m["still"] - 1
    return m


def check_gain(
    nets: list,
    clips: list,
    ensembles: tuple[int, ...] = (3,),
    modes: tuple[str, ...] = ("neutral", "mean"),
    gains: tuple[float, ...] = GAINS,
    smooth: tuple[float | None, ...] = (None,),
    opening_gains: tuple[float, ...] = (),
    pause_gate: bool = True,
) -> dict[str, dict[str, float]]:
    from toolkit.constants import SAMPLES_PER_FRAME
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner, reference_identity, uncross_lips
    from toolkit.learners.tasks import _opening_direction, reference_frame

    out = {}
    tau, n = eds.TAU, eds.SCORED
    candidates = [("s0", nets[0])] + [(f"ens{k}", ExpressionEnsemble(nets[:k]).eval()) for k in ensembles]
    for name, net in candidates:
        learner = ExpressionLearner(net)
        for mode in modes:
            for member in nets:  # an ensemble checks that its members' configs agree
                member.config.inference_identity = mode
            for sigma in smooth:
                cases = []
                for c in clips:
                    refs = c.frontal68[:tau]
                    ref_audio = c.audio[: tau * SAMPLES_PER_FRAME]
                    raw = learner.predict(
                        c.audio,
                        refs,
                        ref_audio,
                        normalise=False,
                        lip_contact=False,
                        smooth_frames=sigma,
                        pause_gate=pause_gate,
                    )[tau : tau + n]
                    ident, _ = reference_identity(refs, learner.identity_mode)
                    gt, still = c.frontal68[tau : tau + n], c.frontal68[reference_frame(c.motion, tau)]
                    cases.append((raw, ident, gt, still))
                for gain in gains:
                    rows = [scores(uncross_lips(i[None] + gain * (r - i[None])), gt, p) for r, i, gt, p in cases]
                    key = f"{name} {mode} x{gain}" + ("" if sigma is None else f" smooth{sigma}")
                    out[key] = summary(rows)
                    print(key, json.dumps({k: round(v, 4) for k, v in out[key].items()}), flush=True)
                # a gain on the lip-opening direction only (the landmark pattern of the coefficient direction
                # that changes the inner-lip gap; the PCA rows are orthonormal, so this is a projection)
                comps = nets[0].pca_components.numpy()
                v = (_opening_direction(comps) @ comps).reshape(-1, 3)
                v /= np.linalg.norm(v)
                for og in opening_gains:
                    rows = []
                    for r, i, gt, p in cases:
                        d = r - i[None]
                        d = d + (og - 1) * np.einsum("tjc,jc->t", d, v)[:, None, None] * v[None]
                        rows.append(scores(uncross_lips(i[None] + d), gt, p))
                    key = f"{name} {mode} opening x{og}" + ("" if sigma is None else f" smooth{sigma}")
                    out[key] = summary(rows)
                    print(key, json.dumps({k: round(v, 4) for k, v in out[key].items()}), flush=True)
    for member in nets:
        member.config.inference_identity = ""
    return out


def check_photo(nets: list, clips: list) -> dict[str, dict[str, float]]:
    from toolkit.learners.expression import ExpressionEnsemble, ExpressionLearner, uncross_lips
    from toolkit.learners.tasks import reference_frame

    tau, n = eds.TAU, eds.SCORED
    variants: dict[str, list[dict[str, float]]] = {}
    for name, net in (("s0", nets[0]), ("ens3", ExpressionEnsemble(nets).eval())):
        learner = ExpressionLearner(net)
        for c in clips:
            gt, photo = c.frontal68[tau : tau + n], c.frontal68[reference_frame(c.motion, tau)]
            raw = learner.predict(c.audio, photo, normalise=False, lip_contact=False)[tau : tau + n]
            for gain in PHOTO_GAINS:
                pred = uncross_lips(photo[None] + gain * (raw - photo[None]))
                variants.setdefault(f"{name} photo x{gain}", []).append(scores(pred, gt, photo))
            if name != "s0":
                continue
            given = {f"closed{share}": close_mouth(photo, share) for share in (0.5, 0.8)}
            given.update({f"as_{k}_neutral_frames": np.repeat(photo[None], k, 0) for k in (8, 64)})
            for key, ident in given.items():
                pred = learner.predict(c.audio, ident, normalise=False)[tau : tau + n]
                variants.setdefault(f"s0 photo {key}", []).append(scores(pred, gt, photo))
    out = {k: summary(v) for k, v in variants.items()}
    for k, m in out.items():
        print(k, json.dumps({a: round(b, 4) for a, b in m.items()}))
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from toolkit.learners.split import DEFAULT_VAL_GROUPS, split_group
    from toolkit.learners.tasks import ExpressionTask

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/runs_i16/all2", help="folder written by `toolkit preprocess`")
    ap.add_argument("--work", required=True, help="folder for the dev networks (dev_s{seed}.pt)")
    ap.add_argument("--out", required=True, help="JSON of every check's dev means")
    ap.add_argument("--check", default="gain,photo")
    ap.add_argument("--seeds", default="0,1,2", help="training seeds of the dev networks")
    ap.add_argument("--ensembles", default="3", help="ensemble sizes (first n seeds) the gain check scores")
    ap.add_argument("--set", action="append", default=[], help="recipe override (KEY=VALUE) of every network")
    ap.add_argument("--tag", default="dev", help="cache name of the networks: WORK/{tag}_s{seed}.pt")
    ap.add_argument("--modes", default="neutral,mean", help="reference identities the gain check scores")
    ap.add_argument("--gains", default=",".join(map(str, GAINS)))
    ap.add_argument("--no-pause-gate", action="store_true", help="gain check without the Silero VAD pause gate")
    ap.add_argument("--opening-gains", default="", help="gains on the lip-opening direction only")
    ap.add_argument("--smooth", default="", help="inference smoothing sigmas (frames); '' = the checkpoint's")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    task = ExpressionTask(eds.dev_config(args.data, args.set), work, 0, 1, logging.getLogger("dev"))
    dev = {split_group(g) for g in eds.DEV_GROUPS}
    clips = [c for c in task.val_clips if split_group(c.speaker) in dev and c.n_frames > eds.TAU + 25]
    assert not any(split_group(c.speaker) in DEFAULT_VAL_GROUPS for c in clips)
    seeds = tuple(int(x) for x in args.seeds.split(","))
    nets = dev_networks(task, args.data, work, seeds, args.set, args.tag)
    result = {}
    for check in args.check.split(","):
        if check == "gain":
            result[check] = check_gain(
                nets,
                clips,
                tuple(int(x) for x in args.ensembles.split(",")),
                tuple(args.modes.split(",")),
                tuple(float(x) for x in args.gains.split(",")),
                tuple(float(x) for x in args.smooth.split(",")) if args.smooth else (None,),
                tuple(float(x) for x in args.opening_gains.split(",")) if args.opening_gains else (),
                not args.no_pause_gate,
            )
        else:
            result[check] = check_photo(nets, clips)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
