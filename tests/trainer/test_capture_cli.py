"""``python -m trainer capture ...`` through ``trainer.cli.main``, against moto over HTTP: the
blind queue (order by the live model, its random share, nothing of the verdict shown), labels
one by one and from a CSV (checked whole), discards, a change of mind, a move interrupted
half-way and finished by a rerun, and delete with every old version."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
import sklearn
from chalicelib.capture_format import CaptureRecord, parse_record, record_key

from tests.support import Killed, capture_record, default_bundle, store_states
from trainer.capture_queue import RANDOM_FIRST, is_random_slot
from trainer.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from trainer.registry import load_live_model, publish

pytestmark = pytest.mark.usefixtures("trainer_env")
PREFIX = "capture/"
SPAM_WORDS = "win cash prize claim urgent free".split()  # noqa: SIM905
HAM_WORDS = "lunch tomorrow meeting dinner home thanks".split()  # noqa: SIM905


def record(n: int, stratum: str, text: str) -> CaptureRecord:
    """Stored as answered SPAM at 0.91 by an old version: stale once rescored."""
    return capture_record(n, stratum, text, version="v-old", stored=0.91)


def rid(n: int) -> str:
    return record(n, "random", "-").id


def put(s3: Any, bucket: str, item: CaptureRecord) -> str:
    key = record_key(PREFIX, item.state, item.id)
    s3.put_object(Bucket=bucket, Key=key, Body=item.to_json())
    return key


def stored(s3: Any, bucket: str, state: str, record_id: str) -> CaptureRecord:
    body = s3.get_object(Bucket=bucket, Key=record_key(PREFIX, state, record_id))["Body"]
    return parse_record(body.read())


def where(s3: Any, bucket: str) -> dict[str, list[str]]:
    return store_states(s3, bucket, PREFIX)


def run(s3_endpoint: str, bucket: str, *argv: str) -> int:
    return main(["capture", *argv, "--bucket", bucket, "--endpoint-url", s3_endpoint])


def one_error(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def mixed_text(n: int, spam_words: int) -> str:
    """Six words, ``spam_words`` of them spam words: the live model's doubt grows with mixing."""
    words = SPAM_WORDS[:spam_words] + HAM_WORDS[: 6 - spam_words]
    return " ".join(words) + f" item{n}"


@pytest.fixture
def live(s3_client, bucket):
    """A model published to the registry: what the API serves and the queue rescores with."""
    texts = [" ".join(SPAM_WORDS[i:] + SPAM_WORDS[:i]) for i in range(6)]
    texts += [" ".join(HAM_WORDS[i:] + HAM_WORDS[:i]) for i in range(6)]
    bundle = default_bundle(texts * 3, (["spam"] * 6 + ["ham"] * 6) * 3, threshold=0.5)
    publish(s3_client, bucket, "models/", bundle)
    return load_live_model(s3_client, bucket, "models/", sklearn.__version__)


@pytest.fixture
def pending(s3_client, bucket) -> dict[str, list[CaptureRecord]]:
    """Twelve uncertain records of graded doubt (stored as 0.91: stale) and eight random ones."""
    uncertain = [record(100 + n, "uncertain", mixed_text(n, n % 7)) for n in range(12)]
    randoms = [record(n, "random", f"a message from the traffic number {n}") for n in range(8)]
    for item in uncertain + randoms:
        put(s3_client, bucket, item)
    return {"uncertain": uncertain, "random": randoms}


def label_seed_set(s3: Any, bucket: str, count: int = RANDOM_FIRST) -> None:
    """``count`` random-stratum records labelled already (older than every pending one)."""
    for n in range(count):
        done = record(5000 + n, "random", f"labelled traffic {n}")
        put(s3, bucket, done.labelled("ham", by="someone", at="2026-12-06T11:00:00Z"))


