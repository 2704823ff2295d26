"""``python -m trainer capture ...``: a person labels the sample of live traffic the API kept.

``list`` reads; ``queue`` says what to label next (``trainer.capture_queue``), blind: the
text and the id, never the model's verdict or probability, so a label is not anchored by
the model's answer (``list`` hides them too until a record is labelled); ``label`` (one
record, or a CSV of ``id,label``) and ``discard`` move records out of ``pending/``;
``delete`` erases a record and every old version of it, for a person who asks. Moves use
the feedback review's machinery (``trainer.decided_store``, ``trainer.store_cli``): who and
when are recorded, deciding again is a no-op, and the copies an interrupted move left are
removed by the next command, which says so. Texts are shown with control characters
escaped.

The functions a script needs (the lead's labelling curve) are public: :func:`next_batch`
and :func:`apply_labels`, on a :class:`~trainer.store_cli.Store`.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.capture_format import LABELS, STATES, STRATA, CaptureRecord

from trainer import store_cli
from trainer.capture_queue import RANDOM_SHARE, queue_order
from trainer.capture_store import CAPTURE_STORE, decide_record, load_labelled
from trainer.config import TrainerEnv
from trainer.decided_store import Resolution
from trainer.errors import TrainerError
from trainer.store_cli import Store

__all__ = [
    "add_capture_parser",
    "apply_labels",
    "capture_prefix",
    "capture_usage_error",
    "labelled_records",
    "next_batch",
    "read_label_csv",
    "run_capture",
]

_record_id = store_cli.id_argument(CAPTURE_STORE)


def add_capture_parser(
    sub: Any, add_registry_args: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``capture`` and its actions to the trainer's subcommands."""
    capture = sub.add_parser(
        "capture",
        help="label the live traffic the API kept: list, queue, label, discard, delete",
    )
    actions = capture.add_subparsers(dest="capture_command", required=True, metavar="ACTION")

    def store_args(parser: argparse.ArgumentParser) -> None:
        store_cli.add_prefix_argument(parser, "capture", "records")
        add_registry_args(parser)

    listing = actions.add_parser("list", help="records in one state, as a table with counts")
    listing.add_argument(
        "--state", choices=STATES, default="pending", help="which records (default: pending)"
    )
    listing.add_argument("--stratum", choices=STRATA, help="only records of this stratum")
    listing.add_argument("--json", action="store_true", help="print JSON, not a table")
    store_args(listing)

    queue = actions.add_parser(
        "queue",
        help="the next records to label: the least certain first (rescored with the live "
        f"model), {RANDOM_SHARE * 100:.0f}%% of every batch from the random stratum; the text "
        "and id only",
    )
    queue.add_argument(
        "--next", type=_count, default=10, metavar="N", help="how many (default: 10)"
    )
    queue.add_argument("--json", action="store_true", help='print [{"id", "text", "stratum"}]')
    store_args(queue)

    label = actions.add_parser(
        "label", help="label a record spam or ham (a new label for a labelled one is allowed)"
    )
    label.add_argument("id", nargs="?", type=_record_id, metavar="ID")
    label.add_argument("label", nargs="?", choices=LABELS, metavar="spam|ham")
    label.add_argument(
        "--from-csv",
        type=Path,
        metavar="FILE",
        help="label many: a CSV with columns id,label (every row is checked before any move)",
    )
    store_cli.by_argument(label)
    store_args(label)

    discard = actions.add_parser(
        "discard", help="set records aside unlabelled (unreadable, not a message, ...)"
    )
    discard.add_argument("ids", nargs="+", type=_record_id, metavar="ID")
    store_cli.by_argument(discard)
    store_args(discard)

    delete = actions.add_parser(
        "delete", help="erase records in every state, old object versions included"
    )
    delete.add_argument("ids", nargs="+", type=_record_id, metavar="ID")
    store_args(delete)


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def capture_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with a ``capture`` command line that argparse cannot see, if anything."""
    if getattr(args, "by", None) is not None and not args.by.strip():
        return "--by must name someone"
    if args.capture_command != "label":
        return None
    if args.from_csv is not None and (args.id or args.label):
        return "give ID and LABEL, or --from-csv FILE, not both"
    if args.from_csv is None and not (args.id and args.label):
        return "give a record ID and its label (spam or ham), or --from-csv FILE"
    return None


def capture_prefix(args: argparse.Namespace, env: TrainerEnv, model_prefix: str) -> str:
    """The records' prefix (``--capture-prefix``, else the environment's), checked."""
    raw = args.capture_prefix if args.capture_prefix is not None else env.capture_prefix
    others = {"model": model_prefix, "feedback": env.feedback_prefix}
    return store_cli.store_prefix(raw, "capture", "capture/", others)


def labelled_records(
    args: argparse.Namespace, env: TrainerEnv, registry: tuple[Any, str, str]
) -> tuple[list[CaptureRecord], str]:
    """Every labelled record of the store (``--capture-prefix``) in the registry's bucket, and
    where they were read (for ``train --capture`` and ``monitor --quality``)."""
    s3, bucket, model_prefix = registry
    prefix = capture_prefix(args, env, model_prefix)
    return load_labelled(s3, bucket, prefix), f"s3://{bucket}/{prefix}labelled/"


# -- reading -----------------------------------------------------------------------------


def _blind(record: CaptureRecord) -> dict[str, Any]:
    """A record as ``list --json`` shows it: a pending one without the model's answer."""
    shown = {**asdict(record), "state": record.state}
    if record.state == "pending":
        for name in ("spam_probability", "threshold"):
            shown.pop(name)
    else:
        shown["classification"] = record.classification
    return shown


