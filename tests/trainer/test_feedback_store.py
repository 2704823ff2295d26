"""trainer.feedback_store against moto over HTTP: loading accepted reports, the two-places
rule, moves (idempotent, a change of mind, killed half-way), erasing every version, and the
store's refusal of anything that is not a report where it lies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from chalicelib.feedback_format import (
    Decision,
    Report,
    Verdict,
    new_report,
    parse_report,
    report_key,
)

from tests.support import Killed, KilledBeforeDelete, store_keys
from trainer.feedback_store import (
    MalformedReportError,
    ReportNotFoundError,
    decide,
    erase_versions,
    load_accepted,
    remove_leftovers,
    report_versions,
    resolve,
    standing_state,
)

PREFIX = "feedback/"
IDS = [f"2026112{day}T101500Z-{day:016x}" for day in range(1, 6)]


def make_report(report_id: str, label: str = "spam", text: str | None = None) -> Report:
    return new_report(
        text or f"WIN a prize, reply now ({report_id})",
        label,
        report_id=report_id,
        received_at="2026-11-26T10:15:00Z",
        verdict=Verdict(model_version="v1", classification="HAM", spam_probability=0.2),
    )


def put(s3: Any, bucket: str, state: str, report: Report, body: bytes | None = None) -> str:
    key = report_key(PREFIX, state, report.id)
    s3.put_object(Bucket=bucket, Key=key, Body=report.to_json() if body is None else body)
    return key


def decided(report: Report, state: str, at: str = "2026-11-27T09:00:00.000000Z") -> Report:
    return report.decided(state, by="arn:aws:iam::123456789012:user/ann", at=at)


def test_load_accepted_returns_every_accepted_report_parsed_and_only_those(
    s3_client, bucket
) -> None:
    a, b, c, d = (make_report(i) for i in IDS[:4])
    put(s3_client, bucket, "accepted", decided(b, "accepted"))
    put(s3_client, bucket, "accepted", decided(a, "accepted"))
    put(s3_client, bucket, "rejected", decided(c, "rejected"))
    put(s3_client, bucket, "pending", d)
    s3_client.put_object(Bucket=bucket, Key="models/current.json", Body=b"{}")

    loaded = load_accepted(s3_client, bucket, PREFIX)

    assert [r.id for r in loaded] == [a.id, b.id]
    assert loaded[0] == decided(a, "accepted")
    assert all(r.decision is not None and r.decision.state == "accepted" for r in loaded)


def test_load_accepted_of_an_empty_store_is_empty(s3_client, bucket) -> None:
    assert load_accepted(s3_client, bucket, PREFIX) == []


def test_load_accepted_names_a_malformed_object_instead_of_skipping_it(s3_client, bucket) -> None:
    good, bad = make_report(IDS[0]), make_report(IDS[1])
    put(s3_client, bucket, "accepted", decided(good, "accepted"))
    key = put(s3_client, bucket, "accepted", bad, body=b'{"schema_version": 1, "id": 3}')
    with pytest.raises(MalformedReportError, match=re.escape(key)):
        load_accepted(s3_client, bucket, PREFIX)


@pytest.mark.parametrize(
    ("where", "body_of", "message"),
    [
        ("accepted", lambda r: r.to_json(), "its decision says pending"),
        ("accepted", lambda r: decided(r, "rejected").to_json(), "its decision says rejected"),
        ("accepted", lambda r: decided(make_report(IDS[4]), "accepted").to_json(), IDS[4]),
        ("accepted", lambda r: b"not json", "not valid JSON"),
    ],
)
def test_a_report_that_does_not_match_where_it_lies_is_malformed(
    s3_client, bucket, where, body_of, message
) -> None:
    report = make_report(IDS[0])
    key = put(s3_client, bucket, where, report, body=body_of(report))
    with pytest.raises(MalformedReportError, match=message) as exc:
        load_accepted(s3_client, bucket, PREFIX)
    assert key in str(exc.value)


def test_a_stray_object_under_a_state_folder_is_an_error_naming_it(s3_client, bucket) -> None:
    stray = f"{PREFIX}accepted/2026/11/27/{IDS[0]}.json"  # the id says the 21st
    s3_client.put_object(Bucket=bucket, Key=stray, Body=b"{}")
    with pytest.raises(MalformedReportError, match=re.escape(stray)):
        load_accepted(s3_client, bucket, PREFIX)
    s3_client.delete_object(Bucket=bucket, Key=stray)
    s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}accepted/notes.txt", Body=b"hi")
    with pytest.raises(MalformedReportError, match=re.escape("accepted/notes.txt")):
        load_accepted(s3_client, bucket, PREFIX)


def test_load_accepted_leaves_out_a_report_rejected_after_it_was_accepted(
    s3_client, bucket
) -> None:
    first, second = make_report(IDS[0]), make_report(IDS[1])
    # first: accepted, then rejected later (the accepted copy not yet removed)
    put(s3_client, bucket, "accepted", decided(first, "accepted", "2026-11-27T09:00:00Z"))
    put(s3_client, bucket, "rejected", decided(first, "rejected", "2026-11-27T09:00:01Z"))
    # second: rejected, then accepted later; plus the pending leftover of the first move
    put(s3_client, bucket, "rejected", decided(second, "rejected", "2026-11-27T09:00:00Z"))
    put(s3_client, bucket, "accepted", decided(second, "accepted", "2026-11-27T09:30:00Z"))
    put(s3_client, bucket, "pending", second)

    loaded = load_accepted(s3_client, bucket, PREFIX)

    assert [(r.id, r.decision.at) for r in loaded] == [(second.id, "2026-11-27T09:30:00Z")]
    # read only: every copy is still there
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=PREFIX)["KeyCount"]
    assert listed == 5


def test_the_rule_a_decision_beats_pending_and_the_later_decision_stands() -> None:
    def at(state: str, when: str) -> Decision:
        return Decision(state, by="ann", at=when)

    assert standing_state({}) == "pending"
    assert standing_state({"accepted": at("accepted", "2026-11-27T09:00:00Z")}) == "accepted"
    later_accept = {
        "accepted": at("accepted", "2026-11-27T09:00:00.000002Z"),
        "rejected": at("rejected", "2026-11-27T09:00:00.000001Z"),
    }
    assert standing_state(later_accept) == "accepted"
    tie = {
        "accepted": at("accepted", "2026-11-27T10:00:00+01:00"),
        "rejected": at("rejected", "2026-11-27T09:00:00Z"),
    }
    assert standing_state(tie) == "rejected"


def test_resolve_reads_the_standing_copy_and_names_the_leftovers(s3_client, bucket) -> None:
    report = make_report(IDS[0])
    pending = put(s3_client, bucket, "pending", report)
    accepted = put(s3_client, bucket, "accepted", decided(report, "accepted"))

    resolution = resolve(s3_client, bucket, PREFIX, report.id)

    assert resolution.state == "accepted" and resolution.key == accepted
    assert resolution.item == decided(report, "accepted")
    assert resolution.leftovers == (pending,)


def test_resolve_of_an_unknown_id_says_so(s3_client, bucket) -> None:
    with pytest.raises(ReportNotFoundError, match=f"no report {IDS[0]}"):
        resolve(s3_client, bucket, PREFIX, IDS[0])


NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def stored(s3: Any, bucket: str, state: str, report_id: str) -> Report:
    body = s3.get_object(Bucket=bucket, Key=report_key(PREFIX, state, report_id))["Body"]
    return parse_report(body.read())


def keys(s3: Any, bucket: str) -> list[str]:
    return store_keys(s3, bucket, PREFIX)


def test_decide_writes_the_decided_copy_and_deletes_the_source(s3_client, bucket) -> None:
    report = make_report(IDS[0])
    put(s3_client, bucket, "pending", report)
    resolution = resolve(s3_client, bucket, PREFIX, report.id)

    moved = decide(s3_client, bucket, PREFIX, resolution, "accepted", by="ann", now=NOW)

    assert moved == report.decided("accepted", by="ann", at="2026-11-28T12:00:00.123456Z")
    assert keys(s3_client, bucket) == [report_key(PREFIX, "accepted", report.id)]
    assert stored(s3_client, bucket, "accepted", report.id) == moved


def test_deciding_again_is_a_no_op_that_writes_nothing(s3_client, bucket) -> None:
    report = decided(make_report(IDS[0]), "accepted")
    key = put(s3_client, bucket, "accepted", report)
    etag = s3_client.head_object(Bucket=bucket, Key=key)["ETag"]
    resolution = resolve(s3_client, bucket, PREFIX, report.id)

    assert decide(s3_client, bucket, PREFIX, resolution, "accepted", by="bob", now=NOW) is None
    assert s3_client.head_object(Bucket=bucket, Key=key)["ETag"] == etag
    assert stored(s3_client, bucket, "accepted", report.id).decision.by == report.decision.by


def test_a_change_of_mind_is_dated_after_the_decision_it_overrides(s3_client, bucket) -> None:
    # accepted "in the future" by a reviewer whose clock runs ahead of this one
    report = decided(make_report(IDS[0]), "accepted", at="2026-11-28T13:00:00Z")
    put(s3_client, bucket, "accepted", report)
    resolution = resolve(s3_client, bucket, PREFIX, report.id)

    moved = decide(s3_client, bucket, PREFIX, resolution, "rejected", by="bob", now=NOW)

    assert moved is not None and moved.decision == Decision(
        "rejected", by="bob", at="2026-11-28T13:00:00.000001Z"
    )
    assert keys(s3_client, bucket) == [report_key(PREFIX, "rejected", report.id)]


def test_an_accept_killed_before_its_delete_leaves_two_copies_that_read_as_accepted(
    s3_client, bucket
) -> None:
    report = make_report(IDS[0])
    pending = put(s3_client, bucket, "pending", report)
    resolution = resolve(s3_client, bucket, PREFIX, report.id)

    with pytest.raises(Killed):
        decide(
            KilledBeforeDelete(s3_client), bucket, PREFIX, resolution, "accepted", by="ann", now=NOW
        )

    accepted = report_key(PREFIX, "accepted", report.id)
    assert keys(s3_client, bucket) == [accepted, pending]
    again = resolve(s3_client, bucket, PREFIX, report.id)
    assert (again.state, again.key, again.leftovers) == ("accepted", accepted, (pending,))
    assert [r.id for r in load_accepted(s3_client, bucket, PREFIX)] == [report.id]
    assert remove_leftovers(s3_client, bucket, again) == (pending,)
    assert keys(s3_client, bucket) == [accepted]


def test_a_change_of_mind_killed_before_its_delete_reads_as_the_new_decision(
    s3_client, bucket
) -> None:
    report = decided(make_report(IDS[0]), "accepted", at="2026-11-28T11:00:00Z")
    put(s3_client, bucket, "accepted", report)
    resolution = resolve(s3_client, bucket, PREFIX, report.id)
    with pytest.raises(Killed):
        decide(
            KilledBeforeDelete(s3_client), bucket, PREFIX, resolution, "rejected", by="bob", now=NOW
        )

    again = resolve(s3_client, bucket, PREFIX, report.id)

    assert again.state == "rejected" and again.item.decision.by == "bob"
    assert load_accepted(s3_client, bucket, PREFIX) == []


def test_erasing_a_report_deletes_every_version_and_marker_in_every_state(
    s3_client, bucket
) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    report, other = make_report(IDS[0]), make_report(IDS[1])
    put(s3_client, bucket, "pending", report)
    put(s3_client, bucket, "pending", report)  # a second version of the same key
    put(s3_client, bucket, "pending", other)
    longer = report_key(PREFIX, "pending", report.id) + ".bak"  # shares the key as a prefix
    s3_client.put_object(Bucket=bucket, Key=longer, Body=b"not a report")
    moved = decide(
        s3_client,
        bucket,
        PREFIX,
        resolve(s3_client, bucket, PREFIX, report.id),
        "accepted",
        by="ann",
        now=NOW,
    )
    assert moved is not None

    versions = report_versions(s3_client, bucket, PREFIX, report.id)

    # pending: two versions and the move's delete marker; accepted: one version
    assert sorted((v.key.split("/")[1], v.is_delete_marker) for v in versions) == [
        ("accepted", False),
        ("pending", False),
        ("pending", False),
        ("pending", True),
    ]
    assert erase_versions(s3_client, bucket, versions) == 4
    assert report_versions(s3_client, bucket, PREFIX, report.id) == []
    left = s3_client.list_object_versions(Bucket=bucket, Prefix=PREFIX)
    assert {item["Key"] for item in left.get("Versions", [])} == {
        report_key(PREFIX, "pending", other.id),
        longer,
    }
    assert "DeleteMarkers" not in left
