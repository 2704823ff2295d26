"""The trainer killed mid-publish (SIGKILL, no chance to clean up) changes nothing live.

The trainer's ``publish`` runs in a subprocess (a small wrapper written here) that kills
itself at a chosen point: right after the first artifact upload, or after the version's
own manifest is written (the last step before ``current.json``). A third run is killed
from outside while its model upload is stuck half-way in a loopback proxy. Each time
``current.json`` keeps its bytes, the API keeps serving the old version with nothing
to report, and a rerun publishes cleanly and goes live.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from chalicelib.registry_format import current_key

from stack.local.services import free_port
from trainer.registry import list_versions

from .conftest import PREFIX, REPO_ROOT, SPAM, TcpProxy, check_envelope, post

pytestmark = pytest.mark.integration

WRAPPER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path

    import boto3
    from trainer.registry import ModelBundle, publish

    args = json.loads(sys.argv[1])
    s3 = boto3.client("s3", endpoint_url=args["endpoint"], region_name="us-east-1")
    puts = []

    def after_put(params, **_):
        puts.append(params["Key"])
        print("put", params["Key"], flush=True)
        if args["kill_after_puts"] == len(puts):
            os.kill(os.getpid(), signal.SIGKILL)

    def remember(params, **_):
        after_put.params = params

    s3.meta.events.register("provide-client-params.s3.PutObject", remember)
    s3.meta.events.register(
        "after-call.s3.PutObject", lambda **kw: after_put(after_put.params)
    )
    folder = Path(args["bundle"])
    fields = json.loads((folder / "fields.json").read_text())
    bundle = ModelBundle(
        vectorizer_pkl=(folder / "vectorizer.pkl").read_bytes(),
        model_pkl=(folder / "model.pkl").read_bytes(),
        **fields,
    )
    manifest = publish(s3, args["bucket"], args["prefix"], bundle)
    print("published", manifest.version, flush=True)
    """
)


def _write_bundle(folder: Path, model) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    bundle = model.bundle
    (folder / "vectorizer.pkl").write_bytes(bundle.vectorizer_pkl)
    (folder / "model.pkl").write_bytes(bundle.model_pkl)
    fields = {
        "metrics": dict(bundle.metrics),
        "threshold": bundle.threshold,
        "labels": dict(bundle.labels),
        "sklearn_version": bundle.sklearn_version,
        "metrics_summary": dict(bundle.metrics_summary),
    }
    (folder / "fields.json").write_text(json.dumps(fields))
    return folder


def _start(tmp_path: Path, endpoint: str, bucket: str, bundle_dir: Path, kill_after: int | None):
    script = tmp_path / "publish_wrapper.py"
    script.write_text(WRAPPER)
    args = {
        "endpoint": endpoint,
        "bucket": bucket,
        "prefix": PREFIX,
        "bundle": str(bundle_dir),
        "kill_after_puts": kill_after,
    }
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(args)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _live(client, clock, runtime) -> dict:
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    response = post(client, "/predict", {"text": SPAM})
    body = check_envelope(response.status_code, response.headers, response.body)
    assert response.status_code == 200, body
    health = client.http.get("/health")
    return {
        "version": body["model_version"],
        "health": check_envelope(health.status_code, health.headers, health.body),
    }


def _current(s3, bucket: str) -> tuple[bytes, str]:
    got = s3.get_object(Bucket=bucket, Key=current_key(PREFIX))
    return got["Body"].read(), got["ETag"]


def _keys(s3, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.parametrize(
    "kill", ["after-first-upload", "mid-model-upload", "after-version-manifest"]
)
def test_a_publish_killed_midway_changes_nothing_live_and_a_rerun_goes_live(
    make_client, s3_client, s3_endpoint, bucket, models, publish_model, clock, tmp_path, kill
) -> None:
    live = publish_model(models[0])
    runtime, client = make_client()
    assert _live(client, clock, runtime)["version"] == live.version
    before_current = _current(s3_client, bucket)
    before_keys = _keys(s3_client, bucket)
    bundle_dir = _write_bundle(tmp_path / "bundle", models[1])

    if kill == "mid-model-upload":
        with TcpProxy(s3_endpoint, free_port()) as proxy:
            vectorizer = len(models[1].bundle.vectorizer_pkl)
            proxy.stall_after = vectorizer + 2_000 + len(models[1].bundle.model_pkl) // 2
            process = _start(tmp_path, proxy.url, bucket, bundle_dir, None)
            assert proxy.stalled.wait(60), "the upload never reached the stall point"
            process.send_signal(signal.SIGKILL)
            output, _ = process.communicate(timeout=30)
    else:
        puts = {"after-first-upload": 1, "after-version-manifest": 4}[kill]
        process = _start(tmp_path, s3_endpoint, bucket, bundle_dir, puts)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, output
    assert "published" not in output

    written = _keys(s3_client, bucket) - before_keys
    assert current_key(PREFIX) not in written
    assert _current(s3_client, bucket) == before_current  # same bytes, same ETag
    seen = _live(client, clock, runtime)
    assert seen["version"] == live.version
    assert seen["health"]["status"] == "ok" and "failure" not in seen["health"]
    versions = [v.manifest.version for v in list_versions(s3_client, bucket, PREFIX)]
    current = [v.manifest.version for v in list_versions(s3_client, bucket, PREFIX) if v.is_current]
    assert current == [live.version]
    if kill != "after-version-manifest":
        assert len(versions) == 1  # orphaned objects without a manifest are not a version
        assert [k.rsplit("/", 1)[1] for k in written] == ["vectorizer.pkl"], written
    print(
        f"\nkilled {kill}: {len(written)} orphaned objects, current.json unchanged, "
        f"still serving {live.version}"
    )

    # rerun (in a later second: version ids are per second + content hash, and an
    # identical, complete orphan in the same second would be refused as existing)
    time.sleep(1.05 - time.time() % 1)
    rerun = _start(tmp_path, s3_endpoint, bucket, bundle_dir, None)
    output, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, output
    new_version = output.split("published", 1)[1].split()[0]
    assert new_version != live.version
    body, _ = _current(s3_client, bucket)
    assert json.loads(body)["version"] == new_version
    seen = _live(client, clock, runtime)
    assert seen["version"] == new_version
    assert seen["health"]["status"] == "ok"
