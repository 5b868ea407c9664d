"""`toolkit evaluate` with paste-back seam matching switched off: attributes a before/after difference.

Issue 18 (session 10) made paste-back match the face's sharpness and colour at the seam for faces enlarged
1.5x or more (toolkit.pipeline.paste.SeamMatch), a chosen behaviour change of `pipeline` on such clips.
This runs the suite exactly as `toolkit evaluate` does, with every PasteBack built with match_seam=False,
so a run from the later code can be compared with one from before that change:

    PYTHONPATH=$PWD python scripts/bench/evaluate_without_seam_match.py evaluate --benchmark B.json \\
        --method pipeline --out DIR
    python scripts/bench/refactor_identity.py --compare BEFORE_RESULTS DIR --subset
"""

from __future__ import annotations

import sys
from typing import Any

import toolkit.pipeline.paste as paste
from toolkit.cli import main

_build = paste.PasteBack.__init__


def _without_seam_match(self: paste.PasteBack, *args: Any, **kwargs: Any) -> None:
    kwargs["match_seam"] = False
    _build(self, *args, **kwargs)


if __name__ == "__main__":
    paste.PasteBack.__init__ = _without_seam_match  # mypy does not check scripts/
    sys.exit(main(sys.argv[1:]))
