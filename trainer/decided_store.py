"""What the stores people decide on share: find, move and erase items in S3, and read two copies.

Two stores hold untrusted items that a person decides on: the feedback store (reports,
``trainer.feedback_store``: pending, accepted, rejected) and the capture store (records of
the live traffic, ``trainer.capture_store``: pending, labelled, discarded). Each item lies
at a key that follows from its state and its id alone; the API only ever creates items in
the first state, and a person's decision moves them. A move writes the decided copy first
and deletes the source last, so a run killed half-way leaves an item in one place or two,
never in none.

An item found in two places (or three) is read by one rule, :func:`standing_state`:

- a decided copy beats an undecided one: the undecided copy is what an interrupted move
  left behind;
- between two decided copies, the later decision stands (a change of mind whose source was
  not yet deleted); on a tie, the store's cautious state stands (``rejected``,
  ``discarded``), because an untrusted item must never reach a model by accident.

:func:`resolve` applies it to one item; the commands remove the copies that do not stand
(:func:`remove_leftovers`), while loading for training (:func:`load_standing`) only reads.
A store is described once by a :class:`StoreFormat`: its states, keys, parser and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.feedback_format import decision_time_text, parse_time
from chalicelib.s3_errors import NOT_FOUND_CODES, error_code

from trainer.errors import TrainerError

__all__ = [
    "ObjectVersion",
    "Resolution",
    "StoreFormat",
    "decision_time",
    "erase_versions",
    "item_versions",
    "list_copies",
    "load_standing",
    "move",
    "remove_leftovers",
    "resolve",
    "standing_state",
]


@dataclass(frozen=True)
class StoreFormat:
    """One store's contract, as the shared machinery needs it.

    ``states`` lists where an item can be, the undecided state first; ``cautious`` is the
    decided state that stands when two decisions carry the same time. ``key(prefix, state,
    id)`` and ``parse_key(prefix, key) -> (state, id)`` are the format module's, as are
    ``parse`` (bytes to an item with ``id`` and ``state``), ``validate_id`` and
    ``format_error`` (what those raise). ``decided_at(item)`` is when its decision was made
    (``None`` while undecided). ``error``, ``not_found`` and ``malformed`` are the store's
    own exceptions (``not_found`` and ``malformed`` derive from ``error``).
    """

    noun: str
    states: tuple[str, ...]
    cautious: str
    key: Callable[[str, str, str], str]
    parse_key: Callable[[str, str], tuple[str, str]]
    parse: Callable[[bytes], Any]
    validate_id: Callable[[str], str]
    format_error: type[Exception]
    decided_at: Callable[[Any], str | None]
    error: type[TrainerError]
    not_found: type[TrainerError]
    malformed: type[TrainerError]

    @property
    def undecided(self) -> str:
        return self.states[0]


@dataclass(frozen=True)
class Resolution:
    """Which copy of an item stands (``item`` at ``key``) and which are leftovers."""

    item: Any
    key: str
    leftovers: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        return str(self.item.state)


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version (or delete marker) of an item's key, as erasing needs it."""

    key: str
    version_id: str
    is_delete_marker: bool


def standing_state(decided: Mapping[str, str], undecided: str, cautious: str) -> str:
    """The state whose copy stands, given ``{state: decision time}`` of the decided copies.

    With none, the item is ``undecided``. The later decision stands; a tie goes to
    ``cautious``.

    >>> standing_state({"accepted": "2026-11-26T10:00:00Z", "rejected": "2026-11-26T11:00:00Z"},
    ...                "pending", "rejected")
    'rejected'
    >>> standing_state({}, "pending", "discarded")
    'pending'
    """
    if not decided:
        return undecided
    return max(decided, key=lambda state: (parse_time(decided[state]), state == cautious))


