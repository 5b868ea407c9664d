"""The app in a real browser: Debian's headless Chromium driven by Playwright.

Upload a reference photo and speech, press Generate, and check that the
result's <video> element loads and plays. Chromium comes from
``scripts/ci/install_browser.sh``; without it the test skips (outside CI) with
the reason. Set ``APP_SCREENSHOT=path.png`` to keep a screenshot of the result.
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


def test_upload_generate_and_play(browser, app_url, tmp_path) -> None:
    face = media.write_png(tmp_path / "face.png", media.astronaut())
    speech = media.write_wav(tmp_path / "speech.wav", media.speech(1.2))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app_url)
    page.get_by_role("tab", name="Reference photo").click()
    page.locator("#reference-image input[type=file]").set_input_files(str(face))
    page.locator("#audio input[type=file]").set_input_files(str(speech))
    page.locator("#reference-image img").first.wait_for()
    page.locator("#audio audio, #audio .waveform-container, #audio wave").first.wait_for(state="attached")
    page.locator("#generate-button").click()
    # the result video, or an error message in the UI (then fail at once with that message)
    page.wait_for_function(
        """() => document.querySelector('#result-video video') ||
                 document.querySelector('[data-testid="toast-body"]')""",
        timeout=180_000,
    )
    toast = page.locator('[data-testid="toast-body"]')
    assert toast.count() == 0, f"the app reported an error: {toast.first.inner_text()}"
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video video'); return v && v.readyState >= 2; }",
        timeout=60_000,
    )
    state = page.evaluate(
        """async () => {
            const v = document.querySelector('#result-video video');
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 700));
            return {time: v.currentTime, duration: v.duration, paused: v.paused, w: v.videoWidth, h: v.videoHeight,
                    error: v.error ? v.error.code : null};
        }"""
    )
    assert state["error"] is None
    assert (state["w"], state["h"]) == (256, 256)
    assert abs(state["duration"] - 1.2) < 0.15
    assert state["time"] > 0.2  # it really played
    assert "Done" in page.locator("#status").inner_text()
    if os.environ.get("APP_SCREENSHOT"):  # for docs/img: the result paused mid-way, intermediate products open
        page.locator("#result-video video").evaluate("v => { v.pause(); v.currentTime = 0.6; }")
        page.get_by_text("Intermediate products").first.click()
        page.wait_for_timeout(1500)
        page.screenshot(path=os.environ["APP_SCREENSHOT"], full_page=True)
    page.close()
