"""Leaderboards: one or several ``results.json`` merged into a table and bar charts.

``toolkit leaderboard DIR... --out OUT`` reads each ``DIR/results.json``,
merges their methods into one table laid out like the paper's Tables 1-2
(method rows; LMD, CSIM, SSIM, FID first, then PSNR, M-LMD, F-LMD and the
head-motion columns, with arrows for the better direction) and draws one bar
chart (PNG) per metric. Metric names carry their labels (e.g. a substitute
CSIM model), and the variant of every column is listed under the table.
Results of different benchmarks or different metric variants are not merged
silently: the table says so.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.atomic import write_text_atomic
from toolkit.viz.figure import save_figure

#: columns first in this order (prefix match, so labelled names like "CSIM (substitute: ...)" fit)
COLUMN_ORDER = (
    "LMD",
    "CSIM",
    "SSIM",
    "FID",
    "PSNR",
    "M-LMD",
    "F-LMD",
    "Rot. diversity (deg)",
    "Rot. diversity / GT",
    "Trans. diversity (px)",
    "Trans. diversity / GT",
    "Beat align",
    "Velocity / GT",
    "Accel. / GT",
    "HF share (>3 Hz)",
    "Jaw change / GT",
    "BG jump rate",
    "LSE-D",
    "LSE-C",
    "MOC",
    "AmpRatio",
    "Closure",
    "Closure-Err",
    "Bilabial-Closed",
    "Vowel/Bilabial",
)
LOWER_IS_BETTER = ("LMD", "M-LMD", "F-LMD", "FID", "LSE-D", "Closure-Err", "BG jump rate")
#: ground-truth reference values, shown in their own row
GT_COLUMNS = {
    "GT rot. diversity (deg)": "Rot. diversity (deg)",
    "GT trans. diversity (px)": "Trans. diversity (px)",
    "GT beat align": "Beat align",
    "Closure-GT": "Closure",
    "GT bilabial-closed": "Bilabial-Closed",
    "GT vowel/bilabial": "Vowel/Bilabial",
    "GT HF share (>3 Hz)": "HF share (>3 Hz)",
    "GT BG jump rate": "BG jump rate",
}


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``results.json`` of a results folder (or the file itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise InputFileError(f"No results.json at {p}.", "Give folders written by `toolkit evaluate`.")
    try:
        return json.loads(p.read_text())
    except ValueError as exc:
        raise InputFileError(f"{p} is not valid JSON ({exc}).", "Rerun `toolkit evaluate`.") from exc


def _base(name: str) -> str:
    return name.split(" (")[0]


def _arrow(name: str) -> str:
    base = _base(name)
    if base in LOWER_IS_BETTER:
        return " ↓"
    if base in ("SSIM", "PSNR", "CSIM", "CSIM-dlib", "Beat align", "LSE-C", "MOC", "Vowel/Bilabial"):
        return " ↑"
    if "/ GT" in name:
        return " (→1)"
    return ""


def _columns(results: Sequence[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for res in results:
        for m in res["methods"].values():
            for key in m["aggregate"]:
                if key not in names and key not in GT_COLUMNS:
                    names.append(key)

    def order(name: str) -> tuple[int, str]:
        for i, prefix in enumerate(COLUMN_ORDER):
            if name == prefix or _base(name) == prefix:
                return i, name
        return len(COLUMN_ORDER), name

    return sorted(names, key=order)


def _fmt(value: Any, name: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    base = _base(name)
    if base == "FID":  # a random-init network gives tiny values: keep 3 significant digits
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if base in ("LMD", "PSNR", "LSE-D", "LSE-C"):
        return f"{value:.2f}"
    return f"{value:.3f}"


def merged_rows(results: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(row name, aggregate, method entry) for every method of every results file."""
    rows = []
    names = [name for res in results for name in res["methods"]]
    for res in results:
        for name, m in res["methods"].items():
            label = name if names.count(name) == 1 else f"{name} [{res['benchmark']['name']}, {res.get('created', '')}]"
            rows.append((label, m["aggregate"], m))
    return rows


