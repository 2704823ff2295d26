"""Training on labelled captures (issue #24): merged with the corpus and the reports (one
normalisation across both), learnt whole; the random stratum scored out of fold and the
uncertain one never; recorded in metrics.json and the manifest; `train --capture` on moto."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from chalicelib.capture_format import CaptureRecord, new_record, record_key
from chalicelib.feedback_format import Report, new_report, report_key

from tests.support import fast_train_options
from trainer.cli import EXIT_OK, main
from trainer.data import Message
from trainer.experts import ExpertsCV, select_experts
from trainer.feedback import (
    CAPTURE_RANDOM_SOURCE,
    CAPTURE_UNCERTAIN_SOURCE,
    FEEDBACK_SOURCE,
    feedback_digest,
    merge_labelled,
)
from trainer.train import summarize, train

FAST = fast_train_options()
PLACE_SPAM = ["crypto", "giveaway", "wallet", "bonus", "airdrop", "token", "invest", "double"]
PLACE_HAM = ["thread", "reply", "agree", "article", "great", "point", "source", "comment"]


def capture(n: int, text: str, label: str | None, stratum: str = "random") -> CaptureRecord:
    record = new_record(
        text,
        record_id=f"20261207T10{n // 60 % 60:02d}{n % 60:02d}Z-{n:016x}",
        captured_at="2026-12-07T10:00:00Z",
        request_id=f"req-{n}",
        position=0,
        model_version="v1",
        spam_probability=0.4,
        threshold=0.5,
        stratum=stratum,
        inclusion_probability=0.1 if stratum == "random" else 0.9,
    )
    if label is None:
        return record
    return record.labelled(label, by="ann", at="2026-12-08T09:00:00.000000Z")


def report(n: int, text: str, label: str) -> Report:
    return new_report(
        text, label, report_id=f"20261206T101500Z-{n:016x}", received_at="2026-12-06T10:15:00Z"
    )


def place_texts(n: int, seed: int = 3) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "spam" if i % 3 == 0 else "ham"
        words = PLACE_SPAM if label == "spam" else PLACE_HAM
        rows.append(
            (" ".join(rng.choice(words) for _ in range(rng.randint(5, 9))) + f" p{i}", label)
        )
    return rows


def place_captures(n: int, seed: int = 3, start: int = 1) -> list[CaptureRecord]:
    """Labelled captures of a place whose words the corpus never used; every third uncertain."""
    return [
        capture(start + i, text, label, "uncertain" if i % 3 == 1 else "random")
        for i, (text, label) in enumerate(place_texts(n, seed))
    ]


def corpus(synthetic_rows, n: int = 240) -> list[Message]:
    return [
        Message(text, label, "sms.txt", f"sms.txt:{i}")
        for i, (label, text) in enumerate(synthetic_rows(n))
    ]


def test_reports_and_captures_are_deduplicated_across_both_and_against_the_corpus() -> None:
    base = [
        Message("Lunch at noon?", "ham", "c", "c:1"),
        Message("WIN a prize", "spam", "c", "c:2"),
        Message("see you", "ham", "c", "c:3"),
    ]
    reports = [
        report(1, "new  text", "ham"),
        report(2, "both ways", "spam"),
        report(3, "a report alone", "spam"),
    ]
    captures = [
        capture(10, "NEW text", "ham"),  # a report said it first (older id): a duplicate
        capture(11, "Both Ways", "ham", "uncertain"),  # contradicts a report: both go
        capture(12, "lunch at NOON?", "spam"),  # overrules the corpus
        capture(13, "win a prize", "spam"),  # the corpus holds it already
        capture(14, "a capture alone", "ham", "uncertain"),
        capture(15, "a capture  alone", "ham"),  # a repeat of the one before
    ]
    merged, info = merge_labelled(base, reports, captures)
    assert [(m.source, m.text) for m in merged[:2]] == [("c", "WIN a prize"), ("c", "see you")]
    assert {(m.source, m.text) for m in merged[2:]} == {
        (FEEDBACK_SOURCE, "new  text"),
        (FEEDBACK_SOURCE, "a report alone"),
        (CAPTURE_RANDOM_SOURCE, "lunch at NOON?"),
        (CAPTURE_UNCERTAIN_SOURCE, "a capture alone"),
    }
    assert len(merged) == 6
    feedback, captured = info["feedback"], info["capture"]
    assert (feedback.reports, len(feedback.used), feedback.conflicting) == (3, 2, 1)
    assert (captured.reports, captured.used) == (6, (captures[2].id, captures[4].id))
    assert (captured.duplicates, captured.conflicting, captured.overruled) == (2, 1, 1)
    assert captured.already_in_corpus == 1
    assert captured.digest == feedback_digest(captures) != feedback.digest


def test_captures_are_learnt_whole_the_random_stratum_scored_and_all_recorded(
    synthetic_rows,
) -> None:
    captures = place_captures(90)
    result = train(corpus(synthetic_rows), FAST, (), captures)
    m = result.metrics
    record = m["data"]["capture"]
    assert record["records"] == record["used"] == 90
    assert set(record["trained_on"]) == {c.id for c in captures}
    assert record["strata"] == {"random": 60, "uncertain": 30}
    assert record["digest"] == feedback_digest(captures)
    assert set(m["holdout_per_source"]) == {"sms.txt"}  # the corpus's holdout measures it
    place = m["cv"]["place"]
    assert place["n"] == 60  # the random stratum, out of fold; the uncertain one never
    assert sum(place["confusion"].values()) == 60
    assert place["mcc"] > 0.5  # its words were learnt from the other folds' captures
    assert summarize(m)["capture"] == {"trained_on": 90, "random": 60, "digest": record["digest"]}
    assert "captures" in m["protocol"] and "feedback" not in m["data"]


def test_without_people_labels_training_records_no_capture(synthetic_rows) -> None:
    alone = train(corpus(synthetic_rows), FAST)  # ``captures=()`` is the default
    assert "capture" not in alone.metrics["data"] and "place" not in alone.metrics["cv"]


def _cv(random_logit: float, uncertain_logit: float) -> tuple[ExpertsCV, np.ndarray, np.ndarray]:
    """Synthetic out-of-fold scores: 1,700 corpus ham and 300 spam, 60 random captures
    (scored) and 60 uncertain ones (never scored), all in the pooled medium ``feedback``."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(1700), np.ones(300), np.tile([0, 1], 30), np.tile([0, 1], 30)].astype(int)
    sources = np.array(
        ["sms"] * 2000 + [CAPTURE_RANDOM_SOURCE] * 60 + [CAPTURE_UNCERTAIN_SOURCE] * 60,
        dtype=object,
    )
    corpus_logits = np.where(y[:2000] == 1, rng.normal(4, 1, 2000), rng.normal(-4, 1, 2000))
    place = np.r_[np.full(60, random_logit) + y[2000:2060], np.full(60, uncertain_logit) + y[2060:]]
    logits = np.r_[corpus_logits, place]
    gate_feedback = np.r_[np.full(2000, 0.05), np.full(120, 0.95)]
    cv = ExpertsCV(
        media=("feedback", "sms"),
        grids={"feedback": ({"C": 1.0},), "sms": ({"C": 1.0},)},
        gate_grid=({"C": 1.0, "class_weight": "balanced"},),
        logits={"feedback": logits[None, :], "sms": logits[None, :]},
        gate=np.stack([np.column_stack([gate_feedback, 1 - gate_feedback])]),
        scored=sources != CAPTURE_UNCERTAIN_SOURCE,
        cpu_seconds=0.0,
        pooled=("feedback",),
    )
    return cv, y, sources


