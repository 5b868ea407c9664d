"""The Gradio app through its API (gradio_client): results, every failure message, the queue, what is served."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests import pipeline_media as media

MAX_SECONDS = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import app

    out_root = tmp_path_factory.mktemp("app_out")
    settings = app.AppSettings(
        max_seconds=MAX_SECONDS, concurrency=2, queue_size=16, max_file_mb=5, output_root=out_root
    )
    demo = app.build_app(settings)
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs(settings)
    )
    url = f"http://127.0.0.1:{port}/"
    yield url, settings
    demo.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[0], verbose=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("app_inputs")
    speech = media.speech(1.0)
    return {
        "face": media.write_png(d / "face.png", media.astronaut()),
        "speech": media.write_wav(d / "speech.wav", speech),
        "coffee": media.write_png(d / "coffee.png", media.no_face()),
        "short": media.write_wav(d / "short.wav", speech[:3000]),
        "silent": media.write_wav(d / "silent.wav", np.zeros(32000, np.float32)),
        "long": media.write_wav(d / "long.wav", np.tile(speech, 4)),
        "corrupt_wav": _write(d / "corrupt.wav", b"RIFF" + bytes(range(256)) * 20),
        "notes": _write(d / "notes.txt", b"not audio\n"),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _call(client, image=None, audio=None, video=None, motion="still", expression="reference", **kw):
    """The /generate arguments: one reference (the app's single input takes a video or a photo)."""
    from gradio_client import handle_file

    reference = video or image
    args = [
        handle_file(str(reference)) if reference else None,
        handle_file(str(audio)) if audio else None,
        kw.get("renderer", "auto"),
        kw.get("k", 1),
        motion,
        None,
        expression,
        None,
        kw.get("expression_scale", 1.0),
        kw.get("motion_scale", 1.0),
        kw.get("seed", 0),
        kw.get("paste_back", False),
        kw.get("size", 0),
    ]
    return args


def _expect_error(client, words: tuple[str, ...], **kw) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*_call(client, **kw), api_name="/generate")
    message = str(info.value)
    for word in words:
        assert word.lower() in message.lower(), message
    assert "Traceback" not in message
    return message


def test_generate_returns_video_views_pose_plot_and_download(client, inputs) -> None:
    from toolkit.io.media import probe

    video, face, views, pose, download, stages, status = client.predict(
        *_call(client, image=inputs["face"], audio=inputs["speech"], motion="learned", expression="audio"),
        api_name="/generate",
    )
    video_path = video["video"] if isinstance(video, dict) else video
    info = probe(video_path)
    assert info.has_video and info.has_audio and info.n_frames_at() == 25
    views_path = views["video"] if isinstance(views, dict) else views
    assert probe(views_path).width == 3 * 256
    assert Path(pose).suffix == ".png" and Path(pose).stat().st_size > 10_000
    assert Path(download).stat().st_size == Path(video_path).stat().st_size
    assert "Done" in status and "from the photo *face.png*" in status
    assert "100%" in stages
    assert Path(face).suffix == ".png"  # the face it was made from, shown beside the result


@pytest.mark.parametrize("size", [128, 512])
def test_face_size_control_sets_the_video_size(client, inputs, size) -> None:
    """The app's "Face size" control (issue 18, item 6): the crop video and the face shown beside it at that size."""
    from PIL import Image

    from toolkit.io.media import probe

    video, face, _, _, _, _, status = client.predict(
        *_call(client, image=inputs["face"], audio=inputs["speech"], size=size), api_name="/generate"
    )
    info = probe(video["video"] if isinstance(video, dict) else video)
    assert (info.width, info.height) == (size, size)
    assert Image.open(face).size == (size, size)
    assert f"Face rendered at {size}x{size} px." in status


@pytest.mark.parametrize(
    ("case", "kw", "words"),
    [
        ("no-face", {"image": "coffee", "audio": "speech"}, ("no face",)),
        ("too-short", {"image": "face", "audio": "short"}, ("0.5 s",)),
        ("silent", {"image": "face", "audio": "silent"}, ("silent",)),
        ("too-long", {"image": "face", "audio": "long"}, ("limit", f"{MAX_SECONDS:.0f} s")),
        ("unreadable", {"image": "face", "audio": "corrupt_wav"}, ("corrupt.wav",)),
        ("wrong-type", {"image": "face", "audio": "notes"}, ("not an audio file",)),
        ("no-reference", {"audio": "speech"}, ("no reference",)),
        ("no-audio", {"image": "face"}, ("no audio",)),
        ("motion-file-missing", {"image": "face", "audio": "speech", "motion": "file"}, ("motion file",)),
    ],
)
def test_each_failure_is_a_readable_message(client, inputs, case, kw, words) -> None:
    kw = {k: (inputs[v] if k in ("image", "audio", "video") else v) for k, v in kw.items()}
    _expect_error(client, words, **kw)


def test_eight_concurrent_requests_all_complete(served, client, inputs) -> None:
    from toolkit.io.media import probe

    before = {p.name for p in served[1].output_root.iterdir()}
    jobs = [
        client.submit(*_call(client, image=inputs["face"], audio=inputs["speech"], seed=i), api_name="/generate")
        for i in range(8)
    ]
    results = [job.result(timeout=240) for job in jobs]
    assert len(results) == 8
    for video, _, _, _, _, _, status in results:
        assert "Done" in status
        assert probe(video["video"] if isinstance(video, dict) else video).has_audio
    # every request made its own run folder on the server: none lost, none merged
    runs = [p for p in served[1].output_root.iterdir() if p.name not in before and p.name != "examples"]
    assert len(runs) == 8 and all((p / "talking_head.mp4").exists() for p in runs)


def test_only_the_apps_own_files_are_served(served, inputs) -> None:
    url, settings = served
    for path in (Path(__file__).resolve(), Path(media.EXAMPLE_SPEECH).resolve(), Path("/etc/passwd")):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)
        assert info.value.code in (403, 404)
    example = settings.output_root / "examples" / "astronaut.png"
    with urllib.request.urlopen(f"{url}gradio_api/file={example}", timeout=10) as r:
        assert r.status == 200


def test_upload_size_is_limited(served, client, inputs, tmp_path) -> None:
    from gradio_client import handle_file

    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * ((served[1].max_file_mb + 1) * 1024 * 1024))
    with pytest.raises(Exception) as info:  # refused at upload, before the handler runs
        client.predict(
            handle_file(str(inputs["face"])),
            handle_file(str(big)),
            "auto",
            1,
            "still",
            None,
            "reference",
            None,
            1.0,
            1.0,
            0,
            False,
            api_name="/generate",
        )
    assert any(w in str(info.value).lower() for w in ("size", "large", "413")), str(info.value)


@pytest.mark.parametrize(
    ("case", "key", "words"),
    [
        # the astronaut has a fringe and a smile with parted lips: the checks say so, each once
        ("photo", "face", ("using the photo", "hair covers the forehead", "the mouth is open in the photo")),
        ("no-face-photo", "coffee", ("no face was found in the photo",)),
        ("text-file", "notes", ("not a video or a photo",)),
    ],
)
def test_reference_check_says_which_reference_is_used_or_its_one_problem(client, inputs, case, key, words) -> None:
    from gradio_client import handle_file

    _, _, message = client.predict(handle_file(str(inputs[key])), api_name="/check_reference")
    for word in words:
        assert word in message.lower(), message
    assert message.lower().count("problem") <= 1 and "Traceback" not in message
    assert "hair over the forehead" not in message.lower()  # the renderer's copy of the hair check is not repeated
