"""Speaker identities of the shared clips, for speaker-disjoint splits.

The shared data (``../shared/data``) has no speaker column, so identities come
from the file names and the manifest notes. The rules are deliberately
conservative: where several files *might* show the same person (GRID samples,
the LatentSync demos, the EAMM/MEAD-style crops) they are put in one group, so
that a validation split built on these ids can never contain a person seen in
training. Files no rule matches are their own speaker (their file stem).
"""

from __future__ import annotations

import re
from pathlib import Path

# (pattern on the file name, speaker id); first match wins
SPEAKER_RULES: tuple[tuple[str, str], ...] = (
    (r"obama", "obama"),  # styletalk Obama_clip*, EDTalk uncrop_Obama, LIA vox_obama, silent Obama_clip3
    (r"andrew_clip", "andrew"),
    (r"AlexandriaOcasioCortez|AOC", "aoc"),  # HDTF clip and V-Express AOC clip
    (r"M030", "mead-m030"),
    (r"W009", "mead-w009"),
    (r"W011", "mead-w011"),
    (r"jixinya__EAMM__", "eamm-mead-crop"),  # MEAD-style crops of unnamed actors: one group
    (r"rizkiarm__LipNet__", "grid"),  # GRID samples: speaker ids not recoverable from names
    (r"bytedance__LatentSync__", "latentsync-demo"),
    (r"furious_talk1", "styletalk-furious1"),
    (r"furious_talk2", "styletalk-furious2"),
    (r"happyenglish", "styletalk-happyenglish"),
    (r"May_5s", "theresa-may"),
)


def speaker_of(path: str | Path) -> str:
    """Speaker id of a clip, from its file name (see SPEAKER_RULES)."""
    name = Path(path).name
    for pattern, speaker in SPEAKER_RULES:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return speaker
    return Path(path).stem.lower()
