"""`toolkit survey build`: method folders (+ a benchmark) -> a self-contained study folder.

What it does, in order (paper Sec. 6 and App. B.4: shuffled, unlabelled videos
of several methods, scored 0-10 for realism and lip sync by 20 raters):

1. finds the clips every method has (and the benchmark lists), optionally a
   random subset of them;
2. re-encodes every (clip, method) video to one codec, size and frame rate
   under a random opaque name (``encode.py``), optionally beside its reference;
3. gives each rater a sequence: a balanced share of the items in a seeded
   random order, plus two attention checks that the rater cannot tell apart
   from other items: a repeat of one of their items (under another name, and
   for A/B with the sides swapped) and a video whose audio is delayed by
   ``offset_seconds``;
4. writes the study folder (``study.py`` documents the layout) into a
   temporary folder and renames it into place, so a failed build leaves
   nothing half-written.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
import random
import secrets
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.survey.anchors import ANCHOR_KINDS, make_anchor_video
from eval.survey.encode import (
    EncodeSettings,
    Variation,
    draw_variation,
    encode_study_video,
    has_audio,
)
from eval.survey.sources import (
    BenchmarkClip,
    generate_builtin_videos,
    load_benchmark_clips,
    method_videos,
    prepare_benchmark_clip,
)
from eval.survey.study import (
    CRITERIA,
    DESIGNS,
    ROLE_MAIN,
    ROLE_OFFSET,
    ROLE_REPEAT,
    STUDY_FORMAT_VERSION,
    StudyInfo,
    VideoKey,
    private_dir,
    token_hash,
)
from toolkit.errors import InputFileError
from toolkit.io.atomic import atomic_dir, write_json_atomic, write_text_atomic
from toolkit.io.csvsafe import safe_row
from toolkit.io.formats import IMAGE_SUFFIXES

GROUND_TRUTH = "ground_truth"


@dataclass
class StudyConfig:
    """How to build a study. The defaults follow the paper (20 raters, 0-10, two criteria)."""

    design: str = "rating"  # "rating": score each video; "ab": choose the better of two
    n_raters: int = 20
    per_rater: int | None = None  # main items per rater (None = all); attention checks come on top
    n_clips: int | None = None  # random subset of the clips (None = all)
    seed: int | None = None  # None = a random seed, recorded in private/build.json
    scale_min: int = 0
    scale_max: int = 10
    criteria: tuple[str, ...] = ("realism", "sync")
    side_by_side: bool = False  # show the clip's reference to the left of each video
    include_ground_truth: bool = False  # rate the benchmark's ground-truth videos as a method
    anchors: tuple[str, ...] = ()  # "frozen", "blur", "copy": known-bad versions of anchor_source's videos
    anchor_source: str | None = None  # method whose videos the anchors are made from (default: first)
    check_method: str | None = None  # method whose video gets the audio-offset check (default: first)
    offset_seconds: float = 1.0
    repeat_tolerance: int = 3  # rating design: a repeat passes if every criterion moved by at most this
    title: str = "Talking-head video study"
    instructions: str | None = None
    comment_max_chars: int = 1000
    require_full_view: bool = True
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    jobs: int = 2  # ffmpeg processes at once


@dataclass
class BuildSummary:
    study_dir: Path
    study_id: str
    seed: int
    methods: list[str]
    clips: list[str]
    skipped_clips: dict[str, str]  # clip id -> why it was left out
    n_videos: int
    items_per_rater: int
    seconds: float

    def text(self) -> str:
        lines = [
            f"study {self.study_id} written to {self.study_dir}",
            f"  {len(self.methods)} methods ({', '.join(self.methods)}), {len(self.clips)} clips, "
            f"{self.n_videos} videos, {self.items_per_rater} items per rater (2 of them attention checks), "
            f"seed {self.seed}, {self.seconds:.1f} s",
        ]
        if self.skipped_clips:
            lines.append(f"  {len(self.skipped_clips)} clips left out (not in every method):")
            lines += [f"    {c}: {why}" for c, why in sorted(self.skipped_clips.items())[:20]]
        lines.append(f"  rater links: {private_dir(self.study_dir) / 'raters.csv'} (keep private; one per rater)")
        return "\n".join(lines)


def default_instructions(design: str, scale_min: int, scale_max: int, n_items: int) -> str:
    if design == "ab":
        return (
            f"You will see {n_items} pairs of short videos of people talking. Some are real recordings, some are "
            "generated. Turn the sound on. Play both videos of each pair to the end, then choose, for each "
            "question, the video that is better. There is no right answer; go with your impression."
        )
    return (
        f"You will see {n_items} short videos of people talking. Some are real recordings, some are generated. "
        f"Turn the sound on. Play each video to the end, then score it from {scale_min} (worst) to {scale_max} "
        "(best) on each question. Score each video on its own; there is no right answer."
    )


def _opaque_name() -> str:
    return secrets.token_hex(10) + ".mp4"


def _new_token() -> str:
    """A rater token (144 bits) that does not start with '-': in raters.csv it would read as a formula."""
    while True:
        token = secrets.token_urlsafe(18)
        if not token.startswith("-"):
            return token


def _item_id() -> str:
    return secrets.token_hex(6)


def _check_config(methods: Sequence[tuple[str, Path | None]], config: StudyConfig, benchmark: Path | None) -> None:
    if config.design not in DESIGNS:
        raise InputFileError(f"unknown design {config.design!r}.", f"Use one of: {', '.join(DESIGNS)}.")
    if not 1 <= config.n_raters <= 10000:
        raise InputFileError(f"--raters {config.n_raters} is out of range.", "Use 1 to 10000 raters.")
    if not (0 <= config.scale_min < config.scale_max <= 100):
        raise InputFileError(
            f"scale {config.scale_min}-{config.scale_max} is not usable.", "Use e.g. 0-10 (paper) or 1-5 (MOS)."
        )
    unknown = [c for c in config.criteria if c not in CRITERIA]
    if unknown or not config.criteria or "sync" not in config.criteria:
        raise InputFileError(
            f"criteria {list(config.criteria)} are not usable.",
            f"Use some of {list(CRITERIA)}, including 'sync' (the audio-offset check asks about it).",
        )
    names = [m for m, _ in methods]
    if len(set(names)) != len(names):
        raise InputFileError(f"a method name is given twice in {names}.", "Give each --method a distinct NAME.")
    if config.include_ground_truth and benchmark is None:
        raise InputFileError("--include-ground-truth needs --benchmark.", "Pass the benchmark file the clips are from.")
    for kind in config.anchors:
        if kind not in ANCHOR_KINDS:
            raise InputFileError(f"unknown anchor {kind!r}.", f"Use some of: {', '.join(ANCHOR_KINDS)}.")
    if config.per_rater is not None and config.per_rater < 1:
        raise InputFileError(f"--per-rater {config.per_rater} is below 1.", "Use at least 1 item per rater.")
    if not 0.2 <= config.offset_seconds <= 5:
        raise InputFileError(f"offset {config.offset_seconds} s is out of range.", "Use 0.2 to 5 seconds.")


def build_study(
    methods: Sequence[tuple[str, Path | None]],
    out: str | os.PathLike[str],
    config: StudyConfig | None = None,
    *,
    benchmark: Path | None = None,
    data_root: Path | None = None,
    reference_dir: Path | None = None,
) -> BuildSummary:
    """Build a study folder at ``out`` (which must not exist yet, or be empty).

    methods: (name, folder of <clip-id>.mp4) pairs; a folder of None names one of
    the benchmarking suite's built-in methods (e.g. ``static``), generated here
    from ``benchmark``.
    """
    t0 = time.monotonic()
    config = config or StudyConfig()
    _check_config(methods, config, benchmark)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputFileError(
            f"{out} already exists and is not empty.",
            "Choose a new folder: a study that raters have answered must never be overwritten.",
        )
    seed = config.seed if config.seed is not None else secrets.randbits(31)
    rng = random.Random(seed)

    bench_clips = {c.clip_id: c for c in load_benchmark_clips(benchmark, data_root)} if benchmark else None
    builtins = [name for name, folder in methods if folder is None]
    if builtins and bench_clips is None:
        raise InputFileError(
            f"built-in method(s) {builtins} need --benchmark.", "Pass the benchmark file, or give NAME=DIR folders."
        )
    sources: dict[str, dict[str, Path]] = {}
    for name, folder in methods:
        if folder is not None:
            sources[name] = method_videos(folder)
            if not sources[name]:
                raise InputFileError(f"method {name}: no <clip-id>.mp4 files in {folder}.", "Check the --method path.")
    method_names = [name for name, _ in methods] + ([GROUND_TRUTH] if config.include_ground_truth else [])

    # clips every method folder has (and the benchmark lists); built-in methods and ground truth cover the benchmark
    if sources:
        all_ids = set().union(*[set(v) for v in sources.values()])
    else:
        assert bench_clips is not None
        all_ids = set(bench_clips)
    if bench_clips is not None:
        all_ids &= set(bench_clips)
    skipped: dict[str, str] = {}
    clip_ids = []
    for cid in sorted(all_ids):
        missing = [m for m in sources if cid not in sources[m]]
        if missing:
            skipped[cid] = f"missing in {', '.join(missing)}"
        else:
            clip_ids.append(cid)
    if not clip_ids:
        raise InputFileError(
            "no clip id is present in every method folder" + (" and in the benchmark" if bench_clips else "") + ".",
            "Method folders must hold <clip-id>.mp4 files with the same clip ids.",
        )
    if config.n_clips is not None and config.n_clips < len(clip_ids):
        clip_ids = sorted(rng.sample(clip_ids, config.n_clips))

    check_method = config.check_method or (GROUND_TRUTH if config.include_ground_truth else method_names[0])
    anchor_source = config.anchor_source or method_names[0]
    for label, name in (("--check-method", check_method), ("--anchor-source", anchor_source)):
        if name not in method_names:
            raise InputFileError(f"{label} {name!r} is not one of the methods {method_names}.", "Name a method.")
    if config.design == "ab" and len(method_names) + len(config.anchors) < 2:
        raise InputFileError("an A/B study needs at least two methods.", "Pass two or more --method NAME=DIR.")

    with atomic_dir(out, "building") as work:
        media = work / "media"
        media.mkdir()
        (work / "private").mkdir()
        scratch = work / "scratch"  # generated inputs; removed before the study is renamed into place
        clip_info: dict[str, BenchmarkClip] = {}
        for cid in clip_ids:
            if bench_clips is None:
                clip_info[cid] = BenchmarkClip(clip_id=cid)
                continue
            needs_files = config.include_ground_truth or (config.side_by_side and reference_dir is None) or any(
                not has_audio(sources[m][cid]) for m in sources
            )  # fmt: skip
            clip_info[cid] = bench_clips[cid]
            if needs_files:
                clip_info[cid] = prepare_benchmark_clip(
                    bench_clips[cid], scratch / "clips" / cid, need_reference=config.side_by_side
                )
        for name in builtins:
            assert bench_clips is not None  # refused above: built-in methods need a benchmark
            sources[name] = generate_builtin_videos(name, [bench_clips[c] for c in clip_ids], scratch / name)
        if config.include_ground_truth:
            lacking = [cid for cid in clip_ids if clip_info[cid].ground_truth is None]
            if lacking:
                raise InputFileError(
                    f"--include-ground-truth: the benchmark names no ground truth for {lacking[:3]}.",
                    "Use a benchmark made by `toolkit benchmark make`, or add 'ground_truth' paths.",
                )
            sources[GROUND_TRUTH] = {cid: clip_info[cid].ground_truth for cid in clip_ids}  # type: ignore[misc]
        references = _references(clip_ids, clip_info, reference_dir) if config.side_by_side else {}

        # anchors are made first, then treated as methods of their own
        anchor_methods = set()
        for kind in config.anchors:
            name = f"anchor-{kind}"
            if name in sources:
                raise InputFileError(f"a method is already called {name}.", "Rename that method.")
            anchor_methods.add(name)
            sources[name] = {}
            for cid in clip_ids:
                dst = scratch / "anchors" / kind / f"{cid}.mp4"
                make_anchor_video(sources[anchor_source][cid], dst, kind, config.encode.max_seconds)
                sources[name][cid] = dst
            method_names.append(name)

        key: dict[str, VideoKey] = {}
        jobs: dict[str, EncodeJob] = {}  # opaque name -> how to encode it
        unit_video: dict[tuple[str, str], str] = {}
        for cid in clip_ids:
            for m in method_names:
                name = _opaque_name()
                unit_video[(cid, m)] = name
                key[name] = VideoKey(method=m, clip_id=cid, dataset=clip_info[cid].dataset)
                src = sources[m][cid]
                if m in anchor_methods:  # anchors carry (or lack) their source's sound
                    audio = _audio_for(sources[anchor_source][cid], anchor_source, clip_info[cid])
                else:
                    audio = _audio_for(src, m, clip_info[cid])
                jobs[name] = EncodeJob(src, audio, 0.0, references.get(cid), draw_variation(config.encode, rng))

        # the audio-offset checks: a few clips of the check method, each with its sound delayed
        check_clips = rng.sample(clip_ids, min(3, len(clip_ids)))
        offset_video: dict[str, str] = {}
        for cid in check_clips:
            name = _opaque_name()
            offset_video[cid] = name
            key[name] = VideoKey(method=check_method, clip_id=cid, dataset=clip_info[cid].dataset, variant="offset")
            src = sources[check_method][cid]
            jobs[name] = EncodeJob(
                src, _audio_for(src, check_method, clip_info[cid]), config.offset_seconds, references.get(cid),
                draw_variation(config.encode, rng),
            )  # fmt: skip

        plans, tokens = _make_plans(
            config, rng, clip_ids, method_names, unit_video, offset_video, check_method, key, jobs
        )
        with ThreadPoolExecutor(max_workers=max(1, config.jobs)) as pool:
            list(
                pool.map(
                    lambda item: encode_study_video(
                        item[1].source, media / item[0], config.encode, audio=item[1].audio,
                        audio_delay_s=item[1].audio_delay_s, reference=item[1].reference,
                        variation=item[1].variation,
                    ),
                    jobs.items(),
                )
            )  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)
        n_items = len(next(iter(plans))["items"])
        study_id = secrets.token_hex(8)
        info = StudyInfo(
            study_id=study_id,
            design=config.design,
            criteria=tuple(config.criteria),
            scale_min=config.scale_min,
            scale_max=config.scale_max,
            title=config.title,
            instructions=config.instructions
            or default_instructions(config.design, config.scale_min, config.scale_max, n_items),
            comment_max_chars=config.comment_max_chars,
            require_full_view=config.require_full_view,
        )
        info_dict = asdict(info)
        info_dict["criteria"] = list(info.criteria)
        write_json_atomic(work / "study.json", info_dict)
        write_json_atomic(
            work / "private" / "key.json", {"study_id": study_id, "videos": {n: asdict(k) for n, k in key.items()}}
        )
        write_json_atomic(work / "private" / "plans.json", {"study_id": study_id, "raters": plans})
        write_json_atomic(
            work / "private" / "build.json",
            {
                "version": STUDY_FORMAT_VERSION,
                "study_id": study_id,
                "seed": seed,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "methods": {m: (str(Path(p).resolve()) if p else "built-in") for m, p in methods},
                "method_order": method_names,
                "benchmark": str(Path(benchmark).resolve()) if benchmark else None,
                "clips": clip_ids,
                "datasets": {cid: clip_info[cid].dataset for cid in clip_ids},
                "skipped_clips": skipped,
                "check_method": check_method,
                "offset_seconds": config.offset_seconds,
                "repeat_tolerance": config.repeat_tolerance,
                "anchors": list(config.anchors),
                "anchor_source": anchor_source if config.anchors else None,
                "side_by_side": config.side_by_side,
                "encode": asdict(config.encode),
            },
        )
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["rater_id", "token", "link_path"])
        for plan, token in zip(plans, tokens):
            writer.writerow(safe_row([plan["rater_id"], token, f"/r/{token}"]))
        write_text_atomic(work / "private" / "raters.csv", buf.getvalue())
        # one modification time for every video: creation order would otherwise follow the methods
        stamp = time.time()
        for p in media.iterdir():
            os.utime(p, (stamp, stamp))
    return BuildSummary(
        study_dir=out,
        study_id=study_id,
        seed=seed,
        methods=method_names,
        clips=clip_ids,
        skipped_clips=skipped,
        n_videos=len(key),
        items_per_rater=n_items,
        seconds=time.monotonic() - t0,
    )


@dataclass(frozen=True)
class EncodeJob:
    """One study video to encode (see :func:`eval.survey.encode.encode_study_video`)."""

    source: Path
    audio: Path | None
    audio_delay_s: float
    reference: Path | None
    variation: Variation


def _audio_for(video: Path, method: str, clip: BenchmarkClip) -> Path | None:
    """None when the video carries its own sound; otherwise the file to take the sound from."""
    if has_audio(video):
        return None
    if clip.driving_audio is not None and clip.driving_audio.is_file():
        return clip.driving_audio
    paired = video.with_suffix(".wav")
    if paired.is_file():
        return paired
    raise InputFileError(
        f"{video} ({method}, clip {clip.clip_id}) has no audio track and no driving audio was found.",
        "Raters judge lip sync with the sound on: mux the audio into the video, put <clip-id>.wav beside it, "
        "or pass --benchmark (its driving audio is used).",
    )


def _references(clip_ids: list[str], clip_info: dict[str, BenchmarkClip], reference_dir: Path | None) -> dict:
    refs: dict[str, Path] = {}
    for cid in clip_ids:
        ref = None
        if reference_dir is not None:
            for suffix in (".mp4", *IMAGE_SUFFIXES):
                if (Path(reference_dir) / f"{cid}{suffix}").is_file():
                    ref = Path(reference_dir) / f"{cid}{suffix}"
                    break
        if ref is None:
            ref = clip_info[cid].reference
        if ref is None or not ref.is_file():
            raise InputFileError(
                f"--side-by-side: no reference for clip {cid}.",
                "Pass --reference-dir with <clip-id>.mp4/.png files, or a --benchmark whose clips name a reference.",
            )
        refs[cid] = ref
    return refs


def _make_plans(
    config: StudyConfig,
    rng: random.Random,
    clip_ids: list[str],
    method_names: list[str],
    unit_video: dict[tuple[str, str], str],
    offset_video: dict[str, str],
    check_method: str,
    key: dict[str, VideoKey],
    jobs: dict[str, EncodeJob],
) -> tuple[list[dict], list[str]]:
    """Per rater: a balanced share of the units, shuffled, plus a repeat and an audio-offset check."""
    if config.design == "rating":
        units: list[tuple] = [(cid, m) for cid in clip_ids for m in method_names]
    else:
        units = [(cid, a, b) for cid in clip_ids for a, b in itertools.combinations(method_names, 2)]
    n_main = min(config.per_rater or len(units), len(units))
    counts = dict.fromkeys(units, 0)
    check_clips = list(offset_video)
    plans: list[dict] = []
    tokens: list[str] = []
    width = max(2, len(str(config.n_raters)))
    for r in range(config.n_raters):
        check_clip = check_clips[r % len(check_clips)]
        forced = [(check_clip, check_method)] if config.design == "rating" else []
        rest = [u for u in units if u not in forced]
        rng.shuffle(rest)  # random tie-break, then the least-rated units first: balanced coverage
        rest.sort(key=lambda u: counts[u])
        chosen = forced + rest[: n_main - len(forced)]
        for u in chosen:
            counts[u] += 1
        rng.shuffle(chosen)
        items: list[dict] = []
        for u in chosen:
            if config.design == "rating":
                videos = [unit_video[u]]
            else:
                pair = [unit_video[(u[0], u[1])], unit_video[(u[0], u[2])]]
                rng.shuffle(pair)  # which method is on the left is random per rater
                videos = pair
            items.append({"item_id": _item_id(), "videos": videos, "role": ROLE_MAIN})
        # repeat check: one of the items again, later, under new names (A/B: sides swapped), each
        # video encoded again with a variation of its own: not a copy (its size or ETag would match)
        source_pos = rng.randrange(max(1, len(items) - 2))  # leaves room for two items before the repeat
        source = items[source_pos]
        copies = []
        for v in reversed(source["videos"]) if config.design == "ab" else source["videos"]:
            name = _opaque_name()
            jobs[name] = dataclasses.replace(jobs[v], variation=draw_variation(config.encode, rng, jobs[v].variation))
            key[name] = VideoKey(**{**asdict(key[v]), "variant": "repeat"})
            copies.append(name)
        repeat = {"item_id": _item_id(), "videos": copies, "role": ROLE_REPEAT, "of": source["item_id"]}
        lo = min(source_pos + 3, len(items))  # at least two other items in between when there are enough
        items.insert(rng.randint(lo, len(items)), repeat)
        # audio-offset check
        if config.design == "rating":
            anchor = next(it for it in items if it["role"] == ROLE_MAIN and it["videos"] == [unit_video[forced[0]]])
            offset = {"item_id": _item_id(), "videos": [offset_video[check_clip]], "role": ROLE_OFFSET,
                      "of": anchor["item_id"]}  # fmt: skip
        else:
            pair = [unit_video[(check_clip, check_method)], offset_video[check_clip]]
            rng.shuffle(pair)
            offset = {"item_id": _item_id(), "videos": pair, "role": ROLE_OFFSET, "of": None}
        items.insert(rng.randint(0, len(items)), offset)
        token = _new_token()
        tokens.append(token)
        plans.append({"rater_id": f"r{r + 1:0{width}d}", "token_sha256": token_hash(token), "items": items})
    return plans, tokens
