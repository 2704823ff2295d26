"""The API's configuration: the one module that reads ``os.environ``.

Every setting is a row of ``_TABLE`` (environment variable, default, parser, what is
allowed), read into one frozen ``Settings``. A bad value raises one ``SettingsError``
naming the variable, what is allowed and what it got, like scikit-learn's
``validate_params``. The README's configuration table documents the same rows.

>>> s = load_settings({"MODEL_BUCKET": "spam-models", "MAX_BATCH_SIZE": "10"})
>>> (s.model_bucket, s.model_prefix, s.max_batch_size, s.cors_allow_origin)
('spam-models', 'models/', 10, '*')
>>> load_settings({"MAX_TEXT_CHARS": "lots"})
Traceback (most recent call last):
...
chalicelib.settings.SettingsError: MAX_TEXT_CHARS must be an integer from 1 to 1000000, got 'lots'
>>> metrics_settings({"STAGE_NAME": "prod", "MAX_TEXT_CHARS": "lots"}).stage_name
'prod'
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.capture_format import DEFAULT_CAPTURE_PREFIX
from chalicelib.metrics_format import (
    DEFAULT_NAMESPACE,
    DEFAULT_STAGE,
    DEFAULT_UNCERTAINTY_BAND,
)
from chalicelib.registry_format import normalize_prefix, prefixes_apart

__all__ = [
    "APP_NAME",
    "CLI_MODE_VARIABLE",
    "Settings",
    "SettingsError",
    "get_settings",
    "in_chalice_cli",
    "load_settings",
    "metrics_settings",
    "use_settings",
]

#: The Chalice app name; also the name of the logger everything here logs under.
APP_NAME = "spam-api"
#: Set by the chalice CLI (package, deploy, local) while it imports app.py.
CLI_MODE_VARIABLE = "AWS_CHALICE_CLI_MODE"

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ORIGIN_RE = re.compile(r"^\*$|^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_URL_RE = re.compile(r"^https?://[^\s/]+(/.*)?$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: CloudWatch's namespace characters (1-255, one of them not a space); ``AWS/`` is AWS's own.
_NAMESPACE_RE = re.compile(r"^(?!AWS/)(?=.*[^ ])[0-9A-Za-z._/#: -]{1,255}$")
#: A stage is a metric dimension: a short name, so the metrics it names stay few.
_STAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class SettingsError(ValueError):
    """An environment variable holds a value the API cannot use."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with ``load_settings``; tests may build it directly."""

    model_bucket: str = ""
    model_prefix: str = "models/"
    model_refresh_seconds: float = 30.0
    model_retry_seconds: float = 5.0
    max_text_chars: int = 20_000
    max_batch_size: int = 100
    max_body_bytes: int = 1_048_576
    explain_top_n: int = 10
    cors_allow_origin: str = "*"
    cors_max_age_seconds: int = 600
    s3_endpoint_url: str | None = None
    s3_connect_timeout_seconds: float = 2.0
    s3_read_timeout_seconds: float = 5.0
    s3_max_attempts: int = 2
    s3_client: str = "auto"
    log_level: str = "INFO"
    feedback_enabled: bool = True
    feedback_prefix: str = "feedback/"
    feedback_retention_days: int = 30
    metrics_enabled: bool = True
    metrics_namespace: str = DEFAULT_NAMESPACE
    stage_name: str = DEFAULT_STAGE
    uncertainty_band: float = DEFAULT_UNCERTAINTY_BAND
    capture_rate: float = 0.0
    capture_uncertain_rate: float = 0.0
    capture_prefix: str = DEFAULT_CAPTURE_PREFIX
    capture_retention_days: int = 30

    def require_bucket(self) -> str:
        """The bucket, or ``SettingsError`` when ``MODEL_BUCKET`` is not set."""
        if not self.model_bucket:
            raise SettingsError("MODEL_BUCKET is not set; set it to the model registry's bucket")
        return self.model_bucket

    @property
    def capture_enabled(self) -> bool:
        """Whether scored messages may be kept (either capture rate above 0)."""
        return self.capture_rate > 0.0 or self.capture_uncertain_rate > 0.0

    @property
    def log_level_number(self) -> int:
        """``log_level`` as a ``logging`` constant."""
        return int(getattr(logging, self.log_level))


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError
        return value

    parse.allowed = f"an integer from {low} to {high}"  # type: ignore[attr-defined]
    return parse


