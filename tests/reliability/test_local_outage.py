"""S3 down when ``chalice local`` starts, then back: over real HTTP, with the local stage's
own settings (nothing overridden but the endpoint, which goes through a loopback proxy).

While S3 is down every route answers a JSON 503 with CORS headers, quickly; once it is
back the same process serves the model, without a restart. A 6 MB body is refused with
413 over real HTTP too.
"""

from __future__ import annotations

import time

import boto3
import pytest
import requests

from stack.local.services import chalice_local, free_port, moto_server
from trainer.registry import publish

from .conftest import PREFIX, SPAM, TcpProxy, check_envelope

pytestmark = pytest.mark.integration

ORIGIN = "http://127.0.0.1:8000"
LOCAL_BUCKET = "spam-models-local"


def _call(method: str, url: str, **kwargs):
    started = time.monotonic()
    response = requests.request(method, url, timeout=60, headers={"Origin": ORIGIN}, **kwargs)
    return response, time.monotonic() - started


def test_s3_down_at_start_then_back_over_http(models, tmp_path) -> None:
    with moto_server(log_dir=tmp_path) as moto:
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        live = publish(s3, LOCAL_BUCKET, PREFIX, models[0].bundle)
        proxy = TcpProxy(moto.url, free_port())  # not started: S3's port is closed
        try:
            with chalice_local(proxy.url, log_dir=tmp_path) as api:
                worst = 0.0
                down = 0
                for _ in range(3):
                    for method, path, body in (
                        ("POST", "/predict", {"text": SPAM}),
                        ("POST", "/predict/batch", {"texts": [SPAM]}),
                        ("GET", "/health", None),
                        ("GET", "/model", None),
                    ):
                        response, took = _call(method, api.url + path, json=body)
                        worst = max(worst, took)
                        down += 1
                        payload = check_envelope(
                            response.status_code, response.headers, response.content
                        )
                        assert response.status_code == 503, payload
                        assert response.headers["Access-Control-Allow-Origin"] == "*"
                        assert payload["Code"] == "ServiceUnavailableError"
                        assert "S3 did not answer" in payload["Message"], payload
                preflight = requests.options(
                    api.url + "/predict",
                    headers={
                        "Origin": ORIGIN,
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type",
                    },
                    timeout=10,
                )
                assert preflight.status_code == 200
                assert preflight.headers["Access-Control-Allow-Origin"] == "*"
                six_mb = b'{"text": "' + b"x" * (6 * 1024 * 1024) + b'"}'
                big, big_took = _timed_big(api.url, six_mb)
                assert big.status_code == 413, big.text[:300]
                check_envelope(big.status_code, big.headers, big.content)

                proxy.start()  # S3 is back
                back_at = time.monotonic()
                while True:
                    response, _ = _call("POST", api.url + "/predict", json={"text": SPAM})
                    if response.status_code == 200 or time.monotonic() - back_at > 30:
                        break
                    time.sleep(0.2)
                recovered = time.monotonic() - back_at
                assert response.status_code == 200, response.text
                assert response.json()["model_version"] == live.version
                assert requests.get(api.url + "/health", timeout=10).json()["status"] == "ok"
        finally:
            proxy.stop()
    assert worst < 5.0, worst
    print(
        f"\nchalice local, S3 down at start: {down} requests, all 503 JSON + CORS, slowest "
        f"{worst:.2f}s; 6 MB body: 413 in {big_took:.2f}s; serving {recovered:.1f}s after S3 "
        f"came back, no restart"
    )


def _timed_big(url: str, body: bytes):
    started = time.monotonic()
    response = requests.post(
        url + "/predict",
        data=body,
        headers={"Content-Type": "application/json", "Origin": ORIGIN},
        timeout=60,
    )
    return response, time.monotonic() - started
