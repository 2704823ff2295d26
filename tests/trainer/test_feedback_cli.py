"""``python -m trainer feedback ...`` through ``trainer.cli.main``, against moto over HTTP:
what each action prints and stores, its exit codes, and how it treats two copies."""

from __future__ import annotations

import getpass
import json
import re
from typing import Any

import pytest
from chalicelib.feedback_format import Report, Verdict, new_report, parse_report, report_key

from tests.support import store_states
from trainer.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main

PREFIX = "feedback/"
MOTO_ARN = "arn:aws:sts::123456789012:user/moto"
SPAM_MISSED = "20261121T090000Z-00000000000000a1"  # spam, the model said HAM
SPAM_CAUGHT = "20261122T090000Z-00000000000000b2"  # spam, the model said SPAM
HAM_BLOCKED = "20261123T090000Z-00000000000000c3"  # ham, the model said SPAM
HAM_OK = "20261124T090000Z-00000000000000d4"  # ham, the model said HAM
UNKNOWN = "20261125T090000Z-00000000000000e5"
LONG_TEXT = "Dear customer, " + "your parcel is waiting at the depot; " * 6 + "reply STOP"


pytestmark = pytest.mark.usefixtures("trainer_env")


def report(report_id: str, label: str, said: str | None, text: str | None = None) -> Report:
    verdict = (
        Verdict(
            model_version="v1", classification=said, spam_probability=0.9 if said == "SPAM" else 0.1
        )
        if said
        else None
    )
    return new_report(
        text or f"message {report_id[-2:]} {label}",
        label,
        report_id=report_id,
        received_at=f"{report_id[:4]}-{report_id[4:6]}-{report_id[6:8]}T09:00:00Z",
        verdict=verdict,
    )


def put(s3: Any, bucket: str, state: str, item: Report, body: bytes | None = None) -> str:
    key = report_key(PREFIX, state, item.id)
    s3.put_object(Bucket=bucket, Key=key, Body=item.to_json() if body is None else body)
    return key


def stored(s3: Any, bucket: str, state: str, report_id: str) -> Report:
    body = s3.get_object(Bucket=bucket, Key=report_key(PREFIX, state, report_id))["Body"]
    return parse_report(body.read())


def where(s3: Any, bucket: str) -> dict[str, list[str]]:
    """``{report id: [states]}`` of every report object in the bucket."""
    return store_states(s3, bucket, PREFIX)


@pytest.fixture
def store(s3_client, bucket) -> dict[str, Report]:
    """Four pending reports and one accepted one (a long ham text)."""
    items = {
        SPAM_MISSED: report(SPAM_MISSED, "spam", "HAM"),
        SPAM_CAUGHT: report(SPAM_CAUGHT, "spam", "SPAM"),
        HAM_BLOCKED: report(HAM_BLOCKED, "ham", "SPAM"),
        HAM_OK: report(HAM_OK, "ham", None, text=LONG_TEXT),
    }
    for item in list(items.values())[:3]:
        put(s3_client, bucket, "pending", item)
    items[HAM_OK] = items[HAM_OK].decided(
        "accepted", by="arn:aws:iam::1:user/ann", at="2026-11-25T10:00:00Z"
    )
    put(s3_client, bucket, "accepted", items[HAM_OK])
    return items


def run(s3_endpoint: str, bucket: str, *argv: str) -> int:
    return main(["feedback", *argv, "--bucket", bucket, "--endpoint-url", s3_endpoint])


