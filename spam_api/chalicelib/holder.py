"""The model holder: one live model, checked for updates at most every N seconds, swapped whole.

All mutable state is one frozen ``HolderState`` replaced as a single reference, so a
request that reads it sees one consistent version (the model it scores with and the
version it reports come from the same object). Only one thread at a time talks to the
registry; while it does, other threads keep serving the model they already have. A
version that fails to load never replaces a working one: the failure is recorded in the
state for ``/health`` and ``/model`` instead.

Lifecycle::

    holder = ModelHolder(reader, refresh_seconds=30, retry_seconds=5)   # no I/O
    holder.load()                 # explicit first load (cold start); raises on failure
    model = holder.current()      # per request: maybe refresh; ModelUnavailableError if none
    model = holder.live_now()     # the model serving now, or None: never waits, never loads
    holder.state                  # snapshot for /health and /model
    holder.counts.take()          # loads and failed checks since last taken (the metrics)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from chalicelib.model import InvalidModelError, LiveModel, build_live_model
from chalicelib.registry import PointerTag, RegistryReader
from chalicelib.registry_format import (
    ArtifactNotFoundError,
    IncompatibleModelError,
    IntegrityError,
    ManifestError,
    RegistryError,
    RegistryUnavailableError,
)
from chalicelib.settings import APP_NAME
from chalicelib.unavailable import Unavailable

__all__ = ["Failure", "HolderState", "LoadCounts", "ModelHolder", "ModelUnavailableError"]

_log = logging.getLogger(f"{APP_NAME}.holder")

#: Failure kinds, by exception type (first match wins).
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (RegistryUnavailableError, "registry_unavailable"),
    (ArtifactNotFoundError, "not_found"),
    (IntegrityError, "integrity"),
    (IncompatibleModelError, "incompatible"),
    (ManifestError, "invalid_manifest"),
    (InvalidModelError, "invalid_model"),
)
#: Kinds that will not fix themselves: the failed pointer is remembered, not refetched.
_PERMANENT = {"integrity", "incompatible", "invalid_model"}


class ModelUnavailableError(Unavailable):
    """No model is loaded (yet): a 503.

    ``public_reason`` says why in words a client may see; ``detail`` (also ``str(exc)``)
    adds what only the log may carry (bucket, key, the underlying error).
    """

    no_model = True

    def __init__(self, public_reason: str, retry_after: float, detail: str | None = None) -> None:
        super().__init__(detail or public_reason)
        self.public_reason = public_reason
        self.retry_after = retry_after
        self.detail = detail or public_reason

    def client_message(self, retry_in: int) -> str:
        return f"no model is loaded: {self.public_reason}. Retry in {retry_in} s"


@dataclass(frozen=True)
class Failure:
    """Why the last load or refresh did not produce a (new) model.

    ``message`` is for clients (``/health``, 503 bodies); ``detail`` is for the log.
    """

    kind: str
    message: str
    at: float
    version: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class HolderState:
    """Everything the holder knows, as one immutable snapshot."""

    live: LiveModel | None = None
    failure: Failure | None = None
    checked_at: float | None = None  # last time the registry answered a check
    attempted_at: float | None = None  # last time a check or load was attempted
    next_check_at: float = 0.0
    #: The last pointer settled: loaded, naming the live version, or refused for good (a
    #: permanent failure). A check asks the registry what changed since; a pointer that
    #: failed for a passing reason is not settled, so the next check fetches it again.
    settled_tag: PointerTag | None = None


class LoadCounts:
    """What the holder did since the metrics last took it: models made live, failed checks or
    loads, and a load at cold start. The next answer takes them (``take``) and reports them.

    Its own lock, not the holder's: an answer never waits for another thread's model load.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = (0, 0, 0)

    def add(self, *, loads: int = 0, failures: int = 0, cold_starts: int = 0) -> None:
        with self._lock:
            before = self._counts
            self._counts = (before[0] + loads, before[1] + failures, before[2] + cold_starts)

    def take(self) -> tuple[int, int, int]:
        """``(loads, failures, cold_starts)`` since the last call, and start again from zero."""
        if self._counts == (0, 0, 0):  # the usual answer: no lock (an add meanwhile waits)
            return (0, 0, 0)
        with self._lock:
            counts, self._counts = self._counts, (0, 0, 0)
        return counts


