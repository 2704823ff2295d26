"""The model, the fixture helpers (tests.support), bundles and one full (small) training run."""

from __future__ import annotations

import io
import subprocess
import sys

import joblib
import numpy as np
import pytest
from chalicelib.registry_format import sha256_hex

from tests.support import default_bundle, fit_default
from trainer.artifacts import build_bundle, read_bundle, write_bundle
from trainer.data import Message
from trainer.errors import DataError, TrainerError
from trainer.evaluate import classification_report
from trainer.model import cross_validate_grid, encode_labels
from trainer.train import TrainOptions, summarize, train


def _messages(rows, source: str = "s") -> list[Message]:
    return [Message(text, label, source, f"{source}:{i}") for i, (label, text) in enumerate(rows)]


def test_labels_encode_to_the_registry_classes() -> None:
    assert encode_labels(["spam", "Ham", 1, 0, "smishing"]).tolist() == [1, 0, 1, 0, 1]
    with pytest.raises(DataError, match="unknown label"):
        encode_labels(["spam", "eggs"])


def test_fit_default_feature_names_and_classes(synthetic_rows) -> None:
    rows = synthetic_rows(200)
    vectorizer, classifier = fit_default([t for _, t in rows], [lab for lab, _ in rows])
    names = vectorizer.get_feature_names_out()
    assert "word__free" in names and "word__see you" in names
    assert "char__ fre" in names
    assert all(n.startswith(("word__", "char__")) for n in names)
    assert classifier.classes_.tolist() == [0, 1]
    assert len(classifier.coef_[0]) == len(names)
    features = vectorizer.transform(["free cash prize now", "see you at lunch"])
    proba = classifier.predict_proba(features)
    assert proba[0, 1] > 0.5 > proba[1, 1]


@pytest.mark.slow
def test_bundle_pickles_load_without_the_trainer_package(tmp_path, synthetic_rows) -> None:
    """The API's Lambda has scikit-learn but not this package: the pickles must not need it."""
    rows = synthetic_rows(120)
    bundle = default_bundle([t for _, t in rows], [lab for lab, _ in rows], threshold=0.4)
    assert bundle.labels == {"spam": 1, "ham": 0} and bundle.threshold == 0.4
    folder = write_bundle(bundle, tmp_path / "model")
    script = (
        "import sys, joblib; sys.modules['trainer'] = None\n"
        f"v = joblib.load({str(folder / 'vectorizer.pkl')!r})\n"
        f"m = joblib.load({str(folder / 'spam_model.pkl')!r})\n"
        "print(m.predict_proba(v.transform(['win cash prize now']))[0, 1])"
    )
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0.5


def test_bundle_roundtrips_through_a_folder_byte_for_byte(tmp_path, synthetic_rows) -> None:
    rows = synthetic_rows(80)
    vectorizer, classifier = fit_default([t for _, t in rows], [lab for lab, _ in rows])
    bundle = build_bundle(vectorizer, classifier, 0.3, {"holdout": {"mcc": 1.0}}, {"mcc": 1.0})
    again = read_bundle(write_bundle(bundle, tmp_path / "m"))
    assert sha256_hex(again.model_pkl) == sha256_hex(bundle.model_pkl)
    assert again.threshold == 0.3 and again.metrics_summary == {"mcc": 1.0}
    loaded = joblib.load(io.BytesIO(again.model_pkl))
    assert loaded.classes_.tolist() == [0, 1]


def test_bundle_refuses_a_classifier_with_other_classes(synthetic_rows) -> None:
    rows = synthetic_rows(60)
    vectorizer, classifier = fit_default([t for _, t in rows], [lab for lab, _ in rows])
    classifier.classes_ = np.array(["ham", "spam"])
    with pytest.raises(TrainerError, match="expected"):
        build_bundle(vectorizer, classifier, 0.5)


def test_reading_a_folder_that_is_not_a_model_names_the_missing_file(tmp_path) -> None:
    with pytest.raises(TrainerError, match=r"model\.json"):
        read_bundle(tmp_path)


def test_out_of_fold_scores_cover_every_message(synthetic_rows) -> None:
    rows = synthetic_rows(150)
    y = encode_labels([lab for lab, _ in rows])
    grid = [{"C": 1.0, "class_weight": None}, {"C": 10.0, "class_weight": "balanced"}]
    candidates = cross_validate_grid([t for _, t in rows], y, grid, folds=3, n_jobs=1)
    assert [c.params for c in candidates] == grid
    for c in candidates:
        assert c.oof_scores.shape == (150,)
        assert np.all((c.oof_scores > 0) & (c.oof_scores < 1))
        assert classification_report(y, c.oof_scores, 0.5)["accuracy"] > 0.9


