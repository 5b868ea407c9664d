"""Gradio app: talking-head generation with rhythmic head motion (Chen et al., ECCV 2020).

Run ``make app`` or ``.venv/bin/python app.py`` (or deploy to Hugging Face
Spaces: README front matter, ``requirements.txt``, ``packages.txt``). Give one
reference (a video or a photo: one input takes either, and the app says which
it got), speech, and press Generate; the talking-head video appears at its
real size beside the face it was made from, with the paper's intermediate
products (landmark image, 3D render, head-motion curves) and a download.
Two examples made by the project (a photo and a video, each with speech) fill
the inputs in one click.

Settings come from the environment (defaults in :class:`AppSettings`):
``APP_MAX_SECONDS`` (longest audio), ``APP_CONCURRENCY`` (generations at
once), ``APP_QUEUE_SIZE``, ``APP_MAX_FILE_MB``, ``APP_CACHE_MAX_AGE_S`` (age at
which Gradio's cached uploads and results are deleted), ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT``.

Every failure reaches the user as a one-paragraph message in the UI (and as
the error of the ``/generate`` API call); the app serves only what it made and
what was uploaded to it.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging
import queue
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from toolkit.constants import SYNTHETIC_KINDS
from toolkit.errors import InputFileError, ToolkitError
from toolkit.io.formats import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from toolkit.paths import PROJECT_ROOT, assets_dir, shared_dir
from toolkit.pipeline.config import K_RANGE, SCALE_RANGE, GenerationConfig
from toolkit.pipeline.progress import STAGES, ProgressEvent

log = logging.getLogger("talking-head-app")

TITLE = "Talking-head generation with rhythmic head motion"
MOTION_CHOICES = [
    ("learned from the reference and the audio", "learned"),
    ("still head", "still"),
    ("replay the reference video's motion", "reference"),
    ("from another video / motion file", "file"),
    *[(f"synthetic {kind} (Fig. 16)", kind) for kind in SYNTHETIC_KINDS],
]
EXPRESSION_CHOICES = [
    ("from the audio", "audio"),
    ("held (reference expression)", "reference"),
    ("from another video", "video"),
]
RENDERER_CHOICES = [
    ("automatic", "auto"),
    ("3D-aware warp", "3d-warp"),
    ("learned generator", "generator"),
]
RENDERER_HELP = (
    "**automatic**: the learned generator only if its checkpoint records that it beats the 3D-aware warp on "
    "unseen people (none does yet), else the 3D-aware warp.  \n"
    "**3D-aware warp**: the reference face re-posed on a 3D face mesh (paper Sec. 4.1); sharp, keeps the identity.  \n"
    "**learned generator**: the paper's network (Sec. 4.2-4.4), a small model trained here on a CPU; "
    "a little smoother, no better on identity."
)
STAGE_LABELS = {
    "load": "decode",
    "tracking": "face tracking",
    "learners": "expression + motion learners",
    "render": "3D-aware render",
    "generator": "generator",
    "encode": "video encode",
}


def _env_number(name: str, default: float, kind: type) -> Any:
    """A limit from the environment, read when the settings are made (not at import), checked."""
    text = os.environ.get(name, "").strip()
    if not text:
        return kind(default)
    try:
        value = kind(text)
    except ValueError:
        raise ToolkitError(f"{name}={text!r} is not a {kind.__name__} number.", f"Set e.g. {name}={default}.") from None
    if value < 0:
        raise ToolkitError(f"{name}={text!r} is negative.", f"Set e.g. {name}={default}.")
    return value


@dataclass
class AppSettings:
    """Limits and serving options of the app."""

    max_seconds: float = field(default_factory=lambda: _env_number("APP_MAX_SECONDS", 60, float))
    concurrency: int = field(default_factory=lambda: _env_number("APP_CONCURRENCY", 2, int))
    queue_size: int = field(default_factory=lambda: _env_number("APP_QUEUE_SIZE", 16, int))
    max_file_mb: int = field(default_factory=lambda: _env_number("APP_MAX_FILE_MB", 100, int))
    #: where generated files are written (one folder per request, oldest removed beyond ``keep_runs``)
    output_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "talking-head-app")
    keep_runs: int = 64
    #: Gradio's own copies of uploads and results are deleted this many seconds after they were made
    #: (``delete_cache``); without it they stay until the server stops (up to max_file_mb per upload)
    cache_max_age_s: int = field(default_factory=lambda: _env_number("APP_CACHE_MAX_AGE_S", 3600, int))
    #: base generation options (the UI overrides the controls it shows)
    base_config: GenerationConfig = field(default_factory=GenerationConfig)


# ---------------------------------------------------------------------- the handler
def _stage_html(done: dict[str, float], active: str | None, used: tuple[str, ...]) -> str:
    rows = []
    for s in used:
        pct = int(round(100 * done.get(s, 0.0)))
        mark = " ▶" if s == active and pct < 100 else ""
        rows.append(
            f"<div class='stage'><span class='stage-name'>{STAGE_LABELS[s]}{mark}</span>"
            f"<progress max='100' value='{pct}'></progress><span class='stage-pct'>{pct}%</span></div>"
        )
    return "<div class='stages'>" + "".join(rows) + "</div>"


def _pick_reference(reference: str | None) -> str:
    if not reference:
        raise InputFileError("No reference was given.", "Add a video or a photo of the person's face.")
    suffix = Path(reference).suffix.lower()
    if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        raise InputFileError(
            f"'{Path(reference).name}' is not a video or a photo.",
            "Use a video (mp4, mov, webm...) or a photo (jpg, png...) of the person's face.",
        )
    return reference


def reference_kind(reference: str | None) -> str:
    """'video', 'photo' or '' (nothing usable), from the file name."""
    if not reference:
        return ""
    suffix = Path(reference).suffix.lower()
    return "photo" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else ""


def plain_warning(text: str) -> str:
    """A pipeline or renderer warning in plain words (one sentence, no jargon, no doubled full stop)."""
    import re

    text = text.strip().rstrip(".")
    turned = re.match(r"profile-ish frontal frame: its head is turned (\d+) deg", text)
    if turned:
        return (
            f"The face is turned to the side (about {turned.group(1)}°) even in its most frontal frame, so the "
            "hidden side of the face is filled in from other frames and may look smeared. A reference where "
            "the person looks at the camera works best."
        )
    missing = re.match(r"the face was not found in (\d+) of (\d+) reference frames", text)
    if missing:
        return (
            f"The face was not found in {missing.group(1)} of the {missing.group(2)} reference frames used; "
            "they were filled in from their neighbours."
        )
    return text[:1].upper() + text[1:] + "."


def _check_audio_path(audio: str | None) -> str:
    if not audio:
        raise InputFileError("No audio was given.", "Upload or record the speech to animate.")
    suffix = Path(audio).suffix.lower()
    if suffix not in AUDIO_SUFFIXES + VIDEO_SUFFIXES:
        raise InputFileError(
            f"The audio '{Path(audio).name}' is not an audio file.", f"Use one of: {', '.join(AUDIO_SUFFIXES)}."
        )
    return audio


#: names of the per-request folders (``_new_run_dir``); nothing else under output_root is ever pruned
RUN_DIR_RE = re.compile(r"\d{8}-\d{6}-[0-9a-f]{8}")


def _new_run_dir(settings: AppSettings) -> Path:
    settings.output_root.mkdir(parents=True, exist_ok=True)
    runs = sorted(
        (p for p in settings.output_root.iterdir() if p.is_dir() and RUN_DIR_RE.fullmatch(p.name)),
        key=lambda p: p.stat().st_mtime,
    )  # examples/ and anything else that is not a run folder are kept
    for old in runs[: max(0, len(runs) - settings.keep_runs + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    run = settings.output_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    run.mkdir()
    return run


def cache_schedule(settings: AppSettings) -> tuple[int, int]:
    """Gradio's ``delete_cache=(every, age)``: files older than the age go, checked a few times per age."""
    age = max(1, int(settings.cache_max_age_s))
    return max(1, min(age // 4, 900)), age


def make_handler(settings: AppSettings):
    def generate(
        reference: str | None,
        audio: str | None,
        renderer: str,
        k: float,
        motion: str,
        motion_file: str | None,
        expression: str,
        expression_video: str | None,
        expression_scale: float,
        motion_scale: float,
        seed: float,
        paste_back: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (gradio injects it)
    ):
        """Generate a talking-head video; yields stage progress, then the results."""
        try:
            reference = _pick_reference(reference)
            audio_path = _check_audio_path(audio)
            motion_value = motion or "learned"
            if motion_value == "file":
                if not motion_file:
                    raise InputFileError(
                        "Head motion 'from another video / motion file' needs that file.",
                        "Upload a video or a .npy/.csv motion file, or pick another motion source.",
                    )
                motion_value = motion_file
            expression_value = expression or "audio"
            if expression_value == "video":
                if not expression_video:
                    raise InputFileError(
                        "Expression 'from another video' needs that video.",
                        "Upload it, or pick another expression source.",
                    )
                expression_value = expression_video
            config = settings.base_config.with_overrides(
                k=int(k),
                motion=motion_value,
                expression=expression_value,
                expression_scale=float(expression_scale),
                motion_scale=float(motion_scale),
                seed=int(seed),
                output="paste-back" if paste_back else "crop",
                max_seconds=settings.max_seconds,
                views=True,
                renderer=renderer or "auto",
            ).validate()
        except ToolkitError as exc:
            raise gr.Error(str(exc), title="Cannot generate", print_exception=False) from None

        from toolkit.pipeline import TalkingHeadPipeline
        from toolkit.pipeline.renderers import resolve_renderer

        used = tuple(s for s in STAGES if s != "generator" or resolve_renderer(config) == "generator")
        run_dir = _new_run_dir(settings)
        out_path = run_dir / "talking_head.mp4"
        events: queue.Queue[ProgressEvent] = queue.Queue()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = TalkingHeadPipeline(config).generate(reference, audio_path, out_path, events.put)
            except BaseException as exc:  # handed to the UI thread below
                box["error"] = exc
                # a failed request leaves no (empty) run folder, also when its client has gone
                shutil.rmtree(run_dir, ignore_errors=True)

        worker = threading.Thread(target=work, name="generate", daemon=True)
        worker.start()
        done = dict.fromkeys(used, 0.0)
        active: str | None = None
        last_yield = 0.0
        while worker.is_alive() or not events.empty():
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if event.stage in done:
                done[event.stage] = max(done[event.stage], event.fraction)
                active = event.stage
            progress(event.overall, desc=f"{STAGE_LABELS.get(event.stage, event.stage)}: {event.message}")
            now = time.monotonic()
            if now - last_yield > 0.5:
                last_yield = now
                # the stage bars show the progress; the status line stays empty until there is a result
                yield None, None, None, None, None, _stage_html(done, active, used), ""
        worker.join()
        if "error" in box:
            failure = box["error"]
            if isinstance(failure, ToolkitError):
                raise gr.Error(str(failure), title="Cannot generate", print_exception=False)
            log.error("generation failed:\n%s", "".join(traceback.format_exception(failure)))
            raise gr.Error(
                f"Something went wrong inside the generator ({type(failure).__name__}: {failure}). "
                "Try another reference or audio; if it keeps happening, please report it.",
                title="Internal error",
                print_exception=False,
            )
        result = box["result"]
        face_path = None
        if result.reference_face is not None:
            from PIL import Image

            face_path = run_dir / "reference_face.png"
            Image.fromarray(result.reference_face).save(face_path)
        kind = reference_kind(reference)
        renderer_label = dict((v, k) for k, v in RENDERER_CHOICES).get(result.renderer, result.renderer)
        status = (
            f"**Done**: {result.seconds:.1f} s of video from the {kind} *{Path(reference).name}*, made by the "
            f"{renderer_label} in {result.wall_seconds:.0f} s."
        )
        if config.renderer == "auto" and result.renderer == "3d-warp":
            from toolkit.pipeline.renderers import GENERATOR_OPTION_NOTE

            status += "\n\n" + GENERATOR_OPTION_NOTE.replace("(--renderer generator)", "(Renderer: learned generator)")
        if result.warnings:
            status += "\n\n" + " ".join(f"Note: {plain_warning(w)}" for w in result.warnings)
        yield (
            str(result.out_path),
            str(face_path) if face_path else None,
            str(result.views_path) if result.views_path else None,
            str(result.pose_plot_path) if result.pose_plot_path else None,
            str(result.out_path),
            _stage_html(dict.fromkeys(used, 1.0), None, used),
            status,
        )

    return generate


def make_reference_check(settings: AppSettings):
    """What the app says about a reference as soon as it is given (before any generation).

    Yields (video preview, photo preview, message): first which kind of reference it
    got, shown in the matching preview (only when the file really decodes, so a broken
    file gets this one message and no player error), then the result of the checks
    the generation would report only at its end: a face is found, how frontal its
    best frame is, how many frames miss the face (the reference stage and renderer
    set-up, the same code the generation runs).
    """

    def check(reference: str | None):
        hidden = gr.update(value=None, visible=False)
        if not reference:
            yield hidden, hidden, ""
            return
        kind = reference_kind(reference)
        name = Path(reference).name
        if not kind:
            yield (
                hidden,
                hidden,
                (
                    f"**Problem**: *{name}* is not a video or a photo. "
                    "Use a video (mp4, mov, webm...) or a photo (jpg, png...) of the person's face."
                ),
            )
            return
        from toolkit.io.media import probe

        try:
            info = probe(reference)
            if not info.has_video:
                raise InputFileError(f"'{name}' has no picture.", f"Use a {kind} of the person's face.")
        except ToolkitError as exc:
            yield hidden, hidden, f"**Problem**: {exc}"
            return
        shown = gr.update(value=reference, visible=True)
        previews = (shown, hidden) if kind == "video" else (hidden, shown)
        yield *previews, f"Using the {kind} *{name}*; looking for the face..."

        from toolkit.pipeline import TalkingHeadPipeline
        from toolkit.pipeline.pipeline import _reference_warnings
        from toolkit.pipeline.renderers import make_renderer

        config = settings.base_config.with_overrides(renderer="3d-warp")
        try:
            ref = TalkingHeadPipeline(config).prepare(reference)
            warnings = _reference_warnings(ref) + list(getattr(make_renderer("3d-warp", ref, config), "warnings", []))
        except ToolkitError as exc:
            yield *previews, f"**Problem**: {exc}"
            return
        what = f"Using the {kind} *{name}*" + (f" ({ref.n_frames} frames)" if kind == "video" else "")
        if not warnings:
            yield *previews, f"{what}: one face found, facing the camera well enough."
            return
        yield *previews, f"{what}.\n\n" + "\n\n".join(f"**Warning**: {plain_warning(w)}" for w in warnings)

    return check


# ---------------------------------------------------------------------- examples
#: the two examples' speech: the first and the second sentence of the project's synthesised speech
EXAMPLE_SENTENCES = ((0.0, 3.8), (3.8, 7.6))


def example_files(settings: AppSettings) -> dict[str, Path]:
    """The app's examples as files it may serve (each made by the project; see assets/README.md).

    ``photo``: the astronaut portrait; ``video``: that portrait animated by this project
    (``assets/example_video.mp4``, made by ``scripts/make_app_examples.py``);
    ``photo_speech`` / ``video_speech``: one sentence each of the project's speech.
    """
    from PIL import Image

    from toolkit.constants import AUDIO_SAMPLE_RATE
    from toolkit.demo import EXAMPLE_SPEECH, example_inputs
    from toolkit.io.media import write_wav

    folder = settings.output_root / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "photo": folder / "astronaut.png",
        "video": folder / "astronaut_talking.mp4",
        "photo_speech": folder / "speech_sentence1.wav",
        "video_speech": folder / "speech_sentence2.wav",
    }
    if not files["photo"].exists():
        image, _ = example_inputs()
        tmp = folder / f".astronaut-{uuid.uuid4().hex[:6]}.png"
        Image.fromarray(image).save(tmp)
        os.replace(tmp, files["photo"])
    if not files["video"].exists():
        shutil.copyfile(assets_dir() / "example_video.mp4", files["video"])
    for key, (start, stop) in zip(("photo_speech", "video_speech"), EXAMPLE_SENTENCES):
        if not files[key].exists():
            from toolkit.io.media import read_audio

            speech = read_audio(EXAMPLE_SPEECH, sr=AUDIO_SAMPLE_RATE)
            write_wav(files[key], speech[int(start * AUDIO_SAMPLE_RATE) : int(stop * AUDIO_SAMPLE_RATE)])
    return files


# ---------------------------------------------------------------------- layout
CSS = """
.stages { display: grid; gap: 4px; font-size: 0.9em; }
.stage { display: grid; grid-template-columns: 14em 1fr 3.5em; align-items: center; gap: 8px; }
.stage progress { width: 100%; height: 0.9em; }
/* the result and the face it came from at their real pixel size, never stretched */
#result-video video, #reference-face img { width: auto !important; height: auto !important; max-width: 100%;
  object-fit: none; margin: 0 auto; }
"""


def build_app(settings: AppSettings | None = None) -> gr.Blocks:
    settings = settings or AppSettings()
    examples = example_files(settings)
    handler = make_handler(settings)
    check = make_reference_check(settings)
    defaults = settings.base_config
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=cache_schedule(settings)) as demo:
        gr.Markdown(
            f"## {TITLE}\n"
            "Give a short video of a person (best: 2-3 s, face visible) **or** one photo, and speech "
            f"(up to {settings.max_seconds:.0f} s): the face speaks the audio and moves its head in the person's "
            "own rhythm (Chen et al., ECCV 2020)."
        )
        with gr.Row():
            with gr.Column(scale=1):
                reference = gr.File(
                    label="Reference: a video or a photo of the person",
                    type="filepath",
                    elem_id="reference",
                    height=90,
                )
                reference_check = gr.Markdown("", elem_id="reference-check")
                reference_preview_video = gr.Video(
                    label="Reference video",
                    interactive=False,
                    visible=False,
                    height=200,
                    elem_id="reference-preview-video",
                )
                reference_preview_photo = gr.Image(
                    label="Reference photo",
                    interactive=False,
                    visible=False,
                    height=200,
                    elem_id="reference-preview-photo",
                )
                audio = gr.Audio(label="Speech", type="filepath", sources=["upload", "microphone"], elem_id="audio")
                button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                renderer = gr.Radio(
                    RENDERER_CHOICES,
                    value=defaults.renderer,
                    label="Renderer",
                    elem_id="renderer",
                )
                gr.Markdown(RENDERER_HELP, elem_id="renderer-help")
            with gr.Column(scale=1):
                status = gr.Markdown("", elem_id="status")
                stages = gr.HTML(_stage_html({}, None, tuple(s for s in STAGES if s != "generator")))
                with gr.Row():
                    reference_face = gr.Image(
                        label="Face it is made from",
                        interactive=False,
                        elem_id="reference-face",
                        height=defaults.face_size(),
                        width=defaults.face_size(),
                    )
                    # shown at the pipeline's output size (256 px face crops), not stretched
                    video = gr.Video(
                        label="Talking head",
                        elem_id="result-video",
                        autoplay=False,
                        interactive=False,
                        height=defaults.face_size(),
                        width=defaults.face_size(),
                    )
                download = gr.File(label="Download", interactive=False)
        gr.Examples(
            examples=[
                [str(examples["video"]), str(examples["video_speech"])],
                [str(examples["photo"]), str(examples["photo_speech"])],
            ],
            example_labels=["a video + speech", "a photo + speech"],
            inputs=[reference, audio],
            label="Examples made by this project (the NASA astronaut portrait, public domain, "
            "and speech synthesised by the project)",
            cache_examples=False,
        )
        with gr.Accordion("More controls", open=False):
            k = gr.Slider(*K_RANGE, value=defaults.k, step=1, label="K reference frames")
            motion = gr.Dropdown(MOTION_CHOICES, value="learned", label="Head motion")
            motion_file = gr.File(
                label="Motion video or .npy/.csv file",
                file_types=[*VIDEO_SUFFIXES, ".npy", ".csv"],
                visible=False,
            )
            expression = gr.Dropdown(EXPRESSION_CHOICES, value="audio", label="Expression")
            expression_video = gr.Video(label="Expression video", sources=["upload"], visible=False)
            expression_scale = gr.Slider(*SCALE_RANGE, value=1.0, step=0.05, label="Expression scale")
            motion_scale = gr.Slider(*SCALE_RANGE, value=1.0, step=0.05, label="Head motion scale")
            seed = gr.Number(value=0, precision=0, label="Seed")
            paste_back = gr.Checkbox(value=False, label="Paste the face back into the full frame")
        with gr.Accordion("Intermediate products (paper Sec. 4)", open=False):
            views = gr.Video(label="Landmark image l_t | 3D render y~_t | output", interactive=False)
            pose = gr.Image(label="Head motion: reference vs generated (Fig. 3b)", interactive=False)

        reference.change(
            check,
            reference,
            [reference_preview_video, reference_preview_photo, reference_check],
            api_name="check_reference",
            concurrency_limit=1,
            trigger_mode="always_last",
        )
        motion.change(lambda m: gr.update(visible=m == "file"), motion, motion_file, api_visibility="private")
        expression.change(
            lambda e: gr.update(visible=e == "video"), expression, expression_video, api_visibility="private"
        )
        inputs = [
            reference,
            audio,
            renderer,
            k,
            motion,
            motion_file,
            expression,
            expression_video,
            expression_scale,
            motion_scale,
            seed,
            paste_back,
        ]
        # one message per problem: the pre-check's note gives way to what the generation says
        button.click(lambda: "", None, reference_check, api_visibility="private", queue=False)
        button.click(
            handler,
            inputs,
            [video, reference_face, views, pose, download, stages, status],
            api_name="generate",
            concurrency_limit=settings.concurrency,
            # the stage bars are the progress display, and a failure is its one message (no per-output badges)
            show_progress="hidden",
        )
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return demo


def launch_kwargs(settings: AppSettings) -> dict[str, Any]:
    """Serving options: upload size limit, and nothing from the checkout or shared data served."""
    return {
        "max_file_size": f"{settings.max_file_mb}mb",
        "show_error": True,
        "allowed_paths": [str(settings.output_root)],
        "blocked_paths": [str(PROJECT_ROOT), str(shared_dir())],
        "css": CSS,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = AppSettings()
    build_app(settings).launch(**launch_kwargs(settings))


if __name__ == "__main__":
    main()