def test_a_fresh_store_serves_the_random_stratum_first(
    s3_client, s3_endpoint, bucket, live, pending, capsys
) -> None:
    assert run(s3_endpoint, bucket, "queue", "--next", "10", "--json") == EXIT_OK
    batch = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in batch[:8]] == [r.id for r in pending["random"]]  # all 8
    assert [row["stratum"] for row in batch[8:]] == ["uncertain"] * 2  # none left: filled
    label_seed_set(s3_client, bucket, RANDOM_FIRST - 1)  # one short: still one owed
    assert run(s3_endpoint, bucket, "queue", "--next", "3", "--json") == EXIT_OK
    strata = [row["stratum"] for row in json.loads(capsys.readouterr().out)]
    assert strata == ["random"] + ["random" if is_random_slot(i) else "uncertain" for i in (0, 1)]


def test_the_queue_is_least_certain_first_by_the_live_model_with_its_random_share(
    s3_client, s3_endpoint, bucket, live, pending, capsys
) -> None:
    label_seed_set(s3_client, bucket)
    assert run(s3_endpoint, bucket, "queue", "--next", "8", "--json") == EXIT_OK
    batch = json.loads(capsys.readouterr().out)

    assert all(set(row) == {"id", "text", "stratum"} for row in batch)  # exactly these
    strata = [row["stratum"] for row in batch]
    assert strata == ["random" if is_random_slot(i) else "uncertain" for i in range(8)]
    randoms = [row["id"] for row in batch if row["stratum"] == "random"]
    assert randoms == [r.id for r in pending["random"][:2]]  # arrival order
    uncertain = pending["uncertain"]
    live_scores = live.spam_probability([r.text for r in uncertain])
    scores = dict(zip((r.id for r in uncertain), live_scores, strict=True))
    assert len(set(scores.values())) > 6  # the texts are scored apart
    expected = sorted(scores, key=lambda i: (abs(scores[i] - live.threshold), i))
    assert [row["id"] for row in batch if row["stratum"] == "uncertain"] == expected[:6]
    texts = {r.id: r.text for r in uncertain + pending["random"]}
    assert all(row["text"] == texts[row["id"]] for row in batch)


def test_the_queue_shows_the_text_and_id_never_the_verdict_or_a_probability(
    s3_endpoint, bucket, live, pending, capsys
) -> None:
    assert run(s3_endpoint, bucket, "queue", "--next", "20") == EXIT_OK
    out = capsys.readouterr().out
    assert all(r.id in out and r.text in out for r in pending["uncertain"] + pending["random"])
    assert not re.search(r"\bSPAM\b|\bHAM\b|probab|0\.\d", out)
    assert run(s3_endpoint, bucket, "list") == EXIT_OK  # a pending record is blind in list too
    out = capsys.readouterr().out
    assert "20 pending record(s): 8 random, 12 uncertain" in out
    assert not re.search(r"\bSPAM\b|\bHAM\b|0\.\d", out)
    assert run(s3_endpoint, bucket, "list", "--json", "--stratum", "random") == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert listed["shown"] == 8 and listed["counts"]["total"] == 20
    assert all(
        not {"spam_probability", "threshold", "classification"} & set(r) for r in listed["records"]
    )


def test_the_queue_needs_a_live_model(s3_endpoint, bucket, pending, capsys) -> None:
    assert run(s3_endpoint, bucket, "queue") == EXIT_ERROR
    assert "no model is live under" in one_error(capsys.readouterr().err)


