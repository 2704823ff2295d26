"""The registry reader, run against an in-memory fake and against moto over HTTP."""

from __future__ import annotations

import json

import joblib
import pytest
import sklearn
import sklearn.base
from chalicelib.registry import PointerRead, PointerTag, RegistryReader
from chalicelib.registry_format import (
    LEGACY_LABELS,
    ArtifactNotFoundError,
    IncompatibleModelError,
    IntegrityError,
    ManifestError,
    RegistryUnavailableError,
    current_key,
)
from chalicelib.s3_client import make_s3_client
from chalicelib.settings import Settings

from trainer.registry import publish

from .conftest import PREFIX, dumps, put_legacy, unreachable_s3
from .fakes import FakeS3


def _no_unpickling(monkeypatch) -> None:
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled unverified bytes"))


class ReaderContract:
    """What every S3 backend must give the reader. Subclasses provide ``store``."""

    @pytest.fixture
    def store(self):  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def reader(self, store):
        s3, bucket = store
        return RegistryReader(s3, bucket, PREFIX)

    def test_pointer_then_304(self, store, reader, bundle) -> None:
        s3, bucket = store
        manifest = publish(s3, bucket, PREFIX, bundle)
        pointer = reader.fetch_pointer()
        assert pointer is not None and not pointer.legacy
        assert pointer.manifest == manifest
        assert reader.fetch_pointer(since=pointer.tag) is None
        other = PointerTag(PointerRead.CURRENT, current_etag='"something-else"')
        assert reader.fetch_pointer(since=other) == pointer

    def test_load_verifies_and_unpickles(self, store, reader, bundle, fitted) -> None:
        s3, bucket = store
        publish(s3, bucket, PREFIX, bundle)
        artifacts = reader.load(reader.fetch_pointer())
        text = ["free prize call now"]
        expected = fitted.classifier.predict_proba(fitted.vectorizer.transform(text))
        got = artifacts.classifier.predict_proba(artifacts.vectorizer.transform(text))
        assert got.tolist() == expected.tolist()

    def test_hash_mismatch_is_refused_before_unpickling(
        self, store, reader, bundle, fitted, monkeypatch
    ) -> None:
        s3, bucket = store
        manifest = publish(s3, bucket, PREFIX, bundle)
        tampered = bytearray(bundle.model_pkl)
        tampered[-10] ^= 0xFF  # same size, different bytes
        s3.put_object(Bucket=bucket, Key=manifest.artifacts["model"].key, Body=bytes(tampered))
        pointer = reader.fetch_pointer()
        _no_unpickling(monkeypatch)
        with pytest.raises(IntegrityError, match="sha256"):
            reader.load(pointer)

    def test_size_mismatch_is_refused(self, store, reader, bundle, monkeypatch) -> None:
        s3, bucket = store
        manifest = publish(s3, bucket, PREFIX, bundle)
        key = manifest.artifacts["vectorizer"].key
        s3.put_object(Bucket=bucket, Key=key, Body=bundle.vectorizer_pkl[:-1])
        _no_unpickling(monkeypatch)
        with pytest.raises(IntegrityError, match="bytes"):
            reader.load(reader.fetch_pointer())

    def test_other_sklearn_version_is_refused_with_a_clear_reason(
        self, store, reader, bundle, monkeypatch
    ) -> None:
        s3, bucket = store
        from dataclasses import replace

        publish(s3, bucket, PREFIX, replace(bundle, sklearn_version="1.7.2"))
        pointer = reader.fetch_pointer()
        _no_unpickling(monkeypatch)
        with pytest.raises(IncompatibleModelError) as caught:
            reader.load(pointer)
        message = str(caught.value)
        assert "1.7.2" in message and sklearn.__version__ in message and "retrain" in message

    @pytest.mark.parametrize(
        "bad_key",
        [
            "elsewhere/v1/spam_model.pkl",
            "models/../spam_model.pkl",
            "/models/v1/x.pkl",
            "spam_model.pkl",
        ],
    )
    def test_manifest_keys_outside_the_prefix_are_refused(
        self, store, reader, bundle, bad_key
    ) -> None:
        s3, bucket = store
        manifest = publish(s3, bucket, PREFIX, bundle)
        raw = json.loads(manifest.to_json())
        raw["artifacts"]["model"]["key"] = bad_key
        s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=json.dumps(raw).encode())
        with pytest.raises(ManifestError, match="outside the registry prefix"):
            reader.fetch_pointer()

    def test_invalid_current_json_is_a_manifest_error(self, store, reader) -> None:
        s3, bucket = store
        s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=b"{not json")
        with pytest.raises(ManifestError):
            reader.fetch_pointer()

    def test_missing_artifact_is_not_found(self, store, reader, bundle) -> None:
        s3, bucket = store
        manifest = publish(s3, bucket, PREFIX, bundle)
        s3.delete_object(Bucket=bucket, Key=manifest.artifacts["model"].key)
        with pytest.raises(ArtifactNotFoundError, match="does not exist"):
            reader.load(reader.fetch_pointer())

    def test_empty_bucket_is_not_found(self, reader) -> None:
        with pytest.raises(ArtifactNotFoundError, match="no model"):
            reader.fetch_pointer()

    def test_legacy_layout_serves_with_tutorial_labels(self, store, reader, legacy_pair) -> None:
        s3, bucket = store
        put_legacy(s3, bucket, legacy_pair)
        pointer = reader.fetch_pointer()
        assert pointer is not None and pointer.legacy
        manifest = pointer.manifest
        assert (manifest.version, manifest.threshold) == ("legacy", 0.5)
        assert manifest.labels == LEGACY_LABELS == {"spam": 0, "ham": 1}
        assert reader.fetch_pointer(since=pointer.tag) is None
        artifacts = reader.load(pointer)
        assert list(artifacts.classifier.classes_) == [0, 1]

    def test_legacy_pair_change_is_noticed(self, store, reader, legacy_pair, fitted) -> None:
        s3, bucket = store
        put_legacy(s3, bucket, legacy_pair)
        first = reader.fetch_pointer()
        s3.put_object(Bucket=bucket, Key="spam_model.pkl", Body=dumps(fitted.classifier))
        assert reader.fetch_pointer(since=first.tag) is not None

    def test_current_json_wins_over_legacy(self, store, reader, legacy_pair, bundle) -> None:
        s3, bucket = store
        put_legacy(s3, bucket, legacy_pair)
        manifest = publish(s3, bucket, PREFIX, bundle)
        assert reader.fetch_pointer().manifest.version == manifest.version

    def test_legacy_pickle_from_another_sklearn_is_refused(
        self, store, reader, fitted, monkeypatch
    ) -> None:
        s3, bucket = store
        monkeypatch.setattr(sklearn.base, "__version__", "1.6.1")
        old_model = dumps(fitted.classifier)
        monkeypatch.undo()
        put_legacy(s3, bucket, (dumps(fitted.vectorizer), old_model))
        with pytest.raises(IncompatibleModelError, match=r"1\.6\.1"):
            reader.load(reader.fetch_pointer())


