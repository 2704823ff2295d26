"""``python -m stack demo`` end to end: it serves, it answers, and a signal stops it all.

The demo runs as a real subprocess on free ports, as ``make demo`` would run it. The
test reads the URLs it prints, calls the API and the page over HTTP, records every
process the demo started (from /proc), sends the signal, and checks that the demo
exited, those processes are gone and the ports are free again.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stack.local import REPO_ROOT, free_port, port_is_free

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STARTUP_TIMEOUT = 240.0
STOP_TIMEOUT = 30.0


class DemoProcess:
    """The demo subprocess with its output read line by line on a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a Ctrl-C in the test runner's terminal stays ours
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``; fails with the output so far."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if match := regex.search(line):
                return match
        pytest.fail(f"demo never printed /{pattern}/; output:\n" + "\n".join(self.lines))

    def output(self) -> str:
        """Everything printed so far (drains the reader's queue)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines)


def _children(pid: int) -> dict[int, int]:
    """Direct children of ``pid`` mapped to their parents, from /proc (Linux)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ... ; comm may contain spaces and parentheses
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found[int(entry.name)] = ppid
    return found


def _descendants(pid: int) -> set[int]:
    result: set[int] = set()
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in result:
                result.add(child)
                todo.append(child)
    return result


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo_env(sms_collection_path: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SPAM_DATA": str(sms_collection_path)}
    env.pop("CI", None)  # nothing in the demo depends on it; keep runs comparable
    return env


@pytest.fixture
def ports() -> dict[str, int]:
    return {"s3": free_port(), "api": free_port(), "web": free_port()}


@pytest.fixture
def demo(demo_env: dict[str, str], ports: dict[str, int]) -> Iterator[DemoProcess]:
    argv = [
        sys.executable,
        "-m",
        "stack",
        "demo",
        "--s3-port",
        str(ports["s3"]),
        "--api-port",
        str(ports["api"]),
        "--web-port",
        str(ports["web"]),
    ]
    running = DemoProcess(argv, demo_env)
    yield running
    if running.process.poll() is None:  # the test failed half way: leave nothing behind
        for pid in _descendants(running.process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        running.process.kill()
        running.process.wait(timeout=10)


def _assert_all_stopped(demo: DemoProcess, started: set[int], ports: dict[str, int]) -> None:
    try:
        code = demo.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("the demo did not exit after the signal:\n" + demo.output())
    assert code == 0, demo.output()
    assert not [pid for pid in started if _alive(pid)], "demo children still running"
    assert all(port_is_free(port) for port in ports.values()), ports
    assert "every demo process has exited" in demo.output()


def test_demo_serves_page_and_api_then_ctrl_c_stops_everything(
    demo: DemoProcess, ports: dict[str, int]
) -> None:
    page_url = demo.wait_for(r"Page: (http://\S+)", STARTUP_TIMEOUT).group(1)
    api_url = demo.wait_for(r"API:  (http://\S+)", 10).group(1)
    curl = demo.wait_for(r"Try:  (curl .*)", 10).group(1)
    assert page_url == f"http://127.0.0.1:{ports['web']}/"
    assert api_url == f"http://127.0.0.1:{ports['api']}"
    assert f"{api_url}/predict" in curl

    answer = requests.post(
        f"{api_url}/predict", json={"text": "WINNER! Claim your free prize now"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["classification"] == "SPAM"
    page = requests.get(page_url, timeout=10)
    assert page.status_code == 200
    assert "Analyze" in page.text
    config = requests.get(page_url + "config.js", timeout=10).text
    assert f'"apiBaseUrl": "{api_url}"' in config

    started = _descendants(demo.process.pid)
    assert len(started) >= 3, "expected moto, chalice local and the static server"
    demo.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _assert_all_stopped(demo, started, ports)


def test_sigterm_while_training_stops_the_trainer_and_the_s3_server(
    demo: DemoProcess, ports: dict[str, int]
) -> None:
    demo.wait_for(r"^Training a model on ", 60)
    time.sleep(0.5)  # let the trainer start
    started = _descendants(demo.process.pid)
    assert started, "the S3 server and the trainer should be running"
    demo.process.send_signal(signal.SIGTERM)
    _assert_all_stopped(demo, started, ports)
    assert "Stopped (SIGTERM)" in demo.output()
