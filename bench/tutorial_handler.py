"""The original tutorial's Lambda handler, rebuilt as the baseline the benchmarks compare with.

The tutorial loaded two root-level pickles from S3 when the module was imported and then,
per request: parsed the API Gateway event's JSON body, ran ``vectorizer.transform([text])``
and ``model.predict``, mapped class 1 to ``HAM`` (it trained on numeric labels, 1 = ham)
and returned ``json.dumps`` of the answer. No validation, no probability, no threshold:
that is what makes it the floor our handler's extra work is measured against.

Standard library at import time (joblib and boto3 only inside ``load_from_s3``), so the
cold-start bench can run this file as ``lambda_function.py`` beside a bare layer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["TUTORIAL_HEADERS", "lambda_handler", "load_from_s3", "make_handler"]

#: The tutorial answered every origin, like Chalice's ``cors=True``.
TUTORIAL_HEADERS = {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_handler: Handler | None = None


def make_handler(vectorizer: Any, model: Any) -> Handler:
    """The tutorial's ``lambda_handler`` closed over one fitted vectorizer and model."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        body = json.loads(event["body"])
        text = body["text"]
        features = vectorizer.transform([text])
        prediction = model.predict(features)[0]
        classification = "HAM" if prediction == 1 else "SPAM"
        return {
            "statusCode": 200,
            "headers": TUTORIAL_HEADERS,
            "body": json.dumps(
                {"status": "success", "classification": classification, "input_text": text}
            ),
        }

    return handler


def load_from_s3(bucket: str, s3: Any = None, tmp_dir: str | None = None) -> Handler:
    """Download the bucket-root pickles to /tmp and load them, as the tutorial did at import.

    ``s3`` defaults to a client built from the environment (``AWS_ENDPOINT_URL_S3`` points
    it at a local server); the global handler is set too, for ``lambda_handler``.
    """
    import joblib

    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    folder = tmp_dir or tempfile.gettempdir()
    paths = {}
    for key in ("spam_model.pkl", "vectorizer.pkl"):
        paths[key] = os.path.join(folder, f"tutorial-{os.getpid()}-{key}")
        s3.download_file(bucket, key, paths[key])
    model = joblib.load(paths["spam_model.pkl"])
    vectorizer = joblib.load(paths["vectorizer.pkl"])
    global _handler
    _handler = make_handler(vectorizer, model)
    return _handler


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: the handler that ``load_from_s3`` prepared."""
    if _handler is None:
        raise RuntimeError("call load_from_s3 first (the tutorial did it at import time)")
    return _handler(event, context)
