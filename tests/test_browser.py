"""Open the reanalysis report in a real headless Chromium (Debian's), from file://.

The set-up runs ``scripts/ensure_chromium.sh`` (apt-get, package registries only);
playwright drives ``/usr/bin/chromium`` through ``executable_path`` and never
downloads a browser of its own. The report is made from the bundled reconstructed
data with a tiny sampler, so it must show the reconstructed-data banner.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        done = subprocess.run(
            ["sh", str(REPO / "scripts" / "ensure_chromium.sh")],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"no chromium and it could not be installed: {done.stderr.strip()}")
    return CHROMIUM


@pytest.fixture(scope="module")
def bundled_report(tmp_path_factory):
    from _small_runs import TINY
    from milkbayes.reanalysis.pipeline import run_reanalysis

    return run_reanalysis(
        None, tmp_path_factory.mktemp("browser") / "report", settings=TINY, sensitivity=False
    )


@pytest.fixture(scope="module")
def page_state(chromium, bundled_report, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    shots = tmp_path_factory.mktemp("screenshots")
    console_errors, failed_requests, requests = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=LAUNCH_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("requestfailed", lambda r: failed_requests.append(r.url))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(bundled_report.html.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
                " width: i.naturalWidth}))"
            )
            banner_visible = page.locator("#reconstructed-banner").is_visible()
            banner_box = page.locator("#reconstructed-banner").bounding_box()
            text = page.inner_text("body")
            screenshot = shots / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {
        "console_errors": console_errors,
        "failed_requests": failed_requests,
        "requests": requests,
        "images": images,
        "banner_visible": banner_visible,
        "banner_box": banner_box,
        "text": text,
        "screenshot": screenshot,
    }


def test_no_console_errors_and_no_failed_requests(page_state):
    assert page_state["console_errors"] == []
    assert page_state["failed_requests"] == []
    # the only request is the page itself: figures are inline, nothing is fetched
    assert all(url.startswith(("file://", "data:")) for url in page_state["requests"])


def test_every_image_loaded(page_state):
    images = page_state["images"]
    assert len(images) >= 5  # data, priors, forest, trace, rank (+ ppc, compare)
    assert all(image["complete"] and image["width"] > 0 for image in images), images


def test_reconstructed_banner_is_visible_at_the_top(page_state):
    assert page_state["banner_visible"]
    assert page_state["banner_box"]["y"] < 200  # above the fold, before the title
    assert "RECONSTRUCTED DATA" in page_state["text"]


def test_key_numbers_from_the_json_summary_are_on_the_page(page_state, bundled_report):
    summary = json.loads(bundled_report.json.read_text(encoding="utf-8"))
    assert summary["reconstructed"] is True
    text = page_state["text"]
    assert f"{summary['bayes']['effect_median']:.2f}" in text
    neutral = next(p for p in summary["bayes"]["priors"] if p["prior"] == "neutral")
    assert f"[{neutral['ci95_low']:.2f}, {neutral['ci95_high']:.2f}]" in text
    assert f"{summary['reproduction']['p_exact']:.1e}" in text  # exact p beside "0.000"
    assert "What a single-group design cannot show" in text


def test_screenshot_saved(page_state):
    shot = page_state["screenshot"]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
