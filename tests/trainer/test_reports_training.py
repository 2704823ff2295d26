"""Training on accepted reports (issue #14): merged with the corpus, a source of their own,
recorded in metrics.json and the manifest, and `train --feedback` against moto."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from chalicelib.experts import MediumExperts
from chalicelib.feedback_format import Report, new_report, report_key

from tests.support import fast_train_options
from trainer.cli import EXIT_OK, main
from trainer.data import Message
from trainer.experts import REPORT_WEIGHT, anchored_fit, expert_rows
from trainer.feedback import FEEDBACK_SOURCE, feedback_digest, merge_feedback
from trainer.model import make_classifier
from trainer.protocol import deduplicate, holdout_split
from trainer.train import summarize, train

ONE = ({"C": 30.0, "class_weight": None},)
FAST = fast_train_options()
PLACE_SPAM = ["crypto", "giveaway", "wallet", "bonus", "airdrop", "token", "invest", "double"]
PLACE_HAM = ["thread", "reply", "agree", "article", "great", "point", "source", "comment"]


def _report(n: int, text: str, label: str) -> Report:
    return new_report(
        text, label, report_id=f"20261126T101500Z-{n:016x}", received_at="2026-11-26T10:15:00Z"
    )


def _corpus(synthetic_rows, n: int = 240) -> list[Message]:
    return [
        Message(text, label, "sms.txt", f"sms.txt:{i}")
        for i, (label, text) in enumerate(synthetic_rows(n))
    ]


def _place_reports(n: int, seed: int = 3, start: int = 1) -> list[Report]:
    """Reports from a place whose words the corpus never used."""
    rng = random.Random(seed)
    reports = []
    for i in range(n):
        label = "spam" if i % 3 == 0 else "ham"
        words = PLACE_SPAM if label == "spam" else PLACE_HAM
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 9))) + f" p{i}"
        reports.append(_report(start + i, text, label))
    return reports


def test_a_report_contradicting_the_corpus_wins_and_is_counted() -> None:
    corpus = [
        Message("Lunch at noon?", "ham", "c", "c:1"),
        Message("lunch at NOON?", "ham", "c", "c:2"),  # a duplicate in the corpus
        Message("WIN a prize", "spam", "c", "c:3"),
        Message("see you", "ham", "c", "c:4"),
    ]
    reports = [
        _report(1, "Lunch at  noon?", "spam"),  # contradicts two corpus copies
        _report(2, "win a PRIZE", "spam"),  # agrees: adds nothing
        _report(3, "new text", "ham"),
        _report(4, "New  text", "ham"),  # a repeated report
        _report(5, "both", "spam"),
        _report(6, "BOTH", "ham"),  # reports that disagree with each other
    ]
    merged, info = merge_feedback(corpus, reports)
    assert [(m.source, m.text, m.label) for m in merged] == [
        ("c", "WIN a prize", "spam"),
        ("c", "see you", "ham"),
        (FEEDBACK_SOURCE, "Lunch at  noon?", "spam"),
        (FEEDBACK_SOURCE, "new text", "ham"),
    ]
    assert (info.overruled, info.already_in_corpus, info.duplicates, info.conflicting) == (
        1,
        1,
        1,
        2,
    )
    assert info.used == (reports[0].id, reports[2].id)
    assert info.reports == 6 and info.digest == feedback_digest(reports)


def test_the_digest_names_the_set_of_reports() -> None:
    a, b = _report(1, "x", "spam"), _report(2, "y", "ham")
    assert feedback_digest([a, b]) == feedback_digest([b, a])
    assert feedback_digest([a, b]) != feedback_digest([a])
    relabelled = Report(**{**a.__dict__, "label": "ham"})
    assert feedback_digest([relabelled, b]) != feedback_digest([a, b])


def test_reports_are_a_source_of_their_own_reported_and_recorded(synthetic_rows) -> None:
    corpus = _corpus(synthetic_rows)
    reports = _place_reports(90)
    reports.append(_report(500, corpus[0].text, "spam" if corpus[0].label == "ham" else "ham"))
    result = train(corpus, FAST, reports)
    m = result.metrics
    assert m["data"]["sources"][FEEDBACK_SOURCE]["spam"] + m["data"]["sources"][FEEDBACK_SOURCE][
        "ham"
    ] == len(reports)
    record = m["data"]["feedback"]
    assert record["overruled"] == 1 and record["digest"] == feedback_digest(reports)
    # every report is learnt, none held out: the corpus's holdout alone measures the model
    assert set(record["trained_on"]) == {r.id for r in reports} and record["held_out"] == []
    assert set(m["holdout_per_source"]) == {"sms.txt"}
    assert summarize(m)["feedback"] == {"trained_on": len(reports), "digest": record["digest"]}
    assert m["model"]["report_weight"] == REPORT_WEIGHT and "reports" in m["protocol"]
    # an expert of their own, routed to by the gate, chosen on the corpus's rows
    assert isinstance(result.classifier, MediumExperts)
    candidates = m["cv"]["experts"]["feedback"]["candidates"]
    assert [c["params"] for c in candidates] == list(FAST.expert_grid)
    assert m["model"]["media"]["feedback"]["params"] == dict(ONE[0])
    assert result.classifier.media == ("feedback", "sms")
    texts = [r.text for r in _place_reports(30, seed=9, start=1000)]
    assert np.all(result.classifier.route(result.vectorizer.transform(texts)) == 0)


def test_the_corpus_expert_learns_from_the_corpus_alone(synthetic_rows) -> None:
    """The sms expert is a fit on the corpus's training rows only; the reports' expert is the
    corpus's model corrected by every row, the reports weighted and balanced."""
    corpus = _corpus(synthetic_rows)
    reports = _place_reports(90)
    result = train(corpus, FAST, reports)
    merged, _ = merge_feedback(corpus, reports)
    kept, _ = deduplicate(merged)
    train_idx, _ = holdout_split(
        [m.label for m in kept], [m.source for m in kept], never_held_out=[FEEDBACK_SOURCE]
    )
    rows = [kept[i] for i in train_idx]
    sms_rows = [m for m in rows if m.source == "sms.txt"]
    y = np.array([m.label == "spam" for m in sms_rows], dtype=int)
    alone = make_classifier(ONE[0]).fit(result.vectorizer.transform([m.text for m in sms_rows]), y)
    experts = dict(zip(result.classifier.media, result.classifier.experts, strict=True))
    assert np.allclose(experts["sms"].coef_, alone.coef_)
    assert not np.allclose(experts["feedback"].coef_, alone.coef_)
    media = np.array([m.medium for m in rows])
    labels = np.array([m.label == "spam" for m in rows], dtype=int)
    fitted_on, weights = expert_rows("feedback", media, labels, ["feedback"])
    assert fitted_on.size == len(rows) == len(sms_rows) + len(reports)  # every row, all reports
    own = media == "feedback"
    for label in (0, 1):  # spam and ham reports weigh the same, REPORT_WEIGHT each on average
        assert weights[own & (labels == label)].sum() == pytest.approx(
            REPORT_WEIGHT * own.sum() / 2
        )
    features = result.vectorizer.transform([m.text for m in rows])
    again = anchored_fit(ONE[0], features, labels, ~own, weights)
    assert np.allclose(experts["feedback"].coef_, again.coef_)
    # the corpus's model plus a correction: on the corpus's own rows it still agrees with it
    on_corpus = features[~own]
    agree = np.mean(
        (experts["feedback"].decision_function(on_corpus) > 0)
        == (experts["sms"].decision_function(on_corpus) > 0)
    )
    assert agree > 0.95


