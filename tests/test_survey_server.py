"""`survey serve` as a real server process: durability (SIGKILL), 20 concurrent raters, security."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from eval.survey.build import StudyConfig, build_study
from eval.survey.study import load_study
from tests.survey_support import make_methods, needs_shared_clips, rater_tokens, served

pytestmark = needs_shared_clips


@pytest.fixture(scope="module")
def methods(tmp_path_factory) -> list[tuple[str, Path]]:
    return make_methods(tmp_path_factory.mktemp("methods"))


@pytest.fixture(scope="module")
def study20(methods, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study20") / "s"
    build_study(methods, out, StudyConfig(n_raters=20, seed=3))
    return out


@pytest.fixture(scope="module")
def server20(study20: Path):
    with served(study20) as server:
        yield server


def _db_rows(study: Path) -> list[tuple]:
    db = sqlite3.connect(study / "private" / "answers.sqlite")
    try:
        return db.execute("SELECT rater_id, item_id, answer_json, revisions FROM answers").fetchall()
    finally:
        db.close()


def _answer(item_id: str, realism: int, sync: int, comment: str = "") -> dict:
    return {"item_id": item_id, "values": {"realism": realism, "sync": sync}, "comment": comment}


def test_acknowledged_answers_survive_sigkill(methods, tmp_path: Path) -> None:
    build_study(methods, tmp_path / "s", StudyConfig(n_raters=2, seed=1))
    study = tmp_path / "s"
    tokens = rater_tokens(study)
    sent = {}
    with served(study) as server:
        for rater, token in tokens.items():
            for i, item in enumerate(server.state(token)["items"]):
                status, body = server.post_answer(token, _answer(item["item_id"], i % 11, (3 * i) % 11))
                assert status == 200 and body["ok"], body
                sent[(rater, item["item_id"])] = (i % 11, (3 * i) % 11)
        # killed right after the last acknowledgement: no shutdown, no checkpoint
        server.kill9()
        assert server.proc.returncode == -9
    rows = _db_rows(study)
    assert len(rows) == len(sent) == 16
    for rater, item, js, _ in rows:
        values = json.loads(js)["values"]
        assert (values["realism"], values["sync"]) == sent[(rater, item)]
    # restarted, the server resumes every rater where they were
    with served(study) as server:
        for rater, token in tokens.items():
            state = server.state(token)
            assert state["answered"] == state["total"] == 8
            for item_id, a in state["answers"].items():
                assert (a["values"]["realism"], a["values"]["sync"]) == sent[(rater, item_id)]


def test_twenty_raters_at_once_lose_and_duplicate_nothing(server20, study20: Path) -> None:
    tokens = rater_tokens(study20)
    assert len(tokens) == 20
    barrier = threading.Barrier(20)
    acks: dict[str, int] = {}
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    lock = threading.Lock()

    def rater(rater_id: str, token: str) -> float:
        rng = random.Random(rater_id)
        status, _, _page = server20.request("GET", f"/r/{token}")
        assert status == 200
        items = server20.state(token)["items"]
        status, _, video = server20.request("GET", items[0]["videos"][0].replace("..", ""))
        assert status == 200 and video[4:8] == b"ftyp"
        barrier.wait(timeout=30)
        t0 = time.perf_counter()
        n_ok = 0
        for it in items:
            values = (rng.randint(0, 10), rng.randint(0, 10))
            tries = 2 if rng.random() < 0.3 else 1  # a retried submission (lost acknowledgement)
            for _ in range(tries):
                status, body = server20.post_answer(token, _answer(it["item_id"], *values))
                assert status == 200, body
                n_ok += 1
            if rng.random() < 0.15:  # a changed mind: the new answer replaces the old one
                values = (rng.randint(0, 10), rng.randint(0, 10))
                assert server20.post_answer(token, _answer(it["item_id"], *values))[0] == 200
                n_ok += 1
            with lock:
                expected[(rater_id, it["item_id"])] = values
        with lock:
            acks[rater_id] = n_ok
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        durations = list(pool.map(lambda kv: rater(*kv), tokens.items()))
    wall = time.perf_counter() - t0
    rows = _db_rows(study20)
    n_posts = sum(acks.values())
    print(
        f"\nload: 20 raters, {n_posts} acknowledged POSTs, {len(expected)} distinct answers, {len(rows)} rows, "
        f"{wall:.2f} s wall, slowest rater {max(durations):.2f} s, {n_posts / wall:.0f} answers/s"
    )
    assert len(expected) == 20 * 8
    assert len(rows) == len(expected)  # nothing lost, nothing duplicated
    assert len({(r[0], r[1]) for r in rows}) == len(rows)
    plans = load_study(study20).plans
    for rater_id, item_id, js, _ in rows:
        assert item_id in plans[rater_id].items_by_id  # each answer filed under its own rater
        values = json.loads(js)["values"]
        assert (values["realism"], values["sync"]) == expected[(rater_id, item_id)]
    assert n_posts > len(expected)  # retries and revisions really happened


def test_raters_see_only_their_own_items_and_nothing_else(server20, study20: Path) -> None:
    tokens = rater_tokens(study20)
    (a_id, a), (b_id, _b) = list(tokens.items())[:2]
    plans = load_study(study20).plans
    a_videos, b_videos = plans[a_id].media_names, plans[b_id].media_names
    foreign = sorted(b_videos - a_videos)[0]
    own = sorted(a_videos)[0]
    assert server20.request("GET", f"/media/{a}/{own}")[0] == 200
    refused = [
        f"/media/{a}/{foreign}",  # another rater's video
        "/private/key.json",
        "/study.json",
        "/media/key.json",
        f"/media/{a}/../private/key.json",
        f"/media/{a}/..%2Fprivate%2Fkey.json",
        f"/media/{a}/%2e%2e%2fprivate%2fkey.json",
        f"/media/{a}/....//....//private/key.json",
        f"/media/{a}/%2e%2e%2f%2e%2e%2fstudy.json",
        f"/media/{a}/{own}%00.json",
        f"/media/{a}/..%5c..%5cprivate%5ckey.json",
        f"/media/{a}/{own[:-4]}.MP4",
        "/media/../private/answers.sqlite",
        "/assets/../private/key.json",
        "/assets/..%2Fprivate%2Fkey.json",
        "/assets/rater.html",
        "/r/notatokenatall000000000",
        "/api/notatokenatall000000000/state",
        f"/api/{a[:-1]}{'Y' if a.endswith('X') else 'X'}/state",  # one character off (never the token itself)
    ]
    for path in refused:
        status, _, body = server20.request("GET", path)
        assert status in (400, 404), (path, status)
        assert b"clip" not in body and b"method" not in body and b"genuine" not in body
    # another rater's item through my token is not mine
    b_item = plans[b_id].items[0].item_id
    status, body = server20.post_answer(a, _answer(b_item, 5, 5))
    assert status == 404
    # the state a rater gets has only their items and videos
    state = server20.state(a)
    assert {it["item_id"] for it in state["items"]} == set(plans[a_id].items_by_id)
    assert all(v.split("/")[-1] in a_videos for it in state["items"] for v in it["videos"])
    text = json.dumps(state)
    assert "role" not in text and "offset" not in text and "repeat" not in text  # checks look like items
    # DNS rebinding: a foreign Host header is refused
    assert server20.request("GET", f"/r/{a}", headers={"Host": "evil.example"})[0] == 400
    headers = server20.request("GET", f"/r/{a}")[1]
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"


def test_malformed_oversize_and_hostile_answers_are_refused_or_escaped(server20, study20: Path) -> None:
    tokens = rater_tokens(study20)
    rater_id, token = list(tokens.items())[2]
    item = load_study(study20).plans[rater_id].items[0].item_id
    path = f"/api/{token}/answers"
    js = {"Content-Type": "application/json"}
    before = len(_db_rows(study20))
    cases = [
        (b"{not json", js, 400),
        (json.dumps(_answer(item, 5, 5)).encode(), {"Content-Type": "text/plain"}, 415),
        (json.dumps(_answer(item, 5, 5)).encode(), {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b"x" * 20000, js, 413),  # larger than the 16 KiB cap
        (json.dumps({**_answer(item, 5, 5), "comment": "a" * 1001}).encode(), js, 413),
        (json.dumps(_answer(item, 11, 5)).encode(), js, 422),
        (json.dumps(_answer(item, -1, 5)).encode(), js, 422),
        (json.dumps({"item_id": item, "values": {"realism": 5.5, "sync": 5}}).encode(), js, 422),
        (json.dumps({"item_id": item, "values": {"realism": True, "sync": 5}}).encode(), js, 422),
        (json.dumps({"item_id": item, "values": {"realism": "7", "sync": 5}}).encode(), js, 422),
        (json.dumps({"item_id": item, "values": {"realism": 5}}).encode(), js, 422),
        (json.dumps({"item_id": item, "values": {"realism": 5, "sync": 5, "x": 1}}).encode(), js, 422),
        (json.dumps({**_answer(item, 5, 5), "admin": True}).encode(), js, 422),
        (json.dumps({**_answer(item, 5, 5), "comment": "bell\x07"}).encode(), js, 422),
        (json.dumps({**_answer(item, 5, 5), "comment": ["list"]}).encode(), js, 422),
        (json.dumps([_answer(item, 5, 5)]).encode(), js, 400),
        (json.dumps(_answer("../../etc", 5, 5)).encode(), js, 404),
        (b"\xff\xfe", js, 400),
    ]
    for body, headers, want in cases:
        status, _, resp = server20.request("POST", path, body, headers)
        assert status == want, (body[:80], status, resp)
        assert b"Traceback" not in resp
    # a chunked body with no Content-Length is capped as it streams
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server20.port, timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for _ in range(40):
        conn.send(b"400\r\n" + b" " * 1024 + b"\r\n")
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 413
    conn.close()
    assert len(_db_rows(study20)) == before  # none of the above stored anything
    # script in a comment: stored as text, never returned as markup
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> & </script>'
    status, _ = server20.post_answer(token, _answer(item, 4, 6, hostile))
    assert status == 200
    state_raw = server20.request("GET", f"/api/{token}/state")[2].decode()
    assert "<" not in state_raw and ">" not in state_raw  # escaped as \u003c ... in the JSON
    assert json.loads(state_raw)["answers"][item]["comment"] == hostile
    page = server20.request("GET", f"/r/{token}")[2].decode()
    assert "alert" not in page
    stored = [json.loads(r[2]) for r in _db_rows(study20) if r[1] == item]
    assert stored[0]["comment"] == hostile  # kept verbatim as data
