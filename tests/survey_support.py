"""Helpers for the user-study tests: method folders made from real clips, a served study, HTTP calls.

The "methods" are versions of real shared clips with known quality: the real
clip (cut to ``SECONDS``), a frozen first frame and a heavily blurred version
(``eval.survey.anchors``). Servers run as real subprocesses
(``python -m toolkit survey serve STUDY --port 0``) on 127.0.0.1 and a free
port chosen by the OS.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit.paths import PROJECT_ROOT, shared_data_dir

DATA = shared_data_dir()
CLIPS = {
    "clipA": DATA / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4",  # 224x224 25 fps AAC
    "clipB": DATA / "av" / "Hangz-nju-cuhk__Talking-Face_PC-AVS__Pose_Source_517600055.mp4",
}
METHOD_KINDS = {"genuine": "copy", "frozen": "frozen", "blurred": "blur"}
SECONDS = 2.0

needs_shared_clips = pytest.mark.skipif(
    not all(p.is_file() for p in CLIPS.values()), reason=f"shared clips not found under {DATA} (set TOOLKIT_DATA)"
)


def make_methods(root: Path, seconds: float = SECONDS) -> list[tuple[str, Path]]:
    """Three method folders of <clip-id>.mp4 made from two real clips."""
    from eval.survey.anchors import make_anchor_video

    methods = []
    for name, kind in METHOD_KINDS.items():
        folder = root / name
        for cid, src in CLIPS.items():
            make_anchor_video(src, folder / f"{cid}.mp4", kind, seconds)
        methods.append((name, folder))
    return methods


def rater_tokens(study: Path) -> dict[str, str]:
    from eval.survey.export import rater_tokens as tokens
    from eval.survey.study import load_study

    return tokens(load_study(study))


class ServedStudy:
    """`toolkit survey serve STUDY --port 0` as a subprocess; the port is read from its first line."""

    def __init__(self, study: Path) -> None:
        self.study = study
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit", "survey", "serve", str(study), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT, env=env,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            rest = self.proc.stdout.read() if self.proc.stdout and self.proc.poll() is not None else ""
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line}{rest}")
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:  # the socket listens before the app is up; wait for the app
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("server did not answer /healthz")
            time.sleep(0.05)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """A raw request: the path is sent exactly as given (no client-side normalisation of '..')."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def post_answer(self, token: str, answer: Any) -> tuple[int, dict]:
        status, _, body = self.request(
            "POST", f"/api/{token}/answers", json.dumps(answer).encode(), {"Content-Type": "application/json"}
        )
        return status, json.loads(body or b"{}")

    def state(self, token: str) -> dict:
        status, _, body = self.request("GET", f"/api/{token}/state")
        assert status == 200, body
        return json.loads(body)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


@contextlib.contextmanager
def served(study: Path) -> Iterator[ServedStudy]:
    server = ServedStudy(study)
    try:
        yield server
    finally:
        server.stop()


def make_benchmark(path: Path) -> Path:
    """A small self-reenactment benchmark of the two clips (tau 25 frames, 3 s: 2 s of driving audio each)."""
    from eval.benchmark import BenchmarkConfig
    from eval.benchmark import make_benchmark as make

    config = BenchmarkConfig(tau=25, min_driving_frames=25, max_seconds=3.0)
    make(list(CLIPS.values()), path, config, data_root=DATA, name="pcavs-mini", progress=False)
    return path
