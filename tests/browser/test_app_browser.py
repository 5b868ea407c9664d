"""The app in a real browser: Debian's headless Chromium driven by Playwright.

Upload a reference photo and speech, press Generate, and check that the
result's <video> element loads and plays; the video example loads into the
visible input and generates; a video then a photo leaves no doubt which one is
used; each bad input shows exactly one message. Chromium comes from
``scripts/ci/install_browser.sh``; without it the test skips (outside CI) with
the reason. Set ``APP_SCREENSHOT_DIR=folder`` to keep screenshots (docs/img).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests import pipeline_media as media

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = pytest.mark.browser


def _chromium() -> str:
    """The chromium binary; skips (outside CI) or fails (in CI) with the reason when it is missing."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found:
        return found
    reason = "chromium is not installed: run scripts/ci/install_browser.sh (Debian package 'chromium')"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    import app

    settings = app.AppSettings(max_seconds=10, concurrency=1, output_root=tmp_path_factory.mktemp("browser_out"))
    demo = app.build_app(settings)
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs(settings)
    )
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _open(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.locator("#generate-button").wait_for()
    return page


def _upload_reference(page, path: Path) -> None:
    page.locator("#reference input[type=file]").set_input_files(str(path))


def _generate_and_wait(page) -> None:
    """Press Generate; wait for the result video (or fail at once with the app's error message)."""
    page.locator("#generate-button").click()
    page.wait_for_function(
        """() => document.querySelector('#result-video video') ||
                 document.querySelector('[data-testid="toast-body"]')""",
        timeout=300_000,
    )
    toast = page.locator('[data-testid="toast-body"]')
    assert toast.count() == 0, f"the app reported an error: {toast.first.inner_text()}"
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video video'); return v && v.readyState >= 2; }",
        timeout=60_000,
    )


