"""Every model shape a registry can hold still loads, scores and explains (persistence contract).

``tests/fixtures/models`` holds one published pair of each shape: the tutorial's bucket-root
pickles and what each earlier trainer version published (its ``make_fixtures.py`` says which
commit built which, and regenerates them in one command). Each pair goes through the API's
own loading path (``RegistryReader`` over an in-memory S3, then ``build_live_model``), so the
pickles, which name ``chalicelib.features``, ``chalicelib.vectorizer`` and
``chalicelib.experts`` by module path, must still unpickle, and the answers must match the
ones ``make_fixtures.py`` worked out without ``chalicelib.model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sklearn
from chalicelib.model import ExpertWeights, LiveModel, WordFeatures, build_live_model
from chalicelib.registry import RegistryReader
from chalicelib.registry_format import LEGACY_MODEL_KEY, LEGACY_VECTORIZER_KEY

from trainer.registry import ModelBundle, publish

from .conftest import PREFIX
from .fakes import FakeS3

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
SHAPES = sorted(EXPECTED["models"])
BUCKET = "fixture-bucket"


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _load(name: str) -> LiveModel:
    """Publish the fixture as its version did, then load it as the API does."""
    shape = EXPECTED["models"][name]
    vectorizer_pkl = (FIXTURES / name / "vectorizer.pkl").read_bytes()
    model_pkl = (FIXTURES / name / "spam_model.pkl").read_bytes()
    s3 = FakeS3()
    s3.create_bucket(Bucket=BUCKET)
    if shape["layout"] == "legacy":
        s3.put_object(Bucket=BUCKET, Key=LEGACY_VECTORIZER_KEY, Body=vectorizer_pkl)
        s3.put_object(Bucket=BUCKET, Key=LEGACY_MODEL_KEY, Body=model_pkl)
    else:
        bundle = ModelBundle(
            vectorizer_pkl=vectorizer_pkl,
            model_pkl=model_pkl,
            metrics={},
            threshold=shape["threshold"],
            labels=shape["labels"],
            sklearn_version=EXPECTED["sklearn_version"],
            metrics_summary={},
        )
        publish(s3, BUCKET, PREFIX, bundle)
    reader = RegistryReader(s3, BUCKET, PREFIX)
    pointer = reader.fetch_pointer()
    assert pointer is not None
    assert pointer.legacy == (shape["layout"] == "legacy")
    return build_live_model(reader.load(pointer), loaded_at=0.0)


@pytest.fixture(scope="module")
def loaded() -> dict[str, LiveModel]:
    if EXPECTED["sklearn_version"] != sklearn.__version__:
        pytest.fail(
            f"the fixtures were pickled by scikit-learn {EXPECTED['sklearn_version']}, this is "
            f"{sklearn.__version__}; regenerate them: {EXPECTED['regenerate']}"
        )
    return {name: _load(name) for name in SHAPES}


@pytest.mark.parametrize("name", SHAPES)
def test_published_pickles_load_by_module_path(loaded, name: str) -> None:
    model, shape = loaded[name], EXPECTED["models"][name]
    assert _type_name(model.vectorizer) == shape["types"]["vectorizer"]
    assert _type_name(model.classifier) == shape["types"]["classifier"]
    if "analyzer" in shape["types"]:
        assert _type_name(model.vectorizer.analyzer) == shape["types"]["analyzer"]
    assert model.threshold == shape["threshold"]
    assert model.can_explain


@pytest.mark.parametrize("name", SHAPES)
def test_published_models_score_and_explain_as_recorded(loaded, name: str) -> None:
    model, answers = loaded[name], EXPECTED["models"][name]["answers"]
    scored = model.score([a["text"] for a in answers], explain=True, top_n=EXPECTED["top_n"])
    for answer, got in zip(answers, scored, strict=True):
        assert got.spam_probability == pytest.approx(answer["spam_probability"], abs=1e-9)
        assert got.is_spam == answer["is_spam"]
        assert [e["word"] for e in got.explanation] == [e["word"] for e in answer["explanation"]]
        for mine, recorded in zip(got.explanation, answer["explanation"], strict=True):
            assert mine["weight"] == pytest.approx(recorded["weight"], abs=1e-6)


def test_the_fixtures_explain_both_verdicts_and_both_experts() -> None:
    """The probes are worth checking: each shape calls one spam and one ham with words,
    and the mixtures route some texts to each expert."""
    for name in SHAPES:
        answers = EXPECTED["models"][name]["answers"]
        for verdict in (True, False):
            assert any(a["is_spam"] is verdict and a["explanation"] for a in answers), name
        experts = {a["expert"] for a in answers if "expert" in a}
        assert experts in (set(), {"email", "sms"}), name


def test_what_the_trainer_publishes_today_implements_the_explain_protocols(loaded) -> None:
    """The current shapes state the contract themselves; older shapes go through adapters."""
    current = loaded["medium_experts"]
    assert isinstance(current.vectorizer, WordFeatures)
    assert isinstance(current.classifier, ExpertWeights)
    assert isinstance(loaded["word_char_tfidf"].vectorizer, WordFeatures)
    for name in ("tutorial", "feature_union", "word_char_analyzer"):
        assert not isinstance(loaded[name].vectorizer, WordFeatures)


def test_mixtures_route_each_text_to_the_recorded_expert(loaded) -> None:
    for name in ("medium_experts", "medium_experts_analyzer"):
        model, answers = loaded[name], EXPECTED["models"][name]["answers"]
        matrix = model.vectorizer.transform([a["text"] for a in answers])
        routes = model.classifier.route(matrix)
        assert [model.classifier.media[i] for i in routes] == [a["expert"] for a in answers]
