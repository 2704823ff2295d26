"""The reader's read order and what each hot-swap check costs, on the recording fake S3.

The runtimes' scikit-learn versions are given (1.7.2, 1.9.1), not the installed one:
nothing is unpickled here, only pointers are read.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from chalicelib.registry import PointerRead, PointerTag, RegistryReader
from chalicelib.registry_format import ManifestError, current_key, live_key

from trainer.registry import promote, publish

from .conftest import PREFIX
from .fakes import FakeS3

OLD, NEW = "1.7.2", "1.9.1"
BUCKET = "fake-bucket"


@pytest.fixture
def s3() -> FakeS3:
    fake = FakeS3()
    fake.create_bucket(Bucket=BUCKET)
    return fake


_minutes = itertools.count()


def _publish(s3: FakeS3, bundle, version: str, **changes):
    """Publish ``bundle`` as made with ``version``, a minute after the previous publish."""
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC) + timedelta(minutes=next(_minutes))
    return publish(s3, BUCKET, PREFIX, replace(bundle, sklearn_version=version, **changes), now=now)


def _reader(s3: FakeS3, version: str) -> RegistryReader:
    return RegistryReader(s3, BUCKET, PREFIX, runtime_sklearn_version=version)


def _check(s3: FakeS3, reader: RegistryReader, tag: PointerTag | None):
    """One hot-swap check; returns (pointer or None, the keys it read)."""
    s3.calls.clear()
    pointer = reader.fetch_pointer(since=tag)
    return pointer, [key for _, key in s3.calls]


def test_steady_state_costs_one_conditional_get(s3, bundle) -> None:
    manifest = _publish(s3, bundle, OLD)
    reader = _reader(s3, OLD)
    pointer, _ = _check(s3, reader, None)
    assert pointer.manifest == manifest and pointer.key == current_key(PREFIX)
    assert pointer.tag.read is PointerRead.CURRENT and pointer.tag.live_etag is None
    assert _check(s3, reader, pointer.tag) == (None, [current_key(PREFIX)])


def test_during_an_upgrade_each_runtime_finds_its_own_model(s3, bundle) -> None:
    old = _publish(s3, bundle, OLD)
    new = _publish(s3, bundle, NEW, threshold=0.4)
    old_pointer, read = _check(s3, _reader(s3, OLD), None)
    assert old_pointer.manifest == old and read == [current_key(PREFIX)]
    reader = _reader(s3, NEW)
    new_pointer, read = _check(s3, reader, None)
    assert new_pointer.manifest == new and new_pointer.key == live_key(PREFIX, NEW)
    assert new_pointer.tag.read is PointerRead.LIVE
    assert None not in (new_pointer.tag.current_etag, new_pointer.tag.live_etag)
    assert read == [current_key(PREFIX), live_key(PREFIX, NEW)]
    # unchanged: two 304s
    assert _check(s3, reader, new_pointer.tag) == (None, read)
    # a new 1.9.1 publish is picked up through the pointer
    newer = _publish(s3, bundle, NEW, threshold=0.3)
    swapped, _ = _check(s3, reader, new_pointer.tag)
    assert swapped.manifest == newer
    # promote: current.json names 1.9.1, the check is one request again; 1.7.2 keeps its own
    promote(s3, BUCKET, PREFIX, NEW)
    promoted, _ = _check(s3, reader, swapped.tag)
    assert promoted.manifest == newer and promoted.key == current_key(PREFIX)
    assert _check(s3, reader, promoted.tag) == (None, [current_key(PREFIX)])
    assert _check(s3, _reader(s3, OLD), None)[0].manifest == old


def test_no_pointer_for_the_runtime_returns_current_json_and_keeps_looking(s3, bundle) -> None:
    old = _publish(s3, bundle, OLD)
    reader = _reader(s3, NEW)
    pointer, _ = _check(s3, reader, None)
    assert pointer.manifest == old  # refused by load(), with the version check's message
    assert pointer.tag.read is PointerRead.LIVE and pointer.tag.live_etag is None
    unchanged = _check(s3, reader, pointer.tag)
    assert unchanged == (None, [current_key(PREFIX), live_key(PREFIX, NEW)])
    new = _publish(s3, bundle, NEW)
    assert _check(s3, reader, pointer.tag)[0].manifest == new


def test_a_deleted_pointer_falls_back_to_current_json(s3, bundle) -> None:
    old = _publish(s3, bundle, OLD)
    _publish(s3, bundle, NEW)
    reader = _reader(s3, NEW)
    pointer, _ = _check(s3, reader, None)
    s3.delete_object(Bucket=BUCKET, Key=live_key(PREFIX, NEW))
    assert _check(s3, reader, pointer.tag)[0].manifest == old


def test_a_pointer_is_read_even_without_current_json_and_under_403s(s3, bundle) -> None:
    new = _publish(s3, bundle, NEW)
    s3.delete_object(Bucket=BUCKET, Key=current_key(PREFIX))
    s3.deny_missing = True  # the function has no s3:ListBucket: 403 for missing keys
    reader = _reader(s3, NEW)
    pointer, _ = _check(s3, reader, None)
    assert pointer.manifest == new
    assert _check(s3, reader, pointer.tag)[0] is None


def test_a_pointer_naming_keys_outside_the_prefix_is_refused(s3, bundle) -> None:
    _publish(s3, bundle, OLD)
    manifest = _publish(s3, bundle, NEW)
    raw = json.loads(manifest.to_json())
    raw["artifacts"]["model"]["key"] = "elsewhere/spam_model.pkl"
    s3.put_object(Bucket=BUCKET, Key=live_key(PREFIX, NEW), Body=json.dumps(raw).encode())
    with pytest.raises(ManifestError, match="outside the registry prefix"):
        _reader(s3, NEW).fetch_pointer()
