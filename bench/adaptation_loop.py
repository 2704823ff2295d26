"""The adaptation curve through the real loop, not the trainer's functions alone.

For one setup of ``bench.adaptation`` (default: trained on SMS, SpamAssassin the new
place): a local S3 (moto) and ``chalice local`` are started; the base model is trained and
published with ``python -m trainer train --publish``; then for k = 50, 200, 500 the new
reports (nested in k: the same people keep reporting) are POSTed to ``/feedback`` as the
page sends them, accepted with ``python -m trainer feedback accept --all``, learnt by
``python -m trainer train --feedback --publish``, swapped in by the running API, and the
rest of the new place is scored through ``/predict/batch``. The base source's figures are
the trainer's own holdout report (``train --json``). Run::

    python -m bench.adaptation_loop --out build/adaptation-loop [--setup a] [--strategy random]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import requests
from chalicelib.registry_format import current_key, parse_manifest

from bench.adaptation import DATA, KS, PICK_SEED, setups
from bench.adaptation_reports import STRATEGIES, pick_reports, reportable, unpicked
from bench.table import Row
from stack import REPO_ROOT
from stack.local.services import chalice_local, moto_s3_client, moto_server
from trainer.data import Message
from trainer.evaluate import classification_report

__all__ = ["BUCKET", "base_specs", "loop_curve", "main", "rows", "run_trainer"]

CONFIG = json.loads((REPO_ROOT / "spam_api" / ".chalice" / "config.json").read_text())
BUCKET = CONFIG["stages"]["local"]["environment_variables"]["MODEL_BUCKET"]
PREFIX = CONFIG["stages"]["local"]["environment_variables"]["MODEL_PREFIX"]
SETUPS = ("a", "b", "c")


def base_specs(data: Path) -> dict[str, list[str]]:
    """What each setup's base corpus is, as ``--data`` specs for the trainer's CLI."""
    sa = data / "spamassassin"
    return {
        "a": [str(data / "sms_spam_collection" / "SMSSpamCollection")],
        "b": [str(sa)],
        "c": [f"{sa / 'easy_ham'}:ham", f"{sa / 'easy_ham_2'}:ham", f"{sa / 'spam'}:spam"],
    }


#: The local S3 takes any credentials; these are used where the environment has none.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def run_trainer(endpoint: str, *args: str) -> str:
    """``python -m trainer ARGS`` on the local stage's bucket at ``endpoint``; its stdout."""
    env = {**LOCAL_CREDENTIALS, **os.environ, "MODEL_BUCKET": BUCKET}
    env["AWS_ENDPOINT_URL_S3"] = endpoint
    done = subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"trainer {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _scores(api: str, messages: Sequence[Message]) -> tuple[np.ndarray, float, str]:
    """Spam probabilities through ``/predict/batch``, the threshold and the version used."""
    probabilities: list[float] = []
    threshold, version = 0.5, ""
    with requests.Session() as http:
        for start in range(0, len(messages), 100):
            batch = [m.text for m in messages[start : start + 100]]
            answer = http.post(f"{api}/predict/batch", json={"texts": batch}, timeout=120)
            answer.raise_for_status()
            body = answer.json()
            probabilities += [r["spam_probability"] for r in body["results"]]
            threshold, version = body["threshold"], body["model_version"]
    return np.asarray(probabilities), threshold, version


def _report(api: str, messages: Sequence[Message]) -> dict[str, Any]:
    scores, threshold, version = _scores(api, messages)
    truth = [1 if m.label == "spam" else 0 for m in messages]
    report = classification_report(truth, scores, threshold)
    return {"version": version, **{k: report[k] for k in ("mcc", "recall", "ham_blocked")}}


def _post_reports(api: str, pool: Sequence[Message], picked: Sequence[int]) -> None:
    with requests.Session() as http:
        for i in picked:
            verdict = http.post(f"{api}/predict", json={"text": pool[i].text}, timeout=60)
            body = {
                "text": pool[i].text,
                "label": pool[i].label,
                "model_version": verdict.json()["model_version"],
                "request_id": verdict.headers["X-Request-Id"],
            }
            answer = http.post(f"{api}/feedback", json=body, timeout=60)
            if answer.status_code != 202:
                raise RuntimeError(f"/feedback answered {answer.status_code}: {answer.text}")


