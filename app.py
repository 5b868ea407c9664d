"""Gradio app: talking-head generation with rhythmic head motion (Chen et al., ECCV 2020).

Run ``python app.py`` (or deploy to Hugging Face Spaces: README front matter,
``requirements.txt``, ``packages.txt``). Upload or record a reference video or
photo and speech, pick the controls, and get the talking-head video, the
paper's intermediate products (landmark image, 3D render, head-motion curves)
and a download.

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

from toolkit.errors import InputFileError, ToolkitError
from toolkit.paths import PROJECT_ROOT, shared_dir
from toolkit.pipeline.config import GenerationConfig
from toolkit.pipeline.inputs import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from toolkit.pipeline.progress import STAGES, ProgressEvent

log = logging.getLogger("talking-head-app")

TITLE = "Talking-head generation with rhythmic head motion"
MOTION_CHOICES = [
    ("learned from the reference and the audio", "learned"),
    ("still head", "still"),
    ("replay the reference video's motion", "reference"),
    ("from another video / motion file", "file"),
]
EXPRESSION_CHOICES = [
    ("from the audio", "audio"),
    ("held (reference expression)", "reference"),
    ("from another video", "video"),
]
STAGE_LABELS = {
    "load": "decode",
    "tracking": "face tracking",
    "learners": "expression + motion learners",
    "render": "3D-aware render",
    "generator": "generator",
    "encode": "video encode",
}


@dataclass
class AppSettings:
    """Limits and serving options of the app."""

    max_seconds: float = float(os.environ.get("APP_MAX_SECONDS", "60"))
    concurrency: int = int(os.environ.get("APP_CONCURRENCY", "2"))
    queue_size: int = int(os.environ.get("APP_QUEUE_SIZE", "16"))
    max_file_mb: int = int(os.environ.get("APP_MAX_FILE_MB", "100"))
    #: where generated files are written (one folder per request, oldest removed beyond ``keep_runs``)
    output_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "talking-head-app")
    keep_runs: int = 64
    #: Gradio's own copies of uploads and results are deleted this many seconds after they were made
    #: (``delete_cache``); without it they stay until the server stops (up to max_file_mb per upload)
    cache_max_age_s: int = int(os.environ.get("APP_CACHE_MAX_AGE_S", "3600"))
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


def _pick_reference(reference_video: str | None, reference_image: str | None) -> str:
    ref = reference_video or reference_image
    if not ref:
        raise InputFileError("No reference was given.", "Upload or record a video, or a photo, of the person.")
    suffix = Path(ref).suffix.lower()
    if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        raise InputFileError(
            f"The reference '{Path(ref).name}' is not a video or image file.",
            f"Use one of: {', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)}.",
        )
    return ref


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
        reference_video: str | None,
        reference_image: str | None,
        audio: str | None,
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
            reference = _pick_reference(reference_video, reference_image)
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
                k=int(k), motion=motion_value, expression=expression_value,
                expression_scale=float(expression_scale), motion_scale=float(motion_scale), seed=int(seed),
                output="paste-back" if paste_back else "crop", max_seconds=settings.max_seconds, views=True,
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
                yield None, None, None, None, _stage_html(done, active, used), "Generating..."
        worker.join()
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, ToolkitError):
                raise gr.Error(str(exc), title="Cannot generate", print_exception=False)
            log.error("generation failed:\n%s", "".join(traceback.format_exception(exc)))
            raise gr.Error(
                f"Something went wrong inside the generator ({type(exc).__name__}: {exc}). "
                "Try another reference or audio; if it keeps happening, please report it.",
                title="Internal error",
                print_exception=False,
            )
        result = box["result"]
        stages = ", ".join(f"{STAGE_LABELS[k]} {v:.1f} s" for k, v in result.timings.items() if v > 0.05)
        status = (
            f"**Done**: {result.n_frames} frames ({result.seconds:.1f} s) with the `{result.renderer}` renderer "
            f"in {result.wall_seconds:.1f} s (real-time factor {result.real_time_factor:.2f}; {stages})."
        )
        if result.warnings:
            status += "\n\nNote: " + "; ".join(result.warnings) + "."
        yield (
            str(result.out_path),
            str(result.views_path) if result.views_path else None,
            str(result.pose_plot_path) if result.pose_plot_path else None,
            str(result.out_path),
            _stage_html(dict.fromkeys(used, 1.0), None, used),
            status,
        )

    return generate


# ---------------------------------------------------------------------- examples
def example_files(settings: AppSettings) -> tuple[Path, Path]:
    """The embedded example as files the app may serve: the astronaut portrait and the project's speech."""
    from PIL import Image

    from toolkit.demo import EXAMPLE_SPEECH, example_inputs

    folder = settings.output_root / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    image_path = folder / "astronaut.png"
    speech_path = folder / "example_speech.wav"
    if not image_path.exists():
        image, _ = example_inputs()
        tmp = folder / f".astronaut-{uuid.uuid4().hex[:6]}.png"
        Image.fromarray(image).save(tmp)
        os.replace(tmp, image_path)
    if not speech_path.exists():
        shutil.copyfile(EXAMPLE_SPEECH, speech_path)
    return image_path, speech_path


