"""The process-wide runtime (settings + model holder), built lazily, replaceable in tests.

``app.py`` never builds AWS clients itself: it asks ``get_runtime()``, which on first use
takes the process's settings (``chalicelib.settings.get_settings``) and builds the S3
client, reader and holder (no S3 call yet).
``warm_start()`` is what app.py calls at import time: in Lambda it loads the model
during the cold start; while the chalice CLI imports the app (``package``, ``deploy``,
``local``) it does nothing, so the first request loads it instead.

Tests build their own runtime and install it::

    rt = build_runtime(Settings(model_bucket=bucket), s3=s3_client, clock=fake_clock)
    install_runtime(rt)        # the app now serves from it, and its settings are the process's
    ...
    reset_runtime()            # the next request reads the environment and builds one again
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.capture import CaptureWriter, client_settings
from chalicelib.feedback import FeedbackWriter
from chalicelib.holder import ModelHolder, ModelUnavailableError
from chalicelib.registry import RegistryReader
from chalicelib.s3_client import make_s3_client
from chalicelib.settings import (
    APP_NAME,
    Settings,
    SettingsError,
    get_settings,
    in_chalice_cli,
    use_settings,
)

__all__ = [
    "Runtime",
    "build_runtime",
    "get_runtime",
    "install_runtime",
    "installed_runtime",
    "reset_runtime",
    "warm_start",
]

_log = logging.getLogger(f"{APP_NAME}.runtime")


@dataclass(frozen=True)
class Runtime:
    """What a request needs: the settings, the holder of the live model, the report writer,
    and the capture writer (``None`` while capture is off: nothing is decided or kept)."""

    settings: Settings
    holder: ModelHolder
    feedback: FeedbackWriter
    capture: CaptureWriter | None = None


def build_runtime(
    settings: Settings | None = None,
    *,
    s3: Any = None,
    capture_s3: Any = None,
    clock: Callable[[], float] = time.time,
    runtime_sklearn_version: str | None = None,
) -> Runtime:
    """A runtime for ``settings`` (default: the process's). Does no I/O.

    ``s3`` defaults to ``make_s3_client(settings)``; tests pass a moto client. With capture
    on, ``capture_s3`` is the capture writes' client: by default one of their own
    (``capture.client_settings``), or ``s3`` when a test passed one.
    Raises ``SettingsError`` when ``MODEL_BUCKET`` is not set.
    """
    settings = settings if settings is not None else get_settings()
    bucket = settings.require_bucket()
    capture = None
    if settings.capture_enabled:
        if capture_s3 is None:
            capture_s3 = s3 if s3 is not None else make_s3_client(client_settings(settings))
        capture = CaptureWriter(capture_s3, bucket, settings)
    s3 = s3 if s3 is not None else make_s3_client(settings)
    reader = RegistryReader(
        s3,
        bucket,
        settings.model_prefix,
        runtime_sklearn_version=runtime_sklearn_version,
    )
    holder = ModelHolder(
        reader,
        refresh_seconds=settings.model_refresh_seconds,
        retry_seconds=settings.model_retry_seconds,
        clock=clock,
    )
    feedback = FeedbackWriter(s3, bucket, settings.feedback_prefix)
    return Runtime(settings=settings, holder=holder, feedback=feedback, capture=capture)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The installed runtime, building one from the environment on first use."""
    global _runtime
    runtime = _runtime
    if runtime is not None:
        return runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _adopted(build_runtime())
        return _runtime


def installed_runtime() -> Runtime | None:
    """The runtime requests use now, or ``None`` before the first: never builds one."""
    return _runtime


def install_runtime(runtime: Runtime | None) -> None:
    """Make ``runtime`` the one every request uses, and its settings the process's.

    ``None`` forgets both: the next use reads the environment and builds them again.
    """
    global _runtime
    with _runtime_lock:
        _runtime = _adopted(runtime) if runtime is not None else None
        use_settings(runtime.settings if runtime is not None else None)


def _adopted(runtime: Runtime) -> Runtime:
    """Apply the runtime's process-wide settings (the log level) as it becomes the process's."""
    logging.getLogger(APP_NAME).setLevel(runtime.settings.log_level_number)
    return runtime


def reset_runtime() -> None:
    """Forget the runtime and the settings: the next request builds both again."""
    install_runtime(None)


def warm_start() -> bool:
    """Load the model now, at import time, unless the chalice CLI is importing the app.

    Never raises (a failing import would crash-loop the Lambda): a failure is logged and
    recorded in the holder, requests get 503 and the holder retries. Returns True when a
    model was loaded; the first answer then reports the cold start (``LoadCounts``).
    """
    if in_chalice_cli():
        return False
    try:
        settings = get_settings()
        if not settings.model_bucket:
            _log.warning("MODEL_BUCKET is not set; no model is loaded at start-up")
            return False
        holder = get_runtime().holder
        holder.load()
        holder.counts.add(cold_starts=1)
    except SettingsError as exc:
        _log.error("the API is not configured: %s", exc)
        return False
    except ModelUnavailableError as exc:
        _log.error("no model at cold start: %s", exc.detail)
        return False
    except Exception:
        _log.exception("cold start: loading the model failed")
        return False
    return True
