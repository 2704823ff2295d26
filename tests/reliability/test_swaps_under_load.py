"""Model swaps under load, over real HTTP: ``chalice local`` with its local stage (refresh
every 2 s), a moto S3 server of its own behind a recording proxy, a bounded stream of
concurrent requests, and the trainer's writer publishing several versions and one rollback.

Every response must be a 200 from a version that was live at some point, and every
answer is recomputed with the artifacts of the version it names (loaded here from the
same bundles): a response that mixed two versions' vectorizer, classifier or threshold
would not match any.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests

from stack.local.services import chalice_local, free_port, moto_server
from trainer.registry import publish, rollback

from .conftest import PREFIX, FittedModel, TcpProxy, check_envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCAL_BUCKET = "spam-models-local"  # what the local stage's MODEL_BUCKET says
MIN_REQUESTS = 3000
MAX_REQUESTS = 20_000
MAX_SECONDS = 180.0
CLIENTS = 12
BATCH_SHARE = 0.25
POOL = 80


@dataclass
class Record:
    path: str
    texts: list[str]
    status: int
    body: dict[str, Any] | None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Run:
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    seen: Counter = field(default_factory=Counter)
    last_version: str | None = None


def _stage_refresh_seconds() -> float:
    from .conftest import API_DIR

    config = json.loads((API_DIR / ".chalice" / "config.json").read_text())
    stage = config["stages"]["local"]["environment_variables"]
    assert stage["MODEL_BUCKET"] == LOCAL_BUCKET
    return float(stage["MODEL_REFRESH_SECONDS"])


def _client_loop(url: str, pool: list[str], run: Run, seed: int) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    headers = {"Content-Type": "application/json", "Origin": "http://127.0.0.1:8000"}
    while not run.stop.is_set():
        if rng.random() < BATCH_SHARE:
            path, texts = "/predict/batch", rng.sample(pool, 3)
            payload: dict[str, Any] = {"texts": texts}
        else:
            path, texts = "/predict", [rng.choice(pool)]
            payload = {"text": texts[0]}
        started = time.monotonic()
        try:
            response = session.post(
                url + path, data=json.dumps(payload), headers=headers, timeout=30
            )
        except requests.RequestException as exc:
            record = Record(path, texts, 0, None, error=type(exc).__name__)
        else:
            try:
                body = check_envelope(response.status_code, response.headers, response.content)
                record = Record(path, texts, response.status_code, body)
            except (AssertionError, ValueError) as exc:
                record = Record(path, texts, response.status_code, None, error=repr(exc)[:300])
        record.seconds = time.monotonic() - started
        with run.lock:
            run.records.append(record)
            if record.body and record.status == 200:
                run.seen[record.body["model_version"]] += 1
                run.last_version = record.body["model_version"]
            if len(run.records) >= MAX_REQUESTS:
                run.stop.set()


def _wait_for(run: Run, version: str, timeout: float) -> float:
    """Wait until a response after now reports ``version``; the seconds it took."""
    started = time.monotonic()
    with run.lock:
        mark = len(run.records)
    while time.monotonic() - started < timeout:
        with run.lock:
            if any(r.body and r.body.get("model_version") == version for r in run.records[mark:]):
                return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"version {version} was not served within {timeout:.0f}s")


def _expected(model: FittedModel, pool: list[str]) -> dict[str, float]:
    return dict(zip(pool, model.spam_probabilities(pool), strict=True))


def test_swaps_under_load_every_answer_comes_wholly_from_one_live_version(
    models: list[FittedModel], sms, tmp_path
) -> None:
    refresh = _stage_refresh_seconds()
    texts, _ = sms
    pool = random.Random(7).sample(texts, POOL)
    expected = {m.name: _expected(m, pool) for m in models}
    # the versions are distinguishable: on most texts each pair answers differently
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            differing = sum(abs(expected[a.name][t] - expected[b.name][t]) > 1e-3 for t in pool)
            assert differing >= 0.9 * POOL, (a.name, b.name, differing)

    with moto_server(log_dir=tmp_path) as moto:
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        by_version: dict[str, FittedModel] = {}
        live_order: list[str] = []

        def go_live(manifest, model: FittedModel) -> str:
            by_version[manifest.version] = model
            live_order.append(manifest.version)
            return manifest.version

        go_live(publish(s3, LOCAL_BUCKET, PREFIX, models[0].bundle), models[0])
        with (
            TcpProxy(moto.url, free_port()) as proxy,
            chalice_local(proxy.url, log_dir=tmp_path) as api,
        ):
            warm = requests.post(api.url + "/predict", json={"text": "hello"}, timeout=60)
            assert warm.status_code == 200, warm.text
            log_path = tmp_path / f"chalice-{api.port}.log"
            log_start = log_path.stat().st_size  # start-up probes may time out and break pipes
            run = Run()
            workers = [
                threading.Thread(target=_client_loop, args=(api.url, pool, run, seed))
                for seed in range(CLIENTS)
            ]
            started = time.monotonic()
            for worker in workers:
                worker.start()
            swap_seconds: list[float] = []
            events: list[str] = []
            try:
                time.sleep(1.0)
                for model in models[1:4]:
                    version = go_live(publish(s3, LOCAL_BUCKET, PREFIX, model.bundle), model)
                    events.append(f"publish {model.name} -> {version}")
                    swap_seconds.append(_wait_for(run, version, 6 * refresh + 10))
                    time.sleep(1.5)
                back = live_order[1]
                rollback(s3, LOCAL_BUCKET, PREFIX, back)
                live_order.append(back)
                events.append(f"rollback -> {back}")
                swap_seconds.append(_wait_for(run, back, 6 * refresh + 10))
                time.sleep(1.5)
                version = go_live(publish(s3, LOCAL_BUCKET, PREFIX, models[4].bundle), models[4])
                events.append(f"publish {models[4].name} -> {version}")
                swap_seconds.append(_wait_for(run, version, 6 * refresh + 10))
                while len(run.records) < MIN_REQUESTS and time.monotonic() - started < MAX_SECONDS:
                    time.sleep(0.1)
            finally:
                run.stop.set()
                for worker in workers:
                    worker.join(timeout=60)
            elapsed = time.monotonic() - started
            health = requests.get(api.url + "/health", timeout=10).json()
            log_text = log_path.read_bytes()[log_start:].decode(errors="replace")

    records = run.records
    failures = [r for r in records if r.status != 200 or r.error or r.body is None]
    assert not failures, (len(failures), failures[:5])
    assert MIN_REQUESTS <= len(records) <= MAX_REQUESTS + CLIENTS
    assert elapsed < MAX_SECONDS + 30

    live_set = set(live_order)
    mismatches = []
    checked = 0
    for record in records:
        body = record.body
        assert body is not None
        version = body["model_version"]
        assert version in live_set, version
        model = by_version[version]
        assert body["threshold"] == model.threshold, body
        results = (
            body["results"]
            if record.path == "/predict/batch"
            else [
                {
                    "spam_probability": body["spam_probability"],
                    "classification": body["classification"],
                }
            ]
        )
        assert len(results) == len(record.texts)
        for text, result in zip(record.texts, results, strict=True):
            want = expected[model.name][text]
            verdict = "SPAM" if want >= model.threshold else "HAM"
            checked += 1
            if not math.isclose(result["spam_probability"], want, rel_tol=1e-9, abs_tol=1e-12) or (
                result["classification"] != verdict
            ):
                mismatches.append((version, text[:40], result, want))
        if record.path == "/predict":
            assert body["input_text"] == record.texts[0]
    assert not mismatches, (len(mismatches), mismatches[:5])

    assert set(run.seen) == live_set  # every live version actually served
    assert health["model_version"] == live_order[-1] and health["status"] == "ok"
    if "Traceback" in log_text:
        at = log_text.index("Traceback")
        pytest.fail("chalice local logged a traceback:\n" + log_text[at - 300 : at + 2500])
    # the API read nothing but GETs under the prefix of its bucket
    lines = proxy.request_lines
    assert lines and {method for method, _ in lines} == {"GET"}, Counter(m for m, _ in lines)
    paths = {path.split("?")[0] for _, path in lines}
    assert all(p.startswith(f"/{LOCAL_BUCKET}/{PREFIX}") for p in paths), paths
    conditional = sum(p.endswith("current.json") for _, p in lines)

    latencies = sorted(r.seconds for r in records)
    print(
        f"\nswaps under load: {len(records)} requests from {CLIENTS} threads in {elapsed:.1f}s "
        f"({len(records) / elapsed:.0f}/s), {len(failures)} failures, {checked} answers "
        f"recomputed, {len(mismatches)} mismatches; {len(live_order)} live versions "
        f"({len(set(live_order))} distinct: {len(models)} published, 1 rollback); "
        f"swap seen after {', '.join(f'{s:.1f}' for s in swap_seconds)}s; "
        f"served per version {dict(run.seen)}; p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; {len(lines)} S3 requests ({conditional} of "
        f"current.json), all GET under /{LOCAL_BUCKET}/{PREFIX}"
    )
    for event in events:
        print("  ", event)
