"""Child processes the stack starts: each in its own session, stopped as a group.

A child in its own session does not get the terminal's Ctrl-C, and one in the caller's
would outlive a SIGTERM sent to the caller alone; so every child here gets a session of
its own and is stopped, with everything it started, when the caller is done with it or
unwinds. Nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["run_streaming", "stop_process_group"]


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process's group, then SIGKILL it if it has not exited in ``timeout``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def run_streaming(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    out: Callable[[str], None],
    timeout: float | None = None,
) -> tuple[int, list[str]]:
    """Run a command, relaying its output line by line as it comes; returns (exit code, lines).

    Line by line because a deploy or a training run is long and should show progress.
    Raises ``subprocess.TimeoutExpired`` once ``timeout`` seconds have passed (checked as
    lines arrive, and while waiting for the exit); the command is stopped either way.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    lines: list[str] = []
    process = subprocess.Popen(
        argv,
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.rstrip())
            out(lines[-1])
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(argv, timeout or 0)
        left = None if deadline is None else max(1.0, deadline - time.monotonic())
        code = process.wait(timeout=left)
    finally:
        stop_process_group(process)
        if process.stdout is not None:
            process.stdout.close()
    return code, lines
