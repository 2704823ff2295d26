"""The whole product on one machine: local S3, a freshly trained model, the API, the page.

``make demo`` runs this. It starts a moto S3 server, creates the bucket the ``local``
Chalice stage names, trains and publishes a model with the trainer's own CLI (the same
path a person would use), starts ``chalice local --stage local`` against that S3, and
serves a copy of ``static/`` whose ``config.js`` points at the API. Committed files are
never modified. Ctrl-C or SIGTERM stops every process it started (each runs in its own
process group and is stopped as a group), so nothing is left listening.

The model: ``--model DIR`` publishes a folder written by ``python -m trainer train --out
DIR`` (no training); otherwise the demo trains one first.

Capture (keeping a sample of the scored messages for labelling) is off unless
``--capture-rate`` / ``--capture-uncertain-rate`` or ``CAPTURE_*`` in the demo's own
environment turn it on: the ``local`` stage sets none of them, so ``chalice local`` gets
the demo's environment as it is, with the options on top. Training
data, first found wins: ``--data SPEC...``, ``$SPAM_DATA`` (read by the trainer itself),
the shared corpus next to the repository
(``../shared/data/sms_spam_collection/SMSSpamCollection``, or under
``$SHARED_DATA_DIR``), and finally the trainer's own download from UCI (cached).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from chalicelib.settings import Settings, SettingsError, load_settings

from stack import API_DIR, REPO_ROOT
from stack.capture import add_capture_options, capture_environment
from stack.handoff import curl_line, write_page
from stack.local.services import (
    DEFAULT_HOST,
    PortInUseError,
    Service,
    StartupError,
    chalice_local,
    free_port,
    moto_server,
    port_is_free,
    static_server,
)
from stack.processes import run_streaming

__all__ = [
    "HELP",
    "DataChoice",
    "StageSettings",
    "add_arguments",
    "choose_training_data",
    "local_stage_settings",
    "publish_model_folder",
    "run",
    "train_and_publish",
]

HELP = "run S3, a trained model, the API and the page locally (Ctrl-C stops everything)"

DEFAULT_S3_PORT = 9000
DEFAULT_API_PORT = 8000
DEFAULT_WEB_PORT = 8080
DEFAULT_PREFIX = "models/"
SHARED_CORPUS = Path("sms_spam_collection") / "SMSSpamCollection"
CHALICE_CONFIG = API_DIR / ".chalice" / "config.json"

# Exit codes: 0 stopped on request, 1 something failed, 2 bad usage (port, data, config).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class DemoError(RuntimeError):
    """A problem the person running the demo can fix; the message says how."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StopRequested(BaseException):
    """SIGINT or SIGTERM arrived: unwind and stop every service."""


@dataclass(frozen=True)
class StageSettings:
    """What the ``local`` Chalice stage tells the API to read, so the demo writes there."""

    bucket: str
    prefix: str
    environment: Mapping[str, str]


