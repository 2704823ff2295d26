"""``WordCharTfidfVectorizer`` gives exactly ``TfidfVectorizer``'s matrix, only faster.

Every comparison is bit for bit: the same sparse type, shape and dtype, the same CSR
structure (``indptr``, ``indices``) and the same bytes of values, on the shared corpora and on
generated text. The fast path reuses scikit-learn internals (its row normaliser, the
fitted ``TfidfTransformer`` behind ``idf_``), so this is what proves it again after every
scikit-learn upgrade.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from chalicelib.features import WordCharAnalyzer
from chalicelib.vectorizer import WordCharTfidfVectorizer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from trainer.data import load_sources

PARAMS = {"min_df": 2, "sublinear_tf": True, "dtype": np.float32}
AWKWARD = [
    "",
    "   \t\n ",
    "x",
    "ÀÉÎ straße İstanbul ΣΑΣ ΟΔΟΣ",  # lower() changes length (İ) and context (final sigma)
    "emoji 😀😀 and 👍🏽 skin tones",
    "nul\x00inside a\x00word",
    "lone \ud83d surrogate from JSON",
    "日本語のテキスト、句読点。",
    "tabs\tand\u00a0no-break\u2003spaces\u2028line",
    "a" * 300,
    "call 09061701461 now!!! £1000 ££££ www.win.co.uk",
]


def _pair(texts: list[str], **params) -> tuple[WordCharTfidfVectorizer, TfidfVectorizer]:
    options = {**PARAMS, **params}
    analyzer = options.pop("analyzer", WordCharAnalyzer())
    fast = WordCharTfidfVectorizer(analyzer=analyzer, **options).fit(texts)
    plain = TfidfVectorizer(analyzer=analyzer, **options).fit(texts)
    return fast, plain


def _assert_same(a, b) -> None:
    assert type(a) is type(b)
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert a.data.tobytes() == b.data.tobytes()


@pytest.fixture(scope="module")
def sms_texts(sms_collection_path: Path) -> list[str]:
    return [m.text for m in load_sources([str(sms_collection_path)])]


@pytest.fixture(scope="module")
def sms_pair(sms_texts: list[str]) -> tuple[WordCharTfidfVectorizer, TfidfVectorizer]:
    return _pair(sms_texts[:4000])


def test_same_matrix_as_tfidf_vectorizer_on_unseen_sms(sms_pair, sms_texts) -> None:
    fast, plain = sms_pair
    assert fast.uses_fast_path
    unseen = sms_texts[4000:] + AWKWARD
    _assert_same(fast.transform(unseen), plain.transform(unseen))
    assert fast.transform(unseen).has_sorted_indices


def test_same_matrix_one_message_at_a_time(sms_pair, sms_texts) -> None:
    fast, plain = sms_pair
    for text in sms_texts[4000:4200] + AWKWARD:
        _assert_same(fast.transform([text]), plain.transform([text]))


def test_fit_transform_is_tfidf_vectorizers(sms_texts) -> None:
    texts = sms_texts[:1500]
    fast = WordCharTfidfVectorizer(analyzer=WordCharAnalyzer(), **PARAMS)
    plain = TfidfVectorizer(analyzer=WordCharAnalyzer(), **PARAMS)
    _assert_same(fast.fit_transform(texts), plain.fit_transform(texts))
    _assert_same(fast.transform(texts), plain.transform(texts))


@pytest.mark.slow
def test_same_matrix_on_emails(spamassassin_dir: Path) -> None:
    """Long HTML-stripped emails with every charset the corpus has."""
    mail = [m.text for m in load_sources([str(spamassassin_dir)])]
    picked = mail[::12]
    fast, plain = _pair(picked[:300])
    assert fast.uses_fast_path
    _assert_same(fast.transform(picked[300:]), plain.transform(picked[300:]))


@pytest.mark.parametrize(
    ("word_ngrams", "char_ngrams"), [((1, 1), (3, 3)), ((1, 3), (1, 4)), ((0, 0), (2, 5))]
)
def test_same_matrix_for_other_ngram_ranges(sms_texts, word_ngrams, char_ngrams) -> None:
    analyzer = WordCharAnalyzer(word_ngrams=word_ngrams, char_ngrams=char_ngrams)
    fast, plain = _pair(sms_texts[:800], analyzer=analyzer, min_df=1)
    assert fast.uses_fast_path
    _assert_same(fast.transform(sms_texts[800:1200]), plain.transform(sms_texts[800:1200]))


@pytest.mark.parametrize(
    "options",
    [
        {"use_idf": False},
        {"norm": "l1"},
        {"norm": None},
        {"sublinear_tf": False, "smooth_idf": False},
        {"binary": True},
        {"dtype": np.float64},
    ],
    ids=["no-idf", "l1", "no-norm", "raw-tf-no-smoothing", "binary", "float64"],
)
def test_same_matrix_for_every_weighting(sms_texts, options) -> None:
    """Each branch of ``_weigh`` (term frequency, idf, normaliser) against scikit-learn's."""
    fast, plain = _pair(sms_texts[:1000], **options)
    assert fast.uses_fast_path
    _assert_same(fast.transform(sms_texts[1000:1400]), plain.transform(sms_texts[1000:1400]))
    _assert_same(fast.transform(sms_texts[1400:1401]), plain.transform(sms_texts[1400:1401]))


