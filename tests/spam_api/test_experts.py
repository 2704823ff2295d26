"""The mixture of per-medium experts: scores, routing, threshold folding, pickling, explain.

A small real mixture: every 10th SMS and the first emails of two SpamAssassin folders,
one shared vectorizer, a gate and one expert per medium (about a second to fit).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from chalice.test import Client
from chalicelib.experts import MediumExperts
from chalicelib.model import build_live_model
from chalicelib.registry import Artifacts, Pointer, PointerRead, PointerTag
from chalicelib.registry_format import ArtifactRef, Manifest

from trainer.emails import email_to_text
from trainer.model import make_classifier, make_vectorizer
from trainer.registry import publish

from .conftest import API_DIR, PREFIX, body_of, make_bundle, post, read_sms

#: The mixture fixture fits experts and a gate on SMS and email samples: seconds.
pytestmark = pytest.mark.slow

SMS_HAM = "Hey, are we still on for lunch tomorrow? Call me when you get home x"
SMS_SPAM = "WINNER!! Claim your free prize now, txt WIN to 80086 to claim"
MEDIA = ("email", "sms")
THRESHOLDS = {"email": 0.8, "sms": 0.3}


@dataclass(frozen=True)
class Mixture:
    vectorizer: Any
    model: MediumExperts
    emails: list[str]  # held-out emails (not fitted on)


def _emails(folder: Path, start: int, stop: int) -> list[str]:
    files = sorted(p for p in folder.iterdir() if p.is_file())[start:stop]
    return [text for text in (email_to_text(p.read_bytes()) for p in files) if text]


@pytest.fixture(scope="module")
def mixture(sms_collection_path: Path, spamassassin_dir: Path) -> Mixture:
    texts, labels = read_sms(sms_collection_path)
    texts, labels = texts[::10], labels[::10]
    ham, spam = (
        _emails(spamassassin_dir / "easy_ham", 0, 120),
        _emails(spamassassin_dir / "spam", 0, 80),
    )
    texts += ham + spam
    y = np.array([int(x == "spam") for x in labels] + [0] * len(ham) + [1] * len(spam))
    media = np.array(["sms"] * len(labels) + ["email"] * (len(ham) + len(spam)))
    vectorizer = make_vectorizer()
    features = vectorizer.fit_transform(texts)
    experts = [make_classifier().fit(features[media == m], y[media == m]) for m in MEDIA]
    gate = make_classifier({"C": 10.0}).fit(features, media)
    offsets = [np.log(THRESHOLDS[m] / (1 - THRESHOLDS[m])) for m in MEDIA]
    held_out = _emails(spamassassin_dir / "easy_ham", 200, 210)
    return Mixture(vectorizer, MediumExperts(MEDIA, gate, experts, offsets), held_out)


def test_predict_proba_is_the_gate_weighted_mixture(mixture: Mixture) -> None:
    texts = [SMS_HAM, SMS_SPAM, *mixture.emails]
    features = mixture.vectorizer.transform(texts)
    model = mixture.model
    proba = model.predict_proba(features)
    assert proba.shape == (len(texts), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert model.classes_.tolist() == [0, 1]
    gate = model.gate.predict_proba(features)
    expected = np.zeros(len(texts))
    for name, expert in zip(model.media, model.experts, strict=True):
        g = gate[:, list(model.gate.classes_).index(name)]
        z = expert.decision_function(features) - np.log(THRESHOLDS[name] / (1 - THRESHOLDS[name]))
        expected += g / (1 + np.exp(-z))
    assert proba[:, 1] == pytest.approx(expected, abs=1e-9)


def test_gate_routes_sms_to_the_sms_expert_and_emails_to_the_email_expert(mixture) -> None:
    texts = [SMS_HAM, "Sorry, I'll call later", *mixture.emails]
    routes = mixture.model.route(mixture.vectorizer.transform(texts))
    assert [MEDIA[i] for i in routes] == ["sms", "sms"] + ["email"] * len(mixture.emails)


def test_each_experts_own_threshold_maps_onto_half(mixture: Mixture) -> None:
    """With the gate sure of the medium, score >= 0.5 exactly when the expert's own
    probability reaches its medium's threshold."""
    features = mixture.vectorizer.transform([SMS_HAM, SMS_SPAM, *mixture.emails])
    model = mixture.model
    for k, name in enumerate(MEDIA):
        sure = np.zeros((features.shape[0], len(MEDIA)))
        sure[:, k] = 1.0
        own = model.experts[k].predict_proba(features)[:, 1]
        mixed = np.sum(sure * model.expert_scores(features), axis=1)
        assert ((mixed >= 0.5) == (own >= THRESHOLDS[name])).all()
        if name == "sms":  # SMS_HAM below, SMS_SPAM above: the comparison is not vacuous
            assert own[0] < THRESHOLDS[name] <= own[1]


