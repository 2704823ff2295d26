"""``python -m trainer feedback ...``: a person reviews the reports people sent the API.

``list`` and ``show`` read; ``accept`` and ``reject`` move reports out of ``pending/``
(only accepted ones ever reach training); ``delete`` erases a report and every old
version of it, for a person who asks. Every command reads a report through
``trainer.feedback_store.resolve`` and removes the copies an interrupted move left
behind, saying so. Report texts are untrusted, so control and format characters are
shown escaped: a report cannot drive the reviewer's terminal.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from chalicelib.feedback_format import LABELS, STATES, Report

from trainer.config import TrainerEnv
from trainer.decided_store import Resolution
from trainer.feedback_store import FEEDBACK_STORE, decide
from trainer.store_cli import (
    Store,
    add_prefix_argument,
    by_argument,
    caller_identity,
    cut,
    delete_items,
    id_argument,
    note,
    print_listing,
    resolve_tidily,
    short_time,
    standing_in,
    store_prefix,
    visible,
)

__all__ = ["add_feedback_parser", "feedback_prefix", "feedback_usage_error", "run_feedback"]

_report_id = id_argument(FEEDBACK_STORE)


def add_feedback_parser(
    sub: Any, add_registry_args: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``feedback`` and its actions to the trainer's subcommands."""
    feedback = sub.add_parser(
        "feedback", help="review people's reports: list, show, accept, reject, delete"
    )
    actions = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")

    def store_args(parser: argparse.ArgumentParser) -> None:
        add_prefix_argument(parser, "feedback", "reports")
        add_registry_args(parser)

    def filter_args(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--label", choices=LABELS, help="only reports with this label")
        parser.add_argument(
            "--disagreed", action="store_true", help="only reports the model disagreed with"
        )

    listing = actions.add_parser("list", help="reports in one state, as a table with counts")
    listing.add_argument(
        "--state", choices=STATES, default="pending", help="which reports (default: pending)"
    )
    filter_args(listing)
    listing.add_argument("--json", action="store_true", help="print JSON, not a table")
    store_args(listing)

    show = actions.add_parser("show", help="one report in full, wherever it is")
    show.add_argument("id", type=_report_id, metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    store_args(show)

    for state, verb in (("accepted", "accept"), ("rejected", "reject")):
        decision = actions.add_parser(
            verb, help=f"move reports to {state}/ (a change of mind is allowed)"
        )
        decision.add_argument("ids", nargs="*", type=_report_id, metavar="ID")
        decision.add_argument(
            "--all", action="store_true", help=f"{verb} every pending report (with the filters)"
        )
        filter_args(decision)
        by_argument(decision)
        decision.set_defaults(decision_state=state)
        store_args(decision)

    delete = actions.add_parser(
        "delete", help="erase reports in every state, old object versions included"
    )
    delete.add_argument("ids", nargs="+", type=_report_id, metavar="ID")
    store_args(delete)


def feedback_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with a ``feedback`` command line that argparse cannot see, if anything."""
    if args.feedback_command not in ("accept", "reject"):
        return None
    if args.all and args.ids:
        return "give report ids or --all, not both"
    if not args.all and not args.ids:
        return "give report ids, or --all for every pending report"
    if not args.all and (args.label or args.disagreed):
        return "--label and --disagreed choose among pending reports: they need --all"
    if args.by is not None and not args.by.strip():
        return "--by must name someone"
    return None


def feedback_prefix(args: argparse.Namespace, env: TrainerEnv, model_prefix: str) -> str:
    """The reports' prefix (``--feedback-prefix``, else the environment's), checked."""
    raw = args.feedback_prefix if args.feedback_prefix is not None else env.feedback_prefix
    others = {"model": model_prefix, "capture": env.capture_prefix}
    return store_prefix(raw, "feedback", "feedback/", others)


def _verdict(report: Report) -> str:
    if report.verdict is None:
        return "-"
    return f"{report.verdict.classification} {report.verdict.spam_probability:.2f}"


def _matches(report: Report, args: argparse.Namespace) -> bool:
    return (args.label is None or report.label == args.label) and (
        not args.disagreed or report.disagreed
    )


def _filters(args: argparse.Namespace) -> str:
    named = ([f"--label {args.label}"] if args.label else []) + (
        ["--disagreed"] if args.disagreed else []
    )
    return f" matching {' '.join(named)}" if named else ""


def _counts(reports: Iterable[Report]) -> dict[str, int]:
    reports = list(reports)
    counts = {"total": len(reports)}
    counts.update({label: sum(r.label == label for r in reports) for label in LABELS})
    counts["disagreed"] = sum(r.disagreed for r in reports)
    return counts


def _as_dict(resolution: Resolution) -> dict[str, Any]:
    report = resolution.item
    return {
        **asdict(report),
        "state": report.state,
        "key": resolution.key,
        "disagreed": report.disagreed,
    }


def _short_by(by: str) -> str:
    return by.rsplit("/", 1)[-1]


def _cmd_list(store: Store, args: argparse.Namespace) -> None:
    everything = standing_in(store, args.state)
    shown = [r for r in everything if _matches(r.item, args)]
    counts = _counts(r.item for r in everything)
    if args.json:
        print_listing(args.state, counts, "reports", [_as_dict(r) for r in shown])
        return
    print(
        f"{counts['total']} {args.state} report(s): {counts['spam']} spam, {counts['ham']} ham; "
        f"the model disagreed with {counts['disagreed']}"
    )
    if len(shown) != len(everything):
        print(f"showing {len(shown)}{_filters(args)}")
    if not shown:
        return
    decided = args.state != "pending"
    header = f"{'id':<33}  {'received':<16}  {'label':<5}  {'model':<9} !"
    print(header + ("  decided (by)                " if decided else "  ") + "text")
    for resolution in shown:
        report = resolution.item
        row = (
            f"{report.id:<33}  {short_time(report.received_at):<16}  "
            f"{report.label:<5}  {_verdict(report):<9} {'!' if report.disagreed else ' '}"
        )
        if decided and report.decision is not None:
            when = short_time(report.decision.at)
            row += f"  {when} ({cut(_short_by(report.decision.by), 10)})".ljust(30)
        print(f"{row}  {cut(report.text)}")


def _cmd_show(store: Store, args: argparse.Namespace) -> None:
    resolution = resolve_tidily(store, args.id)
    report = resolution.item
    if args.json:
        print(json.dumps(_as_dict(resolution), indent=2, sort_keys=True))
        return
    verdict = report.verdict
    fields = [
        ("id", report.id),
        ("state", report.state),
        ("key", f"s3://{store.bucket}/{resolution.key}"),
        ("received at", report.received_at),
        ("label", report.label),
        (
            "model verdict",
            f"{verdict.classification} (spam probability {verdict.spam_probability:.4f}, "
            f"model {verdict.model_version})"
            if verdict
            else "-",
        ),
        ("model disagreed", "yes" if report.disagreed else "no"),
        ("corrected version", report.corrected_version or "-"),
        ("corrected request", report.corrected_request_id or "-"),
        (
            "decision",
            f"{report.decision.state} by {report.decision.by} at {report.decision.at}"
            if report.decision
            else "-",
        ),
        ("schema version", str(report.schema_version)),
        ("text length", f"{len(report.text)} characters"),
    ]
    for name, value in fields:
        print(f"{name + ':':<19}{visible(value, one_line=True)}")
    print("text:")
    print(visible(report.text, one_line=False))


def _cmd_decide(store: Store, args: argparse.Namespace) -> None:
    state, verb = args.decision_state, args.feedback_command
    if args.all:
        targets = [r for r in standing_in(store, "pending") if _matches(r.item, args)]
        if not targets:
            print(f"no pending reports{_filters(args)}: nothing to {verb}")
            return
    else:
        targets = [resolve_tidily(store, report_id) for report_id in dict.fromkeys(args.ids)]
    needed = any(r.state != state for r in targets)
    by = args.by.strip() if args.by else (caller_identity(args.endpoint_url) if needed else "")
    now = datetime.now(UTC)
    moved = 0
    for resolution in targets:
        report_id, previous = resolution.item.id, resolution.item.decision
        if decide(store.s3, store.bucket, store.prefix, resolution, state, by=by, now=now) is None:
            done = f" (by {previous.by} at {previous.at})" if previous else ""
            done = visible(done, one_line=True)
            print(f"{report_id}: already {state}{done}; nothing to do")
            continue
        moved += 1
        change = "" if previous is None else f" (was {previous.state}: a change of mind)"
        print(f"{report_id}: {state}{change}")
    decided_by = f", decided by {by}" if moved else ""
    note(f"{verb}: {moved} moved to {state}/{decided_by}; {len(targets) - moved} already there")


def _cmd_delete(store: Store, args: argparse.Namespace) -> None:
    delete_items(store, args.ids)


_ACTIONS: dict[str, Callable[[Store, argparse.Namespace], None]] = {
    "list": _cmd_list,
    "show": _cmd_show,
    "accept": _cmd_decide,
    "reject": _cmd_decide,
    "delete": _cmd_delete,
}


def run_feedback(
    args: argparse.Namespace, s3: Any, bucket: str, model_prefix: str, env: TrainerEnv
) -> None:
    """Run one ``feedback`` action on ``s3://bucket/<feedback prefix>``; errors raise."""
    prefix = feedback_prefix(args, env, model_prefix)
    store = Store(s3=s3, bucket=bucket, prefix=prefix, format=FEEDBACK_STORE)
    _ACTIONS[args.feedback_command](store, args)
