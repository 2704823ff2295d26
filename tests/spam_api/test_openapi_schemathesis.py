"""schemathesis against the real ``chalice local``, driven by the API's own OpenAPI document.

Two runs, every operation, a bounded number of cases each:
- a model loaded and every check on: no server error; status codes, content types,
  response schemas and headers as documented; schema-violating requests refused;
- S3 down, with the checks that need a working backend off (no server error, valid data
  accepted): every answer, the 503s included, must still be as documented.
And a run against a deliberately broken server (a 503 without Retry-After, a
classification outside the enum), which schemathesis must report, so a pass above means
something. Reports go to the local moto server only. Settings live in schemathesis.toml.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from chalicelib.openapi import build_document
from chalicelib.settings import Settings

from stack.local.services import Service, chalice_local, free_port, moto_server
from trainer.registry import publish

from .conftest import API_DIR, PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).with_name("schemathesis.toml")
LOCAL = json.loads((API_DIR / ".chalice" / "config.json").read_text())["stages"]["local"]
BUCKET = LOCAL["environment_variables"]["MODEL_BUCKET"]
#: Cases per operation and phase: about a minute per run on two cores.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261126")


def schemathesis(base_url: str, tmp_path: Path, *extra: str) -> tuple[int, str, dict]:
    """Run the CLI; returns its exit code, its output and its per-operation case counts."""
    report = tmp_path / "report.ndjson"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--no-color",
        "--generation-database",
        ":memory:",  # each run from its seed alone, and nothing left in the work tree
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        *extra,
    ]
    done = subprocess.run(  # in tmp_path: its crash cache stays out of the work tree
        command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    output = done.stdout + done.stderr
    print(_squeeze(output)[-4000:])  # shown with -s or on failure
    return done.returncode, output, _cases_per_operation(report)


def _squeeze(text: str) -> str:
    """Long generated strings fold into ``xxxxx<N>`` so failures stay readable."""
    return re.sub(r"(.)\1{80,}", lambda m: m.group(1) * 5 + f"<{len(m.group(0))}>", text)


def _cases_per_operation(report: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not report.exists():
        return counts
    for line in report.read_text().splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name == "ScenarioFinished" and isinstance(body, dict):
                label = body.get("label") or body.get("recorder", {}).get("label")
                cases = body.get("recorder", {}).get("cases", {})
                if label:
                    counts[label] = counts.get(label, 0) + len(cases)
    return counts


def _summary(output: str) -> str:
    found = re.search(r"(\d+) generated, (\d+) (?:passed|found)", output)
    return found.group(0) if found else "no summary"


@pytest.fixture(scope="module")
def served(tmp_path_factory, bundle) -> Iterator[Service]:
    """chalice local (local stage) serving a published model from a private moto server."""
    tmp_path = tmp_path_factory.mktemp("schemathesis-up")
    with moto_server(log_dir=tmp_path) as s3_service:
        s3 = boto3.client("s3", endpoint_url=s3_service.url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        publish(s3, BUCKET, PREFIX, bundle)
        with chalice_local(s3_service.url, log_dir=tmp_path) as api:
            yield api


def test_every_operation_conforms_with_a_model_loaded(served, tmp_path) -> None:
    code, output, cases = schemathesis(served.url, tmp_path)
    print(f"\nschemathesis, model loaded: {_summary(output)}; per operation: {cases}")
    assert code == 0, _squeeze(output)[-6000:]
    assert "5 selected / 5 total" in output or "Selected: 5/5" in output  # /feedback included


def test_every_answer_conforms_with_s3_down(tmp_path) -> None:
    """Nothing can succeed, so only the server-error and valid-data-accepted checks are off."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"S3_CONNECT_TIMEOUT_SECONDS": "0.2", "S3_MAX_ATTEMPTS": "1"}
    with chalice_local(dead, log_dir=tmp_path, env=env) as api:
        code, output, cases = schemathesis(
            api.url,
            tmp_path,
            "--exclude-checks",
            "not_a_server_error,positive_data_acceptance",
        )
    print(f"\nschemathesis, S3 down: {_summary(output)}; per operation: {cases}")
    assert code == 0, _squeeze(output)[-6000:]


class _Broken(BaseHTTPRequestHandler):
    """Serves the real document, then answers as a broken API would."""

    document = b""

    def _send(self, status: int, body: dict, headers: dict[str, str]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        common = {"X-Request-Id": "r1", "Access-Control-Allow-Origin": "*"}
        if self.path == "/openapi.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.document)))
            self.end_headers()
            self.wfile.write(self.document)
            return
        unavailable = {"status": "unavailable", "Code": "ServiceUnavailableError", "Message": "x"}
        self._send(503, unavailable, common)  # no Retry-After: a broken 503

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = {
            "status": "success",
            "classification": "MAYBE",  # outside the enum
            "spam_probability": 0.5,
            "threshold": 0.5,
            "model_version": "v1",
            "input_text": "x",
        }
        self._send(200, body, {"X-Request-Id": "r1", "Access-Control-Allow-Origin": "*"})

    def log_message(self, *args: object) -> None:
        pass


def test_the_run_fails_on_a_broken_answer(tmp_path) -> None:
    document = build_document(Settings(feedback_enabled=False))
    document["paths"] = {p: document["paths"][p] for p in ("/health", "/predict")}
    handler = type("Broken", (_Broken,), {"document": json.dumps(document).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, output, _ = schemathesis(
            url,
            tmp_path,
            "--max-failures",
            "50",
            "--phases",
            "fuzzing",
            "--exclude-checks",
            "not_a_server_error,negative_data_rejection,unsupported_method",
        )
    finally:
        server.shutdown()
    assert code != 0
    assert "Retry-After" in output  # the missing header, named
    assert "MAYBE" in output and "Response violates schema" in output
