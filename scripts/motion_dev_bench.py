"""Choose Φ's amplitude settings on a rendered dev benchmark of held-out *training* people (issue 17, session 12).

    # a checkpoints folder (links to checkpoints/*) whose motion/ is the dev Φ with the shipped inference config
    PYTHONPATH=$PWD .venv/bin/python scripts/motion_dev_bench.py checkpoint --data RECORDS --motion DEV_RUN/model \
        --out CKDIR [--scale 1.0] [--drift-gain 2.0] [--reference-scale 1.0] [--warmup 32]
    TOOLKIT_CHECKPOINTS=CKDIR toolkit evaluate --benchmark eval/benchmarks/dev_motion_k8.json --method pipeline ...
    # the rows and the choice rule (eval/benchmarks/results/motion_dev_bench_s12/RULE.md)
    PYTHONPATH=$PWD .venv/bin/python scripts/motion_dev_bench.py table --video A=RESULTS_DIR ... \
        --photo S,G=K8_RESULTS_DIR,K1_RESULTS_DIR ... [--json OUT]
    # per clip: the reference's rotation spread (records' tracks), the real continuation's and the rendered one's
    PYTHONPATH=$PWD .venv/bin/python scripts/motion_dev_bench.py clips --data RECORDS --benchmark B --results DIR

The dev benchmarks (``eval/benchmarks/dev_motion_k8.json`` / ``dev_motion_k1.json``) hold clips of the dev people
(``scripts/expression_dev_split.py`` ``DEV_GROUPS``); the dev Φ was trained with them held out. The checkpoint step
is ``scripts/motion_add_prior_amplitude.py`` (median amplitude x ``--scale``, ``--drift-gain``, calibrate_min_frames
2) followed by the inference-only keys ``net.warmup_frames`` and ``net.reference_amplitude_scale``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIN_SPREAD = 0.85
BAND = (0.80, 1.20)
HF_FACTOR = 1.5
KEYS = ("F-LMD", "LMD", "Rot. diversity / GT", "Velocity / GT", "Accel. / GT", "HF share (>3 Hz)", "Beat align")
KEYS_MORE = ("GT HF share (>3 Hz)", "GT beat align", "Jaw change / GT", "BG jump rate", "GT BG jump rate")


def row_of(results_dir: str | Path) -> dict[str, float]:
    """The one method's aggregate of a ``toolkit evaluate`` output folder."""
    data = json.loads((Path(results_dir) / "results.json").read_text())
    (method,) = data["methods"].values()
    agg = method["aggregate"]
    return {k: round(float(agg[k]), 4) for k in (*KEYS, *KEYS_MORE)}


def in_band(row: dict[str, float]) -> bool:
    """Velocity and acceleration ratios in BAND and the HF share at most HF_FACTOR x the ground truth's."""
    return all(BAND[0] <= row[k] <= BAND[1] for k in ("Velocity / GT", "Accel. / GT")) and (
        row["HF share (>3 Hz)"] <= HF_FACTOR * row["GT HF share (>3 Hz)"]
    )


def choose_video(rows: dict[float, dict]) -> float:
    """The smallest reference amplitude scale whose row has spread >= MIN_SPREAD and is in band; else 1.0."""
    ok = [a for a, r in rows.items() if r["Rot. diversity / GT"] >= MIN_SPREAD and in_band(r)]
    return min(ok) if ok else 1.0


def choose_photo(rows: dict[tuple[float, float], tuple[dict, dict]], default: tuple[float, float]) -> tuple:
    """The first (scale, gain) in the given order whose two photo rows both have spread >= MIN_SPREAD and are in
    band; else ``default``."""
    for setting, pair in rows.items():
        if all(r["Rot. diversity / GT"] >= MIN_SPREAD and in_band(r) for r in pair):
            return setting
    return default


def make_checkpoint(args: argparse.Namespace) -> int:
    from scripts.motion_add_prior_amplitude import main as add_prior
    from toolkit.paths import checkpoints_dir

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    for src in sorted(checkpoints_dir().iterdir()):
        if src.is_dir() and src.name != "motion":
            (out / src.name).symlink_to(src.resolve())
    motion = out / "motion"
    add_prior([
        "--data", args.data, "--motion", args.motion, "--out", str(motion), "--statistic", "median",
        "--scale", str(args.scale), "--drift-gain", str(args.drift_gain), "--calibrate-min-frames", "2",
    ])  # fmt: skip
    config = json.loads((motion / "config.json").read_text())
    config["net"] = {**config["net"], "warmup_frames": args.warmup, "reference_amplitude_scale": args.reference_scale}
    (motion / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"{out}: motion = {args.motion} + prior x{args.scale:g}, gain {args.drift_gain:g}, warm-up {args.warmup}, "
          f"reference amplitude x{args.reference_scale:g}")  # fmt: skip
    return 0


