"""The live model: scoring, explanations for plain and FeatureUnion vectorizers, sanity checks."""

from __future__ import annotations

import pytest
from chalicelib.model import InvalidModelError, build_live_model
from chalicelib.registry import Artifacts, Pointer, PointerRead, PointerTag
from chalicelib.registry_format import ArtifactRef, Manifest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion

SPAM = "URGENT! You have won a FREE prize, call now to claim your reward"


def manifest(labels=None, threshold=0.5) -> Manifest:
    ref = ArtifactRef(key="models/v1/x", sha256="0" * 64, size=1)
    return Manifest(
        version="v1",
        created_at="2026-11-25T12:00:00Z",
        sklearn_version="1.7.2",
        threshold=threshold,
        labels=labels or {"spam": "spam", "ham": "ham"},
        artifacts={"vectorizer": ref, "model": ref, "metrics": ref},
    )


def live(vectorizer, classifier, **kwargs):
    pointer = Pointer(manifest(**kwargs), PointerTag(PointerRead.CURRENT, current_etag='"e"'))
    return build_live_model(Artifacts(pointer, vectorizer, classifier), loaded_at=0.0)


@pytest.fixture(scope="module")
def union_model(fitted):
    union = FeatureUnion(
        [
            ("word", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=3)),
        ]
    )
    matrix = union.fit_transform(fitted.texts)
    classifier = LogisticRegression(C=10.0, solver="liblinear").fit(matrix, fitted.labels)
    return union, classifier


def test_explanation_is_tfidf_times_coefficient(fitted) -> None:
    model = live(fitted.vectorizer, fitted.classifier)
    (scored,) = model.score([SPAM], explain=True, top_n=100)
    row = fitted.vectorizer.transform([SPAM])
    names = fitted.vectorizer.get_feature_names_out()
    coef = fitted.classifier.coef_[0] * (1 if fitted.classifier.classes_[1] == "spam" else -1)
    expected: dict[str, float] = {}
    for column, value in zip(row.indices, row.data, strict=True):
        words = names[column].split()
        for word in words:
            expected[word] = expected.get(word, 0.0) + value * coef[column] / len(words)
    got = {item["word"]: item["weight"] for item in scored.explanation}
    assert got
    for word, weight in got.items():
        assert weight == pytest.approx(expected[word], abs=1e-6)
    toward_spam = sorted((w for w in expected.values() if w > 0), reverse=True)
    assert sorted(got.values(), reverse=True) == pytest.approx(toward_spam, abs=1e-6)


def explained_words(model) -> list[str]:
    """The words explaining ``SPAM``, checked: there are some, each a whole word of the
    text with no ``__`` feature prefix, and spammy ones among them."""
    assert model.can_explain
    (scored,) = model.score([SPAM], explain=True, top_n=50)
    words = [item["word"] for item in scored.explanation]
    assert words
    lowered = SPAM.lower()
    for word in words:
        assert "__" not in word
        assert word in lowered  # a whole word of the text, never a char n-gram
    assert {"free", "prize", "claim", "won", "urgent"} & set(words)
    return words


def test_feature_union_reports_only_word_features(union_model) -> None:
    union, classifier = union_model
    for word in explained_words(live(union, classifier)):
        assert " " not in word, word


@pytest.mark.slow  # fits the word and character analyzer on the corpus: seconds
def test_word_char_analyzer_explains_with_its_word_features_only(fitted) -> None:
    from chalicelib.features import WordCharAnalyzer

    vectorizer = TfidfVectorizer(analyzer=WordCharAnalyzer(char_ngrams=(3, 4)), min_df=2)
    matrix = vectorizer.fit_transform(fitted.texts)
    classifier = LogisticRegression(C=10.0, solver="liblinear").fit(matrix, fitted.labels)
    model = live(vectorizer, classifier)
    explained_words(model)
    (ham,) = model.score(["see you at lunch tomorrow"], explain=True)
    assert not ham.is_spam and all(item["weight"] < 0 for item in ham.explanation)


def test_non_linear_classifier_scores_without_explanation(fitted) -> None:
    counts = CountVectorizer().fit(fitted.texts)
    bayes = MultinomialNB().fit(counts.transform(fitted.texts), fitted.labels)
    model = live(counts, bayes)
    assert not model.can_explain
    (scored,) = model.score([SPAM], explain=True)
    assert scored.is_spam and scored.explanation == []


def test_a_vectorizer_no_version_published_scores_without_explanation(fitted) -> None:
    """Explanations cover the shapes a registry can hold (tests/fixtures/models); a
    Pipeline was never published, so it is served but not explained."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(CountVectorizer(), TfidfTransformer()).fit(fitted.texts)
    matrix = pipeline.transform(fitted.texts)
    classifier = LogisticRegression(C=10.0, solver="liblinear").fit(matrix, fitted.labels)
    model = live(pipeline, classifier)
    assert not model.can_explain
    (scored,) = model.score([SPAM], explain=True)
    assert scored.is_spam and scored.explanation == []


def test_numeric_labels_pick_the_right_column(legacy_pair) -> None:
    import io

    import joblib

    vectorizer, classifier = (joblib.load(io.BytesIO(b)) for b in legacy_pair)
    model = live(vectorizer, classifier, labels={"spam": 0, "ham": 1})
    assert model.spam_index == 0
    (scored,) = model.score([SPAM], explain=True)
    assert scored.is_spam and scored.explanation[0]["weight"] > 0


def test_threshold_decides(fitted) -> None:
    probability = live(fitted.vectorizer, fitted.classifier).score([SPAM])[0].spam_probability
    strict = live(fitted.vectorizer, fitted.classifier, threshold=min(0.999, probability + 0.001))
    assert not strict.score([SPAM])[0].is_spam


@pytest.mark.parametrize(
    ("labels", "match"),
    [({"spam": "junk", "ham": "ham"}, "do not match"), ({"spam": 1, "ham": 0}, "do not match")],
)
def test_labels_that_do_not_match_the_classes_are_refused(fitted, labels, match) -> None:
    with pytest.raises(InvalidModelError, match=match):
        live(fitted.vectorizer, fitted.classifier, labels=labels)


def test_objects_that_are_not_a_model_are_refused(fitted) -> None:
    with pytest.raises(InvalidModelError, match="predict_proba"):
        live(fitted.vectorizer, {"not": "a model"})
    unfitted = TfidfVectorizer()
    with pytest.raises(InvalidModelError, match="probe"):
        live(unfitted, fitted.classifier)
