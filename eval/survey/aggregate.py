"""`toolkit survey aggregate`: answers + key -> per-method scores with confidence intervals.

Rating design (paper Fig. 11): the mean score of each method per criterion,
over raters and videos, normalised to 1 as ``(mean - scale_min) / (scale_max -
scale_min)`` (on the paper's 0-10 scale: mean / 10). A/B design: win rates of
each method and, per pair of methods, the wins with a two-sided exact binomial
test against 50 %.

Confidence intervals: 95 % percentile bootstrap that resamples raters *and*
clips (with replacement, independently). Scores of one rater are correlated
(a lenient rater scores everything high) and so are scores of one clip, so
resampling single answers would give intervals that are far too narrow; the
two-way resampling is slightly conservative for crossed designs.

Attention checks (built into every rater's sequence by `survey build`):

* repeat: the same item again under other names. Rating: passes when no
  criterion moved by more than ``repeat_tolerance`` points. A/B (sides
  swapped): passes when at least half of the criteria pick the same method.
* audio offset: a video whose sound is delayed by ``offset_seconds``. Rating:
  passes when its sync score is below the score of the same video without the
  offset (or at the bottom of the scale). A/B (shown beside the same video
  without the offset): passes when the video without the offset wins on sync.

A rater is dropped when a check failed, or when no check was answered at all
(nothing vouches for their answers); who was dropped and why is reported.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.survey.answers import AnswerError, parse_json, validate_answer
from eval.survey.study import ROLE_MAIN, ROLE_OFFSET, ROLE_REPEAT, Study, VideoKey, load_study
from toolkit.errors import InputFileError
from toolkit.io.atomic import write_json_atomic, write_text_atomic
from toolkit.io.csvsafe import safe_dict
from toolkit.viz.figure import save_figure

ANSWER_FILE_FORMAT = "toolkit-survey-answers"
ALL = "all"  # the dataset label of the overall rows


@dataclass
class AggregateConfig:
    n_boot: int = 2000
    ci: float = 0.95
    seed: int = 0
    repeat_tolerance: int | None = None  # None: the value recorded at build time (default 3)


@dataclass(frozen=True)
class CollectedAnswer:
    rater_id: str
    item_id: str
    values: dict[str, Any]
    comment: str
    source: str  # "database" or the answer file's name
    updated_at: float = 0.0


@dataclass
class AggregateResult:
    out_dir: Path
    design: str
    n_raters: int
    kept: list[str]
    dropped: dict[str, str]
    rows: list[dict[str, Any]]  # rating: scores; ab: win rates
    pairs: list[dict[str, Any]] = field(default_factory=list)  # ab only
    problems: list[str] = field(default_factory=list)  # answers from files that were refused
    files: list[Path] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"{len(self.kept)} of {self.n_raters} raters kept"
            + (
                f"; dropped: {', '.join(f'{r} ({why})' for r, why in sorted(self.dropped.items()))}"
                if self.dropped
                else ""
            )
        ]
        for r in self.rows:
            if r["dataset"] == ALL:
                lines.append(
                    f"  {r['criterion']:8s} {r['method']:24s} {r['normalised']:.3f} "
                    f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]  n={r['n_answers']}"
                )
        if self.problems:
            lines.append(f"{len(self.problems)} answers from files refused (see summary.json)")
        lines.append(f"written to {self.out_dir}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- statistics


def bootstrap_group_means(
    values: np.ndarray,
    rater_idx: np.ndarray,
    clip_idx: np.ndarray,
    group_idx: np.ndarray,
    n_groups: int,
    *,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group means with percentile bootstrap intervals, resampling raters and clips.

    Returns (mean, low, high), each (n_groups,); NaN for a group without data.
    One replicate draws raters and clips with replacement; an answer's weight is
    (times its rater was drawn) x (times its clip was drawn).
    """
    values = np.asarray(values, dtype=np.float64)
    rater_idx = np.asarray(rater_idx)
    clip_idx = np.asarray(clip_idx)
    group_idx = np.asarray(group_idx)
    onehot = np.zeros((values.size, n_groups))
    onehot[np.arange(values.size), group_idx] = 1.0
    count = onehot.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (values @ onehot) / count
    if values.size == 0:
        nan = np.full(n_groups, np.nan)
        return nan, nan.copy(), nan.copy()
    rng = np.random.default_rng(seed)
    n_r = int(rater_idx.max()) + 1
    n_c = int(clip_idx.max()) + 1
    # an answer's weight factorises (rater draws x clip draws), so per replicate only the per-(rater, clip,
    # group) sums and counts are needed: cost n_raters x n_clips x n_groups, whatever the number of answers
    sums = np.zeros((n_r, n_c, n_groups))
    counts = np.zeros((n_r, n_c, n_groups))
    np.add.at(sums, (rater_idx, clip_idx, group_idx), values)
    np.add.at(counts, (rater_idx, clip_idx, group_idx), 1.0)
    reps = []
    for start in range(0, n_boot, 512):
        b = min(512, n_boot - start)
        w_r = rng.multinomial(n_r, np.full(n_r, 1.0 / n_r), size=b).astype(np.float64)
        w_c = rng.multinomial(n_c, np.full(n_c, 1.0 / n_c), size=b).astype(np.float64)
        num = np.einsum("bc,bcg->bg", w_c, (w_r @ sums.reshape(n_r, -1)).reshape(b, n_c, n_groups))
        den = np.einsum("bc,bcg->bg", w_c, (w_r @ counts.reshape(n_r, -1)).reshape(b, n_c, n_groups))
        with np.errstate(invalid="ignore", divide="ignore"):
            reps.append(num / den)
    boot = np.concatenate(reps)
    alpha = (1.0 - ci) / 2.0
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanquantile(boot, alpha, axis=0)
            high = np.nanquantile(boot, 1.0 - alpha, axis=0)
    return mean, low, high


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided binomial test of k successes in n trials against p = 0.5."""
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(k, n, 0.5, alternative="two-sided").pvalue)


# ---------------------------------------------------------------------------- collecting answers


def read_answer_file(path: Path, study: Study) -> tuple[str, list[CollectedAnswer], list[str]]:
    """An answer file downloaded from a static package -> (rater id, valid answers, refused answers)."""
    path = Path(path)
    try:
        data = parse_json(path.read_bytes(), f"answer file {path}")
    except OSError as exc:
        raise InputFileError(f"answer file {path} cannot be read ({exc}).", "Check the path.") from exc
    except AnswerError as exc:
        raise InputFileError(exc.problem, "Ask the rater to download it again.") from None
    if not isinstance(data, dict) or data.get("format") != ANSWER_FILE_FORMAT or data.get("version") != 1:
        raise InputFileError(f"{path} is not a survey answer file.", "Pass the file the rater page downloaded.")
    if data.get("study_id") != study.info.study_id:
        raise InputFileError(
            f"{path} answers study {data.get('study_id')!r}, not {study.info.study_id}.",
            "Aggregate it with the study it belongs to.",
        )
    plan = study.plan_for_token(str(data.get("token", "")))
    if plan is None:
        raise InputFileError(f"{path}: its rater token is not one of this study's raters.", "Check the file's origin.")
    answers, problems = [], []
    entries = data.get("answers")
    if not isinstance(entries, list):
        raise InputFileError(f"{path} has no 'answers' list.", "Ask the rater to download it again.")
    for i, entry in enumerate(entries):
        try:
            a = validate_answer(entry, study.info, plan)
        except AnswerError as exc:
            problems.append(f"{path.name} answer {i}: {exc}")
            continue
        answers.append(CollectedAnswer(plan.rater_id, a.item_id, a.values, a.comment, path.name))
    return plan.rater_id, answers, problems


def collect_answers(study: Study, answer_files: Sequence[Path] = ()) -> tuple[list[CollectedAnswer], list[str]]:
    """Answers from the study database and from answer files; one per (rater, item), files win ties."""
    from eval.survey.store import AnswerStore

    by_key: dict[tuple[str, str], CollectedAnswer] = {}
    if study.db_path.exists():
        store = AnswerStore(study.db_path, study.info.study_id)
        try:
            for row in store.all_answers():
                if row.rater_id in study.plans:
                    by_key[(row.rater_id, row.item_id)] = CollectedAnswer(
                        row.rater_id,
                        row.item_id,
                        row.answer["values"],
                        row.answer.get("comment", ""),
                        "database",
                        row.updated_at,
                    )
        finally:
            store.close()
    problems: list[str] = []
    for f in answer_files:
        _, answers, refused = read_answer_file(Path(f), study)
        problems += refused
        for a in answers:
            by_key[(a.rater_id, a.item_id)] = a
    return list(by_key.values()), problems


# ---------------------------------------------------------------------------- attention checks


def _chosen_method(values: dict[str, Any], criterion: str, videos: Sequence[str], key: dict[str, VideoKey]) -> str:
    side = 0 if values[criterion] == "A" else 1
    return key[videos[side]].method


def check_raters(
    study: Study, answers: Sequence[CollectedAnswer], key: dict[str, VideoKey], repeat_tolerance: int
) -> dict[str, dict[str, str]]:
    """Per rater: {"repeat": pass|fail|unanswered, "offset": ..., "kept": "yes"|"no", "reason": ...}."""
    info = study.info
    given: dict[str, dict[str, CollectedAnswer]] = defaultdict(dict)
    for a in answers:
        given[a.rater_id][a.item_id] = a
    out: dict[str, dict[str, str]] = {}
    for rater_id, plan in study.plans.items():
        mine = given.get(rater_id, {})
        status = {"repeat": "unanswered", "offset": "unanswered"}
        for item in plan.items:
            if item.role == ROLE_REPEAT and item.item_id in mine and item.of in mine:
                rep, orig = mine[item.item_id].values, mine[item.of].values
                if info.design == "rating":
                    ok = all(abs(int(rep[c]) - int(orig[c])) <= repeat_tolerance for c in info.criteria)
                else:
                    orig_videos = plan.items_by_id[item.of].videos
                    agree = sum(
                        _chosen_method(rep, c, item.videos, key) == _chosen_method(orig, c, orig_videos, key)
                        for c in info.criteria
                    )
                    ok = 2 * agree >= len(info.criteria)
                status["repeat"] = "pass" if ok else "fail"
            if item.role == ROLE_OFFSET and item.item_id in mine:
                vals = mine[item.item_id].values
                if info.design == "rating":
                    if item.of in mine:
                        anchor = int(mine[item.of].values["sync"])
                        ok = int(vals["sync"]) < anchor or int(vals["sync"]) == info.scale_min
                        status["offset"] = "pass" if ok else "fail"
                else:
                    side = 0 if vals["sync"] == "A" else 1
                    status["offset"] = "fail" if key[item.videos[side]].variant == "offset" else "pass"
        if "fail" in status.values():
            failed = [k for k, v in status.items() if v == "fail"]
            kept, reason = "no", "failed the " + " and ".join(f"{k} check" for k in failed)
        elif not mine:
            kept, reason = "no", "no answers"
        elif all(v == "unanswered" for v in status.values()):
            kept, reason = "no", "answered no attention check"
        else:
            kept, reason = "yes", ""
        out[rater_id] = {**status, "answered": str(len(mine)), "total": str(len(plan.items)), "kept": kept,
                         "reason": reason}  # fmt: skip
    return out


# ---------------------------------------------------------------------------- aggregation


def aggregate_study(
    study_dir: str | Path,
    out_dir: str | Path,
    answer_files: Sequence[Path] = (),
    config: AggregateConfig | None = None,
) -> AggregateResult:
    config = config or AggregateConfig()
    study = load_study(study_dir)
    out_dir = Path(out_dir)
    key = study.load_key()
    answers, problems = collect_answers(study, answer_files)
    if not answers:
        raise InputFileError(
            f"no answers for study {study.info.study_id} (database {study.db_path} is empty or absent, "
            "and no answer files were given).",
            "Serve the study (`toolkit survey serve`) or pass answer files of a static package with --answers.",
        )
    tolerance = config.repeat_tolerance
    if tolerance is None:
        tolerance = int(study.build.get("repeat_tolerance", 3))
    raters = check_raters(study, answers, key, tolerance)
    kept = sorted(r for r, s in raters.items() if s["kept"] == "yes")
    dropped = {r: s["reason"] for r, s in raters.items() if s["kept"] == "no" and s["reason"] != "no answers"}
    method_order = list(study.build.get("method_order") or sorted({k.method for k in key.values()}))
    kept_set = set(kept)
    main = [
        a
        for a in answers
        if a.rater_id in kept_set and study.plans[a.rater_id].items_by_id[a.item_id].role == ROLE_MAIN
    ]
    if not main:
        raise InputFileError(
            f"no answers left after the attention checks ({len(dropped)} raters dropped).",
            "See the raters' check results; collect more answers.",
        )
    info = study.info
    pairs: list[dict[str, Any]] = []
    if info.design == "rating":
        rows = _rating_rows(study, main, key, method_order, config)
    else:
        rows, pairs = _ab_rows(study, main, key, method_order, config)

    out_dir.mkdir(parents=True, exist_ok=True)
    files = _write_outputs(study, out_dir, rows, pairs, raters, answers, key, method_order, problems, config)
    return AggregateResult(
        out_dir=out_dir, design=info.design, n_raters=sum(1 for s in raters.values() if s["answered"] != "0"),
        kept=kept, dropped=dropped, rows=rows, pairs=pairs, problems=problems, files=files,
    )  # fmt: skip


def _indexer(values: Sequence[str]) -> tuple[dict[str, int], np.ndarray]:
    index: dict[str, int] = {}
    return index, np.array([index.setdefault(v, len(index)) for v in values], dtype=np.int64)


def _rows_for(
    records: list[tuple[str, str, str, str, str, float]],
    method_order: list[str],
    criteria: Sequence[str],
    config: AggregateConfig,
    to_unit: Any,
) -> list[dict[str, Any]]:
    """records: (rater, clip, dataset, method, criterion, value) -> overall and per-dataset rows."""
    rows: list[dict[str, Any]] = []
    datasets = sorted({r[2] for r in records})
    scopes = [ALL] + (datasets if len(datasets) > 1 else [])
    for scope in scopes:
        for crit in criteria:
            sel = [r for r in records if r[4] == crit and (scope == ALL or r[2] == scope)]
            if not sel:
                continue
            _, r_idx = _indexer([r[0] for r in sel])
            _, c_idx = _indexer([r[1] for r in sel])
            g_idx = np.array([method_order.index(r[3]) for r in sel])
            vals = np.array([r[5] for r in sel], dtype=np.float64)
            mean, lo, hi = bootstrap_group_means(
                vals, r_idx, c_idx, g_idx, len(method_order), n_boot=config.n_boot, ci=config.ci, seed=config.seed
            )
            for g, method in enumerate(method_order):
                mask = g_idx == g
                if not mask.any():
                    continue
                rows.append(
                    {
                        "dataset": scope,
                        "criterion": crit,
                        "method": method,
                        "n_answers": int(mask.sum()),
                        "n_raters": len({sel[i][0] for i in np.flatnonzero(mask)}),
                        "n_clips": len({sel[i][1] for i in np.flatnonzero(mask)}),
                        "mean": float(mean[g]),
                        "normalised": float(to_unit(mean[g])),
                        "ci_low": float(to_unit(lo[g])),
                        "ci_high": float(to_unit(hi[g])),
                    }
                )
    return rows


def _rating_rows(study: Study, main: list[CollectedAnswer], key: dict[str, VideoKey], method_order, config):
    info = study.info
    records = []
    for a in main:
        item = study.plans[a.rater_id].items_by_id[a.item_id]
        k = key[item.videos[0]]
        for crit in info.criteria:
            records.append((a.rater_id, k.clip_id, k.dataset, k.method, crit, float(a.values[crit])))
    span = info.scale_max - info.scale_min
    return _rows_for(records, method_order, info.criteria, config, lambda m: (m - info.scale_min) / span)


def _ab_rows(study: Study, main: list[CollectedAnswer], key: dict[str, VideoKey], method_order, config):
    info = study.info
    records = []  # per answer and criterion, one row per method of the pair: 1 = it won
    tallies: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for a in main:
        item = study.plans[a.rater_id].items_by_id[a.item_id]
        ka, kb = key[item.videos[0]], key[item.videos[1]]
        for crit in info.criteria:
            a_won = a.values[crit] == "A"
            records.append((a.rater_id, ka.clip_id, ka.dataset, ka.method, crit, float(a_won)))
            records.append((a.rater_id, kb.clip_id, kb.dataset, kb.method, crit, float(not a_won)))
            first, second = sorted((ka.method, kb.method), key=method_order.index)
            winner = ka.method if a_won else kb.method
            for scope in {ALL, ka.dataset}:
                t = tallies[(scope, crit, first, second)]
                t[0 if winner == first else 1] += 1
    rows = _rows_for(records, method_order, info.criteria, config, lambda m: m)
    for r in rows:
        r["win_rate"] = r["mean"]
    multi = len({k[0] for k in tallies}) > 2
    pairs = []
    for (scope, crit, first, second), (wins_first, wins_second) in sorted(tallies.items()):
        if scope != ALL and not multi:
            continue
        n = wins_first + wins_second
        pairs.append(
            {
                "dataset": scope, "criterion": crit, "method_a": first, "method_b": second,
                "wins_a": wins_first, "wins_b": wins_second, "n": n,
                "win_rate_a": wins_first / n if n else math.nan, "p_value": binomial_two_sided_p(wins_first, n),
            }
        )  # fmt: skip
    return rows, pairs


# ---------------------------------------------------------------------------- outputs


def _csv_text(header: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow(safe_dict({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()}))
    return buf.getvalue()


def _markdown(study: Study, rows, pairs, raters, method_order, config: AggregateConfig) -> str:
    info = study.info
    kept = [r for r, s in raters.items() if s["kept"] == "yes"]
    answered = [r for r, s in raters.items() if s["answered"] != "0"]
    pct = round(config.ci * 100)
    what = "mean score normalised to 1" if info.design == "rating" else "win rate"
    lines = [
        f"# User study {info.study_id}: {info.title}",
        "",
        f"Design: {info.design}"
        + (f", scale {info.scale_min}-{info.scale_max}" if info.design == "rating" else "")
        + f". Raters: {len(kept)} kept of {len(answered)} who answered (attention checks: repeated item, "
        f"audio offset by {study.build.get('offset_seconds', 1.0)} s). Values: {what}, [{pct} % bootstrap CI "
        "over raters and clips].",
        "",
    ]
    datasets = [ALL, *sorted({r["dataset"] for r in rows} - {ALL})]
    for scope in datasets:
        sub = [r for r in rows if r["dataset"] == scope]
        if not sub:
            continue
        if scope != ALL:
            lines += [f"## Dataset {scope}", ""]
        header = "| method | " + " | ".join(f"{c} | {pct} % CI" for c in info.criteria) + " | answers |"
        lines += [header, "|" + " --- |" * (2 + 2 * len(info.criteria))]
        for m in method_order:
            cells = []
            n = 0
            for c in info.criteria:
                r = next((x for x in sub if x["method"] == m and x["criterion"] == c), None)
                if r is None:
                    cells += ["-", "-"]
                else:
                    cells += [f"{r['normalised']:.3f}", f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"]
                    n = r["n_answers"]
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {n} |")
        lines.append("")
    if pairs:
        lines += ["## Pairwise (A/B)", "",
                  "| criterion | method A | method B | A wins | B wins | A win rate | p (binomial) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for p in pairs:
            if p["dataset"] == ALL:
                lines.append(
                    f"| {p['criterion']} | {p['method_a']} | {p['method_b']} | {p['wins_a']} | {p['wins_b']} | "
                    f"{p['win_rate_a']:.3f} | {p['p_value']:.4g} |"
                )
        lines.append("")
    dropped = {r: s for r, s in raters.items() if s["kept"] == "no" and s["answered"] != "0"}
    if dropped:
        lines += ["## Dropped raters", ""]
        lines += [
            f"- {r}: {s['reason']} (repeat: {s['repeat']}, offset: {s['offset']})" for r, s in sorted(dropped.items())
        ]
        lines.append("")
    return "\n".join(lines)


def _bar_chart(study: Study, rows, method_order, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info = study.info
    overall = [r for r in rows if r["dataset"] == ALL]
    methods = [m for m in method_order if any(r["method"] == m for r in overall)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(info.criteria) * max(len(methods), 1) * 0.45, 3.6), dpi=150)
    width = 0.8 / max(len(methods), 1)
    for j, m in enumerate(methods):
        xs: list[float] = []
        hs: list[float] = []
        errs: list[list[float]] = [[], []]
        for i, c in enumerate(info.criteria):
            r = next((x for x in overall if x["method"] == m and x["criterion"] == c), None)
            if r is None:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            hs.append(r["normalised"])
            errs[0].append(max(r["normalised"] - r["ci_low"], 0))
            errs[1].append(max(r["ci_high"] - r["normalised"], 0))
        ax.bar(xs, hs, width, yerr=errs, capsize=3, label=m)
    ax.set_xticks(range(len(info.criteria)))
    ax.set_xticklabels([c.capitalize() for c in info.criteria])
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (normalised to 1)" if info.design == "rating" else "win rate")
    ax.set_title("User study" + (" (Fig. 11 style)" if info.design == "rating" else " (A/B)"), fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    save_figure(fig, path, dpi=None)


def _write_outputs(study, out_dir, rows, pairs, raters, answers, key, method_order, problems, config) -> list[Path]:
    info = study.info
    files = []
    score_cols = ["dataset", "criterion", "method", "n_answers", "n_raters", "n_clips", "mean", "normalised",
                  "ci_low", "ci_high"]  # fmt: skip
    name = "scores.csv" if info.design == "rating" else "win_rates.csv"
    write_text_atomic(out_dir / name, _csv_text(score_cols, rows))
    files.append(out_dir / name)
    if pairs:
        cols = ["dataset", "criterion", "method_a", "method_b", "wins_a", "wins_b", "n", "win_rate_a", "p_value"]
        write_text_atomic(out_dir / "ab_pairs.csv", _csv_text(cols, pairs))
        files.append(out_dir / "ab_pairs.csv")
    rater_rows = [{"rater_id": r, **s} for r, s in sorted(raters.items())]
    cols = ["rater_id", "answered", "total", "repeat", "offset", "kept", "reason"]
    write_text_atomic(out_dir / "raters.csv", _csv_text(cols, rater_rows))
    files.append(out_dir / "raters.csv")
    comments = []
    for a in answers:
        if a.comment:
            item = study.plans[a.rater_id].items_by_id[a.item_id]
            comments.append(
                {"rater_id": a.rater_id, "role": item.role,
                 "methods": "/".join(key[v].method for v in item.videos),
                 "clip_id": key[item.videos[0]].clip_id, "comment": a.comment}
            )  # fmt: skip
    write_text_atomic(
        out_dir / "comments.csv", _csv_text(["rater_id", "role", "methods", "clip_id", "comment"], comments)
    )
    files.append(out_dir / "comments.csv")
    write_text_atomic(out_dir / "report.md", _markdown(study, rows, pairs, raters, method_order, config))
    files.append(out_dir / "report.md")
    _bar_chart(study, rows, method_order, out_dir / "scores.png")
    files.append(out_dir / "scores.png")
    summary = {
        "study_id": info.study_id,
        "design": info.design,
        "scale": [info.scale_min, info.scale_max] if info.design == "rating" else None,
        "normalisation": "(mean - scale_min) / (scale_max - scale_min)" if info.design == "rating" else "win rate",
        "ci": {"level": config.ci, "method": "percentile bootstrap over raters and clips", "n_boot": config.n_boot,
               "seed": config.seed},
        "raters": raters,
        "rows": rows,
        "pairs": pairs,
        "refused_answers": problems,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip
    write_json_atomic(out_dir / "summary.json", summary)
    files.append(out_dir / "summary.json")
    return files


__all__ = [
    "AggregateConfig",
    "AggregateResult",
    "aggregate_study",
    "binomial_two_sided_p",
    "bootstrap_group_means",
    "check_raters",
    "collect_answers",
    "read_answer_file",
]