@pytest.mark.slow  # a full train --feedback --publish run on the SMS corpus: seconds
@pytest.mark.usefixtures("trainer_env")
def test_train_feedback_reads_accepted_reports_from_the_bucket_and_the_manifest_names_them(
    small_sms, s3_client, s3_endpoint, bucket, capsys
) -> None:
    reports = _place_reports(60)
    for r in reports:
        accepted = r.decided("accepted", by="ann", at="2026-11-27T09:00:00Z")
        s3_client.put_object(
            Bucket=bucket, Key=report_key("fb/", "accepted", r.id), Body=accepted.to_json()
        )
    pending = _report(999, "never reviewed text", "spam")
    s3_client.put_object(
        Bucket=bucket, Key=report_key("fb/", "pending", pending.id), Body=pending.to_json()
    )
    argv = ["train", "--data", str(small_sms), "--feedback", "--feedback-prefix", "fb/"]
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint, "--prefix", "models/"]
    code = main([*argv, "--publish", "--folds", "3", "--n-jobs", "1", *registry])
    assert code == EXIT_OK
    out, err = capsys.readouterr()
    assert "60 accepted report(s)" in err and "feedback" in out
    current = json.loads(
        s3_client.get_object(Bucket=bucket, Key="models/current.json")["Body"].read()
    )
    stored = [r.decided("accepted", by="ann", at="2026-11-27T09:00:00Z") for r in reports]
    assert current["metrics"]["feedback"]["digest"] == feedback_digest(stored)
    metrics_key = current["artifacts"]["metrics"]["key"]
    metrics = json.loads(s3_client.get_object(Bucket=bucket, Key=metrics_key)["Body"].read())
    record = metrics["data"]["feedback"]
    assert current["metrics"]["feedback"]["trained_on"] == len(reports)
    assert set(record["trained_on"]) == {r.id for r in reports} and record["held_out"] == []
    assert pending.id not in record["trained_on"]