def test_the_uncertain_stratum_never_moves_a_threshold_and_the_random_one_only_when_it_chooses():
    cv, y, sources = _cv(random_logit=0.0, uncertain_logit=0.0)
    media = np.where(sources == "sms", "sms", "feedback").astype(object)
    corpus_only = sources == "sms"

    def thresholds(cv_: ExpertsCV, chosen_on: np.ndarray, pooled: np.ndarray | None = None):
        s = select_experts(
            cv_, y, sources, media, 0.002, (1.0,), chosen_on=chosen_on, pooled_chosen_on=pooled
        )
        return s.threshold, s.thresholds["feedback"], s.scored_oof

    before, own, oof = thresholds(cv, corpus_only)
    assert np.all(np.isnan(oof[sources == CAPTURE_UNCERTAIN_SOURCE]))
    assert not np.any(np.isnan(oof[sources != CAPTURE_UNCERTAIN_SOURCE]))
    # the uncertain stratum's scores move nothing, even when the random one chooses too
    moved, *_ = _cv(random_logit=0.0, uncertain_logit=9.0)
    assert thresholds(moved, corpus_only)[:2] == (before, own)
    with_random = sources != CAPTURE_UNCERTAIN_SOURCE
    assert thresholds(moved, with_random)[:2] == thresholds(cv, with_random)[:2]
    # the random stratum, a fair sample of the place, moves them only when it chooses: its
    # ham scored high (logit 3) would be blocked at the corpus's threshold
    high, *_ = _cv(random_logit=3.0, uncertain_logit=0.0)
    assert thresholds(high, corpus_only)[:2] == (before, own)
    published, raised, _ = thresholds(high, with_random)
    assert raised > 0.95 > own and published != before
    # ... or only the threshold of the expert that learns them, the gate's and the published
    # one staying the corpus's choice
    _, expert_only, _ = thresholds(high, corpus_only, pooled=with_random)
    assert expert_only == raised