class TestReaderOnFake(ReaderContract):
    @pytest.fixture
    def store(self):
        s3 = FakeS3()
        s3.create_bucket(Bucket="fake-bucket")
        return s3, "fake-bucket"

    def test_403_for_a_missing_current_json_falls_back_to_legacy(self, legacy_pair) -> None:
        s3 = FakeS3(deny_missing=True)
        s3.create_bucket(Bucket="fake-bucket")
        reader = RegistryReader(s3, "fake-bucket", PREFIX)
        with pytest.raises(RegistryUnavailableError, match="denied"):
            reader.fetch_pointer()
        put_legacy(s3, "fake-bucket", legacy_pair)
        assert reader.fetch_pointer().legacy

    def test_outage_is_unavailable(self) -> None:
        s3 = FakeS3()
        s3.create_bucket(Bucket="fake-bucket")
        s3.down = True
        with pytest.raises(RegistryUnavailableError, match="did not answer"):
            RegistryReader(s3, "fake-bucket", PREFIX).fetch_pointer()

    def test_only_the_prefix_and_legacy_keys_are_read(self, bundle, legacy_pair) -> None:
        s3 = FakeS3()
        s3.create_bucket(Bucket="fake-bucket")
        put_legacy(s3, "fake-bucket", legacy_pair)
        reader = RegistryReader(s3, "fake-bucket", PREFIX)
        reader.load(reader.fetch_pointer())
        publish(s3, "fake-bucket", PREFIX, bundle)
        s3.calls.clear()
        reader.load(reader.fetch_pointer())
        assert s3.calls and all(key.startswith(PREFIX) for _, key in s3.calls)
        assert not any(key.endswith("metrics.json") for _, key in s3.calls)


class TestReaderOnMoto(ReaderContract):
    @pytest.fixture
    def store(self, s3_client, bucket):
        return s3_client, bucket

    def test_unreachable_endpoint_is_unavailable_quickly(self) -> None:
        import time

        reader = RegistryReader(unreachable_s3()[0], "some-bucket", PREFIX)
        started = time.monotonic()
        with pytest.raises(RegistryUnavailableError) as caught:
            reader.fetch_pointer()
        assert time.monotonic() - started < 5
        assert "127.0.0.1" not in str(caught.value)


def test_botocore_s3_client_has_bounded_timeouts_and_retries() -> None:
    """botocore's client (S3_CLIENT=botocore, or outside Lambda); test_s3_http covers the other."""
    settings = Settings(
        s3_client="botocore",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_connect_timeout_seconds=1.5,
        s3_read_timeout_seconds=4,
        s3_max_attempts=3,
    )
    client = make_s3_client(settings)
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 4)
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    defaults = Settings()
    assert defaults.s3_connect_timeout_seconds < 60 and defaults.s3_read_timeout_seconds < 60
