"""Files and messages that hold under hostile input (issue 22).

Spreadsheet formula injection through every CSV the toolkit writes from user
text, JSON bombs and lone surrogates on the answers endpoint, a network-facing
server without a Host allow-list, output paths that are folders, temporary
files of killed or signalled runs, and the wording of input-file errors.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import pipeline_media as media
from tests.survey_support import make_methods, needs_shared_clips, rater_tokens, served
from toolkit.errors import InputFileError, ToolkitError
from toolkit.paths import PROJECT_ROOT

#: cells a spreadsheet runs as formulas (or, for tab/CR, that some strip to reach one)
HOSTILE_CELLS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
                 "\t=1+1", "\r=1+1"]  # fmt: skip


def _assert_no_formula_cells(text: str) -> None:
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or _is_number(cell), (cell, row)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- 2. CSV formula injection
def test_spreadsheet_safe_cell_rule() -> None:
    from toolkit.io.csvsafe import spreadsheet_safe

    for cell in HOSTILE_CELLS:
        safe = spreadsheet_safe(cell)
        assert safe.startswith("'") and safe[1:] == cell
    for cell in ("plain text", "-0.5", "+3", "-1e-3", "12", "", "a=b", "r01"):
        assert spreadsheet_safe(cell) == cell  # numbers stay numbers, ordinary text is untouched
    assert spreadsheet_safe(-2.5) == -2.5 and spreadsheet_safe(None) is None


@needs_shared_clips
def test_aggregate_csv_files_cannot_start_a_formula(tmp_path: Path) -> None:
    from eval.survey.aggregate import ANSWER_FILE_FORMAT, aggregate_study
    from eval.survey.build import StudyConfig, build_study
    from eval.survey.study import load_study

    methods = make_methods(tmp_path / "methods", seconds=1.0)[:2]
    study = tmp_path / "s"
    build_study(methods, study, StudyConfig(n_raters=1, seed=2))
    s = load_study(study)
    ((rater_id, token),) = rater_tokens(study).items()
    plan = s.plans[rater_id]
    key = s.load_key()
    answers = [{"item_id": it.item_id, "values": {"realism": 5, "sync": 0 if key[it.videos[0]].variant == "offset"
                                                  else 5},
                "comment": HOSTILE_CELLS[i % len(HOSTILE_CELLS)]} for i, it in enumerate(plan.items)]  # fmt: skip
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"format": ANSWER_FILE_FORMAT, "version": 1, "study_id": s.info.study_id,
                                "token": token, "answers": answers}))  # fmt: skip
    aggregate_study(study, tmp_path / "agg", [path])
    comments = (tmp_path / "agg" / "comments.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(comments)))
    assert len(rows) == len(plan.items)
    _assert_no_formula_cells(comments)
    # the text is all there, behind the quote
    assert {r["comment"].lstrip("'") for r in rows} == {c.strip() for c in HOSTILE_CELLS}
    for name in ("scores.csv", "raters.csv"):
        _assert_no_formula_cells((tmp_path / "agg" / name).read_text())


def test_batch_report_and_results_csv_cannot_start_a_formula(tmp_path: Path) -> None:
    from eval.runner import results_csv
    from toolkit.pipeline.batch import BatchJob, BatchOutcome, write_report

    job = BatchJob("=cmd", Path("=ref.mp4"), Path("+a.wav"), Path("@out.mp4"), {}, 2)
    write_report([BatchOutcome(job, "failed", "bad-file", "-bad message")], tmp_path / "r.csv")
    _assert_no_formula_cells((tmp_path / "r.csv").read_text())
    results = {"methods": {"=evil": {"aggregate": {"lse_d": -1.5}, "clips_ok": 0, "clips_failed": 1,
                                     "per_clip": [{"clip_id": "@clip", "status": "failed", "reason": "=x",
                                                   "metrics": {"lse_d": -1.5}}]}}}  # fmt: skip
    text = results_csv(results)
    _assert_no_formula_cells(text)
    assert ",-1.5," in text  # a negative number is still a number


# ---------------------------------------------------------------------------- 3 and 5. the study server
@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> Path:
    from eval.survey.build import StudyConfig, build_study

    methods = make_methods(tmp_path_factory.mktemp("methods"), seconds=1.0)[:1]
    out = tmp_path_factory.mktemp("study") / "s"
    build_study(methods, out, StudyConfig(n_raters=2, seed=4))
    return out


@needs_shared_clips
def test_deep_json_and_lone_surrogates_are_refused_with_4xx(small_study: Path) -> None:
    from eval.survey.study import load_study

    rater_id, token = next(iter(rater_tokens(small_study).items()))
    item = load_study(small_study).plans[rater_id].items[0].item_id
    js = {"Content-Type": "application/json"}
    deep = b"[" * 5000 + b"]" * 5000  # 10 KB: under the size cap
    deep_obj = b'{"item_id": "' + item.encode() + b'", "values": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}"
    surrogate = b'{"item_id": "' + item.encode() + b'", "values": {"realism": 5, "sync": 5}, "comment": "ok \\ud800"}'
    with served(small_study) as server:
        for body in (deep, deep_obj, surrogate):
            status, _, resp = server.request("POST", f"/api/{token}/answers", body, js)
            assert 400 <= status < 500, (body[:40], status, resp)
            assert json.loads(resp)["error"], resp
        assert server.request("GET", "/healthz")[0] == 200
        assert server.state(token)["answered"] == 0  # nothing stored


@needs_shared_clips
def test_answer_files_with_deep_json_or_surrogates_are_refused(small_study: Path, tmp_path: Path) -> None:
    from eval.survey.aggregate import read_answer_file
    from eval.survey.study import load_study

    s = load_study(small_study)
    bad = tmp_path / "deep.json"
    bad.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(InputFileError, match="nested"):
        read_answer_file(bad, s)
    rater_id, token = next(iter(rater_tokens(small_study).items()))
    item = s.plans[rater_id].items[0].item_id
    bad.write_text(json.dumps({"format": "toolkit-survey-answers", "version": 1, "study_id": s.info.study_id,
                               "token": token, "answers": [{"item_id": item, "values": {"realism": 5, "sync": 5},
                                                            "comment": "x\ud800"}]}))  # fmt: skip
    _, answers, problems = read_answer_file(bad, s)
    assert answers == [] and "surrogate" in problems[0]


@needs_shared_clips
def test_serving_on_a_network_interface_needs_allowed_host(small_study: Path) -> None:
    cmd = [sys.executable, "-m", "toolkit", "survey", "serve", str(small_study), "--port", "0"]
    for host in ("0.0.0.0", "::"):
        proc = subprocess.run([*cmd, "--host", host], capture_output=True, text=True, timeout=20, cwd=PROJECT_ROOT)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "--allowed-host" in proc.stderr and "Traceback" not in proc.stderr
    from eval.survey.server import serve_study

    with pytest.raises(ToolkitError, match="allowed-host"):
        serve_study(small_study, "192.0.2.1", 0)


# ---------------------------------------------------------------------------- 6. output paths
@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory) -> dict[str, Path]:
    return media.face_and_speech(tmp_path_factory.mktemp("inputs"), 1.2)


def test_bad_output_paths_are_refused_before_any_work(small_inputs, tmp_path: Path) -> None:
    from toolkit.pipeline import TalkingHeadPipeline
    from toolkit.pipeline.config import GenerationConfig

    (tmp_path / "existing").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = {
        str(tmp_path / "existing"): "is a folder",
        str(tmp_path / "new") + "/": "ends with a slash",
        str(tmp_path / "afile" / "out.mp4"): "is a file, not a folder",
        str(small_inputs["speech"]): "is the audio",
        str(small_inputs["face"]): "is the reference",
    }
    pipeline = TalkingHeadPipeline(GenerationConfig(motion="still", k=1))
    for out, words in cases.items():
        events: list = []
        with pytest.raises(ToolkitError, match=words):
            pipeline.generate(small_inputs["face"], small_inputs["speech"], out, progress=events.append)
        assert events == [], (out, "work started before the output path was checked")
    assert (tmp_path / "afile").read_text() == "x" and not (tmp_path / "new").exists()
    # the command line: a message, exit status 2, no traceback
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "generate", "-r", str(small_inputs["face"]), "-a",
         str(small_inputs["speech"]), "-o", str(tmp_path / "existing")],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert proc.returncode == 2 and "is a folder" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------- 7. temporary files
def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _generate_cmd(small_inputs, out: Path) -> list[str]:
    return [sys.executable, "-m", "toolkit", "generate", "-r", str(small_inputs["face"]), "-a",
            str(small_inputs["speech"]), "-o", str(out), "--motion", "still", "--k", "1",
            "--renderer", "3d-warp"]  # fmt: skip


def _start_and_wait_for_temp(cmd: list[str], folder: Path) -> subprocess.Popen:
    before = _temp_files(folder)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 120
    while _temp_files(folder) == before:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.05)
    return proc


#: a process that writes a video through the toolkit's writer, slowly, as generate's render stage does
WRITER_SCRIPT = """
import contextlib, signal, sys, time
import numpy as np
signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal, even if the tests run under nohup
signal.signal(signal.SIGINT, signal.default_int_handler)  # and in the foreground: a background job ignores Ctrl-C
from toolkit.io.media import VideoWriter
try:  # what `toolkit generate` installs
    from toolkit.io.atomic import interrupt_on_termination