def one_error(err: str) -> str:
    """The single ``error: ...`` line of a failed run."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_list_shows_pending_reports_with_counts(s3_endpoint, bucket, store, capsys) -> None:
    assert run(s3_endpoint, bucket, "list") == EXIT_OK
    out = capsys.readouterr().out
    assert "3 pending report(s): 2 spam, 1 ham; the model disagreed with 2" in out
    rows = [line for line in out.splitlines() if re.match(r"^\d{8}T", line)]
    assert [row.split()[0] for row in rows] == [SPAM_MISSED, SPAM_CAUGHT, HAM_BLOCKED]
    assert rows[0].split()[1:6] == ["2026-11-21", "09:00", "spam", "HAM", "0.10"]
    assert rows[0].split()[6] == "!" and "!" not in rows[1].split()
    assert rows[0].endswith("message a1 spam")


def test_list_filters_by_label_and_disagreement(s3_endpoint, bucket, store, capsys) -> None:
    def listed(*argv: str) -> list[str]:
        assert run(s3_endpoint, bucket, "list", *argv) == EXIT_OK
        out = capsys.readouterr().out
        return [line.split()[0] for line in out.splitlines() if re.match(r"^\d{8}T", line)]

    assert listed("--disagreed") == [SPAM_MISSED, HAM_BLOCKED]
    assert listed("--label", "spam") == [SPAM_MISSED, SPAM_CAUGHT]
    assert listed("--label", "ham", "--disagreed") == [HAM_BLOCKED]
    assert listed("--state", "accepted") == [HAM_OK]
    assert listed("--state", "rejected") == []


def test_list_json_has_every_field_and_the_counts(s3_endpoint, bucket, store, capsys) -> None:
    assert run(s3_endpoint, bucket, "list", "--json", "--label", "spam") == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"total": 3, "spam": 2, "ham": 1, "disagreed": 2}
    assert out["shown"] == 2 and out["state"] == "pending"
    first = out["reports"][0]
    assert first["id"] == SPAM_MISSED and first["disagreed"] is True
    assert first["verdict"] == {
        "model_version": "v1",
        "classification": "HAM",
        "spam_probability": 0.1,
    }
    assert first["key"] == report_key(PREFIX, "pending", SPAM_MISSED)


def test_list_of_accepted_reports_shows_the_decision(s3_endpoint, bucket, store, capsys) -> None:
    assert run(s3_endpoint, bucket, "list", "--state", "accepted") == EXIT_OK
    out = capsys.readouterr().out
    assert "1 accepted report(s): 0 spam, 1 ham; the model disagreed with 0" in out
    row = next(line for line in out.splitlines() if line.startswith(HAM_OK))
    assert "2026-11-25 10:00 (ann)" in row
    assert "Dear customer" in row and row.endswith("…") and LONG_TEXT not in row


def test_untrusted_text_cannot_drive_the_terminal(s3_endpoint, bucket, s3_client, capsys) -> None:
    nasty = report(UNKNOWN, "spam", "HAM", text="hi \x1b[2J\x1b]0;owned\x07 there \u202eevil")
    put(s3_client, bucket, "pending", nasty)
    assert run(s3_endpoint, bucket, "list") == EXIT_OK
    assert run(s3_endpoint, bucket, "show", UNKNOWN) == EXIT_OK
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "hi \\u001b[2J\\u001b]0;owned\\u0007 there \\u202eev…\n" in out  # cut short
    assert "text:\nhi \\u001b[2J\\u001b]0;owned\\u0007 there \\u202eevil\n" in out
    assert run(s3_endpoint, bucket, "list", "--json") == EXIT_OK
    out = capsys.readouterr().out
    assert out.isascii() and json.loads(out)["reports"][0]["text"] == nasty.text


def test_show_prints_every_field_and_the_full_text(s3_endpoint, bucket, store, capsys) -> None:
    assert run(s3_endpoint, bucket, "show", HAM_OK) == EXIT_OK
    out = capsys.readouterr().out
    assert out.endswith(f"text:\n{LONG_TEXT}\n")
    assert "state:             accepted" in out
    assert f"key:               s3://{bucket}/{report_key(PREFIX, 'accepted', HAM_OK)}" in out
    assert "decision:          accepted by arn:aws:iam::1:user/ann at 2026-11-25T10:00:00Z" in out
    assert "model verdict:     -" in out

    assert run(s3_endpoint, bucket, "show", SPAM_MISSED, "--json") == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "pending" and shown["decision"] is None
    assert {k: shown[k] for k in ("id", "text", "label", "received_at")} == {
        "id": SPAM_MISSED,
        "text": store[SPAM_MISSED].text,
        "label": "spam",
        "received_at": "2026-11-21T09:00:00Z",
    }


def test_accept_moves_reports_and_records_who_by_sts(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    assert run(s3_endpoint, bucket, "accept", SPAM_MISSED, HAM_BLOCKED) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{SPAM_MISSED}: accepted", f"{HAM_BLOCKED}: accepted"]
    assert f"accept: 2 moved to accepted/, decided by {MOTO_ARN}" in captured.err
    assert where(s3_client, bucket) == {
        SPAM_MISSED: ["accepted"],
        SPAM_CAUGHT: ["pending"],
        HAM_BLOCKED: ["accepted"],
        HAM_OK: ["accepted"],
    }
    decision = stored(s3_client, bucket, "accepted", SPAM_MISSED).decision
    assert decision is not None and decision.by == MOTO_ARN and decision.state == "accepted"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", decision.at)


def test_accepting_again_is_a_no_op_that_says_so(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    key = report_key(PREFIX, "accepted", HAM_OK)
    etag = s3_client.head_object(Bucket=bucket, Key=key)["ETag"]
    assert run(s3_endpoint, bucket, "accept", HAM_OK, "--by", "bob") == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == (
        f"{HAM_OK}: already accepted (by arn:aws:iam::1:user/ann at 2026-11-25T10:00:00Z); "
        "nothing to do\n"
    )
    assert s3_client.head_object(Bucket=bucket, Key=key)["ETag"] == etag


def test_rejecting_an_accepted_report_is_a_recorded_change_of_mind(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    assert run(s3_endpoint, bucket, "reject", HAM_OK, "--by", "bob") == EXIT_OK
    assert capsys.readouterr().out == f"{HAM_OK}: rejected (was accepted: a change of mind)\n"
    assert where(s3_client, bucket)[HAM_OK] == ["rejected"]
    decision = stored(s3_client, bucket, "rejected", HAM_OK).decision
    assert decision is not None and (decision.state, decision.by) == ("rejected", "bob")
    assert decision.at > "2026-11-25T10:00:00Z"


def test_accept_all_takes_pending_reports_matching_the_filters(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    assert run(s3_endpoint, bucket, "reject", "--all", "--label", "spam", "--disagreed") == 0
    assert capsys.readouterr().out == f"{SPAM_MISSED}: rejected\n"
    assert run(s3_endpoint, bucket, "accept", "--all", "--by", "ann") == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f"{SPAM_CAUGHT}: accepted",
        f"{HAM_BLOCKED}: accepted",
    ]
    assert where(s3_client, bucket) == {
        SPAM_MISSED: ["rejected"],
        SPAM_CAUGHT: ["accepted"],
        HAM_BLOCKED: ["accepted"],
        HAM_OK: ["accepted"],
    }
    assert run(s3_endpoint, bucket, "accept", "--all") == EXIT_OK
    assert capsys.readouterr().out == "no pending reports: nothing to accept\n"


def test_sts_that_cannot_answer_falls_back_to_the_user_name_with_a_note(
    s3_endpoint, bucket, store, s3_client, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")  # nothing listens
    assert main(["feedback", "accept", SPAM_CAUGHT, "--bucket", bucket]) == EXIT_OK
    err = capsys.readouterr().err
    user = getpass.getuser()
    assert "note: STS could not say who you are" in err and repr(user) in err
    assert stored(s3_client, bucket, "accepted", SPAM_CAUGHT).decision.by == user


def test_an_interrupted_accept_is_completed_by_the_next_command(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    # what an accept killed between its write and its delete leaves: both copies
    decided = store[SPAM_MISSED].decided("accepted", by="ann", at="2026-11-26T08:00:00.000000Z")
    leftover = report_key(PREFIX, "pending", SPAM_MISSED)
    put(s3_client, bucket, "accepted", decided)

    assert run(s3_endpoint, bucket, "list") == EXIT_OK
    captured = capsys.readouterr()
    assert "2 pending report(s)" in captured.out and SPAM_MISSED not in captured.out
    assert (
        f"note: removed s3://{bucket}/{leftover}, a copy left by an interrupted move"
        in captured.err
    )
    assert where(s3_client, bucket)[SPAM_MISSED] == ["accepted"]

    put(s3_client, bucket, "pending", store[SPAM_MISSED])  # again, then re-run the accept
    assert run(s3_endpoint, bucket, "accept", SPAM_MISSED, "--by", "bob") == EXIT_OK
    captured = capsys.readouterr()
    assert f"{SPAM_MISSED}: already accepted (by ann" in captured.out
    assert "note: removed" in captured.err
    assert where(s3_client, bucket)[SPAM_MISSED] == ["accepted"]
    assert stored(s3_client, bucket, "accepted", SPAM_MISSED) == decided


def test_accepted_and_rejected_copies_the_later_decision_stands(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    later = store[HAM_OK].decided("rejected", by="bob", at="2026-11-25T10:00:00.5Z")
    put(s3_client, bucket, "rejected", later)
    assert run(s3_endpoint, bucket, "show", HAM_OK) == EXIT_OK
    captured = capsys.readouterr()
    assert "state:             rejected" in captured.out
    assert report_key(PREFIX, "accepted", HAM_OK) in captured.err
    assert where(s3_client, bucket)[HAM_OK] == ["rejected"]


def test_delete_erases_every_version_of_a_report(s3_endpoint, bucket, s3_client, capsys) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    gone, kept = report(SPAM_MISSED, "spam", "HAM"), report(SPAM_CAUGHT, "spam", "SPAM")
    put(s3_client, bucket, "pending", gone)
    put(s3_client, bucket, "pending", kept)
    assert run(s3_endpoint, bucket, "accept", SPAM_MISSED, "--by", "ann") == EXIT_OK
    assert run(s3_endpoint, bucket, "reject", SPAM_MISSED, "--by", "ann") == EXIT_OK
    capsys.readouterr()

    assert run(s3_endpoint, bucket, "delete", SPAM_MISSED) == EXIT_OK

    # pending: version + marker; accepted: version + marker; rejected: version
    assert (
        capsys.readouterr().out
        == f"{SPAM_MISSED}: deleted (5 object version(s), delete markers included)\n"
    )
    for state in ("pending", "accepted", "rejected"):
        listed = s3_client.list_object_versions(
            Bucket=bucket, Prefix=report_key(PREFIX, state, SPAM_MISSED)
        )
        assert "Versions" not in listed and "DeleteMarkers" not in listed
    assert where(s3_client, bucket) == {SPAM_CAUGHT: ["pending"]}
    assert run(s3_endpoint, bucket, "show", SPAM_MISSED) == EXIT_ERROR
    assert f"no report {SPAM_MISSED}" in one_error(capsys.readouterr().err)


def test_delete_with_an_unknown_id_deletes_nothing(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    assert run(s3_endpoint, bucket, "delete", SPAM_MISSED, UNKNOWN) == EXIT_ERROR
    assert f"no report {UNKNOWN} in any state (nothing was deleted)" in one_error(
        capsys.readouterr().err
    )
    assert where(s3_client, bucket)[SPAM_MISSED] == ["pending"]


@pytest.mark.parametrize("action", ["show", "accept", "reject"])
def test_an_unknown_id_is_an_error_that_says_so(
    s3_endpoint, bucket, store, s3_client, action, capsys
) -> None:
    argv = [action, UNKNOWN] if action == "show" else [action, SPAM_MISSED, UNKNOWN, "--by", "ann"]
    assert run(s3_endpoint, bucket, *argv) == EXIT_ERROR
    assert one_error(capsys.readouterr().err) == (
        f"error: no report {UNKNOWN} (not pending, accepted or rejected)"
    )
    assert where(s3_client, bucket)[SPAM_MISSED] == ["pending"]  # nothing moved


def test_a_malformed_stored_report_is_an_error_naming_its_key(
    s3_endpoint, bucket, store, s3_client, capsys
) -> None:
    key = put(
        s3_client, bucket, "pending", report(UNKNOWN, "spam", None), body=b'{"schema_version": 1}'
    )
    for argv in (["list"], ["show", UNKNOWN], ["accept", "--all", "--by", "ann"]):
        assert run(s3_endpoint, bucket, *argv) == EXIT_ERROR
        assert f"s3://{bucket}/{key} is not a valid report" in one_error(capsys.readouterr().err)
    assert where(s3_client, bucket)[SPAM_MISSED] == ["pending"]


@pytest.mark.parametrize(
    "argv",
    [
        ["feedback"],
        ["feedback", "list", "--state", "maybe"],
        ["feedback", "list", "--label", "eggs"],
        ["feedback", "show"],
        ["feedback", "show", "../../models/current"],
        ["feedback", "accept"],
        ["feedback", "accept", SPAM_MISSED, "--all"],
        ["feedback", "reject", SPAM_MISSED, "--disagreed"],
        ["feedback", "accept", f"{SPAM_MISSED}/../../x"],
        ["feedback", "accept", f"{SPAM_MISSED}\n"],
        ["feedback", "accept", SPAM_MISSED, "--by", " "],
        ["feedback", "delete"],
        ["feedback", "delete", "models/current.json"],
    ],
)
def test_usage_errors_exit_2_before_any_s3_call(argv, capsys) -> None:
    # no bucket and no endpoint: an S3 call would fail with exit 1, not 2
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_an_invalid_id_is_named(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["feedback", "show", "../x"])
    assert "not a report id: '../x'" in capsys.readouterr().err


def test_s3_errors_are_one_line_and_exit_1(s3_endpoint, capsys) -> None:
    assert run(s3_endpoint, "no-such-bucket-here", "list") == EXIT_ERROR
    assert one_error(capsys.readouterr().err).startswith(
        "error: could not list s3://no-such-bucket-here/feedback/pending/: S3 answered NoSuchBucket"
    )
    assert main(["feedback", "list"]) == EXIT_ERROR
    assert "--bucket or set MODEL_BUCKET" in one_error(capsys.readouterr().err)


def test_the_feedback_prefix_comes_from_the_environment_and_stays_out_of_the_models(
    s3_endpoint, bucket, s3_client, monkeypatch, capsys
) -> None:
    item = report(SPAM_MISSED, "spam", "HAM")
    s3_client.put_object(
        Bucket=bucket, Key=report_key("reports/", "pending", item.id), Body=item.to_json()
    )
    monkeypatch.setenv("FEEDBACK_PREFIX", "reports")
    assert run(s3_endpoint, bucket, "list") == EXIT_OK
    assert SPAM_MISSED in capsys.readouterr().out
    assert run(s3_endpoint, bucket, "list", "--feedback-prefix", "feedback/") == EXIT_OK
    assert "0 pending report(s)" in capsys.readouterr().out

    for bad in ("models/feedback/", "/"):
        assert run(s3_endpoint, bucket, "list", "--feedback-prefix", bad) == EXIT_ERROR
        assert "feedback prefix" in one_error(capsys.readouterr().err)
    monkeypatch.setenv("MODEL_PREFIX", "reports/models/")
    assert run(s3_endpoint, bucket, "list") == EXIT_ERROR
    assert "must lie outside the model prefix 'reports/models/'" in capsys.readouterr().err