def test_label_and_discard_move_records_and_record_who_and_when(
    s3_endpoint, bucket, s3_client, pending, capsys
) -> None:
    spam, ham = pending["random"][0], pending["uncertain"][0]
    junk = pending["random"][1]
    assert run(s3_endpoint, bucket, "label", spam.id, "spam") == EXIT_OK  # by STS (moto)
    assert run(s3_endpoint, bucket, "label", ham.id, "ham", "--by", "ann") == EXIT_OK
    assert run(s3_endpoint, bucket, "discard", junk.id, "--by", "ann") == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"{spam.id}: labelled spam",
        f"{ham.id}: labelled ham",
        f"{junk.id}: discarded",
    ]
    states = where(s3_client, bucket)
    assert (states[spam.id], states[ham.id], states[junk.id]) == (
        ["labelled"],
        ["labelled"],
        ["discarded"],
    )
    decided = stored(s3_client, bucket, "labelled", spam.id)
    assert decided.label == "spam" and decided.labelling.by.startswith("arn:aws:sts::")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", decided.labelling.at)
    assert stored(s3_client, bucket, "discarded", junk.id).labelling.by == "ann"

    assert run(s3_endpoint, bucket, "label", spam.id, "spam", "--by", "bob") == EXIT_OK
    assert "already labelled spam" in capsys.readouterr().out
    assert run(s3_endpoint, bucket, "label", spam.id, "ham", "--by", "bob") == EXIT_OK
    assert capsys.readouterr().out == f"{spam.id}: labelled ham (was spam: a change of mind)\n"
    assert run(s3_endpoint, bucket, "label", junk.id, "spam", "--by", "bob") == EXIT_OK
    assert "labelled spam (was discarded: a change of mind)" in capsys.readouterr().out
    assert where(s3_client, bucket)[junk.id] == ["labelled"]

    assert run(s3_endpoint, bucket, "list", "--state", "labelled") == EXIT_OK
    out = capsys.readouterr().out
    assert "3 labelled record(s): 2 random, 1 uncertain; 1 spam, 2 ham" in out
    assert "the model was wrong on 2" in out  # stored verdicts SPAM (0.91): both ham were wrong


def test_a_label_interrupted_half_way_is_finished_by_the_rerun(
    s3_endpoint, bucket, s3_client, pending, monkeypatch, capsys
) -> None:
    target = pending["random"][0]
    real_client = boto3.client

    def die(**kwargs: Any) -> None:
        raise Killed

    def dying_client(*args: Any, **kwargs: Any) -> Any:
        client = real_client(*args, **kwargs)
        client.delete_object = die  # the process dies between the write and the delete
        return client

    monkeypatch.setattr(boto3, "client", dying_client)
    with pytest.raises(Killed):
        run(s3_endpoint, bucket, "label", target.id, "ham", "--by", "ann")
    monkeypatch.undo()
    assert where(s3_client, bucket)[target.id] == ["labelled", "pending"]  # written, not deleted

    assert run(s3_endpoint, bucket, "label", target.id, "ham", "--by", "ann") == EXIT_OK
    captured = capsys.readouterr()
    assert "removed" in captured.err and "interrupted move" in captured.err
    assert "already labelled ham" in captured.out
    assert where(s3_client, bucket)[target.id] == ["labelled"]


def write_csv(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_labels_from_a_csv_are_all_applied(
    s3_endpoint, bucket, s3_client, pending, tmp_path, capsys
) -> None:
    a, b, c = pending["uncertain"][:3]
    path = write_csv(
        tmp_path, f"\ufeffid,label,text\n{a.id},spam,x\n\n{b.id}, HAM ,y\n{c.id},ham\n"
    )
    assert run(s3_endpoint, bucket, "label", "--from-csv", str(path), "--by", "ann") == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f"{a.id}: labelled spam",
        f"{b.id}: labelled ham",
        f"{c.id}: labelled ham",
    ]
    assert [stored(s3_client, bucket, "labelled", r.id).label for r in (a, b, c)] == [
        "spam",
        "ham",
        "ham",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("record,verdict\n{a},spam\n", "must name the columns id and label"),
        ("", "must name the columns id and label"),
        ("id,label\n", "has no rows to label"),
        (
            "id,label\n{a},spam\n{b},maybe\n",
            r"labels.csv:3: label must be spam or ham, got 'maybe'",
        ),
        ("id,label\n{a},spam\n../x,ham\n", r"labels.csv:3: not a record id: '../x'"),
        ("id,label\n{a},spam\n{a},ham\n", r"labels.csv:3: record .* is listed twice \(line 2\)"),
        ("id,label\n{a},spam\n{b},\n{unknown},ham\n", "labels.csv:3: label must be"),
        # a shifted column puts a person's text where a label or an id goes: never repeated
        (
            'id,label,text\n{a},"Win a FREE cruise, call 0800 now",spam\n',
            r"labels.csv:2: label must be spam or ham, got a value of 32 characters",
        ),
        (
            'text,id,label\n{a},"Win a FREE cruise, call 0800 now",spam\n',
            r"labels.csv:2: not a record id: a value of 32 characters",
        ),
    ],
)
def test_a_bad_csv_labels_nothing_and_names_every_bad_row(
    s3_endpoint, bucket, s3_client, pending, tmp_path, content, message, capsys
) -> None:
    a, b = pending["uncertain"][:2]
    path = write_csv(tmp_path, content.format(a=a.id, b=b.id, unknown=rid(999)))
    assert run(s3_endpoint, bucket, "label", "--from-csv", str(path), "--by", "ann") == EXIT_ERROR
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "cruise" not in err
    every = [record for stratum in pending.values() for record in stratum]
    assert where(s3_client, bucket) == {record.id: ["pending"] for record in every}


