"""The study folder: what is public, what is private, and how to load it.

```
STUDY/
  study.json          public description: design, criteria, scale, instructions (no method names)
  media/              the only folder the server serves: <opaque-name>.mp4, nothing else
  private/            never served
    key.json          opaque video name -> method, clip, dataset, variant
    plans.json        per rater: token hash and the ordered items (with the attention-check roles)
    build.json        seed, sources, encode settings: how the study was built
    raters.csv        rater id, token, link path: what the experimenter hands out
    answers.sqlite    written by `survey serve`
```
Rater tokens are the only credential: a rater holding one sees their own
items and nothing else. Plans store the SHA-256 of each token, not the token.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from toolkit.errors import InputFileError, ToolkitError

STUDY_FORMAT_VERSION = 1
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MEDIA_NAME_RE = re.compile(r"^[a-z0-9]{16,40}\.mp4$")
ITEM_ID_RE = re.compile(r"^[a-z0-9]{8,40}$")

DESIGNS = ("rating", "ab")
ROLE_MAIN, ROLE_REPEAT, ROLE_OFFSET = "main", "repeat", "offset"

#: the paper's two criteria (Sec. 6, B.4), with the question the rater is asked
CRITERIA: dict[str, dict[str, str]] = {
    "realism": {
        "label": "Realism",
        "rating": "How realistic is this video? Could it be a real recording of a person?",
        "ab": "Which video looks more like a real recording of a person?",
    },
    "sync": {
        "label": "Lip sync",
        "rating": "How well do the lip movements match the speech?",
        "ab": "In which video do the lip movements match the speech better?",
    },
}


class StudyError(ToolkitError):
    """A study folder is missing, incomplete or inconsistent."""

    code = "bad-study"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StudyInfo:
    """The public part of a study (``study.json``): what raters are shown."""

    study_id: str
    design: str
    criteria: tuple[str, ...]
    scale_min: int
    scale_max: int
    title: str
    instructions: str
    comment_max_chars: int = 1000
    require_full_view: bool = True  # Submit stays disabled until every video has played to the end
    version: int = STUDY_FORMAT_VERSION

    def public_dict(self) -> dict[str, Any]:
        """What the rater page receives (no counts, no method names)."""
        return {
            "study_id": self.study_id,
            "design": self.design,
            "title": self.title,
            "instructions": self.instructions,
            "scale_min": self.scale_min,
            "scale_max": self.scale_max,
            "comment_max_chars": self.comment_max_chars,
            "require_full_view": self.require_full_view,
            "criteria": [
                {"name": c, "label": CRITERIA[c]["label"], "question": CRITERIA[c][self.design]} for c in self.criteria
            ],
        }


@dataclass(frozen=True)
class PlanItem:
    """One screen of a rater's sequence: one video (rating) or two (ab)."""

    item_id: str
    videos: tuple[str, ...]
    role: str = ROLE_MAIN
    of: str | None = None  # for a repeat: the item it repeats; for an offset check: the item without offset


@dataclass(frozen=True)
class RaterPlan:
    rater_id: str
    token_sha256: str
    items: tuple[PlanItem, ...]

    @cached_property
    def items_by_id(self) -> dict[str, PlanItem]:
        return {it.item_id: it for it in self.items}

    @cached_property
    def media_names(self) -> frozenset[str]:
        return frozenset(v for it in self.items for v in it.videos)


@dataclass(frozen=True)
class VideoKey:
    """What an opaque video name stands for (private)."""

    method: str
    clip_id: str
    dataset: str
    variant: str = "plain"  # plain | repeat (a copy under another name) | offset (audio delayed)


@dataclass
class Study:
    """A loaded study folder."""

    root: Path
    info: StudyInfo
    plans: dict[str, RaterPlan]
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def media_dir(self) -> Path:
        return media_dir(self.root)

    @property
    def db_path(self) -> Path:
        return private_dir(self.root) / "answers.sqlite"

    @cached_property
    def plans_by_token_hash(self) -> dict[str, RaterPlan]:
        return {p.token_sha256: p for p in self.plans.values()}

    def plan_for_token(self, token: str) -> RaterPlan | None:
        if not TOKEN_RE.match(token or ""):
            return None
        return self.plans_by_token_hash.get(token_hash(token))

    def load_key(self) -> dict[str, VideoKey]:
        """The private key. Only `aggregate` calls this; the server never does."""
        data = _read_json(private_dir(self.root) / "key.json")
        return {name: VideoKey(**entry) for name, entry in data["videos"].items()}


def media_dir(root: Path) -> Path:
    return Path(root) / "media"


def private_dir(root: Path) -> Path:
    return Path(root) / "private"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StudyError(
            f"{path} is missing, so {path.parent.parent} is not a complete study folder.",
            "Build the study with `toolkit survey build ... --out STUDY` and pass that folder.",
        ) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise StudyError(f"{path} is not readable JSON ({exc}).", "Rebuild the study.") from exc


def load_study(root: str | Path) -> Study:
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"study folder {root} does not exist.", "Pass the folder `survey build --out` wrote.")
    raw = _read_json(root / "study.json")
    if raw.get("version") != STUDY_FORMAT_VERSION:
        raise StudyError(
            f"{root / 'study.json'} has format version {raw.get('version')!r}, this toolkit reads "
            f"{STUDY_FORMAT_VERSION}.",
            "Rebuild the study with this version of the toolkit.",
        )
    raw["criteria"] = tuple(raw["criteria"])
    info = StudyInfo(**raw)
    plans_raw = _read_json(private_dir(root) / "plans.json")
    if plans_raw.get("study_id") != info.study_id:
        raise StudyError(f"{root}: plans.json belongs to another study.", "Rebuild the study.")
    plans = {}
    for r in plans_raw["raters"]:
        items = tuple(
            PlanItem(item_id=i["item_id"], videos=tuple(i["videos"]), role=i["role"], of=i.get("of"))
            for i in r["items"]
        )
        plans[r["rater_id"]] = RaterPlan(rater_id=r["rater_id"], token_sha256=r["token_sha256"], items=items)
    build_path = private_dir(root) / "build.json"
    build = _read_json(build_path) if build_path.exists() else {}
    return Study(root=root, info=info, plans=plans, build=build)
