"""A bounded HTTP load generator, run as its own process: ``python -m bench.loadgen``.

A second process, so the server under test and the client do not share a GIL. It only
talks to loopback (it refuses any other host), and stops at whichever comes first: the
request budget or the time budget. By default each request opens a new connection
(``Connection: close``); with ``--keepalive`` each worker thread keeps one HTTP/1.1
connection. The two differ a lot on ``chalice local``: it writes the headers and the body
of a response in two sends with Nagle's algorithm on, so on a kept-alive connection every
response waits for the client's delayed ACK (about 40 ms on Linux). It prints
one JSON object: per-request latencies in ms, errors by kind, and the wall time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["LOOPBACK_HOSTS", "check_loopback", "main", "run_load"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_loopback(url: str) -> urllib.parse.SplitResult:
    """Parse ``url`` and refuse anything that is not plain HTTP to loopback.

    >>> check_loopback("http://127.0.0.1:8000/predict").port
    8000
    >>> check_loopback("http://example.com/predict")
    Traceback (most recent call last):
    ...
    ValueError: load tests only target loopback, not 'example.com'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"load tests only target loopback, not {parts.hostname!r}")
    return parts


def run_load(
    url: str,
    texts: list[str],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int = 20,
    method: str = "POST",
    keepalive: bool = False,
) -> dict[str, Any]:
    """POST ``{"text": ...}`` (or GET) to ``url`` from ``concurrency`` threads, within budgets."""
    parts = check_loopback(url)
    if concurrency < 1 or max_requests < 1 or max_seconds <= 0:
        raise ValueError("concurrency, max_requests and max_seconds must be positive")
    path = parts.path or "/"
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = 0.0

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def one(conn: http.client.HTTPConnection, text: str) -> tuple[int, float]:
        body = json.dumps({"text": text}).encode() if method == "POST" else None
        headers = {"Content-Type": "application/json"} if body else {}
        if not keepalive:
            headers["Connection"] = "close"
            conn = connect()
        start = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        finally:
            if not keepalive:
                conn.close()
        return response.status, (time.perf_counter() - start) * 1000.0

    # Warm up on one connection (first requests pay for lazy imports in the server).
    conn = connect()
    for i in range(warmup):
        try:
            one(conn, texts[i % len(texts)])
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = connect()
    conn.close()

    def worker() -> None:
        nonlocal issued
        conn = connect()
        while True:
            with lock:
                if issued >= max_requests or time.perf_counter() >= deadline:
                    break
                index = issued
                issued += 1
            try:
                status, ms = one(conn, texts[index % len(texts)])
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                conn.close()
                conn = connect()
                continue
            with lock:
                if status == 200:
                    latencies.append(ms)
                else:
                    errors[f"HTTP {status}"] += 1
        conn.close()

    start = time.perf_counter()
    deadline = start + max_seconds
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 30)
    wall = time.perf_counter() - start
    return {
        "url": url,
        "method": method,
        "keepalive": keepalive,
        "concurrency": concurrency,
        "requests": issued,
        "ok": len(latencies),
        "errors": dict(errors),
        "wall_seconds": wall,
        "latencies_ms": latencies,
        "stopped_by": "requests" if issued >= max_requests else "time",
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: ``--url``, ``--texts FILE`` (JSON list), budgets; prints the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--texts", required=True, type=Path)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--method", choices=["POST", "GET"], default="POST")
    parser.add_argument("--keepalive", action="store_true", help="reuse one connection per thread")
    args = parser.parse_args(argv)
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    result = run_load(
        args.url,
        texts,
        concurrency=args.concurrency,
        max_requests=args.max_requests,
        max_seconds=args.max_seconds,
        warmup=args.warmup,
        method=args.method,
        keepalive=args.keepalive,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
