"""The rater page in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Served study (the benchmarking suite's built-in baselines and the ground truth
on real shared clips): open the page, play the video (its clock advances), score, submit,
reload and resume where the rater was; the answers are in the database. Static
package: the same page from file://, answers kept in the browser and downloaded
as a JSON file that `aggregate` reads.

Skips (with the reason) only where chromium is absent and $CI is unset; in CI a
missing browser is a failure: `scripts/ci/install_browser.sh` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.survey.build import StudyConfig, build_study
from eval.survey.study import load_study
from tests.survey_support import make_methods, needs_shared_clips, rater_tokens, served

pytestmark = [pytest.mark.browser, needs_shared_clips]

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = _chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = None
    if exe is None:
        missing = "Debian chromium is not installed"
    elif sync_playwright is None:
        missing = "playwright is not installed"
    if missing:
        message = f"{missing}: run `bash scripts/ci/install_browser.sh` (and `make setup`)"
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {message}")
        pytest.skip(message)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def methods(tmp_path_factory) -> list[tuple[str, Path]]:
    return make_methods(tmp_path_factory.mktemp("methods"))


def until(page, expression: str, timeout: float = 15.0) -> float:
    """Poll a JS expression (page.wait_for_function would need 'unsafe-eval', which the page's CSP forbids)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if page.evaluate(expression):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for: {expression}")


def answer_current_item(page, realism: int, sync: int, comment: str = "") -> None:
    assert page.is_disabled("#submit")  # nothing chosen, nothing watched yet
    start = page.evaluate("document.getElementById('video-0').currentTime")
    page.click("#play")
    until(page, f"document.getElementById('video-0').currentTime > {start} + 0.3")  # it really plays
    page.check(f"#realism-{realism}")
    page.check(f"#sync-{sync}")
    if comment:
        page.fill("#comment", comment)
    until(page, "!document.getElementById('submit').disabled")  # enabled once the video played to its end
    page.click("#submit")


def test_rate_submit_reload_resume_in_chromium(browser, tmp_path: Path) -> None:
    """A study of the benchmarking suite's built-in baselines (static, reference-loop) and the ground truth."""
    pytest.importorskip("eval.benchmark")
    from tests.survey_support import make_benchmark

    bench = make_benchmark(tmp_path / "bench.json")
    study = tmp_path / "s"
    config = StudyConfig(n_raters=2, seed=4, include_ground_truth=True)
    build_study([("static", None), ("reference-loop", None)], study, config, benchmark=bench)
    tokens = rater_tokens(study)
    plan = load_study(study).plans["r01"]
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    with served(study) as server:
        context = browser.new_context()
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.base}/r/{tokens['r01']}")
        page.wait_for_selector("#video-0")
        assert page.inner_text("#progress-text") == "0 of 8 answered"
        assert page.inner_text("#item h2") == "Video 1 of 8"
        answer_current_item(page, 7, 3, hostile)
        until(page, "document.getElementById('progress-text').textContent === '1 of 8 answered'")
        answer_current_item(page, 2, 9)
        until(page, "document.getElementById('progress-text').textContent === '2 of 8 answered'")
        page.reload()
        page.wait_for_selector("#video-0")
        assert page.inner_text("#progress-text") == "2 of 8 answered"  # resumed, not restarted
        assert page.inner_text("#item h2") == "Video 3 of 8"
        assert page.evaluate("document.getElementById('progress').value") == 2
        answer_current_item(page, 10, 0)
        until(page, "document.getElementById('progress-text').textContent === '3 of 8 answered'")
        assert page.evaluate("window.__pwned === undefined")  # the comment never became markup
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert problems == []  # no script error, no CSP violation
        context.close()
    db = sqlite3.connect(study / "private" / "answers.sqlite")
    rows = dict(db.execute("SELECT item_id, answer_json FROM answers WHERE rater_id='r01'").fetchall())
    db.close()
    expected = [(7, 3, hostile), (2, 9, ""), (10, 0, "")]
    assert len(rows) == 3
    for item, (realism, sync, comment) in zip(plan.items[:3], expected):
        stored = json.loads(rows[item.item_id])
        assert stored["values"] == {"realism": realism, "sync": sync}
        assert stored["comment"] == comment
        assert stored["elapsed_ms"] > 1500  # the rater watched a 2 s video before answering


def test_static_package_keeps_and_downloads_answers(browser, methods, tmp_path: Path) -> None:
    from eval.survey.aggregate import collect_answers
    from eval.survey.export import export_static

    study = tmp_path / "s"
    build_study(methods, study, StudyConfig(n_raters=2, seed=5))
    export_static(study, tmp_path / "pkg")
    token = rater_tokens(study)["r02"]
    plan = load_study(study).plans["r02"]
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto((tmp_path / "pkg" / "r" / f"{token}.html").as_uri())
    page.wait_for_selector("#video-0")
    answer_current_item(page, 6, 6)
    until(page, "document.getElementById('progress-text').textContent === '1 of 8 answered'")
    page.reload()  # kept in the browser: resumes at item 2
    page.wait_for_selector("#video-0")
    assert page.inner_text("#item h2") == "Video 2 of 8"
    answer_current_item(page, 1, 4)
    until(page, "document.getElementById('progress-text').textContent === '2 of 8 answered'")
    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / "answers.json"
    info.value.save_as(saved)
    context.close()
    answers, problems = collect_answers(load_study(study), [saved])
    assert problems == []
    got = {a.item_id: a.values for a in answers}
    assert got == {plan.items[0].item_id: {"realism": 6, "sync": 6}, plan.items[1].item_id: {"realism": 1, "sync": 4}}
