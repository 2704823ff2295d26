"""Browser fixtures: Debian's Chromium through Playwright, and the real local stack.

The stack is the one ``make demo`` runs (moto S3 server, ``chalice local --stage local``,
Python's static server), built from the same ``stack`` helpers, with the committed
``static/`` served on its own port so every API call is cross-origin (preflight, then
POST), exactly as in production. The page is pointed at the API with ``?api=``.

When Chromium or Playwright is missing the tests skip locally, but fail under CI: CI
installs Chromium itself (``.ci/run``), so a missing browser there is a broken build.

Accessibility is checked with axe-core (the ``axe`` fixture), pinned by
``tests/e2e/axe/package-lock.json`` and installed from it with ``npm ci`` into
``build/axe-core`` (gitignored) the first time a test needs it; like Chromium, it skips
locally when it cannot be had (no npm) and fails under CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from stack.local.demo import StageSettings, local_stage_settings, publish_model_folder
from stack.local.services import (
    REPO_ROOT,
    Service,
    chalice_local,
    moto_s3_client,
    moto_server,
    static_server,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS_DIR", REPO_ROOT / "test-artifacts" / "e2e"))
DESKTOP = {"width": 1100, "height": 900}
AXE_PACKAGE = Path(__file__).resolve().parent / "axe"
AXE_DIR = REPO_ROOT / "build" / "axe-core"
#: The rule sets of WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

SPAM = (
    "WINNER!! As a valued network customer you have been selected to receive a £900 prize "
    "reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only."
)
HAM = "Hey, are we still on for dinner tonight? I can pick you up around 7."


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium)")
    pytest.skip(reason)


@dataclass(frozen=True)
class LocalStack:
    """One running stack: where S3, the API and the page are, and what the API reads."""

    s3: Service
    api: Service
    web: Service
    settings: StageSettings

    def page_url(self, api_url: str | None = None) -> str:
        """The page, pointed at ``api_url`` (default: this stack's API) with ``?api=``."""
        return f"{self.web.url}/index.html?api={quote(api_url or self.api.url, safe='')}"

    def publish(self, model_dir: Path) -> str:
        """Publish a model folder with the trainer's CLI; returns the now live version."""
        _publish(model_dir, self.s3.url, self.settings)
        return self.live_version()

    def live_version(self) -> str:
        """The version ``current.json`` names (what the API should serve after a refresh)."""
        from trainer.registry import current_version

        manifest = current_version(
            moto_s3_client(self.s3.url), self.settings.bucket, self.settings.prefix
        )
        assert manifest is not None, "nothing published"
        return manifest.version

    def predict(self, text: str, **extra: Any) -> requests.Response:
        """``POST /predict`` straight to the API, to compare the page with the API's answer."""
        return requests.post(f"{self.api.url}/predict", json={"text": text, **extra}, timeout=30)

    def feedback_reports(self) -> dict[str, dict[str, Any]]:
        """Every report stored under ``<FEEDBACK_PREFIX>pending/``, by key, as parsed JSON."""
        prefix = self.settings.environment.get("FEEDBACK_PREFIX", "feedback/") + "pending/"
        s3 = moto_s3_client(self.s3.url)
        reports = {}
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=self.settings.bucket, Key=item["Key"])["Body"]
                reports[item["Key"]] = json.loads(body.read())
        return reports


def _publish(model_dir: Path, s3_endpoint: str, settings: StageSettings) -> None:
    """Publish a model folder where ``settings`` say the API reads, with the trainer's CLI."""
    publish_model_folder(
        model_dir,
        s3_endpoint=s3_endpoint,
        bucket=settings.bucket,
        prefix=settings.prefix,
        out=sys.stdout,
    )


@contextlib.contextmanager
def _local_s3(log_dir: Path, model_dir: Path | None = None) -> Iterator[Service]:
    """A moto server with the ``local`` stage's bucket, serving ``model_dir`` if given."""
    settings = local_stage_settings("local")
    with moto_server(log_dir=log_dir) as s3:
        moto_s3_client(s3.url).create_bucket(Bucket=settings.bucket)
        if model_dir is not None:
            _publish(model_dir, s3.url, settings)
        yield s3