def decision_time(now: datetime, previous: str | None) -> str:
    """When a decision made ``now`` is recorded: after the one it overrides (``previous``).

    A change of mind is dated after the decision it overrides even if this machine's clock
    is behind the one that made it, so the later-decision rule cannot undo it.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    >>> decision_time(now, None), decision_time(now, "2026-11-28T13:00:00Z")
    ('2026-11-28T12:00:00.000000Z', '2026-11-28T13:00:00.000001Z')
    """
    if previous is None:
        return decision_time_text(now)
    return decision_time_text(max(now, parse_time(previous) + timedelta(microseconds=1)))


def _s3_error(fmt: StoreFormat, action: str, bucket: str, key: str, exc: Exception) -> Exception:
    detail = error_code(exc) if isinstance(exc, ClientError) else str(exc)
    return fmt.error(f"could not {action} s3://{bucket}/{key}: S3 answered {detail}")


def list_copies(
    s3: Any, bucket: str, prefix: str, fmt: StoreFormat, states: Iterable[str] | None = None
) -> dict[str, dict[str, str]]:
    """Every item id in ``states`` (default: all), each with ``{state: key}`` of its copies.

    Only keys are listed (no object is read). Any other object under a state's folder is
    an error naming its key: it is nobody's item, and must not pass for one.
    """
    found: dict[str, dict[str, str]] = {}
    for state in fmt.states if states is None else states:
        folder = f"{prefix}{state}/"
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(fmt, "list", bucket, folder, exc) from exc
        for key in keys:
            try:
                _, item_id = fmt.parse_key(prefix, key)
                if fmt.key(prefix, state, item_id) != key:
                    raise fmt.format_error("its date folders are not its id's")
            except fmt.format_error as exc:
                raise fmt.malformed(f"s3://{bucket}/{key} is not a {fmt.noun} key ({exc})") from exc
            found.setdefault(item_id, {})[state] = key
    return found


def _copies_of(s3: Any, bucket: str, prefix: str, fmt: StoreFormat, item_id: str) -> dict[str, str]:
    """``{state: key}`` of the copies of one item: its keys follow from its id."""
    copies: dict[str, str] = {}
    for state in fmt.states:
        key = fmt.key(prefix, state, item_id)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                continue
            raise _s3_error(fmt, "read", bucket, key, exc) from exc
        except BotoCoreError as exc:
            raise _s3_error(fmt, "read", bucket, key, exc) from exc
        copies[state] = key
    return copies


