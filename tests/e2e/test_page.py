"""The page in a real Chromium against the real local stack, one state per test.

Every test saves a screenshot of the state it checks under ``test-artifacts/e2e/``.
Elements are found by role and label, the way assistive technology finds them, so a
missing label or name fails here too.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from stack.local.services import free_port, static_server
from tests.e2e.conftest import HAM, SPAM, open_page, shot

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.external, pytest.mark.integration, pytest.mark.slow]


def _analyze(page: Any, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Analyze").click()


def _wait_for_result(page: Any) -> None:
    page.locator("#result").wait_for(state="visible")


def _error_text(page: Any) -> str:
    page.get_by_role("alert").wait_for(state="visible")
    return page.get_by_role("alert").inner_text()


def test_spam_message_shows_spam_in_red_with_probability_and_version(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    _analyze(page, SPAM)
    _wait_for_result(page)
    shot(page, artifacts_dir, "01-spam")

    assert page.locator("#verdict").inner_text() == "SPAM"
    assert "is-spam" in (page.locator("#verdict").get_attribute("class") or "")
    color = page.locator("#verdict").evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(179, 38, 30)"  # --spam
    probability = page.locator("#probability-text").inner_text()
    expected = local_stack.predict(SPAM).json()
    shown = math.floor(expected["spam_probability"] * 1000 + 0.5) / 10  # JS Math.round
    assert f"{shown:.1f}%" in probability
    assert page.locator("#model-version").inner_text() == expected["model_version"]
    # The page's origin and the API's differ: the browser had to pass CORS to get here.
    assert any(url.startswith(local_stack.api.url + "/predict") for url in requests_seen)
    assert local_stack.web.port != local_stack.api.port


def test_ham_message_shows_ham_in_green(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    _analyze(page, HAM)
    _wait_for_result(page)
    shot(page, artifacts_dir, "02-ham")

    assert page.locator("#verdict").inner_text() == "HAM"
    color = page.locator("#verdict").evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(20, 108, 46)"  # --ham
    assert page.get_by_role("alert").is_hidden()


def test_explained_words_are_highlighted_in_the_message(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    _analyze(page, SPAM)
    _wait_for_result(page)
    page.locator("#explanation").wait_for(state="visible")
    shot(page, artifacts_dir, "03-explain")

    marked = page.locator("#highlighted mark").all_inner_texts()
    assert marked, "no word highlighted"
    words = set(re.findall(r"[\w']+", SPAM.lower()))
    assert {m.lower() for m in marked} <= words
    assert page.locator("#highlighted").inner_text() == SPAM  # the message, intact


def test_one_click_example_and_ctrl_enter_both_analyze(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    page.get_by_role("button", name="Dinner plans").click()
    _wait_for_result(page)
    assert page.locator("#verdict").inner_text() == "HAM"

    page.get_by_label("Message").fill(SPAM)
    page.get_by_label("Message").press("Control+Enter")
    # locator assertions, not wait_for_function: a string predicate is polled with eval in
    # the page, which the page's CSP (script-src 'self') refuses whenever it is not true at once
    expect(page.locator("#verdict")).to_have_text("SPAM", timeout=15_000)
    shot(page, artifacts_dir, "04-ctrl-enter")


def test_busy_state_and_the_button_cannot_fire_twice(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    held: list[Any] = []
    page.route(f"{local_stack.api.url}/predict", lambda route: held.append(route))
    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(request.method) if request.url.endswith("/predict") else None,
    )
    _analyze(page, SPAM)
    expect(page.locator("#analyze")).to_be_disabled(timeout=15_000)
    assert page.locator("#busy").is_visible()
    shot(page, artifacts_dir, "05-busy")
    page.get_by_label("Message").press("Control+Enter")  # must not send a second request
    page.get_by_role("button", name="Analyze").click(force=True)
    page.wait_for_timeout(300)
    assert len(held) == 1

    held[0].continue_()
    _wait_for_result(page)
    assert page.get_by_role("button", name="Analyze").is_enabled()
    assert page.locator("#busy").is_hidden()
    assert sent.count("POST") == 1


def test_message_markup_is_shown_as_text_never_run(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    hostile = 'Free prize <img src=x onerror="alert(1)"> <script>alert(2)</script> call now'
    open_page(page, local_stack)
    _analyze(page, hostile)
    _wait_for_result(page)
    shot(page, artifacts_dir, "06-markup-as-text")
    assert page.locator("#result img, #result script").count() == 0
    assert page.locator("#highlighted").inner_text() == hostile  # the page fixture fails on alert()


def test_oversized_message_shows_the_apis_413_message(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    limit = int(local_stack.settings.environment.get("MAX_TEXT_CHARS", "20000"))
    text = "win " * (limit // 4 + 1)
    direct = local_stack.predict(text)
    assert direct.status_code == 413
    api_says = direct.json()["Message"]

    open_page(page, local_stack)
    _analyze(page, text)
    message = _error_text(page)
    shot(page, artifacts_dir, "07-too-long-413")
    assert api_says in message
    assert "too long" in message
    assert page.locator("#result").is_hidden()


def test_no_model_loaded_shows_503_in_words(
    page: Any, local_stack: LocalStack, api_without_model: Any, artifacts_dir: Path
) -> None:
    open_page(page, local_stack, api_without_model.url)
    _analyze(page, HAM)
    message = _error_text(page)
    shot(page, artifacts_dir, "08-no-model-503")
    assert "no model loaded" in message
    assert "503" in message


def test_api_stopped_shows_unreachable_message(
    page: Any, local_stack: LocalStack, artifacts_dir: Path, tmp_path: Path
) -> None:
    from stack.local.services import chalice_local

    with chalice_local(local_stack.s3.url, stage="local", log_dir=tmp_path) as api:
        open_page(page, local_stack, api.url)
        _analyze(page, HAM)
        _wait_for_result(page)
    # The API is gone now; the page is still open.
    _analyze(page, SPAM)
    message = _error_text(page)
    shot(page, artifacts_dir, "09-api-stopped")
    assert f"Could not reach the API at {api.url}" in message
    assert "CORS" in message
    assert page.locator("#result").is_hidden()
    assert "not reachable" in page.locator("#api-health").inner_text()


def test_an_api_that_refuses_cors_is_reported(
    page: Any, local_stack: LocalStack, artifacts_dir: Path, tmp_path: Path
) -> None:
    # Python's static server answers OPTIONS with 501 and no CORS headers: the preflight
    # fails, which JavaScript sees exactly like a server that is down.
    with static_server(free_port(), log_dir=tmp_path) as no_cors:
        open_page(page, local_stack, no_cors.url)
        _analyze(page, HAM)
        message = _error_text(page)
        shot(page, artifacts_dir, "10-cors-refused")
    assert f"Could not reach the API at {no_cors.url}" in message


def test_fits_a_phone_screen(browser: Any, local_stack: LocalStack, artifacts_dir: Path) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    try:
        phone = context.new_page()
        phone.goto(local_stack.page_url())
        _analyze(phone, SPAM)
        _wait_for_result(phone)
        shot(phone, artifacts_dir, "11-phone")
        overflow = phone.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"page is {overflow}px wider than a 360px phone screen"
    finally:
        context.close()


def test_hot_swap_shows_the_new_version_without_reloading(
    page: Any, local_stack: LocalStack, artifacts_dir: Path, model_dirs: list[Path]
) -> None:
    open_page(page, local_stack)
    _analyze(page, SPAM)
    _wait_for_result(page)
    before = page.locator("#model-version").inner_text()
    assert before == local_stack.live_version()

    after = local_stack.publish(model_dirs[1])  # trained on other messages: a new version
    assert after != before

    refresh = float(local_stack.settings.environment.get("MODEL_REFRESH_SECONDS", "30"))
    deadline = time.monotonic() + refresh + 30
    while time.monotonic() < deadline:  # the API swaps on its own schedule; poll it
        if local_stack.predict(HAM).json().get("model_version") == after:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the API still serves {before} {refresh + 30:.0f}s after publishing {after}")

    _analyze(page, SPAM)  # same page, never reloaded
    expect(page.locator("#model-version")).to_have_text(after, timeout=15_000)
    shot(page, artifacts_dir, "12-hot-swapped")


def test_page_loads_with_no_api_configured_and_says_so(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    page.goto(f"{local_stack.web.url}/index.html?api=javascript:alert(1)")
    _analyze(page, HAM)
    message = _error_text(page)
    shot(page, artifacts_dir, "13-no-api-configured")
    assert "No valid API URL" in message


def test_the_footer_links_to_the_apis_openapi_document(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    link = page.get_by_role("link", name="The API's contract (OpenAPI 3.1)")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href == local_stack.api.url + "/openapi.json"
    document = page.request.get(href).json()
    assert document["openapi"] == "3.1.0" and "/predict" in document["paths"]
    shot(page, artifacts_dir, "30-footer-contract-link")
