"""Shared state of one bench run: the local S3 server, the bucket, the models, the app.

Measurements ask the context for what they need and it is built once, on first use: the
moto server, the Chalice app imported in this process, the tutorial's model fitted on
the same split, the layers, the deployment package. Anything that starts a process is
entered into one ``ExitStack`` so a failed or interrupted run leaves nothing running.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.config import Config

from bench import chalice_config
from bench.settings import BenchSettings

__all__ = ["BenchContext", "Timer"]

DEFAULT_BUCKET = "spam-bench"
DEFAULT_PREFIX = "models/"
LEGACY_VECTORIZER = "vectorizer.pkl"
LEGACY_MODEL = "spam_model.pkl"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Timer:
    """Wall time of a block, in seconds (``perf_counter``)."""

    start: float = 0.0
    seconds: float = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


class BenchContext:
    """Lazily built, cached resources shared by the measurements of one run."""

    def __init__(self, settings: BenchSettings, stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self._stack = stack
        self._cache: dict[str, Any] = {}
        self.notes: list[str] = []
        self.log_dir = settings.build_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    # -- generic cache ---------------------------------------------------------------
    def cached(self, key: str, build: Any) -> Any:
        """``build()`` once per run; later calls (and other measurements) reuse it.

        A failure is cached too, so a broken prerequisite fails every dependent
        measurement with the same reason instead of being retried (and re-timed).
        """
        if key not in self._cache:
            try:
                self._cache[key] = ("ok", build())
            except Exception as exc:
                self._cache[key] = ("error", exc)
        status, value = self._cache[key]
        if status == "error":
            raise value
        return value

    # -- configuration ---------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """``spam_api/.chalice/config.json`` (empty if the API has none yet)."""
        path = self.settings.api_dir / ".chalice" / "config.json"
        return chalice_config.load_config(self.settings.api_dir) if path.exists() else {}

    @property
    def stage(self) -> str:
        """The deployed stage whose memory and environment the estimates use."""
        return chalice_config.pick_stage(self.config, self.settings.stage)

    def _local_env(self) -> dict[str, str]:
        """The ``local`` stage's variables: ``chalice local`` forces them over the shell's."""
        if "local" not in self.config.get("stages", {}):
            return {}
        return chalice_config.environment(self.config, "local")

    @property
    def bucket(self) -> str:
        """The bucket on the private moto server: the local stage's, so every path agrees."""
        return self._local_env().get("MODEL_BUCKET") or DEFAULT_BUCKET

    @property
    def prefix(self) -> str:
        """The registry prefix (the local stage's, else the documented default)."""
        return self._local_env().get("MODEL_PREFIX") or DEFAULT_PREFIX

    # -- local S3 --------------------------------------------------------------------
    def s3_endpoint(self) -> str:
        """URL of a moto S3 server on loopback, started once, with the bucket created."""

        def start() -> str:
            from stack.local.services import moto_server

            service = self._stack.enter_context(moto_server(log_dir=self.log_dir))
            client = self._client(service.url)
            client.create_bucket(Bucket=self.bucket)
            return service.url

        return self.cached("s3_endpoint", start)

    def s3(self) -> Any:
        """A boto3 S3 client for the moto server."""
        return self.cached("s3", lambda: self._client(self.s3_endpoint()))

    @staticmethod
    def _client(endpoint: str) -> Any:
        from stack.local.services import moto_s3_client

        return moto_s3_client(
            endpoint, config=Config(retries={"max_attempts": 2, "mode": "standard"})
        )

    def s3_env(self) -> dict[str, str]:
        """Environment that points boto3 (in any process) at the moto server."""
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint(),
            "MODEL_BUCKET": self.bucket,
            "MODEL_PREFIX": self.prefix,
        }

    def app_env(self) -> dict[str, str]:
        """What Lambda would set for the API (config.json), re-pointed at the moto server."""
        env = chalice_config.environment(self.config, self.stage) if self.config else {}
        return {**env, **self.s3_env()}

    # -- artifacts from S3 -----------------------------------------------------------
    def get_bytes(self, key: str) -> bytes:
        """One object of the bench bucket."""
        return self.s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put_bytes(self, key: str, body: bytes) -> None:
        """Write one object into the bench bucket."""
        self.s3().put_object(Bucket=self.bucket, Key=key, Body=body)

    # -- our app, in this process ----------------------------------------------------
    def our_app(self) -> Any:
        """The Chalice ``app`` object of ``spam_api/app.py``, imported as Lambda would.

        The environment is set first (the app loads its model at import), and the module
        is imported from its file under a private name so it cannot shadow anything.
        """

        def load() -> Any:
            os.environ.update(self.app_env())
            os.environ.pop("AWS_CHALICE_CLI_MODE", None)
            api_dir = str(self.settings.api_dir)
            if api_dir not in sys.path:
                sys.path.insert(0, api_dir)
            module = _import_file("bench_spam_api_app", self.settings.api_dir / "app.py")
            return module.app

        return self.cached("our_app", load)

    @contextlib.contextmanager
    def app_stdout(self) -> Iterator[None]:
        """Send stdout, where the app writes its metric lines, to a log file meanwhile.

        On Lambda those lines go to CloudWatch Logs; here they would bury the table.
        """
        path = self.log_dir / "app-stdout.log"
        with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            yield

    # -- models ------------------------------------------------------------------------
    def manifest(self) -> Any:
        """The live ``current.json`` of the bench registry (after the training step)."""
        from chalicelib.registry_format import current_key, parse_manifest

        key = current_key(self.prefix)
        return parse_manifest(self.get_bytes(key), where=key)

    def our_pipeline(self) -> tuple[Any, Any]:
        """``(vectorizer, model)`` of the published version, unpickled from S3 directly."""

        def load() -> tuple[Any, Any]:
            manifest = self.manifest()
            vectorizer = joblib_loads(self.get_bytes(manifest.artifacts["vectorizer"].key))
            model = joblib_loads(self.get_bytes(manifest.artifacts["model"].key))
            return vectorizer, model

        return self.cached("our_pipeline", load)

    def tutorial_pipeline(self) -> tuple[Any, Any]:
        """``(vectorizer, model)`` of the tutorial, from the bucket-root legacy keys."""

        def load() -> tuple[Any, Any]:
            vectorizer = joblib_loads(self.get_bytes(LEGACY_VECTORIZER))
            model = joblib_loads(self.get_bytes(LEGACY_MODEL))
            return vectorizer, model

        return self.cached("tutorial_pipeline", load)

    def sample_texts(self, n: int = 1000) -> list[str]:
        """Real messages to send: a fixed shuffle of the SMS collection's texts."""

        def load() -> list[str]:
            import random

            texts = [text for _label, text in read_sms(self.settings.sms_path)]
            random.Random(20261125).shuffle(texts)
            return texts

        return self.cached("sample_texts", load)[:n]


def _import_file(name: str, path: Path) -> ModuleType:
    """Import a module from a file path under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def joblib_loads(data: bytes) -> Any:
    """Unpickle joblib bytes (the registry's artifacts)."""
    import joblib

    return joblib.load(io.BytesIO(data))


def joblib_dumps(obj: Any) -> bytes:
    """Pickle with joblib to bytes, as the tutorial's pickles were written."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def read_sms(path: Path) -> list[tuple[str, str]]:
    """``(label, text)`` pairs of the SMS Spam Collection, read by the trainer's loader."""
    from trainer.data import load_sms_collection

    return [(message.label, message.text) for message in load_sms_collection(path)]