def test_joblib_round_trip_scores_the_same(mixture: Mixture, tmp_path: Path) -> None:
    path = tmp_path / "spam_model.pkl"
    joblib.dump(mixture.model, path)
    loaded = joblib.load(path)
    features = mixture.vectorizer.transform([SMS_HAM, *mixture.emails])
    assert isinstance(loaded, MediumExperts)
    assert loaded.media == MEDIA
    assert np.array_equal(loaded.predict_proba(features), mixture.model.predict_proba(features))


def test_importing_the_module_does_not_import_scikit_learn() -> None:
    code = "import sys, chalicelib.experts; print('sklearn' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(API_DIR)},
    )
    assert out.stdout.strip() == "False"


def _live(vectorizer: Any, classifier: Any):
    ref = ArtifactRef(key="models/v1/x", sha256="0" * 64, size=1)
    manifest = Manifest(
        version="v1",
        created_at="2026-11-25T12:00:00Z",
        sklearn_version="1.7.2",
        threshold=0.5,
        labels={"spam": 1, "ham": 0},
        artifacts={"vectorizer": ref, "model": ref, "metrics": ref},
    )
    pointer = Pointer(manifest, PointerTag(PointerRead.CURRENT, current_etag='"e"'))
    return build_live_model(Artifacts(pointer, vectorizer, classifier), loaded_at=0.0)


def _expected_words(vectorizer: Any, weights: np.ndarray, text: str) -> dict[str, float]:
    row = vectorizer.transform([text])
    names = vectorizer.get_feature_names_out()
    out: dict[str, float] = {}
    for column, value in zip(row.indices, row.data, strict=True):
        if not names[column].startswith("word__"):
            continue
        words = names[column][len("word__") :].split()
        for word in words:
            out[word] = out.get(word, 0.0) + value * weights[column] / len(words)
    return out


def test_explain_uses_the_weights_of_the_expert_the_gate_picks(mixture: Mixture) -> None:
    model = _live(mixture.vectorizer, mixture.model)
    assert model.can_explain
    texts = [SMS_HAM, mixture.emails[0]]
    scored = model.score(texts, explain=True, top_n=1000)
    weights = mixture.model.spam_weights()
    for text, result, medium in zip(texts, scored, ("sms", "email"), strict=True):
        k = MEDIA.index(medium)
        own = _expected_words(mixture.vectorizer, weights[k], text)
        other = _expected_words(mixture.vectorizer, weights[1 - k], text)
        got = {item["word"]: item["weight"] for item in result.explanation}
        assert got, medium
        for word, weight in got.items():
            assert weight == pytest.approx(own[word], abs=1e-6)
        assert any(abs(own[w] - other[w]) > 1e-6 for w in got)
        direction = 1 if result.is_spam else -1
        assert all(w * direction > 0 for w in got.values())


def test_the_api_serves_a_published_mixture(
    mixture: Mixture, s3_client, bucket: str, make_runtime, chalice_app
) -> None:
    """Published to the registry like any model: /predict scores and explains, /model shows
    the media's own thresholds from the metrics summary."""
    summary = {"mcc": 0.9, "media": THRESHOLDS, "gate_accuracy": 0.99}
    bundle = make_bundle(
        mixture.vectorizer,
        mixture.model,
        labels={"spam": 1, "ham": 0},
        metrics_summary=summary,
    )
    publish(s3_client, bucket, PREFIX, bundle)
    make_runtime()
    with Client(chalice_app, stage_name="local", project_dir=str(API_DIR)) as client:
        texts = [SMS_SPAM, SMS_HAM, mixture.emails[0]]
        body = body_of(post(client, "/predict/batch", {"texts": texts, "explain": True}))
        expected = mixture.model.predict_proba(mixture.vectorizer.transform(texts))[:, 1]
        results = body["results"]
        assert [r["spam_probability"] for r in results] == pytest.approx(expected, abs=1e-6)
        assert [r["classification"] for r in results] == ["SPAM", "HAM", "HAM"]
        assert all(r["explanation"] for r in results)
        model = body_of(client.http.get("/model"))["model"]
        assert model["metrics"]["media"] == THRESHOLDS
        assert model["explainable"] is True
