"""Speaker-disjoint train / validation split for the learners.

Speaker ids come from ``toolkit.data.speakers`` (file-name rules, stored in
each record's ``meta.json``). On top of them this module merges ids that
*may* be the same person into **split groups**, because a validation person
must never appear in training under another file name:

* PC-AVS clips are named by numeric VoxCeleb-style ids (``..._741400104``,
  ``..._741400163``); clips whose ids share the first three digits are one
  group (``pcavs-741``), and 5-digit ids are their own group. The same 5-digit
  ids also name EAMM speech files (``jixinya__EAMM__00015``), so the group id
  is ``pcavs-00015`` for both.

**Validation groups for the shared data** (:data:`DEFAULT_VAL_GROUPS`), about
20 % of the speech frames, chosen once and fixed so that numbers stay
comparable between runs: ``andrew`` (two StyleTalk clips, 52 s), ``aoc``
(SadTalker + V-Express clips, 13 s), ``pcavs-741`` (two PC-AVS clips, 26 s),
``theresa-may`` (5 s) and ``kim`` (Wav2Lip-GFPGAN, 7 s, 1080p). They mix
studio-quality and in-the-wild recordings, men and women, frontal and turned
heads, and every one has at least tau + 50 frames (the motion learner needs
64 reference frames plus a driving part). Silent clips of a validation group
are left out of training as well.

For other data (no group listed in the config), a group goes to validation
when ``sha1("learners-split:" + group)`` falls below ``val_fraction``: a
stable rule that does not depend on which clips are present.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from toolkit.data.speakers import speaker_rules

#: the shared data's fixed validation groups (configs/shared_data_speakers.yaml, read once at import)
DEFAULT_VAL_GROUPS: tuple[str, ...] = speaker_rules().validation_groups


def split_group(speaker: str) -> str:
    """The split group of a speaker id (itself unless a rule merges it with others)."""
    s = speaker.lower()
    for pattern, template in speaker_rules().group_rules:
        m = re.search(pattern, s)
        if m:
            return template.format(*m.groups())
    return s


def _hash_fraction(group: str) -> float:
    digest = hashlib.sha1(f"learners-split:{group}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


@dataclass
class Split:
    train: list[str]  # clip ids
    val: list[str]
    val_groups: list[str]
    rule: str

    def describe(self) -> dict[str, object]:
        return {"rule": self.rule, "val_groups": self.val_groups, "n_train": len(self.train), "n_val": len(self.val)}


def speaker_split(clips: Iterable[tuple[str, str]], val_groups: Sequence[str] = (), val_fraction: float = 0.2) -> Split:
    """Split (clip_id, speaker) pairs into speaker-disjoint train / validation clip ids.

    ``val_groups`` empty -> the hash rule with ``val_fraction``.
    """
    clips = list(clips)
    groups = {cid: split_group(spk) for cid, spk in clips}
    if val_groups:
        chosen = {g.lower() for g in val_groups}
        rule = "listed groups"
    else:
        chosen = {g for g in set(groups.values()) if _hash_fraction(g) < val_fraction}
        rule = f"sha1 hash < {val_fraction}"
    train = sorted(cid for cid, g in groups.items() if g not in chosen)
    val = sorted(cid for cid, g in groups.items() if g in chosen)
    return Split(train=train, val=val, val_groups=sorted(chosen & set(groups.values())), rule=rule)