class ModelHolder:
    """Holds the live model of one registry and keeps it current.

    Parameters
    ----------
    reader : the registry to load from.
    refresh_seconds : at most this often, a request checks the registry's live manifest
        (``current.json``, or the runtime's live pointer; 0 = always).
    retry_seconds : while no model is loaded, at most this often a request retries.
    clock : seconds since the epoch; tests inject a fake to move time.
    wait_seconds : how long a request with no model waits for another thread's load.
    """

    def __init__(
        self,
        reader: RegistryReader,
        *,
        refresh_seconds: float = 30.0,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        wait_seconds: float = 10.0,
    ) -> None:
        self.reader = reader
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.wait_seconds = wait_seconds
        self._state = HolderState()
        self._lock = threading.Lock()
        self.counts = LoadCounts()

    @property
    def state(self) -> HolderState:
        """The current snapshot (read it once and use that object)."""
        return self._state

    def load(self) -> LiveModel:
        """Check the registry now, whatever the interval; return the live model.

        Raises ``ModelUnavailableError`` when no model could be loaded; a failure to
        load a newer version while one is live is recorded, not raised.
        """
        with self._lock:
            self._refresh()
            return self._live_or_raise(self._state)

    def live_now(self) -> LiveModel | None:
        """The model serving right now, or ``None``: no registry check, no lock, no wait.

        For work that can use a model but must never wait for one, nor start a load
        (``POST /feedback`` records the verdict when there is a model to give one).
        """
        return self._state.live

    def current(self) -> LiveModel:
        """The model to answer this request with, refreshing first when it is due."""
        state = self._state
        if state.live is not None:
            if self.clock() < state.next_check_at or not self._lock.acquire(blocking=False):
                return state.live  # not due, or another thread is checking: serve what we have
        elif not self._lock.acquire(timeout=self.wait_seconds):
            raise ModelUnavailableError(
                "the model is still loading; retry shortly", retry_after=self.retry_seconds
            )
        try:  # lock held; another thread may have checked while we waited for it
            if self.clock() >= self._state.next_check_at:
                self._refresh()
            return self._live_or_raise(self._state)
        finally:
            self._lock.release()

    def _live_or_raise(self, state: HolderState) -> LiveModel:
        if state.live is not None:
            return state.live
        failure = state.failure
        if failure is None:
            raise ModelUnavailableError("no model has been loaded yet", retry_after=1.0)
        raise ModelUnavailableError(
            failure.message,
            retry_after=max(1.0, state.next_check_at - self.clock()),
            detail=failure.detail,
        )

    def _refresh(self) -> None:
        """One registry check, and a load and swap if it points somewhere new (lock held)."""
        now = self.clock()
        before = self._state
        state = self._check(replace(before, attempted_at=now), now)
        interval = self.refresh_seconds if state.live is not None else self.retry_seconds
        self._state = replace(state, next_check_at=now + interval)  # one swap, all of it
        self.counts.add(
            loads=int(state.live is not before.live),
            failures=int(state.failure is not None and state.failure is not before.failure),
        )

    def _check(self, state: HolderState, now: float) -> HolderState:
        live = state.live
        try:
            pointer = self.reader.fetch_pointer(since=state.settled_tag)
        except Exception as exc:  # the reader maps what it knows; nothing else may become a 500
            return replace(state, failure=self._failure(exc, now, None))
        state = replace(state, checked_at=now)
        if pointer is None:  # 304: still what was settled last time
            if live is not None and state.settled_tag == live.tag:
                state = replace(state, failure=None)
            return state
        if live is not None and (
            pointer.tag == live.tag
            or (not pointer.legacy and pointer.manifest.version == live.version)
        ):
            return replace(state, failure=None, settled_tag=pointer.tag)
        version = pointer.manifest.version
        if live is not None and pointer.legacy and not live.legacy:
            keeping = (
                f"keeping version {live.version} rather than falling back to the legacy "
                f"bucket-root model"
            )
            failure = Failure(
                kind="not_found",
                message=f"the registry's live manifest was deleted; {keeping}",
                detail=f"{self.reader.prefix}current.json is gone; {keeping}",
                at=now,
            )
            _log.warning("model check failed (not_found): %s", failure.detail)
            return replace(state, failure=failure)
        try:
            artifacts = self.reader.load(pointer)
            model = build_live_model(artifacts, loaded_at=self.clock())
        except Exception as exc:  # anything a pickle can raise: keep serving what we have
            failure = self._failure(exc, now, version)
            settled = pointer.tag if failure.kind in _PERMANENT else state.settled_tag
            return replace(state, failure=failure, settled_tag=settled)
        _log.info("model %s is live (was %s)", model.version, live.version if live else "nothing")
        return replace(state, live=model, failure=None, settled_tag=pointer.tag)

    def _failure(self, exc: BaseException, now: float, version: str | None) -> Failure:
        kind = next((k for t, k in _KINDS if isinstance(exc, t)), "invalid_model")
        if isinstance(exc, RegistryError):
            message, detail = exc.public, str(exc)
        elif version is None:
            message = "the registry check failed unexpectedly; the server log has the details"
            detail = f"the registry check raised {exc!r}"
        else:
            message = (
                f"model {version} could not be unpickled into a working model; "
                f"the server log has the details"
            )
            detail = f"loading model {version} raised {exc!r}"
        expected = isinstance(exc, RegistryError)  # anything else deserves its traceback
        _log.log(
            logging.WARNING if expected else logging.ERROR,
            "model check failed (%s): %s",
            kind,
            detail,
            exc_info=None if expected else exc,
        )
        return Failure(kind=kind, message=message, at=now, version=version, detail=detail)