# ---------------------------------------------------------------------- layout
CSS = """
.stages { display: grid; gap: 4px; font-size: 0.9em; }
.stage { display: grid; grid-template-columns: 14em 1fr 3.5em; align-items: center; gap: 8px; }
.stage progress { width: 100%; height: 0.9em; }
"""


def build_app(settings: AppSettings | None = None) -> gr.Blocks:
    settings = settings or AppSettings()
    image_example, speech_example = example_files(settings)
    handler = make_handler(settings)
    defaults = settings.base_config
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=cache_schedule(settings)) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "A reproduction of Chen et al., ECCV 2020: the face speaks the audio (expression learner) "
            "and moves its head in the person's own rhythm (head motion learner), rendered by the 3D-aware "
            "module. Give a short video of the person (best: 2-3 s, face visible) or one photo, and speech. "
            f"Audio up to {settings.max_seconds:.0f} s."
        )
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tabs():
                    with gr.Tab("Reference video"):
                        reference_video = gr.Video(
                            label="Reference video", sources=["upload", "webcam"], elem_id="reference-video"
                        )
                    with gr.Tab("Reference photo"):
                        reference_image = gr.Image(
                            label="Reference photo", type="filepath", sources=["upload", "webcam", "clipboard"],
                            elem_id="reference-image",
                        )
                audio = gr.Audio(
                    label="Speech", type="filepath", sources=["upload", "microphone"], elem_id="audio"
                )
                with gr.Accordion("Controls", open=True):
                    k = gr.Slider(1, 32, value=defaults.k, step=1, label="K reference frames")
                    motion = gr.Dropdown(MOTION_CHOICES, value="learned", label="Head motion")
                    motion_file = gr.File(
                        label="Motion video or .npy/.csv file", file_types=[*VIDEO_SUFFIXES, ".npy", ".csv"],
                        visible=False,
                    )
                    expression = gr.Dropdown(EXPRESSION_CHOICES, value="audio", label="Expression")
                    expression_video = gr.Video(label="Expression video", sources=["upload"], visible=False)
                    expression_scale = gr.Slider(0, 2, value=1.0, step=0.05, label="Expression scale")
                    motion_scale = gr.Slider(0, 2, value=1.0, step=0.05, label="Head motion scale")
                    seed = gr.Number(value=0, precision=0, label="Seed")
                    paste_back = gr.Checkbox(value=False, label="Paste the face back into the full frame")
                button = gr.Button("Generate", variant="primary", elem_id="generate-button")
            with gr.Column(scale=1):
                stages = gr.HTML(_stage_html({}, None, tuple(s for s in STAGES if s != "generator")))
                status = gr.Markdown("", elem_id="status")
                video = gr.Video(label="Talking head", elem_id="result-video", autoplay=False, interactive=False)
                with gr.Accordion("Intermediate products (paper Sec. 4)", open=False):
                    views = gr.Video(label="Landmark image l_t | 3D render y~_t | output", interactive=False)
                    pose = gr.Image(label="Head motion: reference vs generated (Fig. 3b)", interactive=False)
                download = gr.File(label="Download", interactive=False)
        motion.change(lambda m: gr.update(visible=m == "file"), motion, motion_file, api_visibility="private")
        expression.change(
            lambda e: gr.update(visible=e == "video"), expression, expression_video, api_visibility="private"
        )
        inputs = [
            reference_video, reference_image, audio, k, motion, motion_file, expression, expression_video,
            expression_scale, motion_scale, seed, paste_back,
        ]
        button.click(
            handler, inputs, [video, views, pose, download, stages, status], api_name="generate",
            concurrency_limit=settings.concurrency,
        )
        gr.Examples(
            examples=[[None, str(image_example), str(speech_example)]],
            inputs=[reference_video, reference_image, audio],
            label="Example made by this project (NASA astronaut portrait from scikit-image + synthesised speech)",
            cache_examples=False,
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
