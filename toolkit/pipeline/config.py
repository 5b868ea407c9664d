"""The one generation config, shared by the CLI, the batch mode, the app and the notebooks.

A :class:`GenerationConfig` is a plain dataclass: every control the paper
exposes (K reference frames, where head motion and expression come from, their
scales, the seed) plus the output format and the resource limits. The CLI
options, the batch CSV columns and the app controls are all derived from the
field names here, so the three front ends cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from toolkit.constants import SYNTHETIC_KINDS, TAU
from toolkit.errors import ConfigError

#: named head-motion sources (the synthetic nod, shake, tilt and circle of Fig. 16 among them); anything else is
#: a path (another video, or a motion file)
MOTION_SOURCES: tuple[str, ...] = ("learned", "still", "reference", *SYNTHETIC_KINDS)
#: named expression sources; anything else is a path to another video
EXPRESSION_SOURCES: tuple[str, ...] = ("audio", "reference")
#: motion files: (T, 6) float arrays, axis-angle rotation (rad) then translation (px)
MOTION_FILE_SUFFIXES: tuple[str, ...] = (".npy", ".csv")
RENDERERS: tuple[str, ...] = ("auto", "3d-warp", "generator")
#: the accepted ranges of the options front ends show as sliders (validate() and the app both use them)
K_RANGE: tuple[int, int] = (1, 64)
SCALE_RANGE: tuple[float, float] = (0.0, 3.0)
OUTPUT_MODES: tuple[str, ...] = ("crop", "paste-back")
#: face sizes rendered (pixels); ``size = 0`` chooses among OUTPUT_SIZES[1:] from the face's size in the frame
OUTPUT_SIZES: tuple[int, ...] = (128, 256, 512)
#: a face upscaled by at most this factor at paste-back is not worth the next render size (4x the pixels)
AUTO_SIZE_SLACK: float = 1.1


SourceKind = Literal[
    "learned", "still", "reference", "nod", "shake", "tilt", "circle", "audio", "video", "file"
]  # fmt: skip


@dataclass(frozen=True)
class Source:
    """A parsed motion or expression source: a named kind, or a file."""

    kind: SourceKind
    path: Path | None = None

    def describe(self) -> str:
        return self.kind if self.path is None else f"{self.kind} {self.path.name}"


@dataclass
class GenerationConfig:
    """Everything that controls one generation (paper Sec. 3-4 plus output and limits)."""

    #: K: reference frames sampled from the first ``reference_frames`` frames of the reference video
    #: (Sec. 4.1-4.2); the motion matcher picks the background frame among them. 1 for an image.
    k: int = 8
    #: head motion: ``learned`` (motion learner Phi from the reference motion and the audio),
    #: ``still`` (the reference's most frontal pose, held), ``reference`` (the reference video's own
    #: motion replayed back and forth), ``nod``, ``shake``, ``tilt`` or ``circle`` (a synthetic motion around the
    #: frontal pose, Fig. 16), a path to another video (its motion), or a .npy/.csv motion file
    motion: str = "learned"
    #: expression: ``audio`` (expression learner Psi), ``reference`` (the reference frame's own
    #: expression held), or a path to another video whose expression is transferred (Fig. 16)
    expression: str = "audio"
    #: multiplies the expression's deviation from the reference identity (0 = closed, neutral mouth)
    expression_scale: float = 1.0
    #: multiplies the head motion's deviation from the reference's most frontal pose (0 = still)
    motion_scale: float = 1.0
    #: synthetic motions (nod, shake, tilt, circle): peak angle in degrees and period in seconds
    motion_amplitude: float = 15.0
    motion_period: float = 2.0
    seed: int = 0
    #: ``crop``: a size x size face video; ``paste-back``: the face crop pasted back into the
    #: original reference frame (full resolution, capped at ``max_paste_side``)
    output: str = "crop"
    #: face crop side in pixels (128, 256, 512); 0 = auto: paste-back renders the face at about its size in
    #: the written frame (256, or 512 when the face is larger there, so it is never upscaled past 1.1x unless
    #: it is larger than 512 px), a crop output at 256 (see ``face_size``)
    size: int = 0
    #: ``auto``: the learned generator when its checkpoint is present, else the 3D warp
    renderer: str = "auto"
    #: longest audio accepted, seconds (0 = no limit)
    max_seconds: float = 600.0
    #: accept audio that is digitally silent (a still mouth) instead of refusing it: for benchmark
    #: clips whose sound track is empty; users get the "silent audio" error by default
    allow_silent_audio: bool = False
    #: frames of the reference video used (tau of the paper); longer references are truncated
    reference_frames: int = TAU
    #: frames made per chunk (learners, render, encode): bounds memory for long audio
    chunk_frames: int = 100
    #: face tracking backend for the reference and driving videos
    tracker: str = "mediapipe"
    #: face crop side as a multiple of the landmark box (same meaning as in preprocessing)
    crop_scale: float = 1.9
    #: paste-back output: longest side of the written frame (huge references are scaled down)
    max_paste_side: int = 1920
    #: also write the intermediate products: a landmarks | 3D render view video and a pose-curve PNG
    views: bool = False
    #: H.264 quality of the written video (lower = better, larger)
    crf: int = 18
    #: checkpoints; None = the shipped defaults under checkpoints/
    expression_checkpoint: str | None = None
    motion_checkpoint: str | None = None
    generator_checkpoint: str | None = None
    #: generator only: steps of fine-tuning on the reference video's own frames before generating
    #: (toolkit.generator.finetune; about 0.3 s a step on a 2-core CPU); 0 = the weights as they are. Off by
    #: default: on the 256x256 held-out benchmark 100 steps lowered CSIM (README, generator section)
    finetune_steps: int = 0
    #: free-form notes carried into the result (e.g. batch job id); not used by the pipeline
    tags: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ parsing
    def motion_source(self) -> Source:
        return _parse_source(self.motion, MOTION_SOURCES, "motion", allow_file=True)

    def expression_source(self) -> Source:
        return _parse_source(self.expression, EXPRESSION_SOURCES, "expression", allow_file=False)

    def validate(self) -> GenerationConfig:
        """Raise :class:`ConfigError` for any unusable value; return self."""
        if not K_RANGE[0] <= int(self.k) <= K_RANGE[1]:
            raise ConfigError(
                f"K must be between {K_RANGE[0]} and {K_RANGE[1]}, got {self.k}.",
                "Use e.g. --k 8 (the paper uses 1, 8, 32).",
            )
        if self.reference_frames < 1:
            raise ConfigError(f"reference_frames must be at least 1, got {self.reference_frames}.", "Use e.g. 64.")
        if not 0.0 <= float(self.motion_amplitude) <= 60.0 or float(self.motion_period) <= 0.0:
            raise ConfigError(
                f"A synthetic motion needs an amplitude of 0-60 degrees and a positive period; got "
                f"{self.motion_amplitude} degrees every {self.motion_period} s.",
                "Use e.g. --motion-amplitude 15 --motion-period 2.",
            )
        for name in ("expression_scale", "motion_scale"):
            value = float(getattr(self, name))
            if not SCALE_RANGE[0] <= value <= SCALE_RANGE[1]:
                raise ConfigError(
                    f"{name} must be between {SCALE_RANGE[0]:g} and {SCALE_RANGE[1]:g}, got {value}.",
                    "1 keeps the learned amplitude.",
                )
        if self.output not in OUTPUT_MODES:
            raise ConfigError(f"Unknown output mode '{self.output}'.", f"Use one of: {', '.join(OUTPUT_MODES)}.")
        if self.size not in (0, *OUTPUT_SIZES):
            raise ConfigError(
                f"Output size must be 0 (auto), 128, 256 or 512, got {self.size}.",
                "Use 0 to match the face's size in the frame, or 256 (the models' size) / 512 for a sharper face.",
            )
        if self.renderer not in RENDERERS:
            raise ConfigError(f"Unknown renderer '{self.renderer}'.", f"Use one of: {', '.join(RENDERERS)}.")
        if self.max_seconds < 0:
            raise ConfigError("max_seconds cannot be negative.", "Use 0 for no limit.")
        if not 16 <= self.chunk_frames <= 5000:
            raise ConfigError(f"chunk_frames must be between 16 and 5000, got {self.chunk_frames}.", "100 is 4 s.")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be between 0 and 51, got {self.crf}.", "18 is visually lossless.")
        if not 0 <= self.finetune_steps <= 10_000:
            raise ConfigError(
                f"finetune_steps must be between 0 and 10000, got {self.finetune_steps}.",
                "0 (off) is the default; 100 is a typical value.",
            )
        if self.max_paste_side < 256:
            raise ConfigError("max_paste_side must be at least 256.", "Use e.g. 1920.")
        self.motion_source()
        self.expression_source()
        return self

    def face_size(self, face_side_in_output: float | None = None) -> int:
        """The face crop's side in pixels: ``size`` when set; auto (0): for a paste-back output the smallest
        of 256 and 512 that the face's side in the written frame (``face_side_in_output``, pixels) does not
        exceed by more than ``AUTO_SIZE_SLACK``, capped at 512; otherwise 256."""
        if self.size:
            return int(self.size)
        if self.output != "paste-back" or face_side_in_output is None:
            return 256
        fits = [s for s in OUTPUT_SIZES[1:] if s * AUTO_SIZE_SLACK >= face_side_in_output]
        return fits[0] if fits else OUTPUT_SIZES[-1]

    # ------------------------------------------------------------- conversions
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GenerationConfig:
        """Build from a mapping of field name -> value (strings are converted); unknown keys are errors."""
        return cls().with_overrides(**values)

    def with_overrides(self, **values: Any) -> GenerationConfig:
        """A copy with some fields replaced; string values (CSV cells, form fields) are converted."""
        types = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            name = key.replace("-", "_").lower()
            if name not in types:
                raise ConfigError(f"Unknown option '{key}'.", f"Known options: {', '.join(sorted(types))}.")
            changes[name] = _convert(name, value, getattr(self, name))
        return dataclasses.replace(self, **changes)


def _convert(name: str, value: Any, current: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return current  # a blank CSV cell or form field keeps the default
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if isinstance(current, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        raise ConfigError(f"Option '{name}' got '{value}', which is not a {type(current).__name__}.", "") from None
    return text


def _parse_source(value: str, named: tuple[str, ...], what: str, allow_file: bool) -> Source:
    text = str(value).strip()
    if text.lower() in named:
        return Source(text.lower())  # type: ignore[arg-type]
    path = Path(text).expanduser()
    if allow_file and path.suffix.lower() in MOTION_FILE_SUFFIXES:
        kind: SourceKind = "file"
    else:
        kind = "video"
    if not path.is_file():
        options = ", ".join(named)
        extra = " or a .npy/.csv motion file" if allow_file else ""
        raise ConfigError(
            f"The {what} source '{text}' is neither one of {options} nor an existing file.",
            f"Use {options}, a path to a video{extra}.",
        )
    return Source(kind, path)


# ------------------------------------------------------------------ CLI glue
_HELP: dict[str, str] = {
    "k": "K reference frames (paper: 1, 8, 32)",
    "motion": "head motion: learned | still | reference | nod | shake | tilt | circle | VIDEO | MOTION.npy/.csv",
    "expression": "expression: audio | reference | VIDEO (transfer another video's expression)",
    "expression_scale": "scale of the expression around the reference identity",
    "motion_scale": "scale of the head motion around the reference's frontal pose",
    "motion_amplitude": "synthetic motion (nod, shake, tilt, circle): peak angle, degrees",
    "motion_period": "synthetic motion (nod, shake, tilt, circle): period, seconds",
    "seed": "random seed (reference frame sampling, learned motion)",
    "output": "crop (size x size face video) or paste-back (into the original frame)",
    "size": "face size in pixels: 128, 256, 512, or 0 = auto (paste-back: the face's size in the frame, 256 or 512)",
    "renderer": "auto | 3d-warp | generator",
    "max_seconds": "refuse audio longer than this (0 = no limit)",
    "allow_silent_audio": "accept silent audio (a still mouth) instead of refusing it",
    "reference_frames": "frames of the reference video used (tau)",
    "chunk_frames": "frames made per chunk (memory bound)",
    "tracker": "face tracking backend",
    "crop_scale": "face crop size relative to the landmark box",
    "max_paste_side": "longest side of a paste-back output",
    "views": "also write the landmarks/3D-render view video and a pose-curve PNG",
    "crf": "H.264 quality (lower is better)",
    "expression_checkpoint": "expression learner checkpoint (default: shipped)",
    "motion_checkpoint": "motion learner checkpoint (default: shipped)",
    "generator_checkpoint": "generator checkpoint (default: shipped, if any)",
    "finetune_steps": "generator: fine-tuning steps on the reference frames (0 = off)",
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--option`` per config field; defaults are left to the dataclass (None = unset)."""
    defaults = GenerationConfig()
    for f in dataclasses.fields(GenerationConfig):
        if f.name == "tags":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=_HELP.get(f.name))
            continue
        kind = type(default) if default is not None else str
        choices = {"output": OUTPUT_MODES, "renderer": RENDERERS}.get(f.name)
        text = _HELP.get(f.name, "")
        if default is not None and "default:" not in text:  # the shipped-checkpoint options say it themselves
            text = f"{text} (default: {default})"
        parser.add_argument(
            flag,
            type=kind,
            default=None,
            choices=choices,
            help=text,
            metavar=f.name.upper() if choices is None else None,
        )


def config_from_args(args: argparse.Namespace, base: GenerationConfig | None = None) -> GenerationConfig:
    """The config given on the command line (options left unset keep ``base``'s values)."""
    base = base or GenerationConfig()
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(GenerationConfig)
        if f.name != "tags" and getattr(args, f.name, None) is not None
    }
    return base.with_overrides(**given)
