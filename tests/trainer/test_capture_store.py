"""trainer.capture_store against moto over HTTP: loading labelled records, labels and discards
(idempotent, a change of mind, a move killed half-way and finished by the next command),
erasing every version, and the store's refusal of anything that is not a record where it lies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from chalicelib.capture_format import CaptureRecord, parse_record, record_key

from tests.support import Killed, KilledBeforeDelete, capture_record, store_keys
from trainer import decided_store
from trainer.capture_store import (
    CAPTURE_STORE,
    MalformedRecordError,
    RecordNotFoundError,
    decide_record,
    load_labelled,
    record_versions,
    resolve_record,
)

PREFIX = "capture/"
NOW = datetime(2026, 12, 8, 12, 0, 0, 123456, tzinfo=UTC)


def make_record(n: int, stratum: str = "random") -> CaptureRecord:
    return capture_record(n, stratum, stored=0.3, rate=0.01)


def labelled(record: CaptureRecord, label: str, at: str = "2026-12-07T09:00:00.000000Z"):
    return record.labelled(label, by="arn:aws:iam::123456789012:user/ann", at=at)


def put(s3: Any, bucket: str, record: CaptureRecord, body: bytes | None = None) -> str:
    key = record_key(PREFIX, record.state, record.id)
    s3.put_object(Bucket=bucket, Key=key, Body=record.to_json() if body is None else body)
    return key


def stored(s3: Any, bucket: str, state: str, record_id: str) -> CaptureRecord:
    body = s3.get_object(Bucket=bucket, Key=record_key(PREFIX, state, record_id))["Body"]
    return parse_record(body.read())


def keys(s3: Any, bucket: str) -> list[str]:
    return store_keys(s3, bucket, PREFIX)


def test_load_labelled_returns_every_labelled_record_and_only_those(s3_client, bucket) -> None:
    a, b, c, d = (make_record(i) for i in range(1, 5))
    put(s3_client, bucket, labelled(b, "ham"))
    put(s3_client, bucket, labelled(a, "spam"))
    put(s3_client, bucket, c.discarded(by="ann", at="2026-12-07T09:00:00Z"))
    put(s3_client, bucket, d)
    s3_client.put_object(Bucket=bucket, Key="feedback/pending/x.json", Body=b"{}")

    loaded = load_labelled(s3_client, bucket, PREFIX)

    assert [(r.id, r.label) for r in loaded] == [(a.id, "spam"), (b.id, "ham")]
    assert loaded[0] == labelled(a, "spam")


@pytest.mark.parametrize(
    ("body_of", "message"),
    [
        (lambda r: r.to_json(), "its decision says pending"),
        (lambda r: r.discarded(by="a", at="2026-12-07T09:00:00Z").to_json(), "says discarded"),
        (lambda r: labelled(make_record(5), "ham").to_json(), make_record(5).id),
        (lambda r: b"not json", "not valid JSON"),
        (lambda r: labelled(r, "ham", at="yesterday").to_json(), "not a time"),
    ],
)
def test_a_record_that_does_not_match_where_it_lies_is_malformed(
    s3_client, bucket, body_of, message
) -> None:
    record = make_record(1)
    key = record_key(PREFIX, "labelled", record.id)
    s3_client.put_object(Bucket=bucket, Key=key, Body=body_of(record))
    with pytest.raises(MalformedRecordError, match=message) as exc:
        load_labelled(s3_client, bucket, PREFIX)
    assert key in str(exc.value)


def test_a_stray_object_under_a_state_folder_is_an_error_naming_it(s3_client, bucket) -> None:
    stray = f"{PREFIX}labelled/2026/12/09/{make_record(1).id}.json"  # the id says the 6th
    s3_client.put_object(Bucket=bucket, Key=stray, Body=b"{}")
    with pytest.raises(MalformedRecordError, match=re.escape(stray)):
        load_labelled(s3_client, bucket, PREFIX)


def test_labelling_writes_the_labelled_copy_and_deletes_the_pending_one(s3_client, bucket) -> None:
    record = make_record(1)
    put(s3_client, bucket, record)
    resolution = resolve_record(s3_client, bucket, PREFIX, record.id)

    decided = decide_record(s3_client, bucket, PREFIX, resolution, "spam", by="ann", now=NOW)

    assert decided == record.labelled("spam", by="ann", at="2026-12-08T12:00:00.123456Z")
    assert keys(s3_client, bucket) == [record_key(PREFIX, "labelled", record.id)]
    assert stored(s3_client, bucket, "labelled", record.id) == decided


def test_labelling_again_alike_is_a_no_op_and_a_new_label_rewrites_in_place(
    s3_client, bucket
) -> None:
    record = labelled(make_record(1), "spam", at="2026-12-08T13:00:00Z")  # a clock ahead
    key = put(s3_client, bucket, record)
    etag = s3_client.head_object(Bucket=bucket, Key=key)["ETag"]
    same = resolve_record(s3_client, bucket, PREFIX, record.id)
    assert decide_record(s3_client, bucket, PREFIX, same, "spam", by="bob", now=NOW) is None
    assert s3_client.head_object(Bucket=bucket, Key=key)["ETag"] == etag

    changed = decide_record(s3_client, bucket, PREFIX, same, "ham", by="bob", now=NOW)

    assert changed is not None and changed.labelling.at == "2026-12-08T13:00:00.000001Z"
    assert keys(s3_client, bucket) == [key]
    assert stored(s3_client, bucket, "labelled", record.id).label == "ham"


def test_a_label_killed_before_its_delete_reads_as_labelled_and_is_tidied(
    s3_client, bucket
) -> None:
    record = make_record(1)
    pending = put(s3_client, bucket, record)
    resolution = resolve_record(s3_client, bucket, PREFIX, record.id)
    with pytest.raises(Killed):
        decide_record(
            KilledBeforeDelete(s3_client), bucket, PREFIX, resolution, "ham", by="ann", now=NOW
        )

    labelled_key = record_key(PREFIX, "labelled", record.id)
    assert keys(s3_client, bucket) == [labelled_key, pending]
    again = resolve_record(s3_client, bucket, PREFIX, record.id)
    assert (again.state, again.key, again.leftovers) == ("labelled", labelled_key, (pending,))
    assert [r.id for r in load_labelled(s3_client, bucket, PREFIX)] == [record.id]
    # the rerun: the same label again is a no-op, and the leftover goes
    assert decide_record(s3_client, bucket, PREFIX, again, "ham", by="ann", now=NOW) is None
    assert decided_store.remove_leftovers(s3_client, bucket, again, CAPTURE_STORE) == (pending,)
    assert keys(s3_client, bucket) == [labelled_key]


def test_a_discard_killed_before_its_delete_reads_as_the_later_decision(s3_client, bucket) -> None:
    record = labelled(make_record(1), "spam", at="2026-12-08T11:00:00Z")
    put(s3_client, bucket, record)
    resolution = resolve_record(s3_client, bucket, PREFIX, record.id)
    with pytest.raises(Killed):
        decide_record(
            KilledBeforeDelete(s3_client), bucket, PREFIX, resolution, None, by="bob", now=NOW
        )

    again = resolve_record(s3_client, bucket, PREFIX, record.id)

    assert again.state == "discarded" and again.item.labelling.by == "bob"
    assert load_labelled(s3_client, bucket, PREFIX) == []  # never trained on, never measured


def test_on_a_tie_the_discarded_copy_stands(s3_client, bucket) -> None:
    at = "2026-12-08T11:00:00.000000Z"
    record = make_record(1)
    put(s3_client, bucket, labelled(record, "spam", at=at))
    put(s3_client, bucket, record.discarded(by="bob", at=at))
    assert resolve_record(s3_client, bucket, PREFIX, record.id).state == "discarded"


def test_an_unknown_id_says_so(s3_client, bucket) -> None:
    unknown = make_record(1).id
    with pytest.raises(RecordNotFoundError, match=f"no record {unknown}"):
        resolve_record(s3_client, bucket, PREFIX, unknown)


def test_every_version_of_a_record_is_found_in_every_state(s3_client, bucket) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    record, other = make_record(1), make_record(2)
    put(s3_client, bucket, record)
    put(s3_client, bucket, other)
    resolution = resolve_record(s3_client, bucket, PREFIX, record.id)
    decide_record(s3_client, bucket, PREFIX, resolution, "spam", by="ann", now=NOW)
    relabel = resolve_record(s3_client, bucket, PREFIX, record.id)
    decide_record(s3_client, bucket, PREFIX, relabel, "ham", by="ann", now=NOW)

    versions = record_versions(s3_client, bucket, PREFIX, record.id)

    # pending: one version and the move's delete marker; labelled: two versions (a relabel)
    assert sorted((v.key.split("/")[1], v.is_delete_marker) for v in versions) == [
        ("labelled", False),
        ("labelled", False),
        ("pending", False),
        ("pending", True),
    ]
    assert decided_store.erase_versions(s3_client, bucket, versions, CAPTURE_STORE) == 4
    assert record_versions(s3_client, bucket, PREFIX, record.id) == []
    left = s3_client.list_object_versions(Bucket=bucket, Prefix=PREFIX)
    assert {item["Key"] for item in left.get("Versions", [])} == {
        record_key(PREFIX, "pending", other.id)
    }
