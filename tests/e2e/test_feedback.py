"""Reporting a wrong verdict from the page (``POST /feedback``), in a real Chromium.

Against the real local stack: a stored report is read back from the local S3; "not
stored" is a real S3 outage (the API's own moto server stopped under it), a real route
turned off (a second ``chalice local`` with ``FEEDBACK_ENABLED=false``) and a real 413
from the API. Each state is screenshotted under ``test-artifacts/e2e/`` and the page is
checked with axe-core (WCAG 2.1 A and AA) with the controls shown and after a report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from stack.processes import stop_process_group
from tests.e2e.conftest import HAM, SPAM, describe_violations, open_page, shot

if TYPE_CHECKING:
    from stack.local.services import Service
    from tests.e2e.conftest import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.external, pytest.mark.integration, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]


def _is_post(path: str) -> Callable[[Any], bool]:
    """Matches the response to a POST to ``path`` (not its CORS preflight)."""
    return lambda r: r.url.endswith(path) and r.request.method == "POST"


def _analyze(page: Any, text: str, expected: str) -> Any:
    """Analyze ``text``, wait for the verdict ``expected``; returns the /predict response."""
    page.get_by_label("Message").fill(text)
    with page.expect_response(_is_post("/predict")) as predicted:
        page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#verdict")).to_have_text(expected, timeout=15_000)
    return predicted.value


def _feedback_posts(page: Any) -> list[Any]:
    """Every POST /feedback the page sends from now on (preflights left out)."""
    sent: list[Any] = []
    page.on(
        "request",
        lambda r: sent.append(r) if r.url.endswith("/feedback") and r.method == "POST" else None,
    )
    return sent


def _report_button(page: Any, name: str) -> Any:
    return page.get_by_role("group", name="Is this verdict wrong?").get_by_role("button", name=name)


def _focused_id(page: Any) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def _assert_accessible(page: Any, axe: Axe) -> None:
    violations = axe(page)
    assert not violations, describe_violations(violations)


def test_a_wrong_spam_verdict_is_reported_once_and_stored_in_s3(
    page: Any, local_stack: LocalStack, artifacts_dir: Path, axe: Axe
) -> None:
    open_page(page, local_stack)
    predicted = _analyze(page, SPAM, "SPAM")
    request_id = predicted.headers["x-request-id"]
    model_version = predicted.json()["model_version"]
    assert request_id and model_version == page.locator("#model-version").inner_text()

    # Only the correcting button is offered, in words, inside a named group.
    correct = _report_button(page, "It's not spam")
    expect(correct).to_be_visible()
    expect(correct).to_be_enabled()
    assert page.get_by_role("button", name="It's spam", exact=True).count() == 0
    expect(page.get_by_role("status")).to_have_text("")
    shot(page, artifacts_dir, "20-report-offered")
    _assert_accessible(page, axe)

    sent = _feedback_posts(page)
    correct.focus()
    with page.expect_response(_is_post("/feedback")) as answered:
        page.keyboard.press("Enter")
    assert answered.value.status == 202
    answer = answered.value.json()

    status = page.get_by_role("status")  # a polite live region: role=status
    expect(status).to_contain_text("Stored for review")
    days = int(local_stack.settings.environment.get("FEEDBACK_RETENTION_DAYS", "30"))
    assert answer["retention_days"] == days
    expect(status).to_contain_text(f"kept for review for up to {days} days")
    expect(status).to_contain_text("not spam")
    expect(page.locator("#feedback-id")).to_have_text(answer["id"])
    # The button keeps keyboard focus, locked, and cannot send a second report.
    assert _focused_id(page) == "report-ham"
    expect(correct).to_have_attribute("aria-disabled", "true")
    expect(correct).to_be_disabled()
    page.keyboard.press("Enter")
    correct.click(force=True)
    page.wait_for_timeout(500)
    assert len(sent) == 1
    assert sent[0].post_data_json == {
        "text": SPAM,
        "label": "ham",
        "model_version": model_version,
        "request_id": request_id,
    }

    # The report landed under feedback/pending/ with the label, the text and the version.
    stored = {k: r for k, r in local_stack.feedback_reports().items() if r["id"] == answer["id"]}
    assert len(stored) == 1, stored
    ((key, report),) = stored.items()
    assert key.startswith("feedback/pending/") and key.endswith(f"/{answer['id']}.json")
    assert report["label"] == "ham"
    assert report["text"] == SPAM
    assert report["corrected_version"] == model_version
    assert report["corrected_request_id"] == request_id
    assert report["verdict"]["model_version"] == model_version
    assert report["verdict"]["classification"] == "SPAM"

    shot(page, artifacts_dir, "21-report-stored")
    _assert_accessible(page, axe)


def test_a_new_analysis_resets_the_controls_even_with_a_report_in_flight(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    open_page(page, local_stack)
    _analyze(page, HAM, "HAM")
    correct = _report_button(page, "It's spam")
    expect(correct).to_be_visible()
    assert page.get_by_role("button", name="It's not spam").count() == 0

    held: list[Any] = []
    page.route(f"{local_stack.api.url}/feedback", lambda route: held.append(route))
    sent = _feedback_posts(page)
    correct.click()
    expect(page.get_by_role("status")).to_have_text("Sending your report…")
    expect(correct).to_be_disabled()
    shot(page, artifacts_dir, "22-report-sending")
    correct.click(force=True)  # a second click while the first is in flight sends nothing
    page.wait_for_timeout(300)
    assert len(held) == 1

    # A new analysis replaces the verdict: the old report's answer must not land on it.
    _analyze(page, SPAM, "SPAM")
    fresh = _report_button(page, "It's not spam")
    expect(fresh).to_be_enabled()
    expect(fresh).not_to_have_attribute("aria-disabled", "true")
    assert page.get_by_role("button", name="It's spam", exact=True).count() == 0
    expect(page.get_by_role("status")).to_have_text("")
    with page.expect_response(_is_post("/feedback")) as late:
        held[0].continue_()
    assert late.value.status == 202
    page.wait_for_timeout(300)
    expect(page.get_by_role("status")).to_have_text("")
    expect(fresh).to_be_enabled()
    assert page.locator("#feedback-ref").is_hidden()

    # ... and the new verdict can be reported in its turn.
    page.unroute(f"{local_stack.api.url}/feedback")
    fresh.click()
    expect(page.get_by_role("status")).to_contain_text("Stored for review")
    assert [r.post_data_json["label"] for r in sent] == ["spam", "ham"]
    assert sent[1].post_data_json["text"] == SPAM


def test_s3_down_says_not_stored_and_when_to_retry_then_a_network_error(
    page: Any,
    local_stack: LocalStack,
    stack_with_own_s3: tuple[Service, Service],
    artifacts_dir: Path,
    axe: Axe,
) -> None:
    s3, api = stack_with_own_s3
    open_page(page, local_stack, api.url)
    _analyze(page, SPAM, "SPAM")
    stop_process_group(s3.process)  # the API keeps its loaded model; S3 writes now fail

    correct = _report_button(page, "It's not spam")
    with page.expect_response(_is_post("/feedback"), timeout=60_000) as answered:
        correct.click()
    failed = answered.value
    assert failed.status == 503
    assert failed.json()["status"] == "unavailable"
    assert "not stored" in failed.json()["Message"]
    retry = int(failed.headers["retry-after"])

    status = page.get_by_role("status")
    expect(status).to_contain_text("Not stored")
    expect(status).to_contain_text("HTTP 503")
    expect(status).to_contain_text(f"send it again in {retry} second{'' if retry == 1 else 's'}")
    assert page.locator("#feedback-ref").is_hidden()
    expect(correct).to_be_disabled()
    assert _focused_id(page) == "report-ham"
    shot(page, artifacts_dir, "23-report-not-stored-503")
    _assert_accessible(page, axe)

    # Nothing was stored, so the same verdict may be sent again once Retry-After has passed.
    expect(correct).to_be_enabled(timeout=(retry + 10) * 1000)

    stop_process_group(api.process)  # now the API itself is gone
    correct.click()
    expect(status).to_contain_text(f"could not reach the API at {api.url}")
    expect(status).to_contain_text("Not stored")
    shot(page, artifacts_dir, "24-report-network-error")
    expect(correct).to_be_enabled(timeout=5_000)  # a network error stored nothing either


def test_reporting_turned_off_on_the_deployment_is_said_in_words(
    page: Any,
    local_stack: LocalStack,
    api_with_feedback_off: Service,
    artifacts_dir: Path,
) -> None:
    text = "Reminder: the turned-off-reporting check meets at noon by the lifts."
    open_page(page, local_stack, api_with_feedback_off.url)
    _analyze(page, text, "HAM")
    sent = _feedback_posts(page)
    correct = _report_button(page, "It's spam")
    with page.expect_response(_is_post("/feedback")) as answered:
        correct.click()
    assert answered.value.status == 403
    assert answered.value.json()["Code"] == "FeedbackDisabledError"

    status = page.get_by_role("status")
    expect(status).to_contain_text("reporting is turned off on this deployment")
    expect(status).to_contain_text("Not stored")
    shot(page, artifacts_dir, "25-report-turned-off")
    # Retrying cannot help: the button stays locked, and a click sends nothing.
    page.wait_for_timeout(1_000)
    expect(correct).to_be_disabled()
    correct.click(force=True)
    page.wait_for_timeout(300)
    assert len(sent) == 1
    assert not [r for r in local_stack.feedback_reports().values() if r["text"] == text]


def test_a_report_the_api_refuses_shows_the_apis_own_message(
    page: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    limit = int(local_stack.settings.environment.get("MAX_TEXT_CHARS", "20000"))
    open_page(page, local_stack)
    _analyze(page, HAM, "HAM")

    def oversize(route: Any) -> None:  # the real API judges a body the page cannot send
        body = json.loads(route.request.post_data)
        route.continue_(post_data=json.dumps({**body, "text": "win " * (limit // 4 + 1)}))

    page.route(f"{local_stack.api.url}/feedback", oversize)
    with page.expect_response(_is_post("/feedback")) as answered:
        _report_button(page, "It's spam").click()
    assert answered.value.status == 413
    api_says = answered.value.json()["Message"]

    status = page.get_by_role("status")
    expect(status).to_contain_text("Not stored: the API refused the report (HTTP 413)")
    expect(status).to_contain_text(api_says)
    shot(page, artifacts_dir, "26-report-refused-413")
    page.wait_for_timeout(500)
    expect(_report_button(page, "It's spam")).to_be_disabled()  # resending cannot help


def test_the_accessibility_check_catches_a_broken_report_control(
    page: Any, local_stack: LocalStack, axe: Axe
) -> None:
    """The axe checks above can fail: a nameless, faint report button is two violations."""
    open_page(page, local_stack)
    _analyze(page, SPAM, "SPAM")
    _assert_accessible(page, axe)
    page.evaluate(
        """() => {
            const button = document.getElementById("report-ham");
            button.style.color = "#b0b0b0";
            document.getElementById("feedback-question").style.color = "#c8c8c8";
            button.replaceChildren();
        }"""
    )
    found = {v["id"]: v for v in axe(page)}
    assert "button-name" in found, describe_violations(list(found.values()))
    assert "color-contrast" in found, describe_violations(list(found.values()))
    assert any("#report-ham" in n["target"] for n in found["button-name"]["nodes"])
    assert any("#feedback-question" in n["target"] for n in found["color-contrast"]["nodes"])


def test_the_report_controls_fit_a_phone_screen(
    browser: Any, local_stack: LocalStack, artifacts_dir: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    try:
        phone = context.new_page()
        open_page(phone, local_stack)
        _analyze(phone, SPAM, "SPAM")
        button = _report_button(phone, "It's not spam")
        button.click()
        expect(phone.get_by_role("status")).to_contain_text("Stored for review")
        shot(phone, artifacts_dir, "27-report-stored-phone")
        overflow = phone.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"page is {overflow}px wider than a 360px phone screen"
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44  # a comfortable touch target
    finally:
        context.close()