def _float(low: float, high: float, what: str = "a number of seconds") -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not low <= value <= high:  # also refuses nan
            raise ValueError
        return value

    parse.allowed = f"{what} from {low:g} to {high:g}"  # type: ignore[attr-defined]
    return parse


def _pattern(regex: re.Pattern[str], allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if not regex.match(value):
            raise ValueError
        return value

    parse.allowed = allowed  # type: ignore[attr-defined]
    return parse


def _bucket(raw: str) -> str:
    value = raw.strip()
    if value and (not _BUCKET_RE.match(value) or ".." in value):
        raise ValueError
    return value


_bucket.allowed = "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"  # type: ignore[attr-defined]


def _prefix(raw: str) -> str:
    value = normalize_prefix(raw)
    if any(part in {"", ".", ".."} for part in value.rstrip("/").split("/")) and value:
        raise ValueError
    return value


_prefix.allowed = "a key prefix such as models/ (no '.' or '..' segments)"  # type: ignore[attr-defined]


def _optional_url(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not _URL_RE.match(value):
        raise ValueError
    return value


_optional_url.allowed = "an http(s) URL such as http://127.0.0.1:5000"  # type: ignore[attr-defined]


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _FLAGS:
        raise ValueError
    return _FLAGS[value]


_FLAGS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False}
_FLAGS.update({"no": False, "off": False})
_flag.allowed = "true or false"  # type: ignore[attr-defined]


def _store_prefix(raw: str) -> str:
    """A prefix the API writes under: never the bucket root, which holds everything."""
    value = _prefix(raw)
    if not value:
        raise ValueError
    return value


_store_prefix.allowed = "a non-empty key prefix such as feedback/ or capture/"  # type: ignore[attr-defined]


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    """A parser accepting any case of ``options`` and returning the option as spelled."""
    canonical = {option.casefold(): option for option in options}

    def parse(raw: str) -> str:
        value = canonical.get(raw.strip().casefold())
        if value is None:
            raise ValueError
        return value

    parse.allowed = "one of " + ", ".join(options)  # type: ignore[attr-defined]
    return parse


#: S3_CLIENT: ``auto`` reads S3 with ``chalicelib.s3_http`` where it applies (Lambda),
#: ``botocore`` always uses botocore's client.
S3_CLIENTS = ("auto", "botocore")

#: field, environment variable, parser. Defaults are the dataclass defaults.
_TABLE: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("model_bucket", "MODEL_BUCKET", _bucket),
    ("model_prefix", "MODEL_PREFIX", _prefix),
    ("model_refresh_seconds", "MODEL_REFRESH_SECONDS", _float(0, 86_400)),
    ("model_retry_seconds", "MODEL_RETRY_SECONDS", _float(0, 3_600)),
    ("max_text_chars", "MAX_TEXT_CHARS", _int(1, 1_000_000)),
    ("max_batch_size", "MAX_BATCH_SIZE", _int(1, 10_000)),
    ("max_body_bytes", "MAX_BODY_BYTES", _int(64, 10_485_760)),
    ("explain_top_n", "EXPLAIN_TOP_N", _int(1, 100)),
    (
        "cors_allow_origin",
        "CORS_ALLOW_ORIGIN",
        _pattern(_ORIGIN_RE, "'*' or one origin such as https://spam.example.org (no path)"),
    ),
    ("cors_max_age_seconds", "CORS_MAX_AGE_SECONDS", _int(0, 86_400)),
    ("s3_endpoint_url", "S3_ENDPOINT_URL", _optional_url),
    ("s3_connect_timeout_seconds", "S3_CONNECT_TIMEOUT_SECONDS", _float(0.1, 60)),
    ("s3_read_timeout_seconds", "S3_READ_TIMEOUT_SECONDS", _float(0.1, 300)),
    ("s3_max_attempts", "S3_MAX_ATTEMPTS", _int(1, 10)),
    ("s3_client", "S3_CLIENT", _choice(S3_CLIENTS)),
    ("log_level", "LOG_LEVEL", _choice(_LOG_LEVELS)),
    ("feedback_enabled", "FEEDBACK_ENABLED", _flag),
    ("feedback_prefix", "FEEDBACK_PREFIX", _store_prefix),
    ("feedback_retention_days", "FEEDBACK_RETENTION_DAYS", _int(1, 3_650)),
    ("metrics_enabled", "METRICS_ENABLED", _flag),
    (
        "metrics_namespace",
        "METRICS_NAMESPACE",
        _pattern(
            _NAMESPACE_RE,
            "a CloudWatch namespace (1-255 of A-Z, a-z, 0-9, '.', '-', '_', '/', '#', ':', "
            "space; not starting with AWS/)",
        ),
    ),
    (
        "stage_name",
        "STAGE_NAME",
        _pattern(
            _STAGE_RE,
            "a stage name: 1-32 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit",
        ),
    ),
    ("uncertainty_band", "UNCERTAINTY_BAND", _float(0, 0.5, "a number")),
    ("capture_rate", "CAPTURE_RATE", _float(0, 1, "a share")),
    ("capture_uncertain_rate", "CAPTURE_UNCERTAIN_RATE", _float(0, 1, "a share")),
    ("capture_prefix", "CAPTURE_PREFIX", _store_prefix),
    ("capture_retention_days", "CAPTURE_RETENTION_DAYS", _int(1, 3_650)),
)
#: The rows the metrics need, readable on their own (``metrics_settings``).
_METRICS_FIELDS = frozenset(
    {"metrics_enabled", "metrics_namespace", "stage_name", "uncertainty_band"}
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from ``environ`` (default ``os.environ``).

    Unset or empty variables take the defaults of ``Settings``. Raises ``SettingsError``
    naming the first variable whose value is not allowed.

    See Also
    --------
    Settings.require_bucket : the bucket is only required when a model is loaded, so
        ``chalice package`` can import the app without it.
    """
    settings = Settings(**_read(os.environ if environ is None else environ, _TABLE))
    if settings.max_body_bytes < settings.max_text_chars:
        raise SettingsError(
            f"MAX_BODY_BYTES must be at least MAX_TEXT_CHARS ({settings.max_text_chars}), "
            f"got {settings.max_body_bytes!r}"
        )
    _check_stores_apart(settings)
    return settings


def _check_stores_apart(settings: Settings) -> None:
    """The stores the API writes lie outside the registry it loads, and apart from each other."""
    model = ("MODEL_PREFIX", settings.model_prefix)
    feedback = ("FEEDBACK_PREFIX", settings.feedback_prefix)
    capture = ("CAPTURE_PREFIX", settings.capture_prefix)
    for (variable, prefix), (other, held) in (
        (feedback, model),
        (capture, model),
        (capture, feedback),
    ):
        if not prefixes_apart(prefix, held):
            raise SettingsError(
                f"{variable} must lie outside {other} ({held!r}) and not contain it, got {prefix!r}"
            )


def _read(
    env: Mapping[str, str], rows: tuple[tuple[str, str, Callable[[str], Any]], ...]
) -> dict[str, Any]:
    """Each row's parsed value, for the variables set; ``SettingsError`` for the first bad one."""
    values: dict[str, Any] = {}
    for field_name, variable, parse in rows:
        raw = env.get(variable)
        if raw is None or (raw.strip() == "" and variable != "MODEL_BUCKET"):
            continue
        try:
            values[field_name] = parse(raw)
        except (ValueError, TypeError, OverflowError):
            allowed = getattr(parse, "allowed", "a valid value")
            raise SettingsError(f"{variable} must be {allowed}, got {raw!r}") from None
    return values


def metrics_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Only the metrics rows, each read as ``load_settings`` reads it; a bad one keeps its default.

    For the answers given while the settings as a whole cannot be read (every request a
    500 ``NotConfiguredError``): those answers are still counted, under the stage's own name.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for row in _TABLE:
        if row[0] in _METRICS_FIELDS:
            try:
                values.update(_read(env, (row,)))
            except SettingsError:
                continue
    return Settings(**values)


def in_chalice_cli(environ: Mapping[str, str] | None = None) -> bool:
    """True while the chalice CLI imports the app (package, deploy, local)."""
    env = os.environ if environ is None else environ
    return env.get(CLI_MODE_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


_current: Settings | None = None
_current_lock = threading.Lock()


def get_settings() -> Settings:
    """The process's settings: read from the environment on first use, then kept.

    Lazily, so that whatever sets the environment after ``app.py`` is imported (Chalice's
    test client applies a stage's variables on entering its context) is what is read.
    Raises ``SettingsError`` for a bad value, and again on every call until it is fixed.
    """
    global _current
    settings = _current
    if settings is not None:
        return settings
    with _current_lock:
        if _current is None:
            _current = load_settings()
        return _current


def use_settings(settings: Settings | None) -> None:
    """Make ``settings`` the process's settings (``None``: read the environment again)."""
    global _current
    with _current_lock:
        _current = settings