def test_training_run_follows_the_protocol(synthetic_rows) -> None:
    rows = synthetic_rows(300, seed=3)
    rows += rows[:20]  # exact duplicates must be removed before the split
    messages = _messages(rows[:200], "sms") + _messages(rows[200:], "mail")
    result = train(messages, TrainOptions(folds=3, n_jobs=1, max_ham_blocked=0.01))
    m = result.metrics
    assert m["data"]["duplicates_removed"] == 20
    assert m["data"]["train"] + m["data"]["holdout"] == 300
    assert m["holdout"]["n"] == m["data"]["holdout"] == len(result.holdout.y)
    assert set(m["holdout_per_source"]) == {"sms", "mail"}
    assert m["model"]["params"] == m["cv"]["selected"]["params"]
    assert m["model"]["threshold"] == result.threshold == m["cv"]["selected"]["threshold"]
    assert m["cv"]["selected"]["ham_blocked"] <= 0.01
    assert m["cv"]["selected"]["mcc"] == max(c["mcc"] for c in m["cv"]["candidates"])
    assert "baseline" in m and "holdout_per_source" in m["baseline"]
    assert m["holdout"]["accuracy"] > 0.9
    # the reported holdout figures are those of the returned model and threshold
    again = classification_report(result.holdout.y, result.holdout.scores, result.threshold)
    assert again["confusion"] == m["holdout"]["confusion"]
    summary = summarize(m)
    assert summary["mcc"] == pytest.approx(m["holdout"]["mcc"])
    assert summary["sources"] == ["mail", "sms"]
    # the monitor's reference: the holdout share the published threshold calls spam
    flagged = np.mean(result.holdout.scores >= result.threshold)
    assert m["holdout"]["predicted_spam_rate"] == pytest.approx(flagged)
    assert summary["predicted_spam_rate"] == pytest.approx(flagged, abs=1e-6)
    assert summary["holdout_messages"] == len(result.holdout.y)


def test_threshold_and_setting_come_from_the_training_part_only(synthetic_rows) -> None:
    """Replacing only the holdout's texts must not move the threshold or the chosen setting."""
    from trainer.protocol import holdout_split

    rows = synthetic_rows(200, seed=5)
    options = TrainOptions(folds=3, n_jobs=1)
    first = train(_messages(rows), options)
    _, test = holdout_split([lab for lab, _ in rows], ["s"] * len(rows))
    held_out = set(test.tolist())
    swapped = [
        (lab, f"zzqx{i} unrelated words" if i in held_out else text)
        for i, (lab, text) in enumerate(rows)
    ]
    second = train(_messages(swapped), options)
    assert second.threshold == first.threshold
    assert second.metrics["model"]["params"] == first.metrics["model"]["params"]
    assert second.metrics["cv"] == first.metrics["cv"]
    assert second.metrics["holdout"]["recall"] < first.metrics["holdout"]["recall"]


def test_threshold_keeps_every_large_source_under_the_limit() -> None:
    """Pooled, 4 of 2,000 ham may be flagged; but all 4 high-scoring ham are in one source."""
    from trainer.train import _threshold

    rng = np.random.default_rng(0)
    sms = rng.uniform(0.0, 0.1, 1500)
    mail = np.concatenate([rng.uniform(0.0, 0.1, 496), [0.5, 0.6, 0.7, 0.8]])
    scores = np.concatenate([sms, mail])
    y = np.zeros(scores.size, dtype=int)
    sources = np.array(["sms"] * 1500 + ["mail"] * 500, dtype=object)
    threshold, per_source = _threshold(scores, y, sources, 0.002)
    assert set(per_source) == {"sms", "mail"}
    assert np.sum(mail >= threshold) == 1  # floor(0.002 * 500) = 1 may be flagged in mail
    assert threshold == max(per_source.values())
    pooled_only, _ = _threshold(scores, y, np.array(["all"] * 2000, dtype=object), 0.002)
    assert pooled_only < threshold and np.sum(mail >= pooled_only) == 4


def test_too_few_messages_after_deduplication_is_a_data_error() -> None:
    rows = [("spam", f"win {i}") for i in range(5)] + [("ham", f"hi {i}") for i in range(50)]
    rows += [("spam", "WIN 0")] * 20  # duplicates do not count
    with pytest.raises(DataError, match="5 spam and 50 ham after removing duplicates"):
        train(_messages(rows))
