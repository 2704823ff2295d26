"""What the commands on people-decided stores share (``feedback ...`` and ``capture ...``).

Where a store lies (a prefix checked against the others), who decides (``--by``, else the
caller's AWS identity), how untrusted texts are shown (control and format characters
escaped: a stored text cannot drive the terminal), resolving an item while removing the
copies an interrupted move left (and saying so), listing the items that stand in a state,
and erasing items with every old version.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.feedback_format import lies_outside_model_prefix
from chalicelib.registry_format import normalize_prefix

from trainer import decided_store
from trainer.decided_store import Resolution, StoreFormat
from trainer.errors import TrainerError

__all__ = [
    "Store",
    "add_prefix_argument",
    "by_argument",
    "caller_identity",
    "cut",
    "delete_items",
    "id_argument",
    "note",
    "print_listing",
    "resolve_tidily",
    "short_time",
    "standing_in",
    "standing_in_states",
    "store_prefix",
    "visible",
]

TEXT_WIDTH = 48
_STS_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Store:
    """One store in one bucket, as a command works on it."""

    s3: Any
    bucket: str
    prefix: str
    format: StoreFormat


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def id_argument(fmt: StoreFormat) -> Any:
    """An argparse ``type`` that accepts only ids of ``fmt``'s form (a usage error otherwise)."""

    def parse(text: str) -> str:
        try:
            return fmt.validate_id(text)
        except fmt.format_error as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def add_prefix_argument(parser: Any, store: str, items: str) -> None:
    """``--<store>-prefix``: where a store's ``items`` lie in the bucket (``$<STORE>_PREFIX``)."""
    parser.add_argument(
        f"--{store}-prefix",
        metavar="PREFIX",
        help=f"the {items}' key prefix in the bucket (default: ${store.upper()}_PREFIX or "
        f"{store}/)",
    )


def by_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="WHO",
        help="who decides (default: your AWS identity's ARN, else your user name)",
    )


def store_prefix(raw: str, name: str, example: str, others: Mapping[str, str]) -> str:
    """``raw`` as a normalized prefix, refused unless it lies outside every one of ``others``.

    ``others`` maps each other store's name to its prefix (the model prefix first): neither
    may contain the other, as the API's settings require.
    """
    prefix = normalize_prefix(raw)
    if not prefix or any(part in {".", ".."} for part in prefix.rstrip("/").split("/")):
        raise TrainerError(f"the {name} prefix must be a folder such as {example}, got {raw!r}")
    for other_name, other in others.items():
        other = normalize_prefix(other)
        if not lies_outside_model_prefix(prefix, other):
            raise TrainerError(
                f"the {name} prefix {prefix!r} must lie outside the {other_name} prefix "
                f"{other!r} (and not contain it), as the API requires"
            )
    return prefix


def visible(text: str, *, one_line: bool) -> str:
    """``text`` with control and format characters escaped (newlines kept unless one_line)."""
    shown = []
    for char in text:
        if char in "\n\t" and not one_line:
            shown.append(char)
        elif char in "\n\t\r" and one_line:
            shown.append(" ")
        elif unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}:
            shown.append(f"\\u{ord(char):04x}")
        else:
            shown.append(char)
    return "".join(shown)


def cut(text: str, width: int = TEXT_WIDTH) -> str:
    flat = " ".join(visible(text, one_line=True).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def short_time(stamp: str) -> str:
    """A stored time as ``yyyy-mm-dd hh:mm``, for a table."""
    return cut(stamp[:16].replace("T", " "), 16)


def print_listing(
    state: str, counts: Mapping[str, int], name: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``list --json``: the state, its counts, and the rows shown (``name``: reports, records)."""
    out = {"state": state, "counts": dict(counts), "shown": len(rows), name: list(rows)}
    print(json.dumps(out, indent=2, sort_keys=True))


def resolve_tidily(
    store: Store, item_id: str, copies: Mapping[str, str] | None = None
) -> Resolution:
    """The standing copy of an item, after removing the copies that do not stand."""
    fmt = store.format
    resolution = decided_store.resolve(store.s3, store.bucket, store.prefix, fmt, item_id, copies)
    for key in decided_store.remove_leftovers(store.s3, store.bucket, resolution, fmt):
        note(
            f"note: removed s3://{store.bucket}/{key}, a copy left by an interrupted move: "
            f"{fmt.noun} {item_id} is {resolution.state}"
        )
    return resolution


def standing_in(store: Store, state: str) -> list[Resolution]:
    """Every item whose standing copy is in ``state``, oldest id first.

    Items with copies in two places are resolved too, whatever their state, so a listing
    also tidies what interrupted moves left.
    """
    return standing_in_states(store, (state,))[state]


def standing_in_states(store: Store, states: Sequence[str]) -> dict[str, list[Resolution]]:
    """``standing_in`` for several states from one listing of the store."""
    found: dict[str, list[Resolution]] = {state: [] for state in states}
    copies = decided_store.list_copies(store.s3, store.bucket, store.prefix, store.format)
    for item_id, where in sorted(copies.items()):
        if where.keys() & found.keys() or len(where) > 1:
            resolution = resolve_tidily(store, item_id, where)
            if resolution.state in found:
                found[resolution.state].append(resolution)
    return found


def caller_identity(endpoint_url: str | None) -> str:
    """The caller's AWS ARN (STS GetCallerIdentity), else the OS user name, with a note."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=_STS_TIMEOUT_SECONDS,
        read_timeout=_STS_TIMEOUT_SECONDS,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    try:
        sts = boto3.client("sts", endpoint_url=endpoint_url or None, config=config)
        return str(sts.get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as exc:
        reason = exc
    try:
        user = getpass.getuser()
    except (OSError, KeyError) as exc:  # no login name and no passwd entry
        raise TrainerError(f"cannot tell who decides (STS: {reason}): pass --by") from exc
    note(f"note: STS could not say who you are ({reason}); recording the decision as by {user!r}")
    return user


def delete_items(store: Store, ids: Sequence[str]) -> None:
    """Erase items in every state, old versions and delete markers included.

    Every id is looked up first: an unknown one stops the command before anything goes.
    """
    fmt = store.format
    ids = list(dict.fromkeys(ids))
    versions = {
        item_id: decided_store.item_versions(store.s3, store.bucket, store.prefix, fmt, item_id)
        for item_id in ids
    }
    unknown = [item_id for item_id, found in versions.items() if not found]
    if unknown:
        raise TrainerError(
            f"no {fmt.noun} {', '.join(unknown)} in any state (nothing was deleted); "
            f"check the id, or it was already deleted"
        )
    for item_id, found in versions.items():
        count = decided_store.erase_versions(store.s3, store.bucket, found, fmt)
        print(f"{item_id}: deleted ({count} object version(s), delete markers included)")
