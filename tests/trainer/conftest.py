"""Fixtures for the trainer's tests: small corpora written into tmp_path, bucket listing.

Helpers are handed out as fixtures (not imported) because pytest runs with
``--import-mode=importlib``, where test modules cannot import ``conftest``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

SPAM_WORDS = "free win cash prize claim urgent call txt offer now award guaranteed".split()  # noqa: SIM905
HAM_WORDS = "see you lunch tomorrow home later ok thanks meeting dinner love sorry".split()  # noqa: SIM905

Rows = list[tuple[str, str]]


def _synthetic_rows(n: int = 240, seed: int = 0, spam_share: float = 0.3) -> Rows:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "spam" if rng.random() < spam_share else "ham"
        words = SPAM_WORDS if label == "spam" else HAM_WORDS
        text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 9))) + f" n{i}"
        rows.append((label, text))
    return rows


@pytest.fixture
def synthetic_rows() -> Callable[..., Rows]:
    """``synthetic_rows(n, seed, spam_share)``: distinct, separable (label, text) pairs."""
    return _synthetic_rows


@pytest.fixture
def write_sms(tmp_path: Path) -> Callable[[str, Rows], Path]:
    """``write_sms(name, rows)``: a UCI-format file in tmp_path."""

    def write(name: str, rows: Rows) -> Path:
        path = tmp_path / name
        path.write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture
def small_sms(write_sms) -> Path:
    """A separable 240-message corpus in the UCI SMS format."""
    return write_sms("small.txt", _synthetic_rows())


@pytest.fixture
def bucket_keys(s3_client) -> Callable[[str], list[str]]:
    """``bucket_keys(bucket)``: every key in the bucket, sorted."""

    def keys(bucket: str) -> list[str]:
        listing = s3_client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return keys


@pytest.fixture
def trainer_env(monkeypatch, tmp_path) -> None:
    """None of the trainer's variables from the shell, and a download cache of its own."""
    for name in (
        "MODEL_BUCKET",
        "MODEL_PREFIX",
        "SPAM_DATA",
        "FEEDBACK_PREFIX",
        "CAPTURE_PREFIX",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_STS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPAM_DATA_HOME", str(tmp_path / "data-home"))