def _wait_for(api: str, version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(f"{api}/health", timeout=10).json().get("model_version") == version:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the API did not swap in {version} within {timeout:.0f} s")


def _train(s3: Any, endpoint: str, specs: Sequence[str], *extra: str) -> tuple[dict, str]:
    """Train and publish; the metrics and the version now live in the registry."""
    metrics = json.loads(run_trainer(endpoint, "train", "--data", *specs, "--json", *extra))
    current = s3.get_object(Bucket=BUCKET, Key=current_key(PREFIX))["Body"].read()
    return metrics, parse_manifest(current).version


def _base_mcc(metrics: dict[str, Any], source: str) -> float:
    per_source = metrics.get("holdout_per_source", {})
    return float(per_source.get(source, metrics["holdout"])["mcc"])


def loop_curve(
    setup_name: str, strategy: str, ks: Sequence[int] = KS, data: Path = DATA
) -> list[dict[str, Any]]:
    """One setup's curve for one way of choosing reports, through the real loop."""
    (setup,) = setups(data, [setup_name])
    specs = base_specs(data)[setup_name]
    pool = reportable(setup.new, setup.base)
    source = setup.base[0].source
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as logs, moto_server(log_dir=Path(logs)) as s3_service:
        s3 = moto_s3_client(s3_service.url)
        s3.create_bucket(Bucket=BUCKET)
        metrics, version = _train(s3, s3_service.url, specs, "--publish")
        with chalice_local(s3_service.url, log_dir=Path(logs)) as api:
            _wait_for(api.url, version)
            scores, threshold, _ = _scores(api.url, pool)
            wrong = [
                (s >= threshold) != (m.label == "spam") for s, m in zip(scores, pool, strict=True)
            ]
            sent: set[int] = set()
            for k in ks:  # picks are nested in k: only the new ones are sent
                picked = pick_reports(pool, k, PICK_SEED, strategy, wrong)
                new_reports = [i for i in picked if i not in sent]
                if new_reports:
                    started = time.perf_counter()
                    _post_reports(api.url, pool, new_reports)
                    run_trainer(s3_service.url, "feedback", "accept", "--all", "--by", "bench")
                    metrics, version = _train(s3, s3_service.url, specs, "--feedback", "--publish")
                    _wait_for(api.url, version)
                    seconds = time.perf_counter() - started
                    sent.update(new_reports)
                else:
                    seconds = 0.0
                row = {
                    "setup": setup.name,
                    "strategy": strategy,
                    "k": len(picked),
                    "new": _report(api.url, unpicked(pool, picked)),
                    "base_mcc": _base_mcc(metrics, source),
                    "seconds": round(seconds, 1),
                }
                rows.append(row)
                print(
                    f"{setup.name} | {strategy} k={row['k']}: new MCC {row['new']['mcc']:.3f} "
                    f"recall {row['new']['recall']:.3f} ham blocked "
                    f"{100 * row['new']['ham_blocked']:.2f} % | base MCC {row['base_mcc']:.4f} "
                    f"| {seconds:.0f} s",
                    flush=True,
                )
    return rows


def rows(curve: Sequence[dict[str, Any]]) -> list[Row]:
    """``make bench``'s rows: each k against k = 0, with the issue's floors as targets."""
    first = curve[0]
    out = []
    for point in curve:
        new, k = point["new"], point["k"]
        base_drop = first["base_mcc"] - point["base_mcc"]
        meets = (new["mcc"] >= 0.85 if k == 200 else True) and base_drop <= 0.01
        out.append(
            Row(
                section="9",
                measure=f"adaptation, SMS model + {k} random reports from SpamAssassin, "
                "through the real loop: MCC on the rest of SpamAssassin",
                ours=f"MCC {new['mcc']:.3f} · recall {new['recall']:.3f} · ham blocked "
                f"{100 * new['ham_blocked']:.2f}% · SMS holdout MCC {point['base_mcc']:.4f}",
                baseline=f"k = 0: MCC {first['new']['mcc']:.3f} · SMS holdout MCC "
                f"{first['base_mcc']:.4f}",
                ratio=f"MCC {new['mcc'] / first['new']['mcc']:.2f}×"
                if first["new"]["mcc"]
                else "—",
                target=("new MCC ≥ 0.85; " if k == 200 else "") + "SMS MCC within 0.01 of k = 0",
                result="PASS" if meets else "MISS",
                notes=f"reports POSTed to chalice local, accepted with the CLI, train --feedback "
                f"--publish, swapped in; {point['seconds']:.0f} s for this point",
                raw=point,
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adaptation_loop", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/adaptation-loop"))
    parser.add_argument("--setup", default="a", choices=SETUPS)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--strategy", default="random", choices=STRATEGIES)
    parser.add_argument("--ks", type=int, nargs="+", default=list(KS))
    args = parser.parse_args(argv)
    rows = loop_curve(args.setup, args.strategy, args.ks, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"loop-{args.setup}-{args.strategy}.json"
    target.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
