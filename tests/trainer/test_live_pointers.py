"""The registry's live pointers, written by the trainer: publish, rollback, migrate, promote.

Against moto over HTTP. Nothing is unpickled here, so the artifacts are short byte
strings and the scikit-learn versions are whatever a test names: these tests hold for any
installed scikit-learn (the API side is in tests/spam_api/test_sklearn_upgrade.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from chalicelib.registry_format import (
    ArtifactNotFoundError,
    RegistryError,
    current_key,
    live_key,
    parse_manifest,
)

from tests.support import opaque_bundle
from trainer.cli import EXIT_ERROR, EXIT_OK, main
from trainer.registry import (
    list_versions,
    migrate,
    promote,
    publish,
    registry_status,
    rollback,
)

PREFIX = "models/"
OLD, NEW = "1.7.2", "1.9.1"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _publish(s3, bucket, sklearn_version: str, tag: str, minutes: int):
    return publish(
        s3, bucket, PREFIX, opaque_bundle(sklearn_version, tag), now=T0 + timedelta(minutes=minutes)
    )


def _read(s3, bucket, key: str):
    return parse_manifest(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), where=key)


def _keys(s3, bucket) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _todays_registry(s3, bucket):
    """A registry as the trainer before live pointers left it: only current.json is live."""
    manifest = _publish(s3, bucket, OLD, "a", 0)
    s3.delete_object(Bucket=bucket, Key=live_key(PREFIX, OLD))
    assert live_key(PREFIX, OLD) not in _keys(s3, bucket)
    return manifest


def test_first_publish_writes_the_pointer_and_current_json(s3_client, bucket) -> None:
    manifest = _publish(s3_client, bucket, OLD, "a", 0)
    current = s3_client.get_object(Bucket=bucket, Key=current_key(PREFIX))["Body"].read()
    pointer = s3_client.get_object(Bucket=bucket, Key=live_key(PREFIX, OLD))["Body"].read()
    assert current == pointer == manifest.to_json()


def test_migrate_gives_todays_current_json_its_pointer_once(s3_client, bucket) -> None:
    assert migrate(s3_client, bucket, PREFIX) == []  # an empty registry: nothing to do
    manifest = _todays_registry(s3_client, bucket)
    before = s3_client.get_object(Bucket=bucket, Key=current_key(PREFIX))["ETag"]
    assert migrate(s3_client, bucket, PREFIX) == [live_key(PREFIX, OLD)]
    assert _read(s3_client, bucket, live_key(PREFIX, OLD)) == manifest
    assert migrate(s3_client, bucket, PREFIX) == []  # idempotent
    # what readers load did not change
    assert s3_client.get_object(Bucket=bucket, Key=current_key(PREFIX))["ETag"] == before


def test_a_model_for_a_new_sklearn_never_takes_current_json(s3_client, bucket) -> None:
    old = _todays_registry(s3_client, bucket)
    new = _publish(s3_client, bucket, NEW, "b", 1)
    assert _read(s3_client, bucket, current_key(PREFIX)) == old  # the old API's model
    assert _read(s3_client, bucket, live_key(PREFIX, NEW)) == new
    assert _read(s3_client, bucket, live_key(PREFIX, OLD)) == old  # migrated on the way
    status = registry_status(s3_client, bucket, PREFIX)
    assert status.for_runtime(OLD) == old and status.for_runtime(NEW) == new
    assert status.for_runtime("1.8.0") is None


def test_a_publish_for_current_json_s_sklearn_moves_both(s3_client, bucket) -> None:
    _publish(s3_client, bucket, OLD, "a", 0)
    _publish(s3_client, bucket, NEW, "b", 1)
    again = _publish(s3_client, bucket, OLD, "c", 2)
    assert _read(s3_client, bucket, current_key(PREFIX)) == again
    assert _read(s3_client, bucket, live_key(PREFIX, OLD)) == again


def test_rollback_moves_the_pointer_of_the_version_s_own_sklearn(s3_client, bucket) -> None:
    a = _publish(s3_client, bucket, OLD, "a", 0)
    b1 = _publish(s3_client, bucket, NEW, "b1", 1)
    b2 = _publish(s3_client, bucket, NEW, "b2", 2)
    a2 = _publish(s3_client, bucket, OLD, "a2", 3)
    # back to an earlier 1.9.1 model: only the 1.9.1 pointer moves
    rollback(s3_client, bucket, PREFIX, b1.version)
    assert _read(s3_client, bucket, live_key(PREFIX, NEW)) == b1
    assert _read(s3_client, bucket, current_key(PREFIX)) == a2
    # back to an earlier 1.7.2 model: its pointer and current.json, which names 1.7.2
    rollback(s3_client, bucket, PREFIX, a.version)
    assert _read(s3_client, bucket, live_key(PREFIX, OLD)) == a
    assert _read(s3_client, bucket, current_key(PREFIX)) == a
    assert _read(s3_client, bucket, live_key(PREFIX, NEW)) == b1
    # after promote, current.json names 1.9.1: a 1.7.2 rollback leaves it there
    promote(s3_client, bucket, PREFIX, NEW)
    rollback(s3_client, bucket, PREFIX, a2.version)
    assert _read(s3_client, bucket, live_key(PREFIX, OLD)) == a2
    assert _read(s3_client, bucket, current_key(PREFIX)) == b1
    rollback(s3_client, bucket, PREFIX, b2.version)
    assert _read(s3_client, bucket, current_key(PREFIX)) == b2
    assert _read(s3_client, bucket, live_key(PREFIX, NEW)) == b2


def test_promote_points_current_json_at_a_live_model_and_keeps_the_old_one(
    s3_client, bucket
) -> None:
    old = _todays_registry(s3_client, bucket)
    with pytest.raises(ArtifactNotFoundError, match=r"no live model for scikit-learn 1\.9\.1"):
        promote(s3_client, bucket, PREFIX, NEW)
    assert _read(s3_client, bucket, current_key(PREFIX)) == old
    new = _publish(s3_client, bucket, NEW, "b", 1)
    s3_client.delete_object(Bucket=bucket, Key=live_key(PREFIX, OLD))  # as if never migrated
    assert promote(s3_client, bucket, PREFIX, NEW) == new
    assert _read(s3_client, bucket, current_key(PREFIX)) == new
    assert _read(s3_client, bucket, live_key(PREFIX, OLD)) == old  # kept for a rollback
    # and back again, before rolling the function back to code that reads only current.json
    promote(s3_client, bucket, PREFIX, OLD)
    assert _read(s3_client, bucket, current_key(PREFIX)) == old


def test_promote_refuses_a_pointer_whose_artifacts_are_gone(s3_client, bucket) -> None:
    old = _publish(s3_client, bucket, OLD, "a", 0)
    new = _publish(s3_client, bucket, NEW, "b", 1)
    s3_client.delete_object(Bucket=bucket, Key=new.artifacts["model"].key)
    with pytest.raises(ArtifactNotFoundError, match="incomplete"):
        promote(s3_client, bucket, PREFIX, NEW)
    assert _read(s3_client, bucket, current_key(PREFIX)) == old


def test_current_json_changed_under_a_publish_is_not_overwritten(s3_client, bucket) -> None:
    """current.json is written only if it is still what was read (If-Match on the PUT)."""
    _publish(s3_client, bucket, OLD, "a", 0)
    promoted = _publish(s3_client, bucket, NEW, "b", 1)

    class Racing:
        """Forwards to S3; right after current.json is read, another writer promotes."""

        def __getattr__(self, name):
            return getattr(s3_client, name)

        def get_object(self, **kwargs):
            response = s3_client.get_object(**kwargs)
            if kwargs["Key"] == current_key(PREFIX):
                s3_client.put_object(Bucket=bucket, Key=kwargs["Key"], Body=promoted.to_json())
            return response

    with pytest.raises(RegistryError, match="changed while this command ran"):
        publish(Racing(), bucket, PREFIX, opaque_bundle(OLD, "c"), now=T0 + timedelta(minutes=2))
    assert _read(s3_client, bucket, current_key(PREFIX)) == promoted


def test_versions_say_which_pointers_name_them_and_skip_the_live_folder(s3_client, bucket) -> None:
    a = _publish(s3_client, bucket, OLD, "a", 0)
    b = _publish(s3_client, bucket, NEW, "b", 1)
    listed = {v.manifest.version: v for v in list_versions(s3_client, bucket, PREFIX)}
    assert set(listed) == {a.version, b.version}
    assert listed[a.version].live_for == ("current.json", "sklearn-1.7.2")
    assert listed[b.version].live_for == ("sklearn-1.9.1",)
    assert listed[a.version].is_current and not listed[b.version].is_current


def test_registry_commands(s3_client, bucket, s3_endpoint, capsys) -> None:
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint]
    old = _todays_registry(s3_client, bucket)
    assert main(["registry", "migrate", *registry]) == EXIT_OK
    assert f"wrote {live_key(PREFIX, OLD)}" in capsys.readouterr().err
    assert main(["registry", "migrate", *registry]) == EXIT_OK
    assert "needs no migration" in capsys.readouterr().err

    new = _publish(s3_client, bucket, NEW, "b", 1)
    assert main(["registry", "status", "--json", *registry]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    assert status["current.json"]["version"] == old.version
    assert status["live/sklearn-1.7.2.json"]["version"] == old.version
    assert status["live/sklearn-1.9.1.json"]["version"] == new.version

    assert main(["rollback", old.version, *registry]) == EXIT_OK
    assert "current.json now points at it" in capsys.readouterr().err
    assert main(["rollback", new.version, *registry]) == EXIT_OK
    said = capsys.readouterr().err
    assert "live for scikit-learn 1.9.1" in said and "registry promote 1.9.1" in said

    assert main(["registry", "promote", "1.8.0", *registry]) == EXIT_ERROR
    assert main(["registry", "promote", NEW, *registry]) == EXIT_OK
    assert _read(s3_client, bucket, current_key(PREFIX)) == new
    assert main(["registry", "status", *registry]) == EXIT_OK
    table = capsys.readouterr().out
    assert f"current.json                 {new.version}" in table
    assert main(["versions", *registry]) == EXIT_OK
    assert "current.json, sklearn-1.9.1" in capsys.readouterr().out