@dataclass(frozen=True)
class DataChoice:
    """Which training data the demo uses and why.

    ``specs`` go to the trainer as ``--data``; empty means the trainer decides
    (``$SPAM_DATA``, else its UCI download), as its own documentation says.
    """

    specs: tuple[str, ...]
    source: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` subcommand's options."""
    for flag, default, what in (
        ("--s3-port", DEFAULT_S3_PORT, "moto S3 server"),
        ("--api-port", DEFAULT_API_PORT, "chalice local"),
        ("--web-port", DEFAULT_WEB_PORT, "static page"),
    ):
        text = f"{what} port (default {default}; 0 picks a free one)"
        parser.add_argument(flag, type=int, default=default, help=text)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        nargs="+",
        metavar="SPEC",
        default=None,
        help="training data, as the trainer's --data takes it (an SMS file label<TAB>text, "
        "a .csv, an email folder, DIR:spam / DIR:ham); default $SPAM_DATA, then "
        "../shared/data, then the trainer's UCI download",
    )
    source.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="DIR",
        help="publish this already trained model folder (python -m trainer train --out DIR) "
        "instead of training one",
    )
    parser.add_argument(
        "--stage",
        default="local",
        help="Chalice stage to run (default local; it must not set AWS_ENDPOINT_URL_S3)",
    )
    add_capture_options(parser, kept="while the demo runs; default $CAPTURE_RATE, else 0")


def run(args: argparse.Namespace) -> int:
    """Entry point for ``python -m stack demo``."""
    return run_demo(
        s3_port=args.s3_port,
        api_port=args.api_port,
        web_port=args.web_port,
        data=args.data,
        model=args.model,
        stage=args.stage,
        capture=capture_environment(args.capture_rate, args.capture_uncertain_rate),
    )


# -- pure helpers -------------------------------------------------------------------------


def local_stage_settings(stage: str = "local", config_path: Path = CHALICE_CONFIG) -> StageSettings:
    """Bucket and prefix from the Chalice config, as ``chalice local --stage`` will see them.

    Chalice merges the top-level ``environment_variables`` with the stage's (stage wins),
    and stage variables override the shell's, so this is the one place to read them.
    """
    try:
        config = json.loads(config_path.read_text())
    except FileNotFoundError as exc:
        raise DemoError(f"{config_path} does not exist: the Chalice app is not set up") from exc
    except json.JSONDecodeError as exc:
        raise DemoError(f"{config_path} is not valid JSON: {exc}") from exc
    stages = config.get("stages", {})
    if stage not in stages:
        raise DemoError(f"{config_path} has no stage {stage!r} (it has: {', '.join(stages)})")
    environment = {
        **config.get("environment_variables", {}),
        **stages[stage].get("environment_variables", {}),
    }
    bucket = environment.get("MODEL_BUCKET", "").strip()
    if not bucket:
        raise DemoError(f"{config_path}: stage {stage!r} does not set MODEL_BUCKET")
    return StageSettings(
        bucket=bucket,
        prefix=environment.get("MODEL_PREFIX", DEFAULT_PREFIX),
        environment={str(k): str(v) for k, v in environment.items()},
    )


def choose_training_data(
    explicit: Sequence[str] | None,
    environ: Mapping[str, str] | None = None,
    shared_dir: Path | None = None,
) -> DataChoice:
    """The training data to use, in the order the module docstring gives.

    A ``--data`` path that does not exist is an error, never a silent fallback: the
    person asked for that file. ``$SPAM_DATA`` is left to the trainer, which owns its
    format (several shell-split specs).
    """
    environ = os.environ if environ is None else environ
    if explicit:
        for spec in explicit:
            path = Path(re.sub(r":(spam|ham)$", "", spec))
            if not path.exists():
                raise DemoError(f"--data {spec}: no such file or folder")
        return DataChoice(tuple(explicit), " ".join(explicit) + " (--data)")
    if environ.get("SPAM_DATA", "").strip():
        return DataChoice((), f"$SPAM_DATA ({environ['SPAM_DATA'].strip()})")
    if shared_dir is None:
        shared_dir = Path(environ.get("SHARED_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
    shared = shared_dir / SHARED_CORPUS
    if shared.is_file():
        return DataChoice((str(shared),), f"{shared} (the shared corpus next to the repository)")
    return DataChoice((), "the SMS Spam Collection, downloaded from UCI by the trainer")


def _resolve_port(name: str, port: int) -> int:
    if port == 0:
        return free_port()
    if not 1 <= port <= 65535:
        raise DemoError(f"{name} {port} is not a TCP port (1-65535, or 0 for any free port)")
    if not port_is_free(port, DEFAULT_HOST):
        raise PortInUseError(
            f"{name} {port} on {DEFAULT_HOST} is already in use; stop what uses it or pass "
            f"another port, e.g. make demo ARGS='{name} {port + 1}' (0 picks a free one)"
        )
    return port


def api_settings(
    stage: StageSettings, capture: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> Settings:
    """The settings ``chalice local`` will run with: the shell's, the options', the stage's.

    In that order of precedence from last to first, as ``chalice local`` merges them; a
    bad value is a ``DemoError`` before anything starts.
    """
    environ = os.environ if environ is None else environ
    try:
        return load_settings({**environ, **capture, **stage.environment})
    except SettingsError as exc:
        raise DemoError(f"the API could not start with these settings: {exc}") from exc


def capture_line(settings: Settings) -> str:
    """What the demo says about capture, once the API runs.

    >>> print(capture_line(Settings(model_bucket="b")))
    Capture:  off (make demo ARGS='--capture-rate 0.1' keeps a sample for labelling)
    >>> print(capture_line(Settings(model_bucket="b", capture_rate=0.1)))
    Capture:  on, random 0.1, uncertain 0: kept in s3://b/capture/pending/ for 30 days
    """
    if not settings.capture_enabled:
        return "Capture:  off (make demo ARGS='--capture-rate 0.1' keeps a sample for labelling)"
    return (
        f"Capture:  on, random {settings.capture_rate:g}, uncertain "
        f"{settings.capture_uncertain_rate:g}: kept in s3://{settings.model_bucket}/"
        f"{settings.capture_prefix}pending/ for {settings.capture_retention_days} days"
    )


# -- training -----------------------------------------------------------------------------


def train_and_publish(
    data: Sequence[str | Path] = (),
    *,
    s3_endpoint: str,
    bucket: str,
    prefix: str,
    out: TextIO = sys.stdout,
    timeout: float = 900.0,
) -> None:
    """Train a model and publish it to ``s3://bucket/prefix`` with the trainer's CLI.

    The CLI is the trainer's public contract (bucket, prefix and endpoint come from the
    same environment variables the API reads), so the demo and the tests run exactly
    what a person runs. ``data`` empty: the trainer's default ($SPAM_DATA, else UCI).
    """
    specs = [str(spec) for spec in data]
    argv = ["train", "--publish"] + (["--data", *specs] if specs else [])
    code = _run_trainer(argv, s3_endpoint, bucket, prefix, out, timeout)
    if code != 0:
        hint = (
            f"check the data given to the trainer ({' '.join(specs)})."
            if specs
            else "without local data the trainer downloads the SMS Spam Collection from UCI, "
            "which failed (see above). Set SPAM_DATA=/path/to/SMSSpamCollection or run "
            "make demo ARGS='--data /path/to/SMSSpamCollection'."
        )
        raise DemoError(
            f"training failed (trainer exit code {code}): {hint}", exit_code=EXIT_FAILED
        )


def publish_model_folder(
    folder: Path,
    *,
    s3_endpoint: str,
    bucket: str,
    prefix: str,
    out: TextIO = sys.stdout,
    timeout: float = 120.0,
) -> None:
    """Publish a folder written by ``python -m trainer train --out`` (no training)."""
    code = _run_trainer(["publish", str(folder)], s3_endpoint, bucket, prefix, out, timeout)
    if code != 0:
        raise DemoError(
            f"publishing {folder} failed (trainer exit code {code}, see above); is it a "
            "folder written by 'python -m trainer train --out'?",
            exit_code=EXIT_FAILED,
        )


def _run_trainer(
    args: list[str], s3_endpoint: str, bucket: str, prefix: str, out: TextIO, timeout: float
) -> int:
    """Run ``python -m trainer ARGS`` against the local S3; relay its output indented.

    It runs in its own session (``stack.processes``), so that SIGTERM to the demo stops
    it too, not only a Ctrl-C from the terminal. Returns the trainer's exit code.
    """
    env = {
        **os.environ,
        "MODEL_BUCKET": bucket,
        "MODEL_PREFIX": prefix,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PYTHONUNBUFFERED": "1",
    }
    try:
        code, _lines = run_streaming(
            [sys.executable, "-m", "trainer", *args],
            env=env,
            cwd=REPO_ROOT,
            out=lambda line: print(f"    {line}", file=out, flush=True),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise DemoError(
            f"python -m trainer {args[0]} took longer than {timeout:.0f}s", exit_code=EXIT_FAILED
        ) from exc
    return code


def _create_bucket(s3_endpoint: str, bucket: str) -> None:
    import boto3  # imported here so `python -m stack --help` stays fast

    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    s3.create_bucket(Bucket=bucket)


# -- signals and the main loop -----------------------------------------------------------


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``StopRequested`` once; repeats are ignored during cleanup.

    Without this, SIGTERM would kill the demo outright and skip the cleanup that stops
    the services (they run in their own sessions, so they would keep listening), and a
    second Ctrl-C could interrupt a cleanup half way.
    """
    stopping = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _watch(services: list[Service], out: TextIO) -> int:
    """Block until a signal arrives (raises) or a service dies (returns an exit code)."""
    while True:
        for service in services:
            code = service.process.poll()
            if code is not None:
                print(
                    f"\n{service.name} stopped unexpectedly (exit code {code}); stopping the demo.",
                    file=out,
                    flush=True,
                )
                return EXIT_FAILED
        time.sleep(0.5)


def run_demo(
    *,
    s3_port: int = DEFAULT_S3_PORT,
    api_port: int = DEFAULT_API_PORT,
    web_port: int = DEFAULT_WEB_PORT,
    data: Sequence[str] | None = None,
    model: Path | None = None,
    stage: str = "local",
    capture: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Start everything, print the URLs, wait for Ctrl-C, stop everything. Returns exit code.

    ``capture``: ``CAPTURE_*`` variables for ``chalice local``, over the demo's environment.
    """
    workdir: Path | None = None
    code = EXIT_FAILED
    with _stop_on_signals():
        try:
            # Everything a person can get wrong is checked before any process starts.
            settings = local_stage_settings(stage)
            capture = dict(capture or {})
            served = api_settings(settings, capture)
            choice = None if model else choose_training_data(data)
            if model is not None and not model.is_dir():
                raise DemoError(f"--model {model}: no such folder")
            ports = _resolve_ports(s3=s3_port, api=api_port, web=web_port)
            workdir = Path(tempfile.mkdtemp(prefix="spam-demo-"))
            code = _run_stack(
                settings, choice or model, ports, stage, workdir, out, capture=(capture, served)
            )
        except StopRequested as stop:
            print(f"\nStopped ({stop}): every demo process has exited.", file=out, flush=True)
            code = EXIT_OK
        except PortInUseError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            code = EXIT_USAGE
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            code = exc.exit_code
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            code = EXIT_FAILED
    if workdir is not None:
        if code == EXIT_OK:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"Service logs kept in {workdir / 'logs'}", file=sys.stderr, flush=True)
    return code


def _resolve_ports(**requested: int) -> dict[str, int]:
    ports = {name: _resolve_port(f"--{name}-port", port) for name, port in requested.items()}
    if len(set(ports.values())) < len(ports):
        raise DemoError(f"the ports must differ, got {ports}")
    return ports


def _run_stack(
    settings: StageSettings,
    model: DataChoice | Path,
    ports: Mapping[str, int],
    stage: str,
    workdir: Path,
    out: TextIO,
    *,
    capture: tuple[Mapping[str, str], Settings],
) -> int:
    log_dir = workdir / "logs"

    def say(message: str) -> None:
        print(message, file=out, flush=True)

    with contextlib.ExitStack() as services:
        s3 = services.enter_context(moto_server(ports["s3"], log_dir=log_dir))
        _create_bucket(s3.url, settings.bucket)
        say(f"S3 (moto server)   {s3.url}  bucket {settings.bucket}, prefix {settings.prefix}")
        where = {"s3_endpoint": s3.url, "bucket": settings.bucket, "prefix": settings.prefix}
        if isinstance(model, Path):
            say(f"Publishing the model in {model} ...")
            publish_model_folder(model, out=out, **where)
        else:
            say(f"Training a model on {model.source} (about a minute) ...")
            train_and_publish(model.specs, out=out, **where)
        variables, served = capture
        api = services.enter_context(
            chalice_local(s3.url, ports["api"], stage=stage, env=variables, log_dir=log_dir)
        )
        say(f"API (chalice local --stage {stage})  {api.url}")
        page_dir = write_page(workdir, api.url)
        web = services.enter_context(
            static_server(ports["web"], directory=page_dir, log_dir=log_dir)
        )
        say("")
        say("The spam classifier is running.")
        say(f"  Page: {web.url}/")
        say(f"  API:  {api.url}")
        say(f"  Try:  {curl_line(api.url)}")
        say(capture_line(served))
        say(f"Logs in {log_dir}. Press Ctrl-C to stop.")
        return _watch([s3, api, web], out)
