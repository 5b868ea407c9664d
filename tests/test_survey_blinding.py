"""Attention checks a rater cannot see through, and a static package whose folders list nothing.

A repeat check used to be a byte copy of its source item (same size, same ETag
in the browser's developer tools, duplicate files in an export) and the
audio-offset check had a silent first second (a much lower audio bitrate).
Here every served property of each check is compared with its source item's.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from eval.survey.build import StudyConfig, build_study
from eval.survey.encode import ffmpeg_exe
from eval.survey.export import export_static
from eval.survey.study import ROLE_MAIN, ROLE_OFFSET, ROLE_REPEAT, load_study
from tests.survey_support import make_methods, needs_shared_clips, rater_tokens, served

pytestmark = needs_shared_clips

#: headers that name the file's identity or size; everything else must be the same for every video
IDENTITY_HEADERS = {"etag", "content-length", "date"}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    methods = make_methods(tmp_path_factory.mktemp("methods"))
    out = tmp_path_factory.mktemp("study") / "s"
    build_study(methods, out, StudyConfig(n_raters=4, seed=5))
    return out


def _stream_info(path: Path) -> tuple[str, int]:
    """ffmpeg's description of the file with bitrates taken out, and the audio bitrate (kb/s)."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    text = text[text.index("Input #0") :].split("At least one output")[0]
    audio_kbps = int(re.search(r"Audio: .*?, (\d+) kb/s", text).group(1))  # type: ignore[union-attr]
    lines = [
        re.sub(r"\d+ kb/s", "N kb/s", line)
        for line in text.splitlines()
        if "Input #0" not in line and "Duration" not in line
    ]
    return "\n".join(lines), audio_kbps


def _pairs(study: Path) -> list[tuple[str, str, str]]:
    """(role, check video, its source video) for every check of every rater."""
    s = load_study(study)
    out = []
    for plan in s.plans.values():
        for it in plan.items:
            if it.role in (ROLE_REPEAT, ROLE_OFFSET):
                source = plan.items_by_id[it.of]
                assert source.role == ROLE_MAIN
                out.append((it.role, it.videos[0], source.videos[0]))
    return out


def test_checks_are_served_like_any_other_item(study: Path) -> None:
    tokens = rater_tokens(study)
    s = load_study(study)
    media = study / "media"
    plain_kbps = [_stream_info(p)[1] for p in media.iterdir() if s.load_key()[p.name].variant == "plain"]
    lo, hi = min(plain_kbps), max(plain_kbps)
    pairs = _pairs(study)
    assert {role for role, _, _ in pairs} == {ROLE_REPEAT, ROLE_OFFSET}
    with served(study) as server:
        for rater_id, plan in s.plans.items():
            token = tokens[rater_id]
            for it in plan.items:
                if it.role == ROLE_MAIN:
                    continue
                source = plan.items_by_id[it.of]
                check_v, source_v = it.videos[0], source.videos[0]
                c_status, c_headers, c_body = server.request("GET", f"/media/{token}/{check_v}")
                s_status, s_headers, s_body = server.request("GET", f"/media/{token}/{source_v}")
                assert c_status == s_status == 200
                # the same headers (type, caching, modification time, security), values included
                same = {k: v for k, v in c_headers.items() if k not in IDENTITY_HEADERS}
                assert same == {k: v for k, v in s_headers.items() if k not in IDENTITY_HEADERS}
                # but not the same file: other bytes, size and ETag
                assert c_body != s_body, (it.role, "byte copy of its source")
                assert c_headers["etag"] != s_headers["etag"]
                assert c_headers["content-length"] != s_headers["content-length"]
                # the same streams, codec parameters and (absence of) metadata
                c_info, c_kbps = _stream_info(media / check_v)
                s_info, s_kbps = _stream_info(media / source_v)
                assert c_info == s_info
                # audio bitrate: within that of the ordinary items and close to its source's
                assert lo * 0.95 <= c_kbps <= hi * 1.05, (it.role, c_kbps, lo, hi)
                assert abs(c_kbps - s_kbps) <= 0.1 * s_kbps, (it.role, c_kbps, s_kbps)


def test_static_export_has_no_duplicate_videos_and_folders_that_list_nothing(study: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    export_static(study, pkg)
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (pkg / "media").iterdir() if p.suffix == ".mp4"]
    assert len(digests) == len(set(digests)), "two videos of the package are the same file"
    tokens = set(rater_tokens(study).values())
    # a host that lists folders shows the index page instead of the files
    for folder in [pkg, *[p for p in pkg.rglob("*") if p.is_dir()]]:
        index = folder / "index.html"
        assert index.is_file(), folder
        text = index.read_text()
        assert ".mp4" not in text and ".html" not in text.replace("index.html", "")
        assert not any(t in text for t in tokens)
