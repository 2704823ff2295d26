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
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from stack import REPO_ROOT
from stack.local.services import free_port

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


def _listening(port: int) -> bool:
    """True when something accepts connections on ``port``.

    Not ``port_is_free``: after the test's own HTTP calls, closed connections sit in
    TIME_WAIT on the server's port for a minute and make a plain bind fail, although
    nothing listens there any more.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


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


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, sms_collection_path: Path) -> Path:
    """A model folder as ``trainer train --out`` writes it, fitted in seconds.

    ``tests.support.default_bundle`` is the tests' fast path for fixtures (the
    full protocol takes about a minute); ``--model`` makes the demo publish it as is.
    """
    from tests.support import default_bundle
    from trainer.artifacts import write_bundle
    from trainer.data import parse_sms_collection

    lines = sms_collection_path.read_text(encoding="utf-8").splitlines()[:2500]
    messages = parse_sms_collection("\n".join(lines) + "\n", sms_collection_path.name)
    bundle = default_bundle([m.text for m in messages], [m.label for m in messages])
    return write_bundle(bundle, tmp_path_factory.mktemp("model"))


@pytest.fixture
def start_demo(
    demo_env: dict[str, str], ports: dict[str, int]
) -> Iterator[Callable[..., DemoProcess]]:
    """Starts ``python -m stack demo`` on the free ports with extra arguments."""
    started: list[DemoProcess] = []

    def start(*extra: str) -> DemoProcess:
        argv = [sys.executable, "-m", "stack", "demo"]
        for name, port in ports.items():
            argv += [f"--{name}-port", str(port)]
        started.append(DemoProcess([*argv, *extra], demo_env))
        return started[-1]

    yield start
    for running in started:
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
    still = {name: port for name, port in ports.items() if _listening(port)}
    assert not still, f"still listening: {still}"
    assert "every demo process has exited" in demo.output()


def test_demo_serves_page_and_api_then_ctrl_c_stops_everything(
    start_demo: Callable[..., DemoProcess], ports: dict[str, int], model_dir: Path
) -> None:
    demo = start_demo("--model", str(model_dir))
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


def test_demo_hands_its_environment_and_capture_options_to_chalice_local(
    start_demo: Callable[..., DemoProcess],
    demo_env: dict[str, str],
    ports: dict[str, int],
    model_dir: Path,
) -> None:
    """An outside checker's ``CAPTURE_*`` reach the API, and the options win over them."""
    from chalicelib.capture_format import parse_record

    from stack.local.demo import local_stage_settings
    from stack.local.services import moto_s3_client

    demo_env.update(CAPTURE_RATE="0.001", CAPTURE_RETENTION_DAYS="9")
    demo = start_demo("--model", str(model_dir), "--capture-rate", "1")
    api_url = demo.wait_for(r"API:  (http://\S+)", STARTUP_TIMEOUT).group(1)
    demo.wait_for(
        r"^Capture:  on, random 1, uncertain 0: kept in s3://\S+/capture/pending/ for 9 days", 10
    )
    health = requests.get(f"{api_url}/health", timeout=30).json()
    assert health["capture"] == {"enabled": True, "retention_days": 9}  # the shell's days
    answer = requests.post(f"{api_url}/predict", json={"text": "see you at 7"}, timeout=30)
    assert answer.status_code == 200, answer.text
    s3 = moto_s3_client(f"http://127.0.0.1:{ports['s3']}")
    bucket = local_stage_settings("local").bucket
    (item,) = s3.list_objects_v2(Bucket=bucket, Prefix="capture/")["Contents"]
    record = parse_record(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    assert item["Key"].startswith("capture/pending/")
    assert record.request_id == answer.headers["X-Request-Id"]  # rate 1 (the option's)
    assert (record.text, record.inclusion_probability) == ("see you at 7", 1.0)

    started = _descendants(demo.process.pid)
    demo.process.send_signal(signal.SIGINT)
    _assert_all_stopped(demo, started, ports)


def test_sigterm_while_training_stops_the_trainer_and_the_s3_server(
    start_demo: Callable[..., DemoProcess], ports: dict[str, int]
) -> None:
    demo = start_demo()  # trains on $SPAM_DATA: about a minute, so it is still training
    demo.wait_for(r"^Training a model on ", 60)
    time.sleep(0.5)  # let the trainer start
    started = _descendants(demo.process.pid)
    assert started, "the S3 server and the trainer should be running"
    demo.process.send_signal(signal.SIGTERM)
    _assert_all_stopped(demo, started, ports)
    assert "Stopped (SIGTERM)" in demo.output()


def test_no_data_and_no_download_says_how_to_give_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stack.local.demo import run_demo

    monkeypatch.delenv("SPAM_DATA", raising=False)
    monkeypatch.setenv("SHARED_DATA_DIR", str(tmp_path / "no-shared-data"))
    monkeypatch.setenv("SPAM_DATA_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("SPAM_DATA_URL", f"http://127.0.0.1:{free_port()}/sms.zip")  # refused

    code = run_demo(s3_port=0, api_port=0, web_port=0)
    captured = capsys.readouterr()
    assert code == 1, captured.out
    assert "training failed" in captured.err
    assert "SPAM_DATA=" in captured.err
    assert "ARGS='--data" in captured.err
    logs = captured.err.rsplit("Service logs kept in ", 1)[1].strip()
    shutil.rmtree(Path(logs).parent)
