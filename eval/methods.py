"""Methods the runner evaluates: built-in generators and folders of another method's outputs.

A built-in method implements :class:`Method`: given one benchmark clip's
:class:`MethodInputs` it yields the generated frames (uint8 RGB, any size,
25 fps), exactly ``inputs.n_frames`` of them. The runner writes them to
``<out>/videos/<method>/<clip_id>.mp4`` (with the driving audio) and evaluates
that file like any other method's output. The built-ins beyond ``static`` and
``reference-loop`` come from the adapter modules listed in :data:`METHOD_MODULES`
(``eval/adapters/``: each has ``methods() -> {name: factory}``, loaded when the
registry is first used), so ``toolkit evaluate --method 3d-warp`` finds it. The
plugin point for code outside the project::

    from eval.methods import register_method
    register_method("my-method", lambda **options: MyMethod(**options))

A folder method (``--method NAME=DIR``) reads ``DIR/<clip_id>.mp4`` (or the
same name with another video extension, or ``<clip file stem>.mp4``).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from toolkit.constants import AUDIO_SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_FPS
from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.formats import VIDEO_SUFFIXES
from toolkit.timeline import back_and_forth

#: the explicit registry of built-in methods beyond ``static`` and ``reference-loop``: modules whose
#: ``methods()`` returns ``{name: factory}``, loaded on first use (they import the toolkit's models)
METHOD_MODULES: tuple[str, ...] = (
    "eval.adapters.warp3d",  # 3d-warp
    "eval.adapters.pipeline",  # pipeline, pipeline-single-image, ours, 3d-warp-audio/-landmark, ablations
)


@dataclass
class MethodInputs:
    """Everything a method may use for one benchmark clip (nothing from the ground truth, except the
    driving video of a landmark-driven method)."""

    clip_id: str
    #: the reference video y_1..y_tau, (tau, H, W, 3) uint8 RGB at 25 fps, the clip's own resolution
    reference_frames: np.ndarray
    #: the K frames (indices into reference_frames) a few-shot method may use as appearance references
    reference_indices: tuple[int, ...]
    #: the most frontal reference frame t_M (index into reference_frames), from the benchmark
    frontal_index: int
    #: the audio under the reference frames, float32 mono 16 kHz, tau * 640 samples
    reference_audio: np.ndarray
    #: the driving audio, float32 mono 16 kHz, n_frames * 640 samples
    driving_audio: np.ndarray
    #: frames to generate (= ground-truth frames)
    n_frames: int
    fps: int = VIDEO_FPS
    sample_rate: int = AUDIO_SAMPLE_RATE
    seed: int = 0
    #: the ground-truth video (n_frames, H, W, 3), given only to landmark-driven methods (those with
    #: ``uses_driving_video = True``: reenactment from the real frames' tracked landmarks and head
    #: motion, the paper's landmark-driven setting); None for every audio-driven method
    driving_frames: np.ndarray | None = None

    @classmethod
    def for_clip(
        cls, clip: Any, native: np.ndarray, audio: np.ndarray, seed: int, with_driving_video: bool = False
    ) -> MethodInputs:
        """The inputs of a benchmark clip (``eval.benchmark.BenchmarkClip``) from its decoded frames and audio:
        the first tau frames and their audio are the reference, the rest of the audio drives (and, for a
        landmark-driven method, the rest of the frames)."""
        tau = clip.tau
        return cls(
            clip_id=clip.clip_id,
            reference_frames=native[:tau],
            reference_indices=clip.reference_indices,
            frontal_index=clip.frontal_index,
            reference_audio=audio[: tau * SAMPLES_PER_FRAME],
            driving_audio=audio[tau * SAMPLES_PER_FRAME :],
            n_frames=clip.n_driving,
            seed=seed,
            driving_frames=native[tau : tau + clip.n_driving] if with_driving_video else None,
        )


class Method(Protocol):
    """A talking-head generator the runner can call."""

    name: str
    #: one line for the leaderboard
    description: str

    def generate(self, inputs: MethodInputs) -> Iterable[np.ndarray]:
        """Yield ``inputs.n_frames`` frames, uint8 RGB (H, W, 3), all the same size."""
        ...


class StaticMethod:
    """The most frontal reference frame, repeated: no motion at all."""

    name = "static"
    description = "most frontal reference frame (t_M) repeated for the whole driving audio"

    def generate(self, inputs: MethodInputs) -> Iterator[np.ndarray]:
        frame = inputs.reference_frames[inputs.frontal_index]
        for _ in range(inputs.n_frames):
            yield frame


class ReferenceLoopMethod:
    """The reference frames played forward and backward (0..tau-1, tau-2..1, ...): natural motion, no sync."""

    name = "reference-loop"
    description = "reference frames replayed back and forth (natural head motion, no lip sync)"

    def generate(self, inputs: MethodInputs) -> Iterator[np.ndarray]:
        for index in back_and_forth(inputs.n_frames, len(inputs.reference_frames)):
            yield inputs.reference_frames[index]


_REGISTRY: dict[str, Callable[..., Method]] = {
    "static": lambda **options: StaticMethod(),
    "reference-loop": lambda **options: ReferenceLoopMethod(),
}
_loaded_modules = False


def register_method(name: str, factory: Callable[..., Method], overwrite: bool = False) -> None:
    """Add a built-in method: ``factory(**options)`` returns a :class:`Method`."""
    if not name or "=" in name or "/" in name:
        raise ToolkitError(f"Invalid method name '{name}'.", "Use letters, digits and '-' (no '=' or '/').")
    if name in _REGISTRY and not overwrite:
        raise ToolkitError(f"A method named '{name}' is already registered.", "Choose another name.")
    _REGISTRY[name] = factory


def _load_method_modules() -> None:
    global _loaded_modules
    if _loaded_modules:
        return
    _loaded_modules = True
    for module in METHOD_MODULES:
        for name, factory in importlib.import_module(module).methods().items():
            register_method(name, factory, overwrite=True)


def builtin_methods() -> list[str]:
    _load_method_modules()
    return sorted(_REGISTRY)


def make_method(name: str, **options: Any) -> Method:
    """The built-in method ``name``."""
    _load_method_modules()
    if name not in _REGISTRY:
        raise ToolkitError(
            f"Unknown method '{name}'.",
            f"Built-in methods: {', '.join(sorted(_REGISTRY))}; or give a folder of outputs as NAME=DIR.",
        )
    return _REGISTRY[name](**options)


def method_fingerprint(method: Method) -> str:
    """sha256 of what a built-in method's output depends on besides its inputs, so that stored outputs
    and per-clip records are reused only while it is unchanged.

    ``method.fingerprint()`` when the method defines it; else the method's name and description, every
    Python source of the top-level package that defines its class (``eval``, ``toolkit``, ...) and,
    for a method of ``eval.adapters`` or ``toolkit``, every Python source of ``toolkit`` and every file
    of the project's ``checkpoints/`` (Phi, Psi, the generator).
    Model files outside the checkout (the shared weights, pip packages) are not hashed: they are
    pinned by version and SHA-256 where they are loaded.
    """
    own = getattr(method, "fingerprint", None)
    if callable(own):
        return hashlib.sha256(str(own()).encode()).hexdigest()
    digest = hashlib.sha256(f"{method.name}\n{method.description}\n".encode())
    module = inspect.getmodule(type(method))
    roots: list[Path] = []
    if module is not None and getattr(module, "__file__", None):
        packages = [module.__name__.split(".")[0]]
        if module.__name__.startswith("eval.adapters."):
            packages.append("toolkit")  # an adapter's output is the toolkit's
        for name in packages:
            path = Path(inspect.getfile(importlib.import_module(name)))
            roots.append(path.parent if path.name == "__init__.py" else path)
        if "toolkit" in packages:
            from toolkit.paths import checkpoints_dir

            roots.append(checkpoints_dir())
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            if root.name != "checkpoints" and file.suffix != ".py":
                continue
            digest.update(f"{file.relative_to(root.parent)}\n".encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


@dataclass
class MethodSpec:
    """One ``--method`` argument: a built-in (``folder`` None) or a folder of outputs."""

    name: str
    folder: Path | None = None

    @property
    def builtin(self) -> bool:
        return self.folder is None

    def output_for(self, clip_id: str, video_stem: str) -> Path | None:
        """The folder method's file for a clip, or None if there is none."""
        assert self.folder is not None
        for stem in (clip_id, video_stem):
            for ext in VIDEO_SUFFIXES:
                candidate = self.folder / f"{stem}{ext}"
                if candidate.is_file():
                    return candidate
        return None


def parse_method(arg: str) -> MethodSpec:
    """``static`` -> built-in; ``NAME=DIR`` -> folder of ``<clip-id>.mp4`` outputs."""
    if "=" in arg:
        name, folder = arg.split("=", 1)
        name = name.strip()
        if not name:
            raise ToolkitError(f"Method '{arg}' has no name before '='.", "Write NAME=DIR.")
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise InputFileError(f"Output folder '{path}' of method '{name}' not found.", "Give an existing folder.")
        return MethodSpec(name=name, folder=path)
    make_method(arg)  # validates the name
    return MethodSpec(name=arg)
