"""`survey aggregate` and `survey export`: known ground truth recovered, checks applied, static answers accepted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from eval.survey.aggregate import AggregateConfig, aggregate_study, binomial_two_sided_p, bootstrap_group_means
from eval.survey.answers import validate_answer
from eval.survey.build import StudyConfig, build_study
from eval.survey.export import export_static
from eval.survey.simulate import SimulationConfig, simulate_answers
from eval.survey.store import AnswerStore
from eval.survey.study import load_study
from tests.survey_support import make_methods, needs_shared_clips, rater_tokens
from toolkit.errors import InputFileError

TRUTH = {
    "genuine": {"realism": 8.5, "sync": 8.0},
    "frozen": {"realism": 3.0, "sync": 1.5},
    "blurred": {"realism": 2.0, "sync": 5.0},
}


def test_bootstrap_intervals_cover_the_true_means() -> None:
    """Crossed raters x clips with rater and clip effects: 95 % intervals cover the truth ~95 % of the time."""
    rng = np.random.default_rng(0)
    true_means = np.array([7.0, 5.0, 3.5])
    n_raters, n_clips, n_studies = 20, 12, 150
    covered = np.zeros(3)
    errors = []
    widths = []
    for s in range(n_studies):
        rater_bias = rng.normal(0, 1.0, n_raters)
        clip_eff = rng.normal(0, 0.6, n_clips)
        r, c, g = np.meshgrid(np.arange(n_raters), np.arange(n_clips), np.arange(3), indexing="ij")
        r, c, g = r.ravel(), c.ravel(), g.ravel()
        y = np.clip(np.round(true_means[g] + rater_bias[r] + clip_eff[c] + rng.normal(0, 1.5, r.size)), 0, 10)
        mean, lo, hi = bootstrap_group_means(y, r, c, g, 3, n_boot=300, seed=s)
        covered += (lo <= true_means) & (true_means <= hi)
        errors.append(mean - true_means)
        widths.append(hi - lo)
    coverage = covered / n_studies
    bias = np.mean(errors, axis=0)
    print(f"\ncoverage {coverage.round(3)}, bias {bias.round(3)}, mean width {np.mean(widths):.2f} points")
    assert np.all(coverage >= 0.88) and np.all(coverage <= 1.0)
    assert np.all(np.abs(bias) < 0.15)
    assert np.mean(widths) < 2.5  # informative, not just wide
    # resampling answers one by one (ignoring raters and clips) would be far too narrow: check ours is wider
    _one_way, lo1, hi1 = bootstrap_group_means(y, np.arange(y.size), np.zeros(y.size, int), g, 3, n_boot=300)
    assert np.mean(hi - lo) > 1.5 * np.mean(hi1 - lo1)


def test_binomial_test_matches_known_values() -> None:
    assert binomial_two_sided_p(10, 20) == pytest.approx(1.0)
    assert binomial_two_sided_p(15, 20) == pytest.approx(0.041389, abs=1e-6)
    assert binomial_two_sided_p(0, 10) == pytest.approx(2 / 1024)
    assert binomial_two_sided_p(0, 0) == 1.0


@pytest.fixture(scope="module")
def methods(tmp_path_factory) -> list[tuple[str, Path]]:
    if needs_shared_clips.args[0]:
        pytest.skip(needs_shared_clips.kwargs["reason"])
    return make_methods(tmp_path_factory.mktemp("methods"))


def _store_simulated(study: Path, answers: dict[str, list[dict]]) -> int:
    s = load_study(study)
    store = AnswerStore(s.db_path, s.info.study_id)
    n = 0
    for rater, lst in answers.items():
        for a in lst:
            store.submit(rater, validate_answer(a, s.info, s.plans[rater]))
            n += 1
    store.close()
    return n


def test_rating_study_recovers_the_ground_truth_and_drops_inattentive_raters(methods, tmp_path: Path) -> None:
    study = tmp_path / "s"
    build_study(methods, study, StudyConfig(n_raters=20, seed=7))
    straightliners = {"r04", "r13"}
    answers = simulate_answers(load_study(study), TRUTH, SimulationConfig(seed=1, noise_sd=1.0), straightliners)
    assert _store_simulated(study, answers) == 20 * 8
    result = aggregate_study(study, tmp_path / "agg", config=AggregateConfig(n_boot=1000))
    assert set(result.dropped) == straightliners
    assert all("offset" in why for why in result.dropped.values())
    assert len(result.kept) == 18
    overall = {(r["method"], r["criterion"]): r for r in result.rows if r["dataset"] == "all"}
    assert len(overall) == 6
    for (m, c), row in overall.items():
        truth01 = TRUTH[m][c] / 10
        assert row["ci_low"] <= truth01 <= row["ci_high"], (m, c, row)
        assert abs(row["normalised"] - truth01) < 0.06
        assert row["n_answers"] == 18 * 2 and row["n_raters"] == 18
    # the outputs: CSV, Markdown, PNG, raters, summary
    with open(tmp_path / "agg" / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == set(TRUTH) and "ci_low" in rows[0]
    md = (tmp_path / "agg" / "report.md").read_text()
    assert "| genuine |" in md and "Dropped raters" in md and "r04" in md
    png = (tmp_path / "agg" / "scores.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    with open(tmp_path / "agg" / "raters.csv", newline="") as f:
        raters = {r["rater_id"]: r for r in csv.DictReader(f)}
    assert raters["r04"]["kept"] == "no" and raters["r01"]["repeat"] == "pass" and raters["r01"]["offset"] == "pass"
    summary = json.loads((tmp_path / "agg" / "summary.json").read_text())
    assert summary["ci"]["method"].startswith("percentile bootstrap")


def test_ab_study_recovers_the_ranking_with_binomial_tests(methods, tmp_path: Path) -> None:
    study = tmp_path / "s"
    build_study(methods, study, StudyConfig(n_raters=20, seed=8, design="ab"))
    answers = simulate_answers(load_study(study), TRUTH, SimulationConfig(seed=2, ab_temperature=1.0), {"r02"})
    _store_simulated(study, answers)
    result = aggregate_study(study, tmp_path / "agg", config=AggregateConfig(n_boot=500))
    assert "r02" in result.dropped and "repeat" in result.dropped["r02"]  # always "A": the swapped repeat catches it
    assert len(result.kept) == 19
    win = {(r["method"], r["criterion"]): r["win_rate"] for r in result.rows if r["dataset"] == "all"}
    assert win[("genuine", "realism")] > win[("frozen", "realism")] > win[("blurred", "realism")]
    assert win[("genuine", "sync")] > win[("blurred", "sync")] > win[("frozen", "sync")]
    pairs = {(p["method_a"], p["method_b"], p["criterion"]): p for p in result.pairs}
    big = pairs[("genuine", "blurred", "realism")]  # 6.5 points apart: nearly always genuine
    assert big["wins_a"] > 0.9 * big["n"] and big["p_value"] < 1e-6
    close = pairs[("frozen", "blurred", "realism")]  # 1 point apart: p(frozen wins) = 0.73
    assert 0.5 < close["win_rate_a"] < 0.95
    assert (tmp_path / "agg" / "ab_pairs.csv").is_file()


def test_static_package_round_trip_and_tampered_files_refused(methods, tmp_path: Path) -> None:
    study = tmp_path / "s"
    build_study(methods, study, StudyConfig(n_raters=4, seed=9))
    pkg = tmp_path / "pkg"
    summary = export_static(study, pkg)
    assert summary.n_raters == 4
    tokens = rater_tokens(study)
    s = load_study(study)
    # what is in the package: pages, assets, the raters' videos; no key, no plans, no method or clip names
    files = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file())
    assert "index.html" in files and "assets/app.js" in files
    assert {f"r/{t}.html" for t in tokens.values()} <= set(files)
    media = {f.split("/")[1] for f in files if f.startswith("media/") and f.endswith(".mp4")}
    assert media == set().union(*[p.media_names for p in s.plans.values()])
    for f in files:
        if f.endswith((".html", ".js", ".css")):
            text = (pkg / f).read_text()
            for name in (*TRUTH, "clipA", "clipB", "key.json", '"role"', "offset"):
                assert name not in text, (f, name)
    assert not any("key" in f or "plans" in f or f.endswith(".sqlite") for f in files)
    # answer files as the page downloads them (format of app.js download()), two raters
    key = s.load_key()
    made = []
    for rater in ("r01", "r02"):
        plan = s.plans[rater]
        entries = []
        for it in plan.items:
            m = key[it.videos[0]].method
            entries.append({"item_id": it.item_id, "values": {"realism": round(TRUTH[m]["realism"]),
                            "sync": 0 if key[it.videos[0]].variant == "offset" else round(TRUTH[m]["sync"])},
                            "comment": "", "elapsed_ms": 3000})  # fmt: skip
        entries.append({"item_id": plan.items[0].item_id, "values": {"realism": 99, "sync": 1}})  # refused
        path = tmp_path / f"answers-{rater}.json"
        path.write_text(json.dumps({"format": "toolkit-survey-answers", "version": 1, "study_id": s.info.study_id,
                                    "token": tokens[rater], "answers": entries}))  # fmt: skip
        made.append(path)
    result = aggregate_study(study, tmp_path / "agg", made, AggregateConfig(n_boot=200))
    assert result.kept == ["r01", "r02"] and len(result.problems) == 2
    overall = {(r["method"], r["criterion"]): r for r in result.rows if r["dataset"] == "all"}
    assert overall[("genuine", "realism")]["mean"] == pytest.approx(8.0)  # round(8.5) = 8 (banker's rounding)
    assert overall[("frozen", "sync")]["n_answers"] == 4
    # tampered or foreign files are refused with a reason
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "toolkit-survey-answers", "version": 1, "study_id": "0" * 16,
                               "token": tokens["r01"], "answers": []}))  # fmt: skip
    with pytest.raises(InputFileError, match="answers study"):
        aggregate_study(study, tmp_path / "agg2", [bad])
    bad.write_text(json.dumps({"format": "toolkit-survey-answers", "version": 1, "study_id": s.info.study_id,
                               "token": "A" * 24, "answers": []}))  # fmt: skip
    with pytest.raises(InputFileError, match="not one of this study's raters"):
        aggregate_study(study, tmp_path / "agg3", [bad])
    with pytest.raises(InputFileError, match="not empty"):
        export_static(study, pkg)


def test_aggregate_cli_reports_no_answers_clearly(methods, tmp_path: Path) -> None:
    from toolkit.cli import main

    build_study(methods[:1], tmp_path / "s", StudyConfig(n_raters=1, seed=0))
    assert main(["survey", "aggregate", str(tmp_path / "s"), "--out", str(tmp_path / "agg")]) == 2
    assert main(["survey", "aggregate", str(tmp_path / "missing"), "--out", str(tmp_path / "agg")]) == 2