def _play(page) -> dict:
    return page.evaluate(
        """async () => {
            const v = document.querySelector('#result-video video');
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 700));
            return {time: v.currentTime, duration: v.duration, paused: v.paused, w: v.videoWidth, h: v.videoHeight,
                    error: v.error ? v.error.code : null, shownWidth: v.getBoundingClientRect().width};
        }"""
    )


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("APP_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / name))


def test_upload_generate_and_play(browser, app_url, tmp_path) -> None:
    face = media.write_png(tmp_path / "face.png", media.astronaut())
    speech = media.write_wav(tmp_path / "speech.wav", media.speech(1.2))
    page = _open(browser, app_url)
    _upload_reference(page, face)
    page.locator("#audio input[type=file]").set_input_files(str(speech))
    page.locator("#reference-preview-photo img").first.wait_for()
    page.locator("#audio audio, #audio .waveform-container, #audio wave").first.wait_for(state="attached")
    _generate_and_wait(page)
    state = _play(page)
    assert state["error"] is None
    assert (state["w"], state["h"]) == (256, 256)
    assert state["shownWidth"] <= 260  # shown at its real size, not stretched
    assert abs(state["duration"] - 1.2) < 0.15
    assert state["time"] > 0.2  # it really played
    assert "Done" in page.locator("#status").inner_text()
    page.close()


def test_video_example_loads_into_the_visible_input_and_generates(browser, app_url) -> None:
    page = _open(browser, app_url)
    _screenshot(page, "app_start.png")
    page.get_by_text("a video + speech").first.click()
    # the example is in the one reference input, its preview is the video player, and the app says so
    page.wait_for_function(  # the file name is split over two elements: compare without white space
        "() => document.querySelector('#reference').innerText.replace(/\\s/g, '').includes('astronaut_talking.mp4')"
    )
    page.locator("#reference-preview-video video").first.wait_for()
    assert page.locator("#reference-preview-photo").is_hidden()
    # the check has run when it says either that the face is fine or what is wrong with it (the astronaut's fringe)
    page.wait_for_function(
        "() => /one face found|Warning/.test(document.querySelector('#reference-check').innerText)", timeout=180_000
    )
    assert "Using the video" in page.locator("#reference-check").inner_text()
    page.locator("#audio audio, #audio .waveform-container, #audio wave").first.wait_for(state="attached")
    _screenshot(page, "app_example_loaded.png")
    _generate_and_wait(page)
    state = _play(page)
    assert state["error"] is None and (state["w"], state["h"]) == (256, 256)
    assert abs(state["duration"] - 3.8) < 0.15  # the example's sentence
    status = page.locator("#status").inner_text()
    assert "Done" in status and "from the video astronaut_talking.mp4" in status
    page.locator("#reference-face img").first.wait_for()  # the face it was made from, beside the result
    page.locator("#result-video video").evaluate("v => { v.pause(); v.currentTime = 1.5; }")
    page.wait_for_timeout(800)
    _screenshot(page, "app.png")
    page.close()


def test_a_video_then_a_photo_uses_the_photo_and_says_so(browser, app_url, tmp_path) -> None:
    from toolkit.paths import PROJECT_ROOT

    face = media.write_png(tmp_path / "face.png", media.astronaut())
    speech = media.write_wav(tmp_path / "speech.wav", media.speech(1.0))
    page = _open(browser, app_url)
    _upload_reference(page, PROJECT_ROOT / "assets" / "example_video.mp4")
    page.locator("#reference-preview-video video").first.wait_for()
    # one reference input: to give the photo, the video is removed first (no second, hidden input keeps it)
    page.locator("#reference").get_by_role("button", name="Clear").click()
    page.locator("#reference-preview-video").wait_for(state="hidden")
    _upload_reference(page, face)
    page.locator("#reference-preview-photo img").first.wait_for()
    assert page.locator("#reference-preview-video").is_hidden()
    page.locator("#reference-check").get_by_text("Using the photo").wait_for(timeout=180_000)
    page.locator("#audio input[type=file]").set_input_files(str(speech))
    page.locator("#audio audio, #audio .waveform-container, #audio wave").first.wait_for(state="attached")
    _generate_and_wait(page)
    assert "from the photo face.png" in page.locator("#status").inner_text()
    page.close()


def _messages(page) -> list[str]:
    """Every problem message on the page: error toasts, the reference check's, any player error."""
    found = [t.inner_text() for t in page.locator('[data-testid="toast-body"]').all()]
    check = page.locator("#reference-check").inner_text()
    if "Problem" in check:
        found.append(check)
    body = page.locator("body").inner_text()
    found += ["player: Video not playable"] * body.count("not playable")
    return found


@pytest.mark.parametrize("case", ["text-file", "empty-video", "no-face-photo", "no-speech"])
def test_each_bad_input_shows_exactly_one_message(browser, app_url, tmp_path, case) -> None:
    speech = media.write_wav(tmp_path / "speech.wav", media.speech(1.0))
    reference = {
        "text-file": lambda: _write(tmp_path / "notes.txt", b"not a picture\n"),
        "empty-video": lambda: _write(tmp_path / "empty.mp4", b""),
        "no-face-photo": lambda: media.write_png(tmp_path / "coffee.png", media.no_face()),
        "no-speech": lambda: media.write_png(tmp_path / "face.png", media.astronaut()),
    }[case]()
    page = _open(browser, app_url)
    _upload_reference(page, reference)
    if case != "no-speech":
        page.locator("#audio input[type=file]").set_input_files(str(speech))
        page.locator("#audio audio, #audio .waveform-container, #audio wave").first.wait_for(state="attached")
    # the reference check has its say first (a problem, or which reference is used) ...
    page.wait_for_function(
        "() => { const t = document.querySelector('#reference-check').innerText;"
        " return t.includes('Problem') || t.includes('one face found') || t.includes('Warning'); }",
        timeout=180_000,
    )
    before = _messages(page)
    assert len(before) == (0 if case == "no-speech" else 1), before
    # ... then Generate: the one message is the generation's, the check's note gives way to it
    page.locator("#generate-button").click()
    page.locator('[data-testid="toast-body"]').first.wait_for(timeout=180_000)
    page.wait_for_timeout(1000)
    after = _messages(page)
    assert len(after) == 1, after
    if case == "empty-video":
        _screenshot(page, "app_error.png")
    page.close()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
