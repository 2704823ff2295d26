"""``WordCharTfidfVectorizer``: the model's TF-IDF, counted with numpy at request time.

A ``TfidfVectorizer`` with a ``WordCharAnalyzer`` spends most of each request in Python:
the analyzer builds a few hundred n-gram strings per message and scikit-learn looks
each one up in ``vocabulary_``. That cost is per message, so a batch of 100 gained only
~3x per message over single calls. This subclass fits exactly as ``TfidfVectorizer``
does, then indexes its vocabulary so that ``transform`` counts the same n-grams without
building them:

- character n-grams: every character of the batch becomes a small integer (its rank in
  the alphabet of the vocabulary's character features, 0 for any other character), and
  an n-gram becomes those integers packed into one ``uint64``; all windows of all words
  of all messages are packed and looked up in one hash table (``chalicelib.keytable``). The packing
  is exact (no hashing): two n-grams share a key only if they are the same string, and a
  window holding a character outside the alphabet cannot be a feature, so it is dropped.
- word n-grams: ``re.findall`` per message, then one C-level ``map`` of ``dict.get``
  over the tokens and bigrams of the whole batch, without the ``word__`` strings.

The counts go through the fitted ``TfidfTransformer`` unchanged, so ``transform`` gives
the same matrix as ``TfidfVectorizer.transform`` (the tests compare them on the corpora
and on generated text). Whenever the fast path does not apply (another analyzer, an
alphabet too large to pack), it falls back to scikit-learn's own ``transform``.

Pickles carry ``vocabulary_`` as one string and an array of lengths instead of a dict of
tens of thousands of strings: joblib unpickles with the pure-Python unpickler, which
spent much of every cold start on that dict. The index is rebuilt on load instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, islice, repeat
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import (
    inplace_csr_row_normalize_l1,
    inplace_csr_row_normalize_l2,
)

from chalicelib.features import CHAR_PREFIX, WORD_PREFIX, WordCharAnalyzer
from chalicelib.keytable import KeyTable

__all__ = ["WordCharTfidfVectorizer"]

_SEPARATOR = "\x00"  # between padded words; its positions are forced to "unknown"
_MAX_CODE_POINT = 0x110000
_NORMALIZERS = {"l2": inplace_csr_row_normalize_l2, "l1": inplace_csr_row_normalize_l1, None: None}


@dataclass(frozen=True)
class _NGramIndex:
    """Column of every word n-gram and packed character n-gram of a fitted vocabulary."""

    n_features: int
    word_columns: dict[str, int]  # "free", "call now" -> column
    char_ids: np.ndarray  # code point -> rank in the alphabet (1-based), 0 = not in it
    char_columns: KeyTable  # packed character n-gram (uint64) -> column
    bits: int  # bits per character in a packed key


def _pack(ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray, bits: int) -> np.ndarray:
    """Packed keys of the n-grams ``ids[start:start + length]``: character j at bits*j."""
    keys = np.zeros(starts.size, dtype=np.uint64)
    for j in range(int(lengths.max(initial=0))):
        longer = lengths > j
        keys[longer] |= ids[starts[longer] + j].astype(np.uint64) << np.uint64(bits * j)
    return keys


def _flatten(terms: Sequence[str]) -> tuple[str, np.ndarray]:
    """Feature names in column order as one string and their lengths (the pickled form)."""
    return "".join(terms), np.fromiter(map(len, terms), dtype=np.int32, count=len(terms))


def _build_index(joined: str, lengths: np.ndarray, char_max: int) -> _NGramIndex | None:
    """The lookup tables for ``transform`` from the feature names in column order.

    Vectorised over the names' code points: a cold start pays it, so no Python loop over
    the tens of thousands of character features. None when the vocabulary's characters
    cannot be packed into 64-bit keys.
    """
    codes = _code_points(joined)
    lengths = lengths.astype(np.intp)
    ends = np.cumsum(lengths)
    starts = ends - lengths

    def named(prefix: str) -> np.ndarray:
        found = lengths >= len(prefix)
        for offset, char in enumerate(prefix):
            at = np.minimum(starts + offset, max(codes.size - 1, 0))
            found &= codes[at] == ord(char) if codes.size else False
        return np.flatnonzero(found)

    words = named(WORD_PREFIX)
    word_slices = map(slice, (starts[words] + len(WORD_PREFIX)).tolist(), ends[words].tolist())
    word_columns = dict(zip(map(joined.__getitem__, word_slices), words.tolist(), strict=True))
    grams = named(CHAR_PREFIX)
    gram_starts = starts[grams] + len(CHAR_PREFIX)
    gram_lengths = lengths[grams] - len(CHAR_PREFIX)
    # the characters of the character features (distinct names never overlap in `joined`)
    edges = np.zeros(codes.size + 1, dtype=np.int8)
    edges[gram_starts] = 1
    edges[gram_starts + gram_lengths] -= 1
    present = np.zeros(_MAX_CODE_POINT, dtype=bool)
    present[codes[np.cumsum(edges[:-1], dtype=np.int8) > 0]] = True
    alphabet = np.flatnonzero(present)
    bits = 64 // max(char_max, 1)
    if alphabet.size >= min(2**bits, 2**16) or gram_lengths.max(initial=0) > char_max:
        return None
    char_ids = np.zeros(_MAX_CODE_POINT, dtype=np.uint16)
    char_ids[alphabet] = np.arange(1, alphabet.size + 1, dtype=np.uint16)
    keys = _pack(char_ids[codes], gram_starts, gram_lengths, bits)
    return _NGramIndex(lengths.size, word_columns, char_ids, KeyTable.build(keys, grams), bits)


def _code_points(text: str) -> np.ndarray:
    """The code points of ``text`` (lone surrogates included, as JSON can carry them)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _word_ngrams(tokens: list[str], n: int) -> Iterable[str]:
    if n == 1:
        return tokens
    return map(" ".join, zip(*(islice(tokens, i, None) for i in range(n)), strict=False))


class WordCharTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` whose ``transform`` counts ``WordCharAnalyzer`` n-grams with numpy.

    Same parameters and fitted attributes as ``TfidfVectorizer``; give it
    ``analyzer=WordCharAnalyzer(...)`` for the fast path (see the module docstring).

    >>> from chalicelib.features import WordCharAnalyzer
    >>> texts = ["win a free prize now", "free lunch at noon", "win now"]
    >>> fast = WordCharTfidfVectorizer(analyzer=WordCharAnalyzer()).fit(texts)
    >>> plain = TfidfVectorizer(analyzer=WordCharAnalyzer()).fit(texts)
    >>> query = ["a free win!"]
    >>> fast.uses_fast_path, (fast.transform(query) != plain.transform(query)).nnz
    (True, 0)
    """

    def fit(self, raw_documents: Iterable[Any], y: Any = None) -> WordCharTfidfVectorizer:
        super().fit(raw_documents, y)
        self._index = self._make_index()
        return self

    def fit_transform(self, raw_documents: Iterable[Any], y: Any = None) -> sparse.csr_matrix:
        matrix = super().fit_transform(raw_documents, y)
        self._index = self._make_index()
        return matrix

    @property
    def uses_fast_path(self) -> bool:
        """Whether ``transform`` counts with numpy (else it is scikit-learn's own)."""
        return getattr(self, "_index", None) is not None

    def transform(self, raw_documents: Iterable[Any]) -> sparse.csr_matrix:
        index = getattr(self, "_index", None)
        if index is None or isinstance(raw_documents, str) or self.norm not in _NORMALIZERS:
            return super().transform(raw_documents)
        counts = self._count(index, [self.decode(doc) for doc in raw_documents])
        if self.binary:
            counts.data.fill(1)
        return self._weigh(counts)

    def _weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """``TfidfTransformer.transform`` step by step, minus its input validation.

        The same numpy operations in the same order (and scikit-learn's own row
        normaliser), so the result is bit for bit the one ``TfidfVectorizer`` returns;
        the validation it skips costs more than the rest for one short message (which is
        why the public ``sklearn.preprocessing.normalize`` is not used). The parameters
        and ``idf_`` are the public ones; ``idf_`` is absent when ``use_idf`` is false.
        """
        data = counts.data
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        idf = getattr(self, "idf_", None)
        if idf is not None:
            data *= idf[counts.indices]
        if self.norm is not None:
            _NORMALIZERS[self.norm](counts)
        return counts

    def word_tokens_out(self) -> np.ndarray:
        """The word n-gram of every column, "" for character features (for explanations).

        The same as ``analyzer.word_of`` over ``get_feature_names_out()``, without a Python
        call per feature at model load. This is the vectorizer side of the API's explain
        contract, ``chalicelib.model.WordFeatures``.
        """
        index = getattr(self, "_index", None)
        if index is None:
            word_of = self.analyzer.word_of
            return np.asarray([word_of(n) for n in self.get_feature_names_out()], dtype=object)
        tokens = np.full(index.n_features, "", dtype=object)
        tokens[list(index.word_columns.values())] = list(index.word_columns)
        return tokens

    def _make_index(self) -> _NGramIndex | None:
        analyzer = self.analyzer
        if not isinstance(analyzer, WordCharAnalyzer) or self.input != "content":
            return None
        vocabulary = self.vocabulary_
        joined, lengths = _flatten(sorted(vocabulary, key=vocabulary.__getitem__))
        return _build_index(joined, lengths, analyzer.char_ngrams[1])

    def _count(self, index: _NGramIndex, documents: list[str]) -> sparse.csr_matrix:
        """Document-term counts, as ``CountVectorizer`` would make them with the analyzer."""
        analyzer: WordCharAnalyzer = self.analyzer
        lowered = [doc.lower() for doc in documents]
        word_rows, word_cols = self._count_words(index, analyzer, lowered)
        char_rows, char_cols = self._count_chars(index, analyzer, lowered)
        n_documents, n_features = len(documents), index.n_features
        # one sort of (row, column) pairs gives the counts in CSR order
        pairs = np.concatenate((word_rows, char_rows)) * n_features
        pairs += np.concatenate((word_cols, char_cols))
        pairs, counts = np.unique(pairs, return_counts=True)
        rows = pairs // n_features
        indptr = np.searchsorted(rows, np.arange(n_documents + 1))
        return sparse.csr_matrix(
            (counts.astype(self.dtype), pairs - rows * n_features, indptr),
            shape=(n_documents, n_features),
        )

    @staticmethod
    def _count_words(
        index: _NGramIndex, analyzer: WordCharAnalyzer, lowered: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Word n-grams of the whole batch at once: n-grams spanning two messages are
        looked up too (cheap, with C-level ``map``) and then dropped."""
        low, high = analyzer.word_ngrams
        findall = re.compile(analyzer.token_pattern).findall
        per_document = [findall(text) for text in lowered]
        tokens = list(chain.from_iterable(per_document))
        counts = np.fromiter(map(len, per_document), dtype=np.intp, count=len(lowered))
        document = np.repeat(np.arange(len(lowered)), counts)
        get = index.word_columns.get
        rows, columns = [np.zeros(0, np.intp)], [np.zeros(0, np.intp)]
        for n in range(max(low, 1), high + 1) if high > 0 else ():
            grams = len(tokens) - n + 1
            if grams <= 0:
                break
            found = np.fromiter(
                map(get, _word_ngrams(tokens, n), repeat(-1)), dtype=np.intp, count=grams
            )
            first = document[:grams]
            keep = (found >= 0) & (document[n - 1 :] == first)
            rows.append(first[keep])
            columns.append(found[keep])
        return np.concatenate(rows), np.concatenate(columns)

    @staticmethod
    def _count_chars(
        index: _NGramIndex, analyzer: WordCharAnalyzer, lowered: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        low, high = analyzer.char_ngrams
        empty = np.zeros(0, dtype=np.intp)
        words_per_document = [text.split() for text in lowered]
        words = list(chain.from_iterable(words_per_document))
        if high <= 0 or not words or index.char_columns.size == 0:
            return empty, empty
        # " w1 \0 w2 \0 w3 ": each word padded with spaces, as the analyzer does, and
        # separated by a character that is marked unknown so no window spans two words
        text = " " + f" {_SEPARATOR} ".join(words) + " "
        ids = index.char_ids[_code_points(text)]
        lengths = np.fromiter(map(len, words), dtype=np.intp, count=len(words)) + 3
        ids[np.cumsum(lengths)[:-1] - 1] = 0
        n_words = np.fromiter(map(len, words_per_document), np.intp, len(words_per_document))
        document = np.repeat(np.repeat(np.arange(len(lowered)), n_words), lengths)[: ids.size]
        unknown = np.concatenate(([0], np.cumsum(ids == 0)))
        wide = ids.astype(np.uint64)
        keys = wide
        found_keys, found_rows = [], []
        for n in range(1, high + 1):
            windows = ids.size - n + 1
            if windows <= 0:
                break
            if n > 1:
                keys = keys[:windows] | (wide[n - 1 :] << np.uint64(index.bits * (n - 1)))
            if n >= max(low, 1):
                clean = unknown[n:] == unknown[:windows]
                found_keys.append(keys[clean])
                found_rows.append(document[:windows][clean])
        columns = index.char_columns.lookup(np.concatenate(found_keys))
        hit = columns >= 0
        return np.concatenate(found_rows)[hit], columns[hit].astype(np.intp)

    # -- pickling: the vocabulary as one string, the index rebuilt on load -----------------

    @property
    def vocabulary_(self) -> dict[str, int]:
        """``TfidfVectorizer.vocabulary_``, unpacked from the pickled form on first use.

        A loaded model serves requests from its index alone; only scikit-learn's own code
        paths (``get_feature_names_out``, a fallback ``transform``) need the dict.
        """
        vocabulary = self.__dict__.get("_vocabulary")
        if vocabulary is None:
            packed = self.__dict__.get("_packed_vocabulary")
            if packed is None:
                raise AttributeError("vocabulary_")  # not fitted: hasattr() is False
            joined, lengths = packed
            ends = np.cumsum(lengths, dtype=np.intp).tolist()
            terms = map(joined.__getitem__, map(slice, [0, *ends[:-1]], ends))
            vocabulary = dict(zip(terms, range(len(ends)), strict=True))
            self.__dict__["_vocabulary"] = vocabulary
        return vocabulary

    @vocabulary_.setter
    def vocabulary_(self, vocabulary: dict[str, int]) -> None:
        self.__dict__["_vocabulary"] = vocabulary
        self.__dict__.pop("_packed_vocabulary", None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__
        state.pop("_index", None)
        vocabulary = state.pop("_vocabulary", None)
        packed = state.pop("_packed_vocabulary", None)
        if vocabulary is not None:
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            if [vocabulary[t] for t in terms] == list(range(len(terms))):  # a fitted vocabulary
                packed = _flatten(terms)
            else:  # not a 0..n-1 vocabulary: keep it as it is
                state["_vocabulary"] = vocabulary
        if packed is not None:
            state["_vocabulary_joined"], state["_vocabulary_lengths"] = packed
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        joined = state.pop("_vocabulary_joined", None)
        lengths = state.pop("_vocabulary_lengths", None)
        super().__setstate__(state)
        self._index = None
        if joined is not None and lengths is not None:
            self.__dict__["_packed_vocabulary"] = (joined, lengths)
            if isinstance(self.analyzer, WordCharAnalyzer) and self.input == "content":
                self._index = _build_index(joined, lengths, self.analyzer.char_ngrams[1])