def table(args: argparse.Namespace) -> int:
    video = {float(a): row_of(d) for a, d in (v.split("=", 1) for v in args.video)}
    photo = {}
    for p in args.photo:
        setting, dirs = p.split("=", 1)
        scale, gain = (float(x) for x in setting.split(","))
        k8, k1 = dirs.split(",")
        photo[(scale, gain)] = (row_of(k8), row_of(k1))
    head = ["F-LMD", "LMD", "Rot. diversity / GT", "Velocity / GT", "Accel. / GT", "HF share (>3 Hz)", "Beat align",
            "Jaw change / GT", "BG jump rate"]  # fmt: skip
    lines = ["| row | setting | " + " | ".join(head) + " | in band |", "| --- | --- |" + " ---: |" * (len(head) + 1)]
    for a, r in video.items():
        lines.append(f"| video K = 8 | A = {a:g} | " + " | ".join(f"{r[k]:.3f}" for k in head) + f" | {in_band(r)} |")
    for (s, g), pair in photo.items():
        for name, r in zip(("photo (K = 8 frame)", "photo K = 1"), pair, strict=True):
            lines.append(f"| {name} | S = {s:g}, G = {g:g} | " + " | ".join(f"{r[k]:.3f}" for k in head)
                         + f" | {in_band(r)} |")  # fmt: skip
    any_row = next(iter(video.values()), None) or next(iter(photo.values()))[0]
    lines.append("| ground truth | | | | 1 | 1 | 1 | " + f"{any_row['GT HF share (>3 Hz)']:.3f} | "
                 f"{any_row['GT beat align']:.3f} | 1 | {any_row['GT BG jump rate']:.3f} | |")  # fmt: skip
    choice = {
        "video_reference_amplitude_scale": choose_video(video) if video else None,
        "photo_scale_gain": list(choose_photo(photo, (1.0, 2.0))) if photo else None,
    }
    print("\n".join(lines))
    print("choice:", json.dumps(choice))
    if args.json:
        out = {
            "video": {f"{a:g}": r for a, r in video.items()},
            "photo": {f"{s:g},{g:g}": {"k8": p[0], "k1": p[1]} for (s, g), p in photo.items()},
            "rule": {"min_spread": MIN_SPREAD, "band": BAND, "hf_factor": HF_FACTOR},
            "choice": choice,
        }
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


def clips(args: argparse.Namespace) -> int:
    """Rotation spread (std over frames of each axis-angle component, degrees, mean of 3) per clip: the first tau
    frames of the records' track (the reference), and the benchmark's ground truth and generated video as tracked
    by ``toolkit evaluate``; then the log-log slope of generated on reference spread."""
    import numpy as np

    from toolkit.data.records import load_clip

    data = Path(args.data)
    manifest = json.loads((data / "manifest.json").read_text())["clips"]
    by_sha = {}
    for entry in manifest:
        meta = json.loads((data / "clips" / entry["clip_id"] / "meta.json").read_text())
        by_sha[meta["source_sha256"]] = entry["clip_id"]
    bench = json.loads(Path(args.benchmark).read_text())
    tau = int(bench["protocol"]["tau"])
    (method,) = json.loads((Path(args.results) / "results.json").read_text())["methods"].values()
    per_clip = {c["clip_id"]: c["metrics"] for c in method["per_clip"]}
    print("| clip | reference (deg) | ground truth (deg) | generated (deg) | generated / GT |")
    print("| --- | ---: | ---: | ---: | ---: |")
    pairs = []
    for clip in bench["clips"]:
        rec = load_clip(data, by_sha[clip["video_sha256"]])
        ref = float(np.degrees(np.asarray(rec.head_motion)[:tau, :3]).std(0).mean())
        m = per_clip[clip["clip_id"]]
        gt, gen = m["GT rot. diversity (deg)"], m["Rot. diversity (deg)"]
        pairs.append((ref, gen))
        print(f"| {clip['clip_id']} | {ref:.2f} | {gt:.2f} | {gen:.2f} | {gen / gt:.2f} |")
    a = np.log(np.array(pairs))
    print(f"mean reference {np.exp(a[:, 0]).mean():.2f}, generated {np.exp(a[:, 1]).mean():.2f}; "
          f"log-log slope of generated on reference {np.polyfit(a[:, 0], a[:, 1], 1)[0]:.2f}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ck = sub.add_parser("checkpoint", help="a checkpoints folder whose motion/ is the dev Φ with a setting")
    ck.add_argument("--data", required=True, help="the records the dev Φ was trained on")
    ck.add_argument("--motion", required=True, help="the dev Φ (trained with the dev people held out)")
    ck.add_argument("--out", required=True)
    ck.add_argument("--scale", type=float, default=1.0, help="photo prior: median amplitude x this")
    ck.add_argument("--drift-gain", type=float, default=2.0, help="photo prior: net.prior_drift_gain")
    ck.add_argument("--reference-scale", type=float, default=1.0, help="net.reference_amplitude_scale (video)")
    ck.add_argument("--warmup", type=int, default=32, help="net.warmup_frames (the shipped 32)")
    ck.set_defaults(func=make_checkpoint)
    tb = sub.add_parser("table", help="rows and the choice rule")
    tb.add_argument("--video", nargs="*", default=[], help="A=RESULTS_DIR (pipeline on dev_motion_k8)")
    tb.add_argument("--photo", nargs="*", default=[], help="S,G=K8_RESULTS_DIR,K1_RESULTS_DIR (photo rows)")
    tb.add_argument("--json")
    tb.set_defaults(func=table)
    cl = sub.add_parser("clips", help="per-clip rotation spread: reference, ground truth, generated")
    cl.add_argument("--data", required=True, help="records holding the benchmark's clips (`toolkit preprocess`)")
    cl.add_argument("--benchmark", required=True)
    cl.add_argument("--results", required=True, help="a `toolkit evaluate` output folder on that benchmark")
    cl.set_defaults(func=clips)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
