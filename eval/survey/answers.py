"""What a valid answer is. One validator for the web server and for answer files of static packages.

An answer is a JSON object::

    {"item_id": "3f9c0a1b2c4d",
     "values": {"realism": 7, "sync": 4},      # rating design: integers on the study's scale
               # or {"realism": "A", "sync": "B"} for the A/B design
     "comment": "optional free text",           # at most comment_max_chars characters
     "elapsed_ms": 5120}                        # optional: time the rater spent on the item

Anything else (unknown keys, floats or booleans for scores, scores off the
scale, another rater's item, over-long comments, control characters) is
refused with a message that says what was wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from eval.survey.study import ITEM_ID_RE, RaterPlan, StudyInfo
from toolkit.errors import ToolkitError

#: a request body larger than this is refused before it is read (an answer is < 2 KiB with a long comment)
MAX_BODY_BYTES = 16 * 1024
MAX_ELAPSED_MS = 24 * 3600 * 1000
AB_CHOICES = ("A", "B")
# control characters other than tab, newline and carriage return
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ALLOWED_KEYS = frozenset({"item_id", "values", "comment", "elapsed_ms"})
#: nesting of JSON arrays/objects accepted (an answer needs 2, an answer file 4); deeper input is refused
#: before parsing, because the parser recurses and a small body of brackets exhausts Python's stack
MAX_JSON_DEPTH = 8


class AnswerError(ToolkitError):
    """An answer that is refused; ``status`` is the HTTP status the server answers with."""

    code = "bad-answer"

    def __init__(self, problem: str, fix: str = "", status: int = 422) -> None:
        self.status = status
        super().__init__(problem, fix)


@dataclass(frozen=True)
class Answer:
    item_id: str
    values: dict[str, int | str] = field(hash=False)
    comment: str = ""
    elapsed_ms: int | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in the database (and in answer files)."""
        return {"values": dict(self.values), "comment": self.comment, "elapsed_ms": self.elapsed_ms}


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(data: bytes | str, what: str = "the answer") -> Any:
    """Strict UTF-8, at most MAX_JSON_DEPTH levels, then ``json.loads``; AnswerError (400) otherwise."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")  # strict: invalid bytes and encoded surrogates are refused
        except UnicodeDecodeError:
            raise AnswerError(f"{what} is not valid UTF-8 text.", "Send JSON encoded as UTF-8.", status=400) from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise AnswerError(
            f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.", "Send the JSON the page sends.", status=400
        )
    try:
        return json.loads(data)
    except (json.JSONDecodeError, RecursionError):
        raise AnswerError(f"{what} is not valid JSON.", "Send the JSON the page sends.", status=400) from None


def _is_unicode_text(text: str) -> bool:
    """False for strings holding lone surrogates (JSON allows "\\ud800"; no UTF-8 encoder does)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_answer(obj: Any, info: StudyInfo, plan: RaterPlan) -> Answer:
    """Check one answer of the rater ``plan`` against the study; raise AnswerError if it is not valid."""
    if not isinstance(obj, dict):
        raise AnswerError("the answer must be a JSON object.", status=400)
    extra = set(obj) - _ALLOWED_KEYS
    if extra:
        raise AnswerError(f"unknown fields {sorted(extra)[:5]} in the answer.", "Send only item_id, values, comment.")
    item_id = obj.get("item_id")
    if not isinstance(item_id, str) or not ITEM_ID_RE.match(item_id) or item_id not in plan.items_by_id:
        raise AnswerError("this item is not one of yours.", "Reload the page.", status=404)
    values = obj.get("values")
    if not isinstance(values, dict) or set(values) != set(info.criteria):
        raise AnswerError(f"'values' must give exactly {list(info.criteria)}.", "Answer every question.")
    clean: dict[str, int | str] = {}
    for name in info.criteria:
        v = values[name]
        if info.design == "ab":
            if v not in AB_CHOICES:
                raise AnswerError(f"{name}: choose 'A' or 'B'.")
        elif not _is_int(v) or not info.scale_min <= v <= info.scale_max:
            raise AnswerError(f"{name}: a score must be a whole number from {info.scale_min} to {info.scale_max}.")
        clean[name] = v
    comment = obj.get("comment", "")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise AnswerError("the comment must be text.")
    if len(comment) > info.comment_max_chars:
        raise AnswerError(
            f"the comment is {len(comment)} characters long; at most {info.comment_max_chars} are kept.",
            "Shorten it.",
            status=413,
        )
    if not _is_unicode_text(comment):
        raise AnswerError("the comment contains a lone surrogate (\\ud800-\\udfff), not text.", "Send plain text.")
    if _CONTROL_RE.search(comment):
        raise AnswerError("the comment contains control characters.", "Send plain text.")
    elapsed = obj.get("elapsed_ms")
    if elapsed is not None and (not _is_int(elapsed) or not 0 <= elapsed <= MAX_ELAPSED_MS):
        raise AnswerError("elapsed_ms must be a whole number of milliseconds (0 to 24 h).")
    return Answer(item_id=item_id, values=clean, comment=comment.strip(), elapsed_ms=elapsed)
