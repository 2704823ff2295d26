"""The tutorial's training script, rebuilt: the baseline for training time and its model.

``python -m bench.tutorial_train --data SMS --bucket B`` loads the data, takes the same
training part as the trainer (so quality compares like with like), fits the tutorial's
pipeline once with its defaults (``TfidfVectorizer(min_df=1, stop_words='english',
lowercase=True)`` + ``LogisticRegression()``, label 1 = ham), prints its holdout
accuracy as the tutorial did, and uploads the two pickles to the bucket root, where the
tutorial's handler reads them. S3 is wherever boto3's environment points
(``AWS_ENDPOINT_URL_S3``).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from typing import Any

__all__ = ["fit_tutorial", "main", "spam_scores"]


def fit_tutorial(texts: Sequence[str], y_spam: Sequence[int]) -> tuple[Any, Any]:
    """Fit the tutorial's pipeline; ``y_spam`` is 1 = spam, refitted as the tutorial's 1 = ham."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(min_df=1, stop_words="english", lowercase=True)
    features = vectorizer.fit_transform(list(texts))
    model = LogisticRegression().fit(features, [1 - int(v) for v in y_spam])
    return vectorizer, model


def spam_scores(vectorizer: Any, model: Any, texts: Sequence[str]) -> list[float]:
    """P(spam) from the tutorial's model, whose class 0 is spam."""
    column = list(model.classes_).index(0)
    return model.predict_proba(vectorizer.transform(list(texts)))[:, column].tolist()


def main(argv: list[str] | None = None) -> None:
    """Train, report accuracy, upload ``spam_model.pkl`` and ``vectorizer.pkl``."""
    import boto3
    import joblib

    from bench.split import holdout
    from trainer.data import load_sources

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--bucket", required=True)
    args = parser.parse_args(argv)

    split = holdout(load_sources(args.data))
    vectorizer, model = fit_tutorial(split.train_texts, split.train_y)
    predicted = model.predict(vectorizer.transform(split.test_texts))
    correct = sum(int(p) == 1 - y for p, y in zip(predicted, split.test_y, strict=True))
    print(f"tutorial pipeline holdout accuracy: {correct / len(split.test_y):.4f}")
    s3 = boto3.client("s3")
    for key, obj in (("spam_model.pkl", model), ("vectorizer.pkl", vectorizer)):
        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        s3.put_object(Bucket=args.bucket, Key=key, Body=buffer.getvalue())
    print(f"uploaded spam_model.pkl and vectorizer.pkl to s3://{args.bucket}/")


if __name__ == "__main__":
    main()
