"""chalicelib.feedback_format: the report document (round trip, every validation error),
its keys in each state, and the id format that keeps keys from being injected."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from chalicelib.feedback_format import (
    SCHEMA_VERSION,
    FeedbackFormatError,
    Report,
    Verdict,
    decision_time_text,
    new_report,
    new_report_id,
    parse_report,
    parse_report_key,
    parse_time,
    report_key,
    state_prefix,
    utc_now_text,
    validate_report_id,
)

RID = "20261126T101500Z-0123456789abcdef"
VERDICT = Verdict(
    model_version="20261125T120000Z-1a2b3c", classification="HAM", spam_probability=0.25
)


#: Every field a stored report has, decided or not.
STORED_FIELDS = {
    "schema_version",
    "id",
    "text",
    "label",
    "received_at",
    "verdict",
    "corrected_version",
    "corrected_request_id",
    "decision",
}


def full_report() -> Report:
    return new_report(
        "WIN a £900 prize — reply « YES » 🎉",
        "spam",
        report_id=RID,
        received_at="2026-11-26T10:15:00Z",
        verdict=VERDICT,
        corrected_version=VERDICT.model_version,
        corrected_request_id="3f2a-request-1",
    )


def stored_dict(report: Report) -> dict:
    return json.loads(report.to_json())


def test_a_report_round_trips_through_its_json_with_and_without_a_decision() -> None:
    report = full_report()
    assert parse_report(report.to_json()) == report
    decided = report.decided("accepted", by="arn:aws:iam::1:user/ann", at="2026-11-27T09:00:00.5Z")
    assert parse_report(decided.to_json()) == decided
    bare = new_report("hi", "ham", report_id=RID, received_at="2026-11-26T10:15:00Z")
    assert parse_report(bare.to_json()) == bare


def test_the_json_is_one_utf8_line_with_every_field() -> None:
    data = full_report().to_json()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert "«".encode() in data  # not \\u-escaped
    assert set(json.loads(data)) == STORED_FIELDS


def test_state_and_disagreement_follow_from_the_fields() -> None:
    report = full_report()
    assert report.state == "pending" and report.disagreed  # spam reported, HAM said
    assert report.decided("rejected", by="ann", at="2026-11-27T09:00:00Z").state == "rejected"
    agreed = replace(report, verdict=replace(VERDICT, classification="SPAM"))
    assert not agreed.disagreed
    assert not replace(report, verdict=None).disagreed


def test_a_decision_is_accepted_or_rejected() -> None:
    with pytest.raises(FeedbackFormatError, match="accepted or rejected, got 'pending'"):
        full_report().decided("pending", by="ann", at="2026-11-27T09:00:00Z")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "not-an-id"}, "not a report id"),
        ({"text": "   \n"}, "text must be a non-blank string"),
        ({"text": 42}, "text must be a non-blank string"),
        ({"label": "SPAM"}, "label must be spam or ham"),
        ({"label": None}, "label must be spam or ham"),
        ({"received_at": ""}, "received_at must be a time"),
        ({"received_at": 1764152100}, "received_at must be a time"),
        ({"verdict": {**vars(VERDICT), "classification": "spam"}}, "verdict is malformed"),
        ({"verdict": {**vars(VERDICT), "spam_probability": 1.5}}, "verdict is malformed"),
        ({"verdict": {**vars(VERDICT), "spam_probability": -0.1}}, "verdict is malformed"),
        ({"verdict": {**vars(VERDICT), "spam_probability": "0.5"}}, "verdict is malformed"),
        ({"verdict": {**vars(VERDICT), "spam_probability": True}}, "verdict is malformed"),
        ({"verdict": {**vars(VERDICT), "model_version": 3}}, "verdict is malformed"),
        ({"corrected_version": "v" * 129}, "corrected_version must be a string of at most 128"),
        ({"corrected_request_id": 7}, "corrected_request_id must be a string of at most 128"),
        ({"decision": {"state": "pending", "by": "a", "at": "2026-11-27T09:00:00Z"}}, "decision"),
        ({"decision": {"state": "accepted", "by": "", "at": "2026-11-27T09:00:00Z"}}, "decision"),
        ({"decision": {"state": "accepted", "by": "a", "at": "yesterday"}}, "not a time"),
        ({"decision": {"state": "accepted", "by": "a", "at": "2026-11-27T09:00:00"}}, "zone"),
        ({"schema_version": 2}, f"JSON object of schema {SCHEMA_VERSION}"),
        ({"verdict": {**vars(VERDICT), "extra": 1}}, "lacks or misnames a field"),
        ({"decision": {"state": "accepted"}}, "lacks or misnames a field"),
    ],
)
def test_every_malformed_field_is_refused_with_its_reason(change: dict, message: str) -> None:
    data = json.dumps({**stored_dict(full_report()), **change}).encode()
    with pytest.raises(FeedbackFormatError, match=re.escape(message)):
        parse_report(data)


@pytest.mark.parametrize("field", ["id", "text", "label", "received_at"])
def test_a_missing_required_field_is_refused(field: str) -> None:
    obj = stored_dict(full_report())
    del obj[field]
    with pytest.raises(FeedbackFormatError, match="lacks or misnames a field"):
        parse_report(json.dumps(obj).encode())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b'{"spam_probability": NaN}', "not valid JSON"),
        (b"[1, 2]", "JSON object of schema"),
        (b'"a report"', "JSON object of schema"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_what_is_not_a_json_report_object_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(FeedbackFormatError, match=message):
        parse_report(data)


def test_whole_number_probabilities_from_json_become_floats() -> None:
    obj = stored_dict(full_report())
    for whole in (0, 1):
        obj["verdict"]["spam_probability"] = whole
        report = parse_report(json.dumps(obj).encode())
        assert report.verdict is not None and report.verdict.spam_probability == float(whole)
        assert type(report.verdict.spam_probability) is float


def test_new_report_validates_like_parse_report() -> None:
    with pytest.raises(FeedbackFormatError, match="label must be spam or ham"):
        new_report("hi", "eggs", report_id=RID, received_at="2026-11-26T10:15:00Z")
    with pytest.raises(FeedbackFormatError, match="not a report id"):
        new_report("hi", "ham", report_id="x", received_at="2026-11-26T10:15:00Z")


def test_new_ids_are_utc_time_sortable_unique_and_valid() -> None:
    paris = timezone(timedelta(hours=1))
    now = datetime(2026, 11, 26, 11, 15, 0, tzinfo=paris)
    ids = {new_report_id(now) for _ in range(200)}
    assert len(ids) == 200
    for report_id in ids:
        assert validate_report_id(report_id) == report_id
        assert report_id.startswith("20261126T101500Z-")
    assert new_report_id(now) < new_report_id(now + timedelta(seconds=1))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../etc/passwd",
        f"{RID}/../x",
        f"{RID}.json",
        f" {RID}",
        f"{RID}\n",
        RID.upper(),
        "20261126T101500Z-0123456789abcde",  # 15 hex digits
        "20261126T101500-0123456789abcdef",  # no Z
        "2026-11-26T101500Z-0123456789abcdef",
        None,
        42,
    ],
)
def test_anything_but_the_id_format_is_refused(bad: object) -> None:
    with pytest.raises(FeedbackFormatError, match="not a report id"):
        validate_report_id(bad)  # type: ignore[arg-type]
    if isinstance(bad, str):
        with pytest.raises(FeedbackFormatError):
            report_key("feedback/", "pending", bad)


def test_a_reports_key_in_each_state_follows_from_its_id() -> None:
    for state in ("pending", "accepted", "rejected"):
        key = report_key("feedback/", state, RID)
        assert key == f"feedback/{state}/2026/11/26/{RID}.json"
        assert key.startswith(state_prefix("feedback/", state))
        assert parse_report_key("feedback/", key) == (state, RID)
    assert report_key("a/b/", "accepted", RID) == f"a/b/accepted/2026/11/26/{RID}.json"


@pytest.mark.parametrize(
    "key",
    [
        f"models/pending/2026/11/26/{RID}.json",  # another prefix
        f"feedback/deleted/2026/11/26/{RID}.json",  # not a state
        f"feedback/pending/2026/11/{RID}.json",  # a date folder short
        f"feedback/pending/2026/11/26/{RID}",  # no .json
        f"feedback/pending/2026/11/26/x/{RID}.json",
        "feedback/pending/2026/11/26/notes.json",
        "feedback/",
    ],
)
def test_other_keys_are_not_report_keys(key: str) -> None:
    with pytest.raises(FeedbackFormatError, match="not a report key"):
        parse_report_key("feedback/", key)


def test_a_state_must_be_one_of_three() -> None:
    with pytest.raises(FeedbackFormatError, match="pending, accepted, rejected, got 'deleted'"):
        state_prefix("feedback/", "deleted")
    with pytest.raises(FeedbackFormatError):
        report_key("feedback/", "../models", RID)


def test_times_are_written_in_utc_and_read_back_with_their_zone() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 26, 11, 15, 0, 42, tzinfo=paris)
    assert utc_now_text(moment) == "2026-11-26T10:15:00Z"
    assert decision_time_text(moment) == "2026-11-26T10:15:00.000042Z"
    assert parse_time(decision_time_text(moment)) == moment
    assert parse_time("2026-11-26T11:15:00+01:00") == parse_time("2026-11-26T10:15:00Z")
    assert parse_time("2026-11-26T10:15:00Z").tzinfo == UTC
    for bad in ("2026-11-26T10:15:00", "yesterday", "", None):
        with pytest.raises(FeedbackFormatError, match="not a time with a zone"):
            parse_time(bad)  # type: ignore[arg-type]


def test_a_key_with_a_trailing_newline_is_not_a_report_key() -> None:
    # Python's $ also matches before a final newline: ids and keys are matched in full
    key = report_key("feedback/", "pending", RID)
    with pytest.raises(FeedbackFormatError, match="not a report key"):
        parse_report_key("feedback/", key + "\n")