def test_words_only_vocabulary(sms_texts) -> None:
    analyzer = WordCharAnalyzer(word_ngrams=(1, 2), char_ngrams=(0, 0))
    fast, plain = _pair(sms_texts[:500], analyzer=analyzer)
    _assert_same(fast.transform(sms_texts[500:700]), plain.transform(sms_texts[500:700]))


vocabulary_text = st.text(
    alphabet=st.sampled_from(list("abcdeé fghij  \t\n.!£$0123ΣσςİI😀\x00")), max_size=40
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=st.lists(vocabulary_text, min_size=3, max_size=25),
    queries=st.lists(st.text(max_size=60), min_size=1, max_size=8),
)
def test_same_matrix_on_generated_text(corpus, queries) -> None:
    if not any(WordCharAnalyzer()(text) for text in corpus):
        return  # nothing to fit: both refuse an empty vocabulary
    fast, plain = _pair(corpus, min_df=1)
    assert fast.uses_fast_path
    for batch in (queries, corpus):
        _assert_same(fast.transform(batch), plain.transform(batch))


def test_joblib_round_trip_keeps_the_matrix_and_the_fast_path(sms_pair, sms_texts) -> None:
    fast, plain = sms_pair
    buffer = io.BytesIO()
    joblib.dump(fast, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert loaded.uses_fast_path
    assert loaded.vocabulary_ == fast.vocabulary_
    assert list(loaded.get_feature_names_out()) == list(plain.get_feature_names_out())
    _assert_same(loaded.transform(sms_texts[4000:]), plain.transform(sms_texts[4000:]))
    assert fast.uses_fast_path and fast.vocabulary_  # pickling left the original intact


def test_pickle_carries_the_vocabulary_as_one_string(sms_pair) -> None:
    """A dict of ~46,000 strings costs joblib's pure-Python unpickler ~0.2 s per cold start."""
    fast, _ = sms_pair
    state = fast.__getstate__()
    assert "vocabulary_" not in state and "_index" not in state
    assert isinstance(state["_vocabulary_joined"], str)
    assert len(state["_vocabulary_lengths"]) == len(fast.vocabulary_)
    restored = pickle.loads(pickle.dumps(fast))
    assert restored.vocabulary_ == fast.vocabulary_


def test_too_many_characters_to_pack_falls_back_to_scikit_learn() -> None:
    """5-character keys have 12 bits a character: 4,096 distinct ones are one too many."""
    chars = [chr(0x4E00 + i) for i in range(4200)]
    corpus = ["".join(chars[i : i + 3]) + " x" for i in range(0, 4200, 3)]
    fast, plain = _pair(corpus, min_df=1)
    assert not fast.uses_fast_path
    queries = [corpus[5], "x y", chars[10] + chars[11] + chars[12]]
    _assert_same(fast.transform(queries), plain.transform(queries))


def test_other_analyzers_use_scikit_learns_transform(sms_texts) -> None:
    fast = WordCharTfidfVectorizer(min_df=2).fit(sms_texts[:300])
    plain = TfidfVectorizer(min_df=2).fit(sms_texts[:300])
    assert not fast.uses_fast_path
    _assert_same(fast.transform(sms_texts[300:400]), plain.transform(sms_texts[300:400]))


def test_refuses_a_string_and_an_unfitted_state(sms_pair) -> None:
    fast, _ = sms_pair
    with pytest.raises(ValueError, match="string object received"):
        fast.transform("one text, not a list")
    with pytest.raises(NotFittedError):
        WordCharTfidfVectorizer(analyzer=WordCharAnalyzer()).transform(["hello"])


def test_word_tokens_out_names_the_word_features(sms_pair) -> None:
    fast, _ = sms_pair
    expected = [WordCharAnalyzer.word_of(n) for n in fast.get_feature_names_out()]
    assert fast.word_tokens_out().tolist() == expected
    assert sum(1 for t in expected if t) > 1000
