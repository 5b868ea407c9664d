"""For every attention check of a small study: file size, audio bitrate and bytes against its source item.

Usage: PYTHONPATH=. python scripts/survey_check_properties.py [WORKDIR]
Methods are made from the two shared PC-AVS clips (tests/survey_support.py); 4 raters, seed 5.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from eval.survey.build import StudyConfig, build_study
from eval.survey.encode import ffmpeg_exe
from eval.survey.study import ROLE_MAIN, load_study
from tests.survey_support import make_methods


def audio_kbps(path: Path) -> int:
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return int(re.search(r"Audio: .*?, (\d+) kb/s", text).group(1))  # type: ignore[union-attr]


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="survey-checks-"))
    study = work / "study"
    build_study(make_methods(work / "methods"), study, StudyConfig(n_raters=4, seed=5))
    s = load_study(study)
    print(f"{'rater':6} {'role':7} {'size':>8} {'src size':>8} {'kb/s':>5} {'src kb/s':>8} same bytes")
    for rater, plan in s.plans.items():
        for it in plan.items:
            if it.role == ROLE_MAIN:
                continue
            c, src = study / "media" / it.videos[0], study / "media" / plan.items_by_id[it.of].videos[0]
            same = hashlib.sha256(c.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
            print(f"{rater:6} {it.role:7} {c.stat().st_size:8d} {src.stat().st_size:8d} {audio_kbps(c):5d} "
                  f"{audio_kbps(src):8d} {same}")  # fmt: skip


if __name__ == "__main__":
    main()