def test_a_csv_naming_an_unknown_record_moves_nothing(
    s3_endpoint, bucket, s3_client, pending, tmp_path, capsys
) -> None:
    a = pending["uncertain"][0]
    path = write_csv(tmp_path, f"id,label\n{a.id},spam\n{rid(999)},ham\n")
    assert run(s3_endpoint, bucket, "label", "--from-csv", str(path), "--by", "ann") == EXIT_ERROR
    assert f"no record {rid(999)}" in one_error(capsys.readouterr().err)
    assert where(s3_client, bucket)[a.id] == ["pending"]
    missing = tmp_path / "missing.csv"
    assert run(s3_endpoint, bucket, "label", "--from-csv", str(missing), "--by", "a") == EXIT_ERROR
    assert "cannot read" in one_error(capsys.readouterr().err)


def test_delete_erases_every_version_of_a_record(s3_endpoint, bucket, s3_client, capsys) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    item, other = record(1, "random", "my own message"), record(2, "random", "another")
    put(s3_client, bucket, item)
    put(s3_client, bucket, other)
    assert run(s3_endpoint, bucket, "label", item.id, "ham", "--by", "ann") == EXIT_OK
    assert run(s3_endpoint, bucket, "label", item.id, "spam", "--by", "ann") == EXIT_OK
    capsys.readouterr()

    assert run(s3_endpoint, bucket, "delete", item.id) == EXIT_OK

    assert capsys.readouterr().out == (
        f"{item.id}: deleted (4 object version(s), delete markers included)\n"
    )
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix=PREFIX)
    kept = {v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])}
    assert kept == {record_key(PREFIX, "pending", other.id)}
    assert run(s3_endpoint, bucket, "delete", item.id) == EXIT_ERROR
    assert f"no record {item.id} in any state (nothing was deleted)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["capture"],
        ["capture", "list", "--state", "maybe"],
        ["capture", "list", "--stratum", "some"],
        ["capture", "queue", "--next", "0"],
        ["capture", "label"],
        ["capture", "label", rid(1)],
        ["capture", "label", rid(1), "maybe"],
        ["capture", "label", "../x", "spam"],
        ["capture", "label", rid(1), "spam", "--from-csv", "f.csv"],
        ["capture", "label", rid(1), "spam", "--by", " "],
        ["capture", "discard"],
        ["capture", "delete", "models/current.json"],
        ["monitor", "--quality", "--stage", "prod"],
    ],
)
def test_usage_errors_exit_2_before_any_s3_call(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_the_capture_prefix_comes_from_the_environment_and_stays_out_of_the_others(
    s3_endpoint, bucket, s3_client, monkeypatch, capsys
) -> None:
    item = record(1, "random", "hello")
    s3_client.put_object(
        Bucket=bucket, Key=record_key("kept/", "pending", item.id), Body=item.to_json()
    )
    monkeypatch.setenv("CAPTURE_PREFIX", "kept")
    assert run(s3_endpoint, bucket, "list") == EXIT_OK
    assert item.id in capsys.readouterr().out
    for bad in ("models/capture/", "feedback/", "/"):
        assert run(s3_endpoint, bucket, "list", "--capture-prefix", bad) == EXIT_ERROR
        assert "capture prefix" in one_error(capsys.readouterr().err)
