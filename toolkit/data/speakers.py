"""Speaker identities of the shared clips, for speaker-disjoint splits.

The shared data (``../shared/data``) has no speaker column, so identities come
from the file names and the manifest notes. The rules are deliberately
conservative: where several files *might* show the same person (GRID samples,
the LatentSync demos, the EAMM/MEAD-style crops) they are put in one group, so
that a validation split built on these ids can never contain a person seen in
training. Files no rule matches are their own speaker (their file stem).
"""

from __future__ import annotations

import csv
import functools
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


#: ``person`` ids of ``data/av_more/MANIFEST.tsv`` that are people of ``data/av`` under another name
#: (the av_more README says so): they must fall in the same split group
MANIFEST_PERSON_ALIASES: dict[str, str] = {"hdtf_aoc": "aoc", "grid_s1": "grid"}


@functools.cache
def _manifest_persons(folder: str) -> dict[str, str]:
    """{file name: person id} from a ``MANIFEST.tsv`` with a ``person`` column in ``folder`` (else empty)."""
    manifest = Path(folder) / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    with manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {Path(r["local_path"]).name: r["person"] for r in rows if r.get("person") and r.get("local_path")}


def speaker_of(path: str | Path) -> str:
    """Speaker id of a clip: the ``person`` column of a ``MANIFEST.tsv`` beside the file when there is one
    (``data/av_more``), else from its file name (see SPEAKER_RULES)."""
    name = Path(path).name
    person = _manifest_persons(str(Path(path).resolve().parent)).get(name)
    if person:
        return MANIFEST_PERSON_ALIASES.get(person.lower(), person.lower())
    for pattern, speaker in SPEAKER_RULES:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return speaker
    return Path(path).stem.lower()
