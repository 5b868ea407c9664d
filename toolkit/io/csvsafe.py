"""CSV cells a spreadsheet cannot run as formulas.

Rater comments, method names, clip ids, file paths and error messages end up in
CSV files that people open in a spreadsheet. A cell that starts with ``=``,
``+``, ``-`` or ``@`` (or with a tab or carriage return, which some programs strip
before looking) is taken as a formula there: ``=HYPERLINK(...)`` in a comment
would run on the experimenter's machine. The usual rule (OWASP "CSV injection")
is applied to every such cell: a leading ``'`` makes it text. Cells that are
plain numbers (``-0.5``, ``+3``) are numbers, not formulas, and stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """A row for ``csv.writer`` with every cell made :func:`spreadsheet_safe`."""
    return [spreadsheet_safe(v) for v in row]


def safe_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row for ``csv.DictWriter`` with every value made :func:`spreadsheet_safe`."""
    return {k: spreadsheet_safe(v) for k, v in row.items()}
