"""6. Over HTTP: ``chalice local`` under a bounded load from a second process, loopback only.

This is the development server's figure (a threaded ``http.server`` with a listen backlog
of 5), not Lambda's: it shows the whole stack answers correctly under concurrency, and
how much of a request the dev server itself costs (``GET /health`` on the same server is
the baseline). Concurrency stays below the backlog; both a request and a time budget
bound each run. A third run reuses connections (as browsers do), which on this server
costs a delayed-ACK stall per response (see ``bench.loadgen``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.context import BenchContext
from bench.stats import percentile, ratio, throughput
from bench.table import Row, fmt_ms, fmt_rate, fmt_ratio

__all__ = ["measure", "rows"]


def _load(
    ctx: BenchContext, url: str, method: str, texts_file: str, *, keepalive: bool = False
) -> dict[str, Any]:
    s = ctx.settings
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--texts",
        texts_file,
        "--method",
        method,
        "--concurrency",
        str(s.http_concurrency),
        "--max-requests",
        str(s.http_max_requests),
        "--max-seconds",
        str(s.http_max_seconds),
        *(["--keepalive"] if keepalive else []),
    ]
    proc = subprocess.run(
        argv,
        cwd=s.repo,
        capture_output=True,
        text=True,
        timeout=s.http_max_seconds + 120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(ctx: BenchContext) -> dict[str, Any]:
    """Start ``chalice local`` on the bench S3, load ``/predict`` then ``/health``."""
    from stack.local.services import chalice_local

    texts_file = ctx.settings.build_dir / "http-texts.json"
    texts_file.write_text(json.dumps(ctx.sample_texts(500)), encoding="utf-8")
    env = {**ctx.app_env(), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("AWS_ENDPOINT_URL_S3", None)  # chalice_local passes it itself
    with chalice_local(ctx.s3_endpoint(), env=env, log_dir=ctx.log_dir) as api:
        predict = _load(ctx, f"{api.url}/predict", "POST", str(texts_file))
        health = _load(ctx, f"{api.url}/health", "GET", str(texts_file))
        kept = _load(ctx, f"{api.url}/predict", "POST", str(texts_file), keepalive=True)
    if not predict["latencies_ms"]:
        raise RuntimeError(f"no successful /predict over HTTP: errors {predict['errors']}")
    return {"predict": predict, "health": health, "keepalive": kept}


def _summary(run: dict[str, Any]) -> dict[str, float]:
    lat = run["latencies_ms"] or [float("nan")]
    return {
        "rps": throughput(run["ok"], run["wall_seconds"]) if run["ok"] else 0.0,
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "errors": sum(run["errors"].values()),
        "requests": run["requests"],
    }


def rows(result: dict[str, Any]) -> list[Row]:
    """Requests/s with p50/p99 and errors; /health on the same server as the baseline."""
    p = _summary(result["predict"])
    h = _summary(result["health"])
    k = _summary(result["keepalive"])
    conc = result["predict"]["concurrency"]
    stopped = result["predict"]["stopped_by"]
    raw = {
        name: {k: v for k, v in run.items() if k != "latencies_ms"} | {"summary": _summary(run)}
        for name, run in result.items()
    }
    return [
        Row(
            "6",
            "`chalice local` POST /predict over loopback (dev server, not Lambda)",
            ours=f"{fmt_rate(p['rps'], 'req/s')}, p50 {fmt_ms(p['p50'])}, p99 {fmt_ms(p['p99'])}",
            baseline=(
                f"GET /health {fmt_rate(h['rps'], 'req/s')}, p50 {fmt_ms(h['p50'])}, "
                f"p99 {fmt_ms(h['p99'])}"
            ),
            ratio=fmt_ratio(ratio(p["rps"], h["rps"])),
            result=f"{p['errors']} errors / {p['requests']}",
            notes=(
                f"{conc} client threads in a second process, a new connection per request; "
                f"stopped by {stopped} budget; /health errors {h['errors']}"
            ),
            raw=raw,
        ),
        Row(
            "6",
            "`chalice local` POST /predict, kept-alive connections",
            ours=f"{fmt_rate(k['rps'], 'req/s')}, p50 {fmt_ms(k['p50'])}, p99 {fmt_ms(k['p99'])}",
            baseline=f"new connection per request, p50 {fmt_ms(p['p50'])}",
            ratio=fmt_ratio(ratio(k["p50"], p["p50"])),
            result=f"{k['errors']} errors / {k['requests']}",
            notes=(
                "chalice local sends headers and body separately with Nagle on, so each "
                "kept-alive response waits for the client's delayed ACK (~40 ms): a dev "
                "server artefact, not the app's cost"
            ),
        ),
    ]
