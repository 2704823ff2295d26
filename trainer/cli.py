"""``python -m trainer``: train, evaluate and publish; list and roll back versions; look
after the registry's live pointers (``registry status|migrate|promote``); review people's
reports (``feedback``, in ``trainer.review``); label the sampled live traffic (``capture``, in
``trainer.capture``); watch the live model (``monitor``, in ``trainer.monitor``).

Exit codes: 0 success; 1 an error (bad data, download, registry, S3), with one
``error: ...`` line on stderr; 2 bad usage (argparse); 3 the model is below
``--min-mcc``, so nothing was published.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.registry_format import Manifest, RegistryError

from trainer.capture import add_capture_parser, capture_usage_error, run_capture
from trainer.config import TrainerEnv, read_env
from trainer.errors import QualityGateError, TrainerError
from trainer.review import add_feedback_parser, feedback_usage_error, run_feedback
from trainer.store_cli import add_prefix_argument, note

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUALITY", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUALITY = 0, 1, 2, 3


def _add_registry_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry (S3)")
    group.add_argument("--bucket", help="registry bucket (default: $MODEL_BUCKET)")
    group.add_argument("--prefix", help="key prefix (default: $MODEL_PREFIX or models/)")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3 endpoint, e.g. a local moto server (default: boto3's, which reads "
        "$AWS_ENDPOINT_URL_S3 and $AWS_ENDPOINT_URL)",
    )


def _add_publish_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-mcc",
        type=float,
        default=None,
        metavar="MCC",
        help="refuse to publish (exit 3) when the holdout MCC is below this",
    )
    parser.add_argument(
        "--legacy-keys",
        action="store_true",
        help="also write the tutorial's bucket-root spam_model.pkl and vectorizer.pkl",
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _folds(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {text}")
    return value


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _duration(text: str) -> timedelta:
    from trainer.monitor import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_monitor_parser(sub: Any) -> None:
    from chalicelib.metrics_format import DEFAULT_NAMESPACE

    from trainer.shift import DEFAULT_ALPHA, DEFAULT_WINDOW

    monitor = sub.add_parser(
        "monitor",
        help="the live model's figures per version and route (CloudWatch, or a log with "
        "--log) and a test of its spam rate against its holdout",
    )
    source = monitor.add_argument_group("the metrics")
    source.add_argument(
        "--log",
        type=Path,
        metavar="FILE",
        help="read the EMF lines of this log file (e.g. chalice local's) instead of CloudWatch",
    )
    source.add_argument(
        "--stage", help="the API's stage (required on AWS; with --log, one of several)"
    )
    source.add_argument("--region", help="AWS region (default: boto3's, e.g. $AWS_REGION)")
    source.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help="how far back: 90m, 24h, 7d (default: 24h on AWS, the whole file with --log)",
    )
    source.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"the metrics' namespace, the API's METRICS_NAMESPACE (default: {DEFAULT_NAMESPACE})",
    )
    test = monitor.add_argument_group("the shift test")
    test.add_argument(
        "--window",
        type=_positive,
        default=DEFAULT_WINDOW,
        metavar="N",
        help=f"test the newest N messages of each version (default: {DEFAULT_WINDOW})",
    )
    test.add_argument(
        "--alpha",
        type=_alpha,
        default=DEFAULT_ALPHA,
        help=f"significance level (default: {DEFAULT_ALPHA})",
    )
    quality = monitor.add_argument_group("live error rates (from labelled captures)")
    quality.add_argument(
        "--quality",
        action="store_true",
        help="instead: each version's ham blocked, spam recall and accuracy with 95%% "
        "intervals, from the labelled captures of the random stratum in the bucket",
    )
    add_prefix_argument(quality, "capture", "records")
    monitor.add_argument("--json", action="store_true", help="print JSON, not a table")
    _add_registry_args(monitor)  # where each version's reference is read


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the commands)."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train, evaluate and publish the spam model; list and roll back versions.",
        epilog="exit codes: 0 ok, 1 error, 2 usage, 3 below --min-mcc (nothing published)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train and evaluate; optionally save and publish")
    train.add_argument(
        "--data",
        nargs="+",
        action="extend",
        metavar="SPEC",
        help="sources: an SMS file (label<TAB>text), a .csv, an email corpus folder, or "
        "DIR:spam / DIR:ham (default: $SPAM_DATA, else download the UCI SMS collection)",
    )
    train.add_argument(
        "--label-column", metavar="NAME", help="CSV label column (default: label or v1)"
    )
    train.add_argument(
        "--text-column", metavar="NAME", help="CSV text column (default: text or v2)"
    )
    train.add_argument(
        "--encoding", default="auto", help="CSV encoding (default: auto = UTF-8, else Latin-1)"
    )
    train.add_argument(
        "--max-ham-blocked",
        type=_fraction,
        default=0.002,
        metavar="RATE",
        help="largest share of ham the threshold may flag in CV (default: 0.002)",
    )
    train.add_argument("--folds", type=_folds, default=5, metavar="K", help="CV folds (default: 5)")
    train.add_argument(
        "--seed", type=int, default=42, metavar="N", help="split and CV seed (default: 42)"
    )
    train.add_argument(
        "--n-jobs", type=int, default=2, metavar="N", help="CV folds in parallel (default: 2)"
    )
    train.add_argument(
        "--out", type=Path, metavar="DIR", help="write the artifacts, metrics.json and PNG here"
    )
    train.add_argument("--publish", action="store_true", help="publish to the S3 registry")
    train.add_argument("--json", action="store_true", help="print metrics.json, not a table")
    train.add_argument(
        "--feedback",
        action="store_true",
        help="also train on the accepted reports under --feedback-prefix in the bucket",
    )
    add_prefix_argument(train, "feedback", "reports")
    train.add_argument(
        "--capture",
        action="store_true",
        help="also train on the labelled captures under --capture-prefix in the bucket",
    )
    add_prefix_argument(train, "capture", "records")
    train.add_argument(
        "--repeats",
        type=_positive,
        default=1,
        metavar="N",
        help="also evaluate over N seeds (mean and std); the published model is unchanged",
    )
    _add_publish_args(train)
    _add_registry_args(train)

    publish = sub.add_parser("publish", help="publish a model folder written by 'train --out'")
    publish.add_argument("folder", type=Path)
    _add_publish_args(publish)
    _add_registry_args(publish)

    versions = sub.add_parser("versions", help="list published versions and their metrics")
    versions.add_argument("--json", action="store_true", help="print JSON")
    _add_registry_args(versions)

    rollback = sub.add_parser(
        "rollback",
        help="make an earlier version live again for its scikit-learn (and current.json if "
        "that names the same scikit-learn)",
    )
    rollback.add_argument("version")
    _add_registry_args(rollback)

    registry = sub.add_parser(
        "registry", help="the live pointers: what each scikit-learn's API loads; migrate, promote"
    )
    registry_sub = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    status = registry_sub.add_parser("status", help="current.json and every live pointer")
    status.add_argument("--json", action="store_true", help="print JSON")
    _add_registry_args(status)
    migrate = registry_sub.add_parser(
        "migrate",
        help="give the version current.json names its live pointer (idempotent; publish, "
        "rollback and promote do it too)",
    )
    _add_registry_args(migrate)
    promote = registry_sub.add_parser(
        "promote",
        help="point current.json at the live model for SKLEARN_VERSION (once no API that "
        "reads only current.json needs the version it names now)",
    )
    promote.add_argument("sklearn_version", metavar="SKLEARN_VERSION")
    _add_registry_args(promote)

    add_feedback_parser(sub, _add_registry_args)
    add_capture_parser(sub, _add_registry_args)
    _add_monitor_parser(sub)
    return parser


_say = note  # a line for the person on stderr, beside the results on stdout


def _registry(args: argparse.Namespace, env: TrainerEnv) -> tuple[Any, str, str]:
    bucket = args.bucket or env.bucket
    if not bucket:
        raise TrainerError("no registry bucket: pass --bucket or set MODEL_BUCKET")
    import boto3

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url or None)
    return s3, bucket, args.prefix or env.prefix


def _check_quality(summary: dict[str, Any], min_mcc: float | None) -> None:
    if min_mcc is None:
        return
    mcc = summary.get("mcc")
    if not isinstance(mcc, int | float):
        raise QualityGateError(f"the model has no measured MCC; --min-mcc {min_mcc} refuses it")
    if mcc < min_mcc:
        raise QualityGateError(
            f"holdout MCC {mcc:.4f} is below --min-mcc {min_mcc}; nothing was published"
        )


def _where_live(registry: tuple[Any, str, str], manifest: Manifest) -> str:
    """Which readers now load ``manifest``, and what ``current.json`` names if not it."""
    from trainer.registry import current_version

    s3, bucket, prefix = registry
    sk = manifest.sklearn_version
    said = f"live for scikit-learn {sk} (live/sklearn-{sk}.json)"
    current = current_version(s3, bucket, prefix)
    if current is not None and current.version == manifest.version:
        return f"{said}; current.json now points at it"
    if current is None:
        return said
    return (
        f"{said}; current.json still names {current.version} (scikit-learn "
        f"{current.sklearn_version}) for the APIs that run {current.sklearn_version}. Once "
        f"none that reads only current.json is left: python -m trainer registry promote {sk}"
    )


def _publish(registry: tuple[Any, str, str], bundle: Any, legacy_keys: bool) -> Manifest:
    from trainer.registry import publish

    s3, bucket, prefix = registry
    manifest = publish(s3, bucket, prefix, bundle, legacy_keys=legacy_keys)
    _say(
        f"published {manifest.version} to s3://{bucket}/{manifest.artifacts['model'].key} "
        f"(threshold {manifest.threshold:.4f}); {_where_live(registry, manifest)}"
    )
    return manifest


def _data_specs(args: argparse.Namespace, env: TrainerEnv) -> list[str]:
    if args.data:
        return list(args.data)
    if env.data:
        return list(env.data)
    from trainer.download import fetch_sms_collection

    _say(f"no --data: the SMS Spam Collection from {env.data_url} (cache: {env.data_home})")
    return [str(fetch_sms_collection(env.data_home, env.data_url))]


def _accepted_reports(
    args: argparse.Namespace, env: TrainerEnv, registry: tuple[Any, str, str]
) -> list[Any]:
    from trainer.feedback_store import load_accepted
    from trainer.review import feedback_prefix  # the review commands' prefix rules

    s3, bucket, model_prefix = registry
    prefix = feedback_prefix(args, env, model_prefix)
    reports = load_accepted(s3, bucket, prefix)
    _say(f"{len(reports)} accepted report(s) from s3://{bucket}/{prefix}")
    return reports


def _labelled_captures(
    args: argparse.Namespace, env: TrainerEnv, registry: tuple[Any, str, str]
) -> list[Any]:
    from trainer.capture import labelled_records

    records, where = labelled_records(args, env, registry)
    random = sum(r.stratum == "random" for r in records)
    _say(
        f"{len(records)} labelled capture(s) from {where} ({random} of the random stratum, "
        f"{len(records) - random} uncertain)"
    )
    return records


def _cmd_train(args: argparse.Namespace, env: TrainerEnv) -> int:
    from trainer.artifacts import build_bundle, write_bundle
    from trainer.data import load_sources
    from trainer.report import PLOT_NAME, render_report, write_plot
    from trainer.train import TrainOptions, summarize, train

    # fail on a missing bucket before a minute of training
    registry = _registry(args, env) if args.publish or args.feedback or args.capture else None
    started = time.perf_counter()
    specs = _data_specs(args, env)
    messages = load_sources(specs, args.label_column, args.text_column, args.encoding)
    reports = _accepted_reports(args, env, registry) if registry and args.feedback else []
    captures = _labelled_captures(args, env, registry) if registry and args.capture else []
    _say(f"loaded {len(messages)} messages from {len(specs)} source(s); training...")
    options = TrainOptions(
        max_ham_blocked=args.max_ham_blocked, seed=args.seed, folds=args.folds, n_jobs=args.n_jobs
    )
    result = train(messages, options, reports, captures)
    if args.repeats > 1:
        from trainer.repeats import repeat_protocol

        _say(f"repeating the evaluation over {args.repeats} seeds...")
        repeats = repeat_protocol(
            messages, options, result.metrics, args.repeats, reports, captures
        )
        result.metrics["repeats"] = repeats
    summary = summarize(result.metrics)
    bundle = build_bundle(
        result.vectorizer, result.classifier, result.threshold, result.metrics, summary
    )
    if args.json:
        print(json.dumps(result.metrics, indent=2, sort_keys=True))
    else:
        print(render_report(result.metrics))
    if args.out:
        write_bundle(bundle, args.out)
        write_plot(result.holdout, result.threshold, args.out / PLOT_NAME)
        _say(f"wrote the model, metrics.json and {PLOT_NAME} to {args.out}")
    _check_quality(summary, args.min_mcc)
    if registry is not None and args.publish:
        _publish(registry, bundle, args.legacy_keys)
    _say(f"done in {time.perf_counter() - started:.1f} s")
    return EXIT_OK


def _cmd_publish(args: argparse.Namespace, env: TrainerEnv) -> int:
    from trainer.artifacts import read_bundle

    bundle = read_bundle(args.folder)
    _check_quality(dict(bundle.metrics_summary), args.min_mcc)
    _publish(_registry(args, env), bundle, args.legacy_keys)
    return EXIT_OK


def _cmd_versions(args: argparse.Namespace, env: TrainerEnv) -> int:
    from trainer.registry import list_versions

    s3, bucket, prefix = _registry(args, env)
    versions = list_versions(s3, bucket, prefix)
    if args.json:
        rows = [
            {**v.manifest.summary(), "current": v.is_current, "live_for": list(v.live_for)}
            for v in versions
        ]
        print(json.dumps(rows, indent=2, sort_keys=True))
        return EXIT_OK
    if not versions:
        print(f"no versions under s3://{bucket}/{prefix}")
        return EXIT_OK
    print(
        f"  {'version':<26} {'created':<21} {'MCC':>7} {'accuracy':>9} {'ham blocked':>12}"
        f"  {'sklearn':<9} live for"
    )
    for info in versions:
        m = info.manifest.metrics

        def num(key: str, fmt: str, m: dict[str, Any] = m) -> str:
            value = m.get(key)
            return format(value, fmt) if isinstance(value, int | float) else "-"

        marker = "*" if info.is_current else " "
        print(
            f"{marker} {info.manifest.version:<26} {info.manifest.created_at:<21} "
            f"{num('mcc', '.4f'):>7} {num('accuracy', '.4f'):>9} {num('ham_blocked', '.2%'):>12}"
            f"  {info.manifest.sklearn_version:<9} {', '.join(info.live_for)}".rstrip()
        )
    return EXIT_OK


def _cmd_rollback(args: argparse.Namespace, env: TrainerEnv) -> int:
    from trainer.registry import rollback

    registry = _registry(args, env)
    manifest = rollback(*registry, args.version)
    _say(f"{manifest.version} (created {manifest.created_at}) is {_where_live(registry, manifest)}")
    return EXIT_OK


def _cmd_registry(args: argparse.Namespace, env: TrainerEnv) -> int:
    from trainer.registry import migrate, promote, registry_status

    s3, bucket, prefix = _registry(args, env)
    where = f"s3://{bucket}/{prefix}"
    if args.registry_command == "migrate":
        written = migrate(s3, bucket, prefix)
        _say(f"wrote {', '.join(written)}" if written else f"{where} needs no migration")
        return EXIT_OK
    if args.registry_command == "promote":
        manifest = promote(s3, bucket, prefix, args.sklearn_version)
        _say(
            f"current.json now points at {manifest.version} (scikit-learn "
            f"{manifest.sklearn_version}); every other scikit-learn keeps its live pointer"
        )
        return EXIT_OK
    status = registry_status(s3, bucket, prefix)
    rows = ([("current.json", status.current)] if status.current else []) + [
        (f"live/sklearn-{sk}.json", m) for sk, m in sorted(status.live.items())
    ]
    if args.json:
        print(json.dumps({key: m.summary() for key, m in rows}, indent=2, sort_keys=True))
    elif not rows:
        print(f"nothing is live under {where}")
    for key, m in [] if args.json else rows:
        print(f"{key:<28} {m.version:<26} scikit-learn {m.sklearn_version:<9} {m.created_at}")
    return EXIT_OK


def _cmd_feedback(args: argparse.Namespace, env: TrainerEnv) -> int:
    s3, bucket, model_prefix = _registry(args, env)
    run_feedback(args, s3, bucket, model_prefix, env)
    return EXIT_OK


def _cmd_capture(args: argparse.Namespace, env: TrainerEnv) -> int:
    s3, bucket, model_prefix = _registry(args, env)
    run_capture(args, s3, bucket, model_prefix, env)
    return EXIT_OK


def _cmd_monitor(args: argparse.Namespace, env: TrainerEnv) -> int:
    from trainer.monitor import run_monitor, run_quality

    if args.quality:
        run_quality(args, _registry(args, env), env)
        return EXIT_OK

    # the references live in the registry; without one, no version gets a shift test
    registry = _registry(args, env) if args.bucket or env.bucket else None
    run_monitor(args, registry)
    return EXIT_OK


_COMMANDS = {
    "train": _cmd_train,
    "publish": _cmd_publish,
    "versions": _cmd_versions,
    "rollback": _cmd_rollback,
    "registry": _cmd_registry,
    "feedback": _cmd_feedback,
    "capture": _cmd_capture,
    "monitor": _cmd_monitor,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.legacy_keys and not args.publish:
        parser.error("--legacy-keys needs --publish")
    if args.command == "feedback" and (problem := feedback_usage_error(args)):
        parser.error(problem)
    if args.command == "capture" and (problem := capture_usage_error(args)):
        parser.error(problem)
    if args.command == "monitor" and args.quality and (args.log or args.stage or args.since):
        parser.error(
            "--quality reads the labelled captures in the bucket, not the metrics: "
            "leave out --log, --stage and --since"
        )
    if args.command == "monitor" and not args.quality and args.log is None and not args.stage:
        parser.error("monitor reads CloudWatch for one stage: pass --stage (or --log FILE)")
    try:
        return _COMMANDS[args.command](args, read_env())
    except QualityGateError as exc:
        _say(f"error: {exc}")
        return EXIT_QUALITY
    except (TrainerError, RegistryError) as exc:
        _say(f"error: {exc}")
        return EXIT_ERROR
    except ValueError as exc:  # e.g. an invalid version id
        _say(f"error: {exc}")
        return EXIT_ERROR
    except (ClientError, BotoCoreError) as exc:
        _say(f"error: S3: {exc}")
        return EXIT_ERROR
