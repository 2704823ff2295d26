"""The whole deployable, as Lambda runs it: ``chalice package`` output in /var/task, our
layer in /opt, the runtime's boto3, an isolated python3.13, API Gateway proxy events, S3 on
a moto server holding a model the trainer published. Answers must match ``chalice local``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.local.services import free_port
from vendor_build.build import BuildResult
from vendor_build.lambda_events import proxy_event
from vendor_build.sandbox import runtime_sdk_dir
from vendor_build.smoke import chalice_package, invoke, preflight_headers
from vendor_build.verify import make_read_only, unpack_layer

from .test_layer_integration import read_sms

# the first slow test pays for the session build of the layer
pytestmark = [  # the real layer, built from PyPI's wheels
    pytest.mark.integration,
    pytest.mark.external,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
API_DIR = REPO_ROOT / "spam_api"
STAGE = "dev"
PREFIX = "models/"
SPAM = "WINNER!! You have won a free cash prize. Call 09061701461 now to claim it"
HAM = "Are we still meeting for lunch tomorrow? I'll bring the notes"
#: Headers that differ per request or per server, by design.
VOLATILE = {"x-request-id", "date", "server", "content-length", "connection"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Chalice project (never the real config), its stage pointed at our bucket."""
    copy = tmp_path_factory.mktemp("api") / "spam_api"
    shutil.copytree(
        API_DIR, copy, ignore=shutil.ignore_patterns("deployments", "deployed", "__pycache__")
    )
    return copy


def _point_stage_at(project: Path, bucket: str) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    variables = config["stages"][STAGE].setdefault("environment_variables", {})
    variables.update({"MODEL_BUCKET": bucket, "MODEL_PREFIX": PREFIX})
    config_path.write_text(json.dumps(config, indent=2) + "\n")


@pytest.fixture
def published(bucket: str, s3_client, sms_collection_path: Path) -> str:
    """A model the trainer fitted and published into the test bucket; returns its version."""
    from tests.support import default_bundle
    from trainer.registry import publish

    texts, labels = read_sms(sms_collection_path, 3000)
    return publish(s3_client, bucket, PREFIX, default_bundle(texts, labels)).version


@pytest.fixture
def lambda_dirs(built_layer: BuildResult, project: Path, bucket: str, tmp_path: Path):
    """/var/task, /opt and /var/runtime stand-ins, read-only; plus the packaged API."""
    _point_stage_at(project, bucket)
    api = chalice_package(project, tmp_path / "package", stage=STAGE)
    task = tmp_path / "var-task"
    with zipfile.ZipFile(api.deployment_zip) as zf:
        zf.extractall(task)
    opt = unpack_layer(built_layer.zip_path, tmp_path / "opt")
    runtime = runtime_sdk_dir(tmp_path / "var-runtime")
    for folder in (task, opt):
        make_read_only(folder)
    yield api, task, opt, runtime
    for folder in (task, opt):
        make_read_only(folder, read_only=False)


@pytest.fixture
def chalice_local_url(
    project: Path, bucket: str, s3_endpoint: str, published: str
) -> Iterator[str]:
    """``chalice local --stage dev`` on the same project copy, bucket and model."""
    _point_stage_at(project, bucket)
    port = free_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONUNBUFFERED": "1",
    }
    log = project.parent / "chalice-local.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "chalice"),
                "local",
                "--stage",
                STAGE,
                "--port",
                str(port),
                "--no-autoreload",
            ],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"chalice local exited: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as reply:
                    if json.load(reply).get("ready", True):
                        break
            except urllib.error.HTTPError:
                pass
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chalice local not ready: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _http(url: str, method: str, path: str, body: str | None, headers: dict[str, str]):
    request = urllib.request.Request(
        url + path,
        data=body.encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _comparable_body(text: str):
    """The JSON body without timestamps (``*_at``): two processes load at different times."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not k.endswith("_at")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(text))


def _comparable_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in VOLATILE}


REQUESTS = [
    ("POST", "/predict", json.dumps({"text": SPAM}), {"Content-Type": "application/json"}),
    ("POST", "/predict", json.dumps({"text": HAM}), {"Content-Type": "application/json"}),
    ("POST", "/predict", "{not json", {"Content-Type": "application/json"}),
    (
        "POST",
        "/predict",
        json.dumps({"txt": "no text field"}),
        {"Content-Type": "application/json"},
    ),
    ("GET", "/model", None, {}),
]


def test_the_packaged_api_on_the_layer_answers_like_chalice_local(
    lambda_dirs, published: str, s3_endpoint: str, chalice_local_url: str
) -> None:
    api, task, opt, runtime = lambda_dirs
    assert api.function()["Runtime"] == "python3.13"
    origin = {"Origin": "https://example.org"}
    events = [
        proxy_event(method, path, body, headers={**headers, **origin}, user_agent="smoke-test")
        for method, path, body, headers in REQUESTS
    ]
    events.append(
        proxy_event(
            "OPTIONS",
            "/predict",
            headers={**origin, "Access-Control-Request-Method": "POST"},
            user_agent="smoke-test",
        )
    )
    result = invoke(
        api,
        task,
        opt,
        runtime,
        events,
        env={
            "AWS_ENDPOINT_URL_S3": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )
    responses = [item["response"] for item in result.responses]

    spam, ham, bad_json, bad_field, model = (responses[i] for i in range(5))
    assert spam["statusCode"] == 200, spam
    spam_body = json.loads(spam["body"])
    assert spam_body["classification"] == "SPAM" and spam_body["model_version"] == published
    assert json.loads(ham["body"])["classification"] == "HAM"
    for bad in (bad_json, bad_field):
        assert 400 <= bad["statusCode"] < 500, bad
        body = json.loads(bad["body"])
        assert "Traceback" not in bad["body"] and body.get("status") == "error", body
    assert model["statusCode"] == 200
    for response in responses[:5]:
        headers = {k.lower(): v for k, v in response["headers"].items()}
        assert headers["access-control-allow-origin"] == "*"
        assert headers["content-type"].startswith("application/json")

    # the same requests through chalice local: same statuses, bodies and headers
    for (method, path, body, headers), response in zip(REQUESTS, responses[:5], strict=True):
        status, local_headers, local_body = _http(
            chalice_local_url, method, path, body, {**headers, **origin}
        )
        assert status == response["statusCode"], (method, path, local_body)
        assert _comparable_body(local_body) == _comparable_body(response["body"]), (method, path)
        assert _comparable_headers(local_headers) == _comparable_headers(response["headers"]), (
            method,
            path,
        )

    # a preflight never reaches Lambda: API Gateway answers from the template's mock
    gateway = preflight_headers(api, "/predict")
    status, local_headers, _ = _http(
        chalice_local_url,
        "OPTIONS",
        "/predict",
        None,
        {**origin, "Access-Control-Request-Method": "POST"},
    )
    assert status == 200
    local = {k.lower(): v for k, v in local_headers.items()}
    for name, value in gateway.items():
        assert local[name.lower()] == value, name
    # and should one reach the handler anyway, it still answers JSON with CORS headers
    stray = responses[5]
    assert "access-control-allow-origin" in {k.lower() for k in stray["headers"]}
    print(f"cold start (import app.py with the layer): {result.init_s:.2f} s")