@pytest.mark.slow  # a full train --capture --feedback --publish run: seconds
@pytest.mark.usefixtures("trainer_env")
def test_train_capture_and_feedback_read_the_bucket_and_the_manifest_names_both(
    small_sms, s3_client, s3_endpoint, bucket, capsys
) -> None:
    captures = place_captures(45)
    for c in captures:
        s3_client.put_object(
            Bucket=bucket, Key=record_key("cap/", "labelled", c.id), Body=c.to_json()
        )
    pending = capture(900, "a pending message nobody labelled", None)
    discarded = capture(901, "a discarded one", None).discarded(by="ann", at="2026-12-08T09:00:00Z")
    for c in (pending, discarded):
        s3_client.put_object(Bucket=bucket, Key=record_key("cap/", c.state, c.id), Body=c.to_json())
    reports = [report(i, text, label) for i, (text, label) in enumerate(place_texts(30, seed=8))]
    reports.append(report(99, captures[0].text.upper(), captures[0].label))  # also captured
    accepted = [r.decided("accepted", by="ann", at="2026-12-08T09:00:00Z") for r in reports]
    for r in accepted:
        s3_client.put_object(
            Bucket=bucket, Key=report_key("feedback/", "accepted", r.id), Body=r.to_json()
        )

    argv = [
        "train",
        "--data",
        str(small_sms),
        "--capture",
        "--capture-prefix",
        "cap/",
        "--feedback",
    ]
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint, "--prefix", "models/"]
    assert main([*argv, "--publish", "--folds", "3", "--n-jobs", "1", *registry]) == EXIT_OK

    out, err = capsys.readouterr()
    assert (
        "45 labelled capture(s) from s3://" in err
        and "(30 of the random stratum, 15 uncertain)" in err
    )
    assert "31 accepted report(s)" in err and "captures: 45 labelled" in out
    current = json.loads(
        s3_client.get_object(Bucket=bucket, Key="models/current.json")["Body"].read()
    )
    assert current["metrics"]["capture"] == {
        "trained_on": 44,
        "random": 29,
        "digest": feedback_digest(captures),
    }
    # the report of a captured text is the older: it stands, the capture is its duplicate
    assert current["metrics"]["feedback"]["trained_on"] == 31
    metrics_key = current["artifacts"]["metrics"]["key"]
    metrics = json.loads(s3_client.get_object(Bucket=bucket, Key=metrics_key)["Body"].read())
    record = metrics["data"]["capture"]
    assert (record["records"], record["used"], record["duplicates"]) == (45, 44, 1)
    assert captures[0].id not in record["trained_on"]
    assert pending.id not in record["trained_on"] and discarded.id not in record["trained_on"]
    assert metrics["cv"]["place"]["n"] == 29


def test_a_corpus_of_two_media_with_captures_gets_a_gate_over_three(synthetic_rows) -> None:
    """SMS, email and the place's labels: scikit-learn's liblinear refuses three classes, so
    the gate is a multinomial logistic regression there (and stays liblinear for two)."""
    sms = corpus(synthetic_rows, 200)
    emails = [
        Message(f"Subject: {text}\n\nregards, the list {i}", label, "mail", f"mail:{i}", "email")
        for i, (label, text) in enumerate(synthetic_rows(200, seed=5))
    ]
    result = train(sms + emails, FAST, (), place_captures(60))
    classifier = result.classifier
    assert classifier.media == ("email", "feedback", "sms")
    assert classifier.gate.solver == "lbfgs" and list(classifier.gate.classes_) == sorted(
        classifier.media
    )
    texts = [text for text, _ in place_texts(30, seed=9)]
    assert np.mean(classifier.route(result.vectorizer.transform(texts)) == 1) > 0.9
    two = train(sms + emails, FAST)
    assert two.classifier.gate.solver == "liblinear"
