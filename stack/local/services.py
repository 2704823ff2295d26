"""Start and stop the real local parts: a moto S3 server, `chalice local`, a static server.

Used by `make demo`, by the integration and browser tests, and by the benchmarks, so
all three run the same processes the same way. Each context manager starts one process
in its own process group, waits until it answers, and on exit stops the whole group,
so nothing is left listening.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack import API_DIR, REPO_ROOT, STATIC_DIR
from stack.processes import stop_process_group

__all__ = [
    "PortInUseError",
    "Service",
    "StartupError",
    "chalice_local",
    "free_port",
    "moto_s3_client",
    "moto_server",
    "port_is_free",
    "static_server",
]

DEFAULT_HOST = "127.0.0.1"


class StartupError(RuntimeError):
    """A local service did not come up; the message includes what it printed."""


class PortInUseError(StartupError):
    """The requested port is taken by another process."""


@dataclass(frozen=True)
class Service:
    """A running local service: its base URL and process."""

    name: str
    url: str
    port: int
    process: subprocess.Popen


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = DEFAULT_HOST) -> bool:
    """True when a server could listen on ``port`` on ``host`` right now.

    Binds with SO_REUSEADDR, as the servers started here do (http.server, werkzeug):
    after a stop, the port's closed connections linger in TIME_WAIT for a minute and a
    plain bind would call the port taken, so a demo restarted at once would be refused.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _default_log_dir() -> Path:
    """Where service logs go: ``STACK_LOG_DIR`` or a folder in the system temp dir."""
    configured = os.environ.get("STACK_LOG_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "spam-stack-logs"


def _bin(name: str) -> str:
    """An executable of the running interpreter's environment (the repo's .venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _wait_until_ready(
    name: str, url: str, process: subprocess.Popen, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(
                f"{name} exited with code {process.returncode} before answering on {url}:\n"
                f"{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except urllib.error.HTTPError:
            return  # it answered: any status means the server is up
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.1)
    raise StartupError(f"{name} did not answer on {url} within {timeout:.0f}s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@contextlib.contextmanager
def _service(
    name: str,
    argv: list[str],
    *,
    port: int,
    ready_path: str,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    host: str = DEFAULT_HOST,
    timeout: float = 60.0,
) -> Iterator[Service]:
    if not port_is_free(port, host):
        raise PortInUseError(
            f"{name}: port {port} on {host} is already in use; stop what uses it or pick "
            f"another port"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    try:
        _wait_until_ready(name, url + ready_path, process, log_path, timeout)
        yield Service(name=name, url=url, port=port, process=process)
    finally:
        stop_process_group(process)


def moto_server(
    port: int | None = None,
    *,
    log_dir: Path | None = None,
    host: str = DEFAULT_HOST,
    command: Sequence[str] | None = None,
) -> contextlib.AbstractContextManager[Service]:
    """A moto S3 server over HTTP on loopback (in memory: it forgets everything on exit).

    ``command`` runs another entry point that takes ``moto_server``'s arguments (the tests'
    ``python -m tests.moto_cfn``), started from the repository root.
    """
    port = port or free_port(host)
    log_dir = log_dir or _default_log_dir()
    return _service(
        "moto server",
        [*(command or [_bin("moto_server")]), "-H", host, "-p", str(port)],
        port=port,
        ready_path="/moto-api/",
        log_path=log_dir / f"moto-{port}.log",
        cwd=REPO_ROOT,
        host=host,
    )


def moto_s3_client(endpoint: str, *, config: Any = None) -> Any:
    """A boto3 S3 client for a moto server at ``endpoint``: us-east-1, dummy credentials.

    ``config`` is an optional ``botocore.config.Config`` (retries, timeouts).
    """
    import boto3  # imported here so that importing stack.local stays fast

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto takes any credentials
        config=config,
    )


def chalice_local(
    s3_endpoint: str,
    port: int | None = None,
    *,
    stage: str = "local",
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    host: str = DEFAULT_HOST,
) -> contextlib.AbstractContextManager[Service]:
    """The real ``chalice local --no-autoreload`` server, reading S3 at ``s3_endpoint``.

    The endpoint goes in through boto3's standard ``AWS_ENDPOINT_URL_S3``, which the
    ``local`` stage deliberately leaves unset (stage variables override the shell's).
    """
    port = port or free_port(host)
    log_dir = log_dir or _default_log_dir()
    service_env = {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    return _service(
        "chalice local",
        [
            _bin("chalice"),
            "local",
            "--stage",
            stage,
            "--host",
            host,
            "--port",
            str(port),
            "--no-autoreload",
        ],
        port=port,
        ready_path="/health",
        log_path=log_dir / f"chalice-{port}.log",
        cwd=API_DIR,
        env=service_env,
        host=host,
        timeout=120.0,
    )


def static_server(
    port: int | None = None,
    *,
    directory: Path = STATIC_DIR,
    log_dir: Path | None = None,
    host: str = DEFAULT_HOST,
) -> contextlib.AbstractContextManager[Service]:
    """Python's own static file server for the page, on another port than the API."""
    port = port or free_port(host)
    log_dir = log_dir or _default_log_dir()
    return _service(
        "static server",
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            host,
            "--directory",
            str(directory),
            str(port),
        ],
        port=port,
        ready_path="/",
        log_path=log_dir / f"static-{port}.log",
        host=host,
    )
