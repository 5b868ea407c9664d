"""Speaker identities of the shared clips, for speaker-disjoint splits.

The shared data (``../shared/data``) has no speaker column, so identities come
from the file names and the manifest notes, by the rules of
configs/shared_data_speakers.yaml (data, not code). The rules are deliberately
conservative: where several files *might* show the same person (GRID samples,
the LatentSync demos, the EAMM/MEAD-style crops) they are put in one group, so
that a validation split built on these ids can never contain a person seen in
training. Files no rule matches are their own speaker (their file stem).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import ToolkitError

#: the shared data's naming rules (a data file, not code); $TOOLKIT_SPEAKER_RULES names another one
RULES_FILE = "shared_data_speakers.yaml"


@dataclass(frozen=True)
class SpeakerRules:
    """A data set's naming rules: file name -> speaker, manifest aliases, speaker -> split group."""

    speaker_rules: tuple[tuple[str, str], ...]
    manifest_person_aliases: dict[str, str]
    group_rules: tuple[tuple[str, str], ...]
    validation_groups: tuple[str, ...]
    source: str


@functools.cache
def speaker_rules(path: str | None = None) -> SpeakerRules:
    """The naming rules from ``path``, ``$TOOLKIT_SPEAKER_RULES`` or configs/shared_data_speakers.yaml."""
    import yaml

    from toolkit.paths import configs_dir

    where = Path(path or os.environ.get("TOOLKIT_SPEAKER_RULES") or configs_dir() / RULES_FILE)
    if not where.is_file():
        raise ToolkitError(
            f"The speaker rules file {where} is missing.",
            "Reinstall the package (it ships configs/), or point $TOOLKIT_SPEAKER_RULES at your data set's rules.",
        )
    data = yaml.safe_load(where.read_text(encoding="utf-8")) or {}
    try:
        return SpeakerRules(
            speaker_rules=tuple((str(p), str(s)) for p, s in data.get("speaker_rules", [])),
            manifest_person_aliases={
                str(k).lower(): str(v) for k, v in data.get("manifest_person_aliases", {}).items()
            },
            group_rules=tuple((str(p), str(t)) for p, t in data.get("group_rules", [])),
            validation_groups=tuple(str(g) for g in data.get("validation_groups", [])),
            source=str(where),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ToolkitError(
            f"{where} is not a speaker rules file ({exc}).", f"Follow the layout of configs/{RULES_FILE}."
        ) from exc


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
    (``data/av_more``), else from its file name (``speaker_rules()``)."""
    name = Path(path).name
    person = _manifest_persons(str(Path(path).resolve().parent)).get(name)
    rules = speaker_rules()
    if person:
        return rules.manifest_person_aliases.get(person.lower(), person.lower())
    for pattern, speaker in rules.speaker_rules:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return speaker
    return Path(path).stem.lower()
