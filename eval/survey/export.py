"""`toolkit survey export`: a study as a static package for hosting anywhere (no server code).

```
PKG/
  index.html            says to open one's personal link; lists nothing
  assets/app.js, style.css
  media/<name>.mp4      the videos of the exported raters (opaque names, as in the study)
  r/<token>.html        one page per rater: their sequence; answers are kept in the browser
  */index.html          in every folder: a page that lists nothing (hosts that list folders show it)
                        (localStorage, so a reload resumes) and downloaded as a JSON file
```
The package never contains the key, the plans' check roles or method names;
the experimenter's list of links goes to ``STUDY/private/static_links.csv``.
Downloaded answer files are read by ``toolkit survey aggregate STUDY --answers FILE...``.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from eval.survey.server import render_rater_page, web_file
from eval.survey.study import Study, StudyError, load_study, private_dir
from toolkit.errors import InputFileError
from toolkit.io.atomic import atomic_dir, write_text_atomic
from toolkit.io.csvsafe import safe_row

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>Video study</title><link rel="stylesheet" href="assets/style.css"></head>
<body><main><h1>Video study</h1><p>Please open the personal link you were given.</p></main></body></html>
"""

FOLDER_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>Video study</title></head><body><p>Nothing to see here.</p></body></html>
"""


@dataclass
class ExportSummary:
    out_dir: Path
    n_raters: int
    n_videos: int
    links_csv: Path

    def text(self) -> str:
        return (
            f"static package for {self.n_raters} raters ({self.n_videos} videos) written to {self.out_dir}\n"
            f"  per-rater pages: r/<token>.html; list of links (keep private): {self.links_csv}\n"
            "  raters download their answers as a JSON file; aggregate them with "
            "`toolkit survey aggregate STUDY --answers FILE...`"
        )


def rater_tokens(study: Study) -> dict[str, str]:
    """rater id -> token, from the experimenter's private list."""
    path = private_dir(study.root) / "raters.csv"
    if not path.is_file():
        raise StudyError(f"{path} is missing.", "Rebuild the study; the rater tokens cannot be recovered.")
    with path.open(newline="", encoding="utf-8") as f:
        return {row["rater_id"]: row["token"] for row in csv.DictReader(f)}


def export_static(study_dir: str | Path, out: str | Path, raters: list[str] | None = None) -> ExportSummary:
    study = load_study(study_dir)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputFileError(f"{out} already exists and is not empty.", "Choose a new folder for the package.")
    if out.resolve().is_relative_to(Path(study_dir).resolve()):
        raise InputFileError("the package must not be inside the study folder.", "Export to a folder outside it.")
    tokens = rater_tokens(study)
    chosen = raters or sorted(study.plans)
    unknown = [r for r in chosen if r not in study.plans or r not in tokens]
    if unknown:
        raise InputFileError(
            f"unknown raters {unknown[:5]}.", f"Use ids from {private_dir(study.root) / 'raters.csv'}."
        )
    with atomic_dir(out, "exporting") as work:
        (work / "assets").mkdir()
        (work / "media").mkdir()
        (work / "r").mkdir()
        for name in ("app.js", "style.css"):
            write_text_atomic(work / "assets" / name, web_file(name))
        write_text_atomic(work / "index.html", LANDING)
        for folder in ("assets", "media", "r"):
            # a host that lists folders (Apache/nginx autoindex, some static hosts) would show every
            # rater's page and every video; with an index page it shows this instead
            write_text_atomic(work / folder / "index.html", FOLDER_INDEX)
        names: set[str] = set()
        links = io.StringIO()
        writer = csv.writer(links)
        writer.writerow(["rater_id", "token", "page"])
        public = study.info.public_dict()
        for rater_id in chosen:
            plan, token = study.plans[rater_id], tokens[rater_id]
            data = {
                "mode": "static",
                "study": public,
                "token": token,
                "items": [{"item_id": it.item_id, "videos": [f"../media/{v}" for v in it.videos]} for it in plan.items],
            }
            write_text_atomic(work / "r" / f"{token}.html", render_rater_page(study.info, data, "../assets/"))
            names |= plan.media_names
            writer.writerow(safe_row([rater_id, token, f"r/{token}.html"]))
        for name in sorted(names):
            shutil.copyfile(study.media_dir / name, work / "media" / name)
            shutil.copystat(study.media_dir / name, work / "media" / name)
    links_csv = private_dir(study.root) / "static_links.csv"
    write_text_atomic(links_csv, links.getvalue())
    return ExportSummary(out_dir=out, n_raters=len(chosen), n_videos=len(names), links_csv=links_csv)