def _read(s3: Any, bucket: str, key: str, state: str, item_id: str, fmt: StoreFormat) -> Any:
    """The item stored at ``key``, checked against where it lies."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            raise fmt.not_found(
                f"{fmt.noun} {item_id} vanished from s3://{bucket}/{key} while being read "
                f"(someone else is deciding on it?); run the command again"
            ) from exc
        raise _s3_error(fmt, "read", bucket, key, exc) from exc
    except BotoCoreError as exc:
        raise _s3_error(fmt, "read", bucket, key, exc) from exc
    try:
        item = fmt.parse(body)
    except fmt.format_error as exc:
        raise fmt.malformed(f"s3://{bucket}/{key} is not a valid {fmt.noun}: {exc}") from exc
    if item.id != item_id:
        raise fmt.malformed(f"s3://{bucket}/{key} holds {fmt.noun} {item.id}")
    if item.state != state:
        raise fmt.malformed(
            f"s3://{bucket}/{key} lies in {state}/ but its decision says {item.state}"
        )
    return item


def resolve(
    s3: Any,
    bucket: str,
    prefix: str,
    fmt: StoreFormat,
    item_id: str,
    copies: Mapping[str, str] | None = None,
) -> Resolution:
    """The copy of item ``item_id`` that stands, by :func:`standing_state`.

    ``copies`` (``{state: key}``, from :func:`list_copies`) saves looking the keys up.
    Only decided copies are read to choose; an undecided one is read only when it stands.
    ``fmt.not_found`` when the item is nowhere.
    """
    fmt.validate_id(item_id)
    if copies is None:
        copies = _copies_of(s3, bucket, prefix, fmt, item_id)
    if not copies:
        states = ", ".join(fmt.states[:-1]) + f" or {fmt.states[-1]}"
        raise fmt.not_found(f"no {fmt.noun} {item_id} (not {states})")
    decided = {
        state: _read(s3, bucket, key, state, item_id, fmt)
        for state, key in copies.items()
        if state != fmt.undecided
    }
    times = {name: at for name, item in decided.items() if (at := fmt.decided_at(item))}
    state = standing_state(times, fmt.undecided, fmt.cautious)
    key = copies[state]
    item = decided[state] if state in decided else _read(s3, bucket, key, state, item_id, fmt)
    leftovers = tuple(other for name, other in sorted(copies.items()) if name != state)
    return Resolution(item=item, key=key, leftovers=leftovers)


def remove_leftovers(
    s3: Any, bucket: str, resolution: Resolution, fmt: StoreFormat
) -> tuple[str, ...]:
    """Delete the copies of an item that do not stand; returns their keys."""
    for key in resolution.leftovers:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(fmt, "delete", bucket, key, exc) from exc
    return resolution.leftovers


def load_standing(
    s3: Any, bucket: str, prefix: str, fmt: StoreFormat, state: str, rivals: Iterable[str]
) -> list[Any]:
    """Every item whose standing copy is in ``state``, parsed and validated, oldest id first.

    ``rivals`` are the other decided states whose copies could outrank one in ``state`` (a
    change of mind not yet tidied up). Read only: leftovers stay for the next command to
    remove. A malformed object raises ``fmt.malformed`` naming its key, never skipped.
    """
    copies = list_copies(s3, bucket, prefix, fmt, (state, *rivals))
    found = []
    for item_id, where in sorted(copies.items()):
        if state not in where:
            continue
        resolution = resolve(s3, bucket, prefix, fmt, item_id, where)
        if resolution.state == state:
            found.append(resolution.item)
    return found


def move(
    s3: Any, bucket: str, prefix: str, fmt: StoreFormat, resolution: Resolution, item: Any
) -> None:
    """Store ``item`` (a decided copy of the standing one) where its state says; then delete
    the standing copy if it lay elsewhere.

    The write comes first, so an interruption leaves two copies that :func:`resolve` reads
    as this decision; a decision in the same state replaces the copy in place.
    """
    destination = fmt.key(prefix, item.state, item.id)
    try:
        s3.put_object(
            Bucket=bucket, Key=destination, Body=item.to_json(), ContentType="application/json"
        )
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(fmt, "write", bucket, destination, exc) from exc
    if resolution.key == destination:
        return
    try:
        s3.delete_object(Bucket=bucket, Key=resolution.key)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(fmt, "delete", bucket, resolution.key, exc) from exc


def item_versions(
    s3: Any, bucket: str, prefix: str, fmt: StoreFormat, item_id: str
) -> list[ObjectVersion]:
    """Every stored version and delete marker of item ``item_id``, in every state.

    The production bucket is versioned, so deleting a key only hides it: erasing an item
    means deleting each of these. Malformed copies are found too (nothing is parsed).
    """
    found: list[ObjectVersion] = []
    for state in fmt.states:
        key = fmt.key(prefix, state, fmt.validate_id(item_id))
        try:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
            for page in pages:
                for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                    found.extend(
                        ObjectVersion(
                            key=key, version_id=item["VersionId"], is_delete_marker=marker
                        )
                        for item in page.get(kind, [])
                        if item["Key"] == key  # the prefix also matches longer keys
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(fmt, "list the versions of", bucket, key, exc) from exc
    return found


def erase_versions(
    s3: Any, bucket: str, versions: Iterable[ObjectVersion], fmt: StoreFormat
) -> int:
    """Delete each version for good (a person asked to be forgotten); returns how many."""
    count = 0
    for version in versions:
        try:
            s3.delete_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(
                fmt, f"delete version {version.version_id} of", bucket, version.key, exc
            ) from exc
        count += 1
    return count