def _model_wrong(record: CaptureRecord) -> bool:
    return record.label is not None and record.classification.lower() != record.label


def _counts(records: Sequence[CaptureRecord], state: str) -> dict[str, int]:
    counts = {"total": len(records)}
    counts.update({s: sum(r.stratum == s for r in records) for s in STRATA})
    if state == "labelled":
        counts.update({label: sum(r.label == label for r in records) for label in LABELS})
        counts["model_wrong"] = sum(_model_wrong(r) for r in records)
    return counts


def _cmd_list(store: Store, args: argparse.Namespace) -> None:
    everything = [r.item for r in store_cli.standing_in(store, args.state)]
    shown = [r for r in everything if args.stratum is None or r.stratum == args.stratum]
    counts = _counts(everything, args.state)
    if args.json:
        store_cli.print_listing(args.state, counts, "records", [_blind(r) for r in shown])
        return
    line = f"{counts['total']} {args.state} record(s): {counts['random']} random, "
    line += f"{counts['uncertain']} uncertain"
    if args.state == "labelled":
        line += (
            f"; {counts['spam']} spam, {counts['ham']} ham; the model was wrong on "
            f"{counts['model_wrong']}"
        )
    print(line)
    if len(shown) != len(everything):
        print(f"showing {len(shown)} of the {args.stratum} stratum")
    if not shown:
        return
    labelled = args.state == "labelled"
    header = f"{'id':<33}  {'captured':<16}  {'stratum':<9}  {'model version':<24}"
    if labelled:
        header += f"  {'label':<5}  {'model':<5} !"
    if args.state != "pending":
        header += f"  {'decided (by)':<28}"
    print(f"{header}  text")
    for record in shown:
        row = (
            f"{record.id:<33}  {store_cli.short_time(record.captured_at):<16}  "
            f"{record.stratum:<9}  {store_cli.cut(record.model_version, 24):<24}"
        )
        if labelled:
            wrong = "!" if _model_wrong(record) else " "
            row += f"  {record.label:<5}  {record.classification:<5} {wrong}"
        if record.labelling is not None:
            who = store_cli.cut(record.labelling.by.rsplit("/", 1)[-1], 10)
            row += f"  {store_cli.short_time(record.labelling.at)} ({who})".ljust(30)
        print(f"{row}  {store_cli.cut(record.text)}")


def next_batch(store: Store, live_model: Any, size: int) -> list[CaptureRecord]:
    """The next ``size`` pending records to label (``trainer.capture_queue.queue_order``).

    ``live_model`` is a :class:`trainer.registry.LiveModel` (what the API serves now): the
    uncertain stratum is rescored with it, on the published scale. The labelled random
    records are counted for the queue's seed set (``RANDOM_FIRST``).
    """
    standing = store_cli.standing_in_states(store, ("pending", "labelled"))
    pending = [r.item for r in standing["pending"]]
    random_labelled = sum(r.item.stratum == "random" for r in standing["labelled"])
    uncertain = [r for r in pending if r.stratum == "uncertain"]
    scores = live_model.spam_probability([r.text for r in uncertain]) if uncertain else []
    live = {r.id: float(p) for r, p in zip(uncertain, scores, strict=True)}
    return queue_order(pending, live, live_model.threshold, size, random_labelled=random_labelled)


def _cmd_queue(store: Store, args: argparse.Namespace, registry: tuple[Any, str, str]) -> None:
    import sklearn

    from trainer.registry import load_live_model

    live = load_live_model(*registry, sklearn.__version__)
    batch = next_batch(store, live, args.next)
    if args.json:
        rows = [{"id": r.id, "text": r.text, "stratum": r.stratum} for r in batch]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    random = sum(r.stratum == "random" for r in batch)
    print(
        f"{len(batch)} record(s) to label: {len(batch) - random} of the uncertain stratum, "
        f"the least certain first for the live model {live.version}, and {random} of the "
        f"random stratum, oldest first ({RANDOM_SHARE:.0%} of a batch is kept for it)"
    )
    if not batch:
        return
    print(
        "label each: python -m trainer capture label ID spam|ham, or many at once with "
        "--from-csv FILE (columns id,label)"
    )
    for number, record in enumerate(batch, start=1):
        print(f"\n[{number}] {record.id} ({record.stratum})")
        print(store_cli.visible(record.text, one_line=False))


# -- deciding ----------------------------------------------------------------------------