def test_reports_of_one_label_still_get_an_expert_and_leave_the_corpus_as_it_was(
    synthetic_rows,
) -> None:
    """Its expert learns spam from the corpus; the corpus's holdout and expert do not move."""
    corpus = _corpus(synthetic_rows)
    alone = train(corpus, FAST)
    ham_only = [r for r in _place_reports(60) if r.label == "ham"][:15]
    ham_only.append(_place_reports(3, seed=5, start=900)[0])  # one spam report
    result = train(corpus, FAST, ham_only)
    assert isinstance(result.classifier, MediumExperts)
    assert result.metrics["data"]["sources"][FEEDBACK_SOURCE] == {"spam": 1, "ham": 15}
    sms = result.metrics["holdout_per_source"]["sms.txt"]
    assert sms["n"] == alone.metrics["holdout"]["n"]
    assert sms["confusion"] == alone.metrics["holdout"]["confusion"]


#: A place the corpus never saw: every message carries its words, ham and spam alike.
PLACE_WORDS = ["thread", "reply", "forum", "post", "topic", "member", "quote", "board"]
PLACE_HAM_WORDS = ["agree", "article", "source", "point", "link", "read", "wiki", "edit"]
#: Words the corpus only ever saw in spam, which this place's ham use too ("free time").
SHARED_WORDS = ["free", "now", "call", "offer"]
STRONG_SPAM = ["win", "cash", "prize", "claim", "urgent", "guaranteed", "award", "txt"]


def _place_message(rng: random.Random, label: str, i: int, weak: bool = False) -> str:
    words = [rng.choice(PLACE_WORDS) for _ in range(4)]
    if label == "ham":
        words += [rng.choice(PLACE_HAM_WORDS) for _ in range(2)] + rng.sample(SHARED_WORDS, 2)
    else:
        words += [rng.choice(STRONG_SPAM) for _ in range(1 if weak else 2)]
    rng.shuffle(words)
    return " ".join(words) + f" q{i}"


def test_error_reports_that_are_nearly_all_ham_do_not_teach_that_the_place_is_ham(
    synthetic_rows,
) -> None:
    """People report the model's mistakes: here 40 ham it blocked and 2 spam it let through.

    The place's ham use words the corpus saw only in spam, so the corpus's model blocks them;
    its spam are caught. Learnt as a model of their own, 40 to 2, the reports teach that
    whatever this place's messages share (its own words) means ham, and its spam goes
    through (today's mechanism before issue #25 kept 35-63 % of the recall here; a full
    refit with balanced labels 88 %). Anchored on the corpus's model, the reports correct
    what tells this place's ham from spam, and its spam stays caught.
    """
    corpus = _corpus(synthetic_rows, 2000)
    rng = random.Random(11)
    reports = [_report(i, _place_message(rng, "ham", i), "ham") for i in range(40)]
    reports += [
        _report(40 + i, _place_message(rng, "spam", 40 + i, weak=True), "spam") for i in range(2)
    ]
    place = [
        (label, _place_message(rng, label, 100 + i)) for i, label in enumerate(["spam", "ham"] * 60)
    ]
    y_place = np.array([label == "spam" for label, _ in place], dtype=int)

    def on_the_place(result) -> dict:
        scores = result.classifier.predict_proba(
            result.vectorizer.transform([text for _, text in place])
        )[:, 1]
        flagged = scores >= result.threshold
        return {
            "recall": float(np.mean(flagged[y_place == 1])),
            "ham_blocked": float(np.mean(flagged[y_place == 0])),
        }

    alone = train(corpus, FAST)
    before = on_the_place(alone)
    assert before["ham_blocked"] > 0.9 and before["recall"] > 0.9  # the setting: ham are errors
    learnt = train(corpus, FAST, reports)
    after = on_the_place(learnt)
    assert after["recall"] >= 0.9 * before["recall"], (before, after)
    assert after["ham_blocked"] < 0.75 * before["ham_blocked"], (before, after)  # it learnt
    base = learnt.metrics["holdout_per_source"]["sms.txt"]["mcc"]
    assert base >= alone.metrics["holdout"]["mcc"] - 0.01