except ImportError:  # before issue 22: nothing
    interrupt_on_termination = contextlib.nullcontext

with interrupt_on_termination(), VideoWriter(sys.argv[1], audio=np.zeros(16000, np.float32)) as w:
    for i in range(100000):
        w.write(np.full((64, 64, 3), i % 255, np.uint8))
        time.sleep(0.02)
"""


def test_signalled_generate_removes_its_temporary_files(small_inputs, tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    proc = _start_and_wait_for_temp(_generate_cmd(small_inputs, out), tmp_path)
    proc.send_signal(signal.SIGTERM)  # what `kill`, systemd and container runtimes send
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err.decode(), err.decode()
    assert _temp_files(tmp_path) == [] and not out.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signalled_writer_removes_its_temporary_files(tmp_path: Path, sig) -> None:
    out = tmp_path / "result.mp4"
    proc = _start_and_wait_for_temp([sys.executable, "-c", WRITER_SCRIPT, str(out)], tmp_path)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and _temp_files(tmp_path) == [] and not out.exists()


def test_ignored_signals_stay_ignored() -> None:
    from toolkit.io.atomic import interrupt_on_termination

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with interrupt_on_termination():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_killed_writer_leaves_temp_files_that_the_next_generate_removes(small_inputs, tmp_path: Path) -> None:
    from toolkit.pipeline import TalkingHeadPipeline

    out = tmp_path / "result.mp4"
    user_files = [".result.mp4.notes", ".result.mp4.abcdefgh.mp4", ".hidden", "result.mp4.backup",
                  ".result.mp4.part-1-abcdefgh"]  # fmt: skip
    for name in user_files:  # files the user made: none is a temporary file of the toolkit's
        (tmp_path / name).write_text("mine")
    proc = _start_and_wait_for_temp([sys.executable, "-c", WRITER_SCRIPT, str(out)], tmp_path)
    time.sleep(0.3)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait(timeout=30)
    stale = sorted(set(_temp_files(tmp_path)) - set(user_files))
    assert len(stale) == 2, stale  # the output and its silent video
    # a run in progress (this process) writing the same output: named as make_temp_file names them
    live = tmp_path / f".result.mp4.part-{os.getpid()}-abcd1234.mp4"
    live.write_text("in progress")
    # the next run removes them before any work, even one that then fails (too-short audio)
    short = media.write_wav(tmp_path / "short.wav", media.speech(0.2))
    with pytest.raises(ToolkitError, match="at least"):
        TalkingHeadPipeline().generate(small_inputs["face"], short, out)
    assert sorted(_temp_files(tmp_path)) == sorted([n for n in user_files if n.startswith(".")] + [live.name])
    assert all((tmp_path / n).read_text() == "mine" for n in user_files)


# ---------------------------------------------------------------------------- 9. wording
def test_input_file_messages_say_what_the_file_is(tmp_path: Path) -> None:
    from toolkit.pipeline.inputs import check_file

    fifo = tmp_path / "ref.mp4"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        with pytest.raises(InputFileError) as info:
            check_file(path, "reference")
        assert "not a regular file" in str(info.value) and "folder" not in str(info.value), str(info.value)
    with pytest.raises(InputFileError) as info:
        check_file(tmp_path, "audio")
    assert "an audio file" in str(info.value) and "a audio" not in str(info.value)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InputFileError, match=r"symbolic link.*loop"):
        check_file(tmp_path / "a", "audio")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere.wav")
    with pytest.raises(InputFileError, match=r"link to .*nowhere\.wav.*does not exist"):
        check_file(tmp_path / "dangling", "audio")


def test_an_interrupt_waits_for_the_end_of_a_deferred_section() -> None:
    from toolkit.io.atomic import interrupt_on_termination, interrupts_deferred

    steps = []
    with interrupt_on_termination(), pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler has run by now: the section goes on
            steps.append("section finished")
        steps.append("after the section")  # not reached: the interrupt comes when the section ends
    assert steps == ["section finished"]
