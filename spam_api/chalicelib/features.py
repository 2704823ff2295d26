"""Word and character n-grams in one pass: the text features both trainer and API use.

A ``FeatureUnion`` of a word and a character ``TfidfVectorizer`` scores well, but for one
short message most of the time goes to fixed per-call costs that the union pays twice,
plus its own joblib dispatch and sparse ``hstack``: measured here about 4x the tutorial's
single vectorizer per request. ``WordCharAnalyzer`` gives one ``TfidfVectorizer`` the same
features (word 1-2-grams and ``char_wb`` 2-5-grams), so a request pays those costs once.

It lives in ``chalicelib`` because a fitted vectorizer pickles a *reference* to its
analyzer: the class must be importable wherever the model is loaded, and ``chalicelib``
ships with the function. It is pure Python with no imports beyond ``re``.

Feature names are namespaced, as in a ``FeatureUnion`` named ``word`` and ``char``::

    word__free           a word unigram (lower-cased, tokens match ``\\b\\w+\\b``)
    word__call now       a word bigram
    char__ fre           a character n-gram inside word boundaries, space-padded

>>> analyzer = WordCharAnalyzer(word_ngrams=(1, 2), char_ngrams=(3, 3))
>>> analyzer("Free call")  # doctest: +NORMALIZE_WHITESPACE
['word__free', 'word__call', 'word__free call', 'char__ fr', 'char__fre', 'char__ree',
 'char__ee ', 'char__ ca', 'char__cal', 'char__all', 'char__ll ']
>>> analyzer.word_of("word__free call"), analyzer.word_of("char__fre")
('free call', '')
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["CHAR_PREFIX", "WORD_PREFIX", "WordCharAnalyzer"]

WORD_PREFIX = "word__"
CHAR_PREFIX = "char__"


@lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class WordCharAnalyzer:
    """A picklable ``analyzer`` for ``TfidfVectorizer``: word and ``char_wb`` n-grams.

    Parameters
    ----------
    word_ngrams : (min_n, max_n) of word n-grams; ``(0, 0)`` for none.
    char_ngrams : (min_n, max_n) of character n-grams within words; ``(0, 0)`` for none.
    token_pattern : regular expression of a word, as ``TfidfVectorizer``'s.

    See Also
    --------
    sklearn.feature_extraction.text.TfidfVectorizer : ``analyzer="char_wb"`` is the same
        character scheme; this class only merges it with words in one call.
    """

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        token_pattern: str = r"(?u)\b\w+\b",  # noqa: S107 - a regex, not a password
    ) -> None:
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.token_pattern = token_pattern

    def __call__(self, document: str) -> list[str]:
        """All features of one document, in order: word n-grams, then character n-grams."""
        text = document.lower()
        features: list[str] = []
        word_min, word_max = self.word_ngrams
        if word_max > 0:
            tokens = _compiled(self.token_pattern).findall(text)
            for n in range(max(word_min, 1), word_max + 1):
                if n == 1:
                    features.extend(WORD_PREFIX + token for token in tokens)
                else:
                    features.extend(
                        WORD_PREFIX + " ".join(tokens[i : i + n])
                        for i in range(len(tokens) - n + 1)
                    )
        char_min, char_max = self.char_ngrams
        if char_max > 0:
            for word in text.split():
                padded = f" {word} "
                length = len(padded)
                for n in range(max(char_min, 1), char_max + 1):
                    if n > length:
                        break
                    features.extend(CHAR_PREFIX + padded[i : i + n] for i in range(length - n + 1))
        return features

    @staticmethod
    def word_of(feature_name: str) -> str:
        """The word n-gram a feature stands for, or ``""`` for a character feature."""
        return feature_name[len(WORD_PREFIX) :] if feature_name.startswith(WORD_PREFIX) else ""

    def __repr__(self) -> str:
        return f"WordCharAnalyzer(word_ngrams={self.word_ngrams}, char_ngrams={self.char_ngrams})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordCharAnalyzer) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((self.word_ngrams, self.char_ngrams, self.token_pattern))