def read_label_csv(path: Path) -> list[tuple[str, str]]:
    """``(id, label)`` of every row of a CSV with columns ``id`` and ``label``, checked whole.

    Other columns are ignored. Any bad row (an id not of the store's form, a label other
    than spam or ham, an id listed twice) makes a ``TrainerError`` that names every bad row
    with its line, before anything is labelled.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise TrainerError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TrainerError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    header = [name.strip().casefold() for name in rows[0]] if rows else []
    if "id" not in header or "label" not in header:
        raise TrainerError(f"{path}: the first row must name the columns id and label")
    id_at, label_at = header.index("id"), header.index("label")
    problems, found, first_line = [], [], {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        cells = [*row, "", ""]
        record_id, label = cells[id_at].strip(), cells[label_at].strip().casefold()
        try:
            CAPTURE_STORE.validate_id(record_id)
        except CAPTURE_STORE.format_error:
            problems.append(f"{path}:{line}: not a record id: {_cell(record_id)}")
            continue
        if label not in LABELS:
            problems.append(
                f"{path}:{line}: label must be spam or ham, got {_cell(cells[label_at])}"
            )
        elif record_id in first_line:
            problems.append(
                f"{path}:{line}: record {record_id} is listed twice (line {first_line[record_id]})"
            )
        else:
            first_line[record_id] = line
            found.append((record_id, label))
    if problems:
        shown = "\n  ".join(problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
        raise TrainerError(
            f"{len(problems)} bad row(s) in {path}; nothing was labelled:\n  {shown}"
        )
    if not found:
        raise TrainerError(f"{path} has no rows to label")
    return found


def _cell(value: str) -> str:
    """A CSV cell for an error message: itself when it could be an id or a label (short, one
    word), else only its length. A CSV built from ``capture queue --json`` has a text
    column, and a shifted column must not print a person's message into the error.

    >>> _cell("maybe"), _cell("x" * 41), _cell("call me now")
    ("'maybe'", 'a value of 41 characters', 'a value of 11 characters')
    """
    if len(value) <= _CELL_SHOWN and not any(char.isspace() for char in value):
        return repr(value)
    return f"a value of {len(value)} characters"


#: The longest CSV cell an error message repeats (an id has 33 characters).
_CELL_SHOWN = 40


def apply_labels(
    store: Store, decisions: Sequence[tuple[str, str | None]], by: str, now: datetime
) -> list[tuple[str, str]]:
    """Label (``spam``/``ham``) or discard (``None``) records; ``(id, what happened)`` each.

    Every record is looked up before the first move, so an unknown id stops the batch with
    nothing moved. A decision that already stands is a no-op; a different one for a
    decided record is a change of mind, recorded as such.
    """
    targets = [
        (store_cli.resolve_tidily(store, record_id), label) for record_id, label in decisions
    ]
    return [_decide(store, resolution, label, by, now) for resolution, label in targets]


def _decide(
    store: Store, resolution: Resolution, label: str | None, by: str, now: datetime
) -> tuple[str, str]:
    before: CaptureRecord = resolution.item
    after = decide_record(store.s3, store.bucket, store.prefix, resolution, label, by=by, now=now)
    what = "discarded" if label is None else f"labelled {label}"
    if after is None:
        done = store_cli.visible(
            f" (by {before.labelling.by} at {before.labelling.at})", one_line=True
        )
        return before.id, f"already {what}{done}; nothing to do"
    if before.labelling is None:
        return before.id, what
    was = "discarded" if before.label is None else before.label
    return before.id, f"{what} (was {was}: a change of mind)"


def _cmd_decide(store: Store, args: argparse.Namespace) -> None:
    if args.capture_command == "discard":
        decisions: list[tuple[str, str | None]] = [(i, None) for i in dict.fromkeys(args.ids)]
    elif args.from_csv is not None:
        decisions = list(read_label_csv(args.from_csv))
    else:
        decisions = [(args.id, args.label)]
    by = args.by.strip() if args.by else store_cli.caller_identity(args.endpoint_url)
    outcomes = apply_labels(store, decisions, by, datetime.now(UTC))
    for record_id, what in outcomes:
        print(f"{record_id}: {what}")
    unchanged = sum("nothing to do" in what for _, what in outcomes)
    store_cli.note(
        f"{args.capture_command}: {len(outcomes) - unchanged} decided by {by}; "
        f"{unchanged} already so"
    )


def _cmd_delete(store: Store, args: argparse.Namespace) -> None:
    store_cli.delete_items(store, args.ids)


def run_capture(
    args: argparse.Namespace, s3: Any, bucket: str, model_prefix: str, env: TrainerEnv
) -> None:
    """Run one ``capture`` action on ``s3://bucket/<capture prefix>``; errors raise."""
    prefix = capture_prefix(args, env, model_prefix)
    store = Store(s3=s3, bucket=bucket, prefix=prefix, format=CAPTURE_STORE)
    command = args.capture_command
    if command == "queue":
        _cmd_queue(store, args, (s3, bucket, model_prefix))
    elif command == "list":
        _cmd_list(store, args)
    elif command == "delete":
        _cmd_delete(store, args)
    else:
        _cmd_decide(store, args)