def quick_model(folder: Path, corpus: Path, lines: slice) -> Path:
    """A model folder like ``trainer train --out`` writes, fitted in seconds on a slice.

    The trainer's full protocol (cross-validated grid, holdout) takes about a minute;
    ``tests.support.default_bundle`` is the tests' fast path for fixtures, and
    a different slice gives different artifacts, hence a different version.
    """
    from tests.support import default_bundle
    from trainer.artifacts import write_bundle
    from trainer.data import parse_sms_collection

    text = "\n".join(corpus.read_text(encoding="utf-8").splitlines()[lines]) + "\n"
    messages = parse_sms_collection(text, corpus.name)
    bundle = default_bundle([m.text for m in messages], [m.label for m in messages])
    return write_bundle(bundle, folder)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory, sms_collection_path: Path) -> list[Path]:
    """Two quick models from different halves of the SMS collection (for the hot swap)."""
    root = tmp_path_factory.mktemp("models")
    return [
        quick_model(root / "first", sms_collection_path, slice(0, 2500)),
        quick_model(root / "second", sms_collection_path, slice(2500, 5000)),
    ]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where each state's screenshot goes (``test-artifacts/e2e``, gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (Debian's, never a Playwright download)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's ``axe.min.js``, installed from ``tests/e2e/axe``'s lockfile on first use."""
    lock = (AXE_PACKAGE / "package-lock.json").read_bytes()
    stamp = AXE_DIR / ".installed"
    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not (script.exists() and stamp.exists() and stamp.read_bytes() == lock):
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm not found, needed to install axe-core (apt-get install -y npm)")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(AXE_PACKAGE / name, AXE_DIR / name)
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AXE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not script.exists():
            _unavailable(f"npm ci of axe-core failed in {AXE_DIR}:\n{done.stdout}{done.stderr}")
        stamp.write_bytes(lock)
    return script.read_text(encoding="utf-8")


def shot(page: Any, artifacts_dir: Path, name: str) -> None:
    """Save a screenshot of the whole page as ``<artifacts_dir>/<name>.png``."""
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)


def open_page(page: Any, stack: LocalStack, api_url: str | None = None) -> None:
    """Load the page pointed at ``api_url`` (default: the stack's API), ready for input."""
    page.goto(stack.page_url(api_url))
    page.get_by_role("button", name="Analyze").wait_for()


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """axe's violations as one readable line each: rule, impact, what it wants, where."""
    return "\n".join(
        f"{v['id']} ({v.get('impact')}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"])
        for v in violations
    )


@pytest.fixture
def axe(axe_source: str) -> Callable[[Any], list[dict[str, Any]]]:
    """``axe(page)``: the WCAG 2.1 A and AA violations axe-core finds in the page as it is.

    The script goes in through Playwright's evaluate (DevTools), which the page's CSP
    (script-src 'self') does not govern: the page itself is checked with its real CSP.
    """

    def run(page: Any) -> list[dict[str, Any]]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe_source)
        return page.evaluate(
            """async (tags) => (await window.axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            })).violations""",
            WCAG_21_AA,
        )

    return run


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page; any alert() or uncaught page error fails the test."""
    context = browser.new_context(viewport=DESKTOP)
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    new_page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    new_page.set_default_timeout(30_000)
    yield new_page
    context.close()
    assert not problems, problems


@pytest.fixture(scope="module")
def local_stack(
    tmp_path_factory: pytest.TempPathFactory, model_dirs: list[Path]
) -> Iterator[LocalStack]:
    """The real stack serving the first quick model, for a whole module."""
    logs = tmp_path_factory.mktemp("stack-logs")
    with (
        _local_s3(logs, model_dirs[0]) as s3,
        chalice_local(s3.url, stage="local", log_dir=logs) as api,
        static_server(log_dir=logs) as web,
    ):
        yield LocalStack(s3=s3, api=api, web=web, settings=local_stage_settings("local"))


@pytest.fixture
def api_with_feedback_off(local_stack: LocalStack, tmp_path: Path) -> Iterator[Service]:
    """A second ``chalice local`` on the module's S3 with ``FEEDBACK_ENABLED=false``.

    The ``local`` stage does not set FEEDBACK_ENABLED, so the process's own value stands.
    """
    with chalice_local(
        local_stack.s3.url, stage="local", env={"FEEDBACK_ENABLED": "false"}, log_dir=tmp_path
    ) as api:
        yield api


@pytest.fixture
def stack_with_own_s3(tmp_path: Path, model_dirs: list[Path]) -> Iterator[tuple[Service, Service]]:
    """``(s3, api)``: a moto server of its own (a test may stop it) and an API serving a model.

    Stop the S3 server with ``stack.processes.stop_process_group(s3.process)``: the API
    keeps serving the model it loaded, and every write to S3 fails.
    """
    with (
        _local_s3(tmp_path, model_dirs[0]) as s3,
        chalice_local(s3.url, stage="local", log_dir=tmp_path) as api,
    ):
        yield s3, api


@pytest.fixture
def api_without_model(tmp_path: Path) -> Iterator[Service]:
    """``chalice local`` on its own, empty S3: it answers 503 until a model is published."""
    with (
        _local_s3(tmp_path) as s3,
        chalice_local(s3.url, stage="local", log_dir=tmp_path) as api,
    ):
        yield api