def leaderboard_markdown(results: Sequence[dict[str, Any]]) -> str:
    """The leaderboard table (markdown) with the variant of every column under it."""
    if not results:
        raise ToolkitError("No results to put on a leaderboard.", "Give at least one results folder.")
    cols = _columns(results)
    benches = {(r["benchmark"]["name"], r["benchmark"]["sha256"]) for r in results}
    lines = []
    title = ", ".join(sorted(b[0] for b in benches))
    first = results[0]
    proto = first["benchmark"]["protocol"]
    lines.append(f"# Leaderboard: {title}")
    lines.append("")
    lines.append(
        f"{first['benchmark']['n_clips']} clips, self-reenactment: tau = {proto['tau']} reference frames "
        f"(K = {proto['k']} sampled, seed {proto['seed']}), driving audio -> the rest of each clip; "
        f"{proto['fps']} fps, {proto['sample_rate']} Hz; frames evaluated at "
        f"{first['config']['eval_size']}x{first['config']['eval_size']}."
    )
    if len(benches) > 1:
        lines.append("")
        lines.append("**Warning: these results come from different benchmarks; rows are not comparable.**")
    codecs = {r["config"].get("encode_description", "older results: built-in methods re-encoded") for r in results}
    lines.append("")
    lines.append("Codec: " + "; ".join(sorted(codecs)) + ("" if len(codecs) == 1 else " (**differs between rows**)"))
    lines.append("")
    header = ["Method", *[c + _arrow(c) for c in cols], "clips", "s / video s"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for label, agg, m in merged_rows(results):
        speed = m.get("seconds_per_video_second", {}) or {}
        timing = []
        if speed.get("generate") is not None:
            timing.append(f"gen {speed['generate']:.2f}")
        if speed.get("evaluate") is not None:
            timing.append(f"eval {speed['evaluate']:.2f}")
        clips = f"{m['clips_ok']}" + (f" ({m['clips_failed']} failed)" if m["clips_failed"] else "")
        cells = [label, *[_fmt(agg.get(c), c) for c in cols], clips, ", ".join(timing) or "–"]
        lines.append("| " + " | ".join(cells) + " |")
    # ground-truth reference row for the head-motion columns
    gt_agg: dict[str, Any] = {}
    for _, agg, _ in merged_rows(results):
        for gt_name, col in GT_COLUMNS.items():
            if gt_name in agg and col not in gt_agg:
                gt_agg[col] = agg[gt_name]
    if gt_agg:
        cells = ["*ground truth*", *[_fmt(gt_agg.get(c), c) if c in gt_agg else "" for c in cols], "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for res in results:
        for note in res.get("notes", []):
            lines.append(f"Note: {note}.")
            lines.append("")
    lines.append("Metric variants (every number above was made this way):")
    lines.append("")
    seen: dict[str, str] = {}
    for res in results:
        for name, text in res["metric_variants"].items():
            if name in seen and seen[name] != text:
                lines.append(f"- **{name}: variants differ between the merged results**: {text}")
            elif name not in seen:
                seen[name] = text
                lines.append(f"- **{name}**: {text}")
    lines.append("")
    models = first.get("metric_models", {})
    if models:
        lines.append("Metric models: " + "; ".join(_describe_model(k, v) for k, v in models.items()) + ".")
        lines.append("")
    for res in results:
        for name, m in res["methods"].items():
            for err in m.get("errors", []):
                lines.append(f"- {name} / {err['clip_id']}: **{err['error']}**: {err['reason']}")
    hw = first.get("hardware", {})
    lines.append("")
    lines.append(
        f"Hardware: {hw.get('cpu', '?')}, {hw.get('cores', '?')} cores, GPU: {hw.get('gpu') or 'none'}. "
        "s / video s = seconds of computation per second of generated video."
    )
    return "\n".join(lines) + "\n"


def _describe_model(key: str, value: dict[str, Any]) -> str:
    parts = [str(value[k]) for k in ("label", "file", "weights") if k in value]
    if "sha256" in value:
        parts.append(f"sha256 {str(value['sha256'])[:12]}")
    return f"{key}: {', '.join(parts)}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def bar_charts(results: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """One PNG bar chart per metric (methods side by side); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = merged_rows(results)
    written = []
    for col in _columns(results):
        labels = [label for label, _, _ in rows]
        values = [agg.get(col) for _, agg, _ in rows]
        values = [float("nan") if v is None else float(v) for v in values]
        if all(not math.isfinite(v) for v in values):
            continue
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2), 3.2))
        bars = ax.bar(range(len(labels)), [v if math.isfinite(v) else 0.0 for v in values], color="#4477aa")
        for bar, v in zip(bars, values):
            ax.annotate(
                _fmt(v, col),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        gt_name = next((g for g, c in GT_COLUMNS.items() if c == col), None)
        if gt_name:
            gt_vals = [agg.get(gt_name) for _, agg, _ in rows if agg.get(gt_name) is not None]
            if gt_vals:
                ax.axhline(float(gt_vals[0]), color="#cc6677", linestyle="--", label="ground truth")
                ax.legend(fontsize=8)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_title(col + _arrow(col), fontsize=9)
        fig.tight_layout()
        path = out / f"{_slug(col)}.png"
        written.append(save_figure(fig, path, dpi=110))
    return written


def make_leaderboard(
    result_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], charts: bool = True
) -> tuple[Path, list[Path]]:
    """Merge results folders into ``out_dir/leaderboard.md`` and bar charts; returns the paths."""
    results = [load_results(d) for d in result_dirs]
    out = Path(out_dir)
    md_path = out / "leaderboard.md"
    write_text_atomic(md_path, leaderboard_markdown(results))
    pngs = bar_charts(results, out) if charts else []
    return md_path, pngs
