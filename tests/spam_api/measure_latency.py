"""Warm /predict through chalice.test.Client vs the bare vectorizer + model call.

    .venv/bin/python tests/spam_api/measure_latency.py [--calls 300]

Fits the test model on the SMS collection, publishes it into a private moto server,
warms the app, then times N calls of each, interleaved as the warm-latency bench does
(``bench.interleaved``; median and p99 by ``bench.stats``, in milliseconds). Reports
figures; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# As .chalice/config.json configures the function: one BLAS thread. On a busy small box,
# BLAS threads fighting for the cores inflate p99.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

REPO = Path(__file__).resolve().parents[2]
for entry in (str(REPO), str(REPO / "spam_api")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

TEXT = "Hi, are we still on for dinner at 7? Bring the tickets, I'll call you when I'm there"
SMS = REPO.parent / "shared" / "data" / "sms_spam_collection" / "SMSSpamCollection"


def timed(calls_by_name: dict[str, Callable[[int], object]], calls: int) -> dict[str, dict]:
    """Median and p99 per callable, after 20 untimed rounds (``bench.interleaved``)."""
    from bench.interleaved import time_interleaved
    from bench.stats import summarize

    samples = time_interleaved(calls_by_name, calls, warmup=20)
    summaries = {name: summarize(values) for name, values in samples.items()}
    return {
        name: {"median_ms": round(summary.median, 3), "p99_ms": round(summary.p99, 3)}
        for name, summary in summaries.items()
    }


def measure(
    calls: int, sms_path: Path = SMS, *, trainer_model: bool = False
) -> dict[str, dict[str, float]]:
    import boto3
    import sklearn
    from chalice.test import Client
    from chalicelib.runtime import build_runtime, install_runtime, reset_runtime
    from chalicelib.settings import Settings
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from bench.context import joblib_dumps, read_sms
    from stack.local.services import moto_server
    from trainer.registry import ModelBundle, publish

    labels, texts = (list(column) for column in zip(*read_sms(sms_path), strict=True))
    if trainer_model:  # the trainer's FeatureUnion of word and char n-grams, labels 1/0
        from trainer import fit_default

        vectorizer, classifier = fit_default(texts, labels)
    else:
        vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
        classifier = LogisticRegression(C=10.0, solver="liblinear")
        classifier.fit(vectorizer.fit_transform(texts), labels)
    spam_label = 1 if trainer_model else "spam"
    ham_label = 0 if trainer_model else "ham"

    bundle = ModelBundle(
        vectorizer_pkl=joblib_dumps(vectorizer),
        model_pkl=joblib_dumps(classifier),
        metrics={},
        threshold=0.5,
        labels={"spam": spam_label, "ham": ham_label},
        sklearn_version=sklearn.__version__,
        metrics_summary={},
    )
    from app import app

    with tempfile.TemporaryDirectory() as logs, moto_server(log_dir=Path(logs)) as s3_service:
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_service.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="latency-bench")
        publish(s3, "latency-bench", "models/", bundle)
        runtime = build_runtime(Settings(model_bucket="latency-bench"), s3=s3)
        install_runtime(runtime)
        model = runtime.holder.load()
        try:
            body = json.dumps({"text": TEXT}).encode()
            explain_body = json.dumps({"text": TEXT, "explain": True}).encode()
            headers = {"Content-Type": "application/json"}
            with Client(app, stage_name="local", project_dir=str(REPO / "spam_api")) as client:

                def via_client(payload: bytes) -> None:
                    response = client.http.post("/predict", headers=headers, body=payload)
                    assert response.status_code == 200, response.body

                def bare() -> None:
                    model.classifier.predict_proba(model.vectorizer.transform([TEXT]))

                from chalicelib import service

                return timed(
                    {  # each takes the round number, which they do not need
                        "bare transform+predict_proba": lambda _: bare(),
                        "chalicelib service.predict": lambda _: service.predict(body),
                        "test client POST /predict": lambda _: via_client(body),
                        "test client POST /predict explain": lambda _: via_client(explain_body),
                    },
                    calls,
                )
        finally:
            reset_runtime()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--trainer-model", action="store_true", help="the trainer's word+char model instead"
    )
    args = parser.parse_args()
    results = measure(args.calls, trainer_model=args.trainer_model)
    width = max(len(name) for name in results)
    print(f"{'':{width}}  median ms   p99 ms   ({args.calls} warm calls each)")
    for name, figures in results.items():
        print(f"{name:{width}}  {figures['median_ms']:9.3f}  {figures['p99_ms']:7.3f}")


if __name__ == "__main__":
    main()
