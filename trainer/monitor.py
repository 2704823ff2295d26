"""``python -m trainer monitor``: what the live model does, and whether its traffic shifted.

Reads the API's metrics (CloudWatch on AWS, ``trainer.monitor_cloudwatch``; the EMF lines
of a log file locally, ``trainer.monitor_log``), looks up each model version's reference
in the registry (the spam share its threshold predicted on its holdout: the version's
manifest, else its ``metrics.json``), runs the shift test on the newest window of each
version's traffic (``trainer.shift``) and prints a table or JSON
(``trainer.monitor_figures``).

``--quality`` instead reads the labelled captures of the random stratum and gives each
version's live error rates with intervals (``trainer.quality``).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from chalicelib.metrics_format import NO_MODEL_VERSION
from chalicelib.registry_format import ArtifactNotFoundError, ManifestError, normalize_prefix

from trainer.errors import MonitorError
from trainer.monitor_figures import Figures, monitor_report, render_table
from trainer.shift import Reference, reference_from

__all__ = ["DEFAULT_SINCE", "parse_duration", "run_monitor", "run_quality"]

#: How far back ``monitor`` reads CloudWatch without ``--since``.
DEFAULT_SINCE = timedelta(hours=24)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)([smhd])$")
_TIMEOUT_SECONDS = 10


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d`` (or seconds, ``45s``) as a positive ``timedelta``.

    >>> parse_duration("24h"), parse_duration("90m")
    (datetime.timedelta(days=1), datetime.timedelta(seconds=5400))
    >>> parse_duration("1 week")
    Traceback (most recent call last):
    ...
    ValueError: a duration is a whole number and a unit (s, m, h or d), e.g. 24h; got '1 week'
    """
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"a duration is a whole number and a unit (s, m, h or d), e.g. 24h; got {text!r}"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _cloudwatch(region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=_TIMEOUT_SECONDS,
        read_timeout=_TIMEOUT_SECONDS,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    try:
        return boto3.client("cloudwatch", region_name=region or None, config=config)
    except NoRegionError:
        raise MonitorError(
            "no AWS region: pass --region or set AWS_REGION (or a region in your profile)"
        ) from None


def _read(args: argparse.Namespace, now: datetime) -> Figures:
    from trainer.monitor_cloudwatch import read_cloudwatch, span_ending
    from trainer.monitor_log import read_log

    if args.log is not None:
        since_ms = None if args.since is None else int((now - args.since).timestamp() * 1000)
        return read_log(args.log, namespace=args.namespace, stage=args.stage, since_ms=since_ms)
    cloudwatch = _cloudwatch(args.region)
    span = span_ending(now, args.since or DEFAULT_SINCE)
    try:
        return read_cloudwatch(cloudwatch, namespace=args.namespace, stage=args.stage, span=span)
    except NoCredentialsError:
        raise MonitorError(
            "no AWS credentials: run aws configure or aws sso login (with AWS_PROFILE), or "
            "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise MonitorError(f"CloudWatch: {exc}") from None


def _reference(s3: Any, bucket: str, prefix: str, version: str) -> Reference | str:
    """The version's reference, or why there is none, in words for the table."""
    from trainer.registry import read_manifest, read_metrics

    where = f"s3://{bucket}/{normalize_prefix(prefix)}"
    try:
        manifest = read_manifest(s3, bucket, prefix, version)
    except ValueError:
        return f"{version!r} is not a version id"
    except ArtifactNotFoundError:
        return f"not a version of the registry {where}"
    except ManifestError as exc:
        return f"its manifest cannot be read ({exc})"
    found = reference_from(manifest.metrics)
    if found is None:
        try:
            found = reference_from(manifest.metrics, read_metrics(s3, bucket, prefix, version))
        except (ArtifactNotFoundError, ManifestError):
            found = None
    return found or "its metrics record no predicted spam share on a holdout"


def _references(
    registry: tuple[Any, str, str] | None, versions: Sequence[str]
) -> dict[str, Reference | str]:
    if registry is None:
        why = "no registry to read its reference from: pass --bucket or set MODEL_BUCKET"
        return dict.fromkeys(versions, why)
    return {
        v: "no model answered" if v == NO_MODEL_VERSION else _reference(*registry, v)
        for v in versions
    }


def run_monitor(
    args: argparse.Namespace,
    registry: tuple[Any, str, str] | None,
    now: datetime | None = None,
) -> None:
    """Read, test and print; ``registry`` is ``(s3, bucket, prefix)``, or ``None``.

    Raises ``MonitorError`` when the metrics cannot be read or hold nothing in the span;
    a registry that cannot be reached raises its own error (a version that is not in it
    only loses its shift test, said in the table).
    """
    figures = _read(args, now or datetime.now(UTC))
    scored = [v.model_version for v in figures.versions if v.messages]
    report = monitor_report(figures, _references(registry, scored), args.window, args.alpha)
    if not report.versions and not report.routes:
        raise MonitorError(f"no metrics in the window ({figures.where})")
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(render_table(report, figures.where, args.window))


def run_quality(args: argparse.Namespace, registry: tuple[Any, str, str], env: Any) -> None:
    """``monitor --quality``: the live error rates from the capture store in the registry's
    bucket (``registry`` is ``(s3, bucket, model prefix)``; ``env`` a ``TrainerEnv``)."""
    from trainer.capture import labelled_records
    from trainer.quality import quality_report, render_quality

    records, where = labelled_records(args, env, registry)
    report = quality_report(records)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(render_quality(report, where))
