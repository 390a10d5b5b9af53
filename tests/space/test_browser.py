"""The Space in a real headless Chromium (Debian's `chromium`, driven by Playwright): every tab used as a visitor
would, the numbers shown checked against the Python API, the error messages seen, screenshots saved.

Screenshots go to a temporary folder, or to $LIQE_SCREENSHOT_DIR when set (the README's come from
`LIQE_SCREENSHOT_DIR=docs/space pytest tests/space/test_browser.py`, then keep the three tab ones).
`.ci/run` installs the browser.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.space.conftest import IMAGES, SPACE_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                       reason=f"{CHROMIUM} not installed (apt-get install -y chromium; .ci/run does it)"),
]


@pytest.fixture(scope="module")
def browser_page(server, tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        requests = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server)
        page.wait_for_selector("#score-image input[type=file]", state="attached")
        page.requests = requests
        try:
            yield page
        finally:
            context.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory):
    folder = Path(os.environ.get("LIQE_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_value(page, selector):
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return e && e.value !== ''; }", arg=selector, timeout=TIMEOUT_MS
    )
    return page.locator(selector).input_value()


def shoot(page, folder, name, full_page=True):
    """A JPEG screenshot `name`.jpg in `folder` (small enough for the README); returns its path."""
    path = folder / f"{name}.jpg"
    page.screenshot(path=str(path), type="jpeg", quality=85, full_page=full_page)
    assert path.stat().st_size > 20_000  # a rendered page, not a blank one
    return path


def open_tab(page, name):
    page.get_by_role("tab", name=name).click()


def test_score_tab_shows_the_python_api_score_and_the_quality_map(browser_page, server, python_api, screenshot_dir):
    page = browser_page
    photo = SPACE_DIR / "examples" / "astronaut.jpg"
    page.locator("#score-image input[type=file]").set_input_files(str(photo))
    verdict = wait_for_value(page, "#verdict textarea, #verdict input")  # set by the same event as the score
    shown = float(page.locator("#score input").input_value())
    expected = float(python_api(str(photo)).score[0])
    assert shown == pytest.approx(expected, abs=1e-6)
    word = ["bad", "poor", "fair", "good", "perfect"][min(max(int(expected + 0.5) - 1, 0), 4)]
    assert verdict == f"{expected:.3f} / 5: {word}"
    page.wait_for_selector("#quality-map img[src]")
    summary = wait_for_value(page, "#map-summary textarea, #map-summary input")
    assert "windows of 224 px, stride" in summary
    page.wait_for_selector("#scenes >> text=%")
    page.wait_for_timeout(500)  # let the chart finish drawing
    shoot(page, screenshot_dir, "space_score")
    # The page asked nothing from outside the app.
    host = server.rstrip("/")
    assert all(url.startswith((host, "data:", "blob:")) for url in page.requests), sorted(set(page.requests))


def test_compare_tab(browser_page, python_api, screenshot_dir):
    page = browser_page
    open_tab(page, "Compare")
    first, second = SPACE_DIR / "examples" / "coffee.jpg", SPACE_DIR / "examples" / "coffee_blur.jpg"
    page.locator("#first-image input[type=file]").set_input_files(str(first))
    page.locator("#second-image input[type=file]").set_input_files(str(second))
    page.wait_for_selector("#second-image img[src]")
    page.locator("#compare-button").click()
    verdict = wait_for_value(page, "#comparison textarea, #comparison input")
    q1, q2 = (float(python_api(str(p)).score[0]) for p in (first, second))
    assert f"{q1:.3f}" in verdict and f"{q2:.3f}" in verdict and "P(first better) = Phi(q1 - q2) =" in verdict
    shoot(page, screenshot_dir, "space_compare")


def test_batch_tab(browser_page, python_api, screenshot_dir, tmp_path):
    page = browser_page
    open_tab(page, "Batch")
    names = ["astronaut.jpg", "astronaut_jpeg.jpg", "chelsea.jpg", "chelsea_noise.jpg", "rocket.jpg"]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((SPACE_DIR / "examples" / "rocket.jpg").read_bytes()[:2000])
    files = [str(SPACE_DIR / "examples" / n) for n in names] + [str(broken)]
    page.locator("#batch-files input[type=file]").set_input_files(files)
    page.wait_for_selector("#batch-files td[aria-label='broken.jpg']")
    page.locator("#batch-button").click()
    page.wait_for_selector("#batch-table >> text=damaged or truncated", state="attached")
    table = page.locator("#batch-table").inner_text()
    for name in names:
        assert name in table
    expected = float(python_api(str(SPACE_DIR / "examples" / "chelsea.jpg")).score[0])
    assert f"{expected:.3f}"[:4] in table  # the table shows the score (rounded for display)
    page.wait_for_selector("#batch-csv td[aria-label='liqe_scores.csv']")
    shoot(page, screenshot_dir, "space_batch")


def test_score_tab_explains_files_that_are_not_images(browser_page, tmp_path, screenshot_dir):
    page = browser_page
    open_tab(page, "Score")
    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n")
    page.locator("#score-image input[type=file]").set_input_files(str(text))
    # The browser refuses a .txt file for an image input before uploading it, naming the file.
    page.wait_for_selector("text=Invalid file type: notes.txt")
    shoot(page, screenshot_dir, "space_error_txt", full_page=False)
    # A text file named .png reaches the server, whose message names it.
    disguised = tmp_path / "holiday.png"
    disguised.write_text("this is not an image either\n")
    page.locator("#score-image input[type=file]").set_input_files(str(disguised))
    page.wait_for_selector("text=holiday.png is not an image file (Pillow cannot identify it)")
    assert page.locator("#quality-map img[src]").count() == 0  # the earlier image's map is gone
    shoot(page, screenshot_dir, "space_error", full_page=False)
