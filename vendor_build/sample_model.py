"""A tiny spam model for checking a layer when no trained model is at hand.

It is trained with the building environment's scikit-learn (the pinned one, the same as
the layer's) and pickled with joblib, exactly as the trainer stores its artifacts, so
loading it inside the layer exercises the same unpickling path as the API.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHECK_EXAMPLES", "SPAM_LABEL", "TRAINING_MESSAGES", "train_sample_model"]

SPAM_LABEL = "spam"

TRAINING_MESSAGES: tuple[tuple[str, str], ...] = (
    ("WINNER!! You have been selected to receive a free prize. Call now to claim", "spam"),
    ("Congratulations, you won a cash prize! Text CLAIM to 80082 now", "spam"),
    ("URGENT! Your mobile number has won a free holiday, call to claim your prize", "spam"),
    ("Free entry in a weekly competition to win cash, text WIN to 87121", "spam"),
    ("You have won a guaranteed cash award, call 09061701461 to claim now", "spam"),
    ("Claim your free ringtone now! Reply FREE to this message", "spam"),
    ("Limited offer: win a brand new phone, text PRIZE to 85069 free", "spam"),
    ("Your account has a free cash bonus waiting, claim it now by calling", "spam"),
    ("Are we still meeting for lunch tomorrow?", "ham"),
    ("I'll be home late tonight, can you feed the cat", "ham"),
    ("Thanks for dinner yesterday, it was lovely to see you", "ham"),
    ("Can you send me the notes from today's lecture", "ham"),
    ("Running a bit late, see you at the station in ten minutes", "ham"),
    ("Happy birthday! Hope you have a great day with the family", "ham"),
    ("Did you finish the report for the meeting on Monday", "ham"),
    ("Let me know when you get home so I know you are safe", "ham"),
)

CHECK_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("WINNER! Claim your free cash prize now, call to claim", "spam"),
    ("Text WIN to claim a free prize now", "spam"),
    ("See you at lunch tomorrow, thanks for the notes", "ham"),
    ("Can you call me when you get home tonight", "ham"),
)


def train_sample_model(model_dir: Path) -> Path:
    """Fit TF-IDF + logistic regression on the built-in messages; write the two pickles.

    Returns ``model_dir`` holding ``vectorizer.pkl`` and ``spam_model.pkl`` (labels are the
    strings ``"spam"``/``"ham"``).
    """
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    texts = [text for text, _ in TRAINING_MESSAGES]
    labels = [label for _, label in TRAINING_MESSAGES]
    vectorizer = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=10.0, max_iter=1000)
    model.fit(vectorizer.fit_transform(texts), labels)
    joblib.dump(vectorizer, model_dir / "vectorizer.pkl")
    joblib.dump(model, model_dir / "spam_model.pkl")
    return model_dir
