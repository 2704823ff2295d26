"""The page says when the messages it sends may be kept (capture), in a real Chromium.

Against the real local stack: the module's ``chalice local`` runs with capture off (the
``local`` stage sets no rate), a second one on the same S3 with ``CAPTURE_RATE=1`` in its
environment. The notice comes from ``GET /health``'s ``capture`` field; it is checked with
axe-core (WCAG 2.1 A and AA) and screenshotted, and the message the page sent is read back
from the local S3 under the request id the page got.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from stack.local.services import chalice_local, moto_s3_client
from tests.e2e.conftest import describe_violations, open_page, shot
from tests.e2e.test_feedback import _analyze
from tests.support import stored_records

if TYPE_CHECKING:
    from stack.local.services import Service
    from tests.e2e.conftest import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.external, pytest.mark.integration, pytest.mark.slow]

Axe = Callable[[Any], list[dict[str, Any]]]
RETENTION_DAYS = 14


@pytest.fixture
def api_with_capture(local_stack: LocalStack, tmp_path: Path) -> Iterator[Service]:
    """A second ``chalice local`` on the module's S3 keeping every message it scores."""
    env = {"CAPTURE_RATE": "1", "CAPTURE_RETENTION_DAYS": str(RETENTION_DAYS)}
    with chalice_local(local_stack.s3.url, stage="local", env=env, log_dir=tmp_path) as api:
        yield api


def _records(stack: LocalStack) -> list[Any]:
    s3 = moto_s3_client(stack.s3.url)
    return list(stored_records(s3, stack.settings.bucket, "capture/pending/").values())


def test_with_capture_off_the_page_says_nothing_and_nothing_is_kept(
    page: Any, local_stack: LocalStack
) -> None:
    text = "The capture-off check: lunch at noon by the lifts?"
    open_page(page, local_stack)
    expect(page.locator("#api-health")).to_contain_text("ready")
    expect(page.locator("#capture-notice")).to_be_hidden()
    assert page.get_by_label("Message").get_attribute("aria-describedby") == "message-hint"
    assert _analyze(page, text, "HAM").status == 200
    assert not [r for r in _records(local_stack) if r.text == text]


def test_with_capture_on_the_page_says_messages_may_be_kept_and_for_how_long(
    page: Any, local_stack: LocalStack, api_with_capture: Service, artifacts_dir: Path, axe: Axe
) -> None:
    text = "The capture-on check: are we still meeting at the station at 7?"
    open_page(page, local_stack, api_with_capture.url)
    notice = page.locator("#capture-notice")
    expect(notice).to_be_visible(timeout=15_000)
    expect(notice).to_contain_text("Messages may be kept for review")
    expect(notice).to_contain_text(f"up to {RETENTION_DAYS} days")
    message = page.get_by_label("Message")
    assert message.get_attribute("aria-describedby") == "message-hint capture-notice"
    violations = axe(page)
    assert not violations, describe_violations(violations)
    shot(page, artifacts_dir, "40-capture-notice")

    answered = _analyze(page, text, "HAM")
    assert answered.status == 200
    (record,) = [r for r in _records(local_stack) if r.text == text]
    assert record.request_id == answered.headers["x-request-id"]
    assert record.stratum == "random" and record.inclusion_probability == 1.0
    violations = axe(page)
    assert not violations, describe_violations(violations)
    shot(page, artifacts_dir, "41-capture-notice-after-a-verdict")
