"""Labelled messages from the formats the trainer accepts, with errors that say where.

Every loader returns a list of :class:`Message` (text, ``"spam"``/``"ham"``, the source's
name, where it came from, and its medium), so sources can be mixed and still be scored one
by one. The medium follows from the format: ``"sms"`` (short messages, one per row) for
the SMS collection and CSV files, ``"email"`` for folders of RFC 822 emails.
Parsing is done by pure functions on text; the ``load_*`` functions only read bytes.

Formats (a *source spec* is what ``--data`` takes):

- ``PATH`` to a file not ending in ``.csv``: the UCI SMS Spam Collection, one
  ``label<TAB>text`` per line, UTF-8.
- ``PATH.csv``: a CSV with a header; label and text columns by name (``label``/``text``
  by default, or auto-detected ``v1``/``v2`` as in Kaggle's ``spam.csv``), UTF-8 or Latin-1.
- ``DIR``: a folder of labelled folders of raw emails, ``easy_ham``, ``easy_ham_2``,
  ``hard_ham`` and ``ham`` for ham, ``spam`` and ``spam_2`` for spam (the SpamAssassin
  corpus), or ``DIR:spam`` / ``DIR:ham`` for one folder of raw emails with one label.

Labels normalise case-insensitively: ``spam``, ``1``, ``smishing`` and ``junk`` are spam;
``ham``, ``0`` and ``legit`` are ham; anything else is an error naming the row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trainer.emails import email_to_text
from trainer.errors import DataError

__all__ = [
    "EMAIL_FOLDER_LABELS",
    "LABEL_ALIASES",
    "Message",
    "check_dataset",
    "load_csv",
    "load_email_dir",
    "load_sms_collection",
    "load_source",
    "load_sources",
    "normalize_label",
    "parse_csv",
    "parse_sms_collection",
]

#: Raw label (case-folded, stripped) to normalised label.
LABEL_ALIASES: dict[str, str] = {
    "spam": "spam",
    "1": "spam",
    "smishing": "spam",
    "junk": "spam",
    "ham": "ham",
    "0": "ham",
    "legit": "ham",
}
#: Sub-folder names of an email corpus and the label their messages carry.
EMAIL_FOLDER_LABELS: dict[str, str] = {
    "easy_ham": "ham",
    "easy_ham_2": "ham",
    "hard_ham": "ham",
    "ham": "ham",
    "spam": "spam",
    "spam_2": "spam",
}
_LABEL_COLUMNS = ("label", "v1", "category", "class")
_TEXT_COLUMNS = ("text", "v2", "message", "sms")
_SKIPPED_FILES = frozenset({"cmds", "SOURCE.md", "MANIFEST.sha256", "README", "readme"})


@dataclass(frozen=True)
class Message:
    """One labelled message: ``label`` is ``"spam"`` or ``"ham"``; ``origin`` is file:line.

    ``medium`` is the kind of message (``"sms"`` or ``"email"``): trained on several
    media, the trainer fits one expert and one threshold per medium behind a gate.
    """

    text: str
    label: str
    source: str
    origin: str
    medium: str = "sms"


def normalize_label(raw: str, where: str) -> str:
    """``"spam"`` or ``"ham"`` for a raw label; ``DataError`` naming ``where`` otherwise.

    >>> [normalize_label(x, "f:1") for x in ("SPAM", " ham", "1", "0", "Smishing")]
    ['spam', 'ham', 'spam', 'ham', 'spam']
    >>> normalize_label("maybe", "f:3")
    Traceback (most recent call last):
    ...
    trainer.errors.DataError: f:3: unknown label 'maybe' (expected spam/ham, 1/0 or smishing)
    """
    label = LABEL_ALIASES.get(str(raw).strip().casefold())
    if label is None:
        raise DataError(f"{where}: unknown label {raw!r} (expected spam/ham, 1/0 or smishing)")
    return label


def _decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{name}:{line}: bytes that are not UTF-8 ({data[exc.start : exc.start + 4]!r} "
            f"at byte {exc.start}); re-encode the file as UTF-8"
        ) from exc


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise DataError(f"{path}: the file is empty")
    return data


def parse_sms_collection(text: str, name: str, source: str | None = None) -> list[Message]:
    """Parse ``label<TAB>text`` lines (the UCI SMS Spam Collection format).

    >>> [(m.label, m.text) for m in parse_sms_collection("ham\\tHi\\nspam\\tWIN\\n", "f")]
    [('ham', 'Hi'), ('spam', 'WIN')]
    >>> parse_sms_collection("ham Hi\\n", "f")
    Traceback (most recent call last):
    ...
    trainer.errors.DataError: f:1: expected 'label<TAB>text', found no tab
    """
    source = source or name
    messages: list[Message] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        raw_label, tab, body = line.partition("\t")
        where = f"{name}:{number}"
        if not tab:
            raise DataError(f"{where}: expected 'label<TAB>text', found no tab")
        label = normalize_label(raw_label, where)
        if not body.strip():
            raise DataError(f"{where}: the message text is blank")
        messages.append(Message(text=body, label=label, source=source, origin=where))
    if not messages:
        raise DataError(f"{name}: no messages found")
    return messages


def load_sms_collection(path: str | Path) -> list[Message]:
    """Read a UCI SMS Spam Collection file (UTF-8); see :func:`parse_sms_collection`."""
    path = Path(path)
    return parse_sms_collection(_decode_utf8(_read_bytes(path), str(path)), str(path), path.name)


def _pick_column(header: Sequence[str], wanted: str | None, fallbacks: Sequence[str]) -> int:
    folded = [h.strip().casefold() for h in header]
    for candidate in (wanted,) if wanted else fallbacks:
        if candidate.casefold() in folded:
            return folded.index(candidate.casefold())
    return -1


def parse_csv(
    text: str,
    name: str,
    label_column: str | None = None,
    text_column: str | None = None,
    source: str | None = None,
) -> list[Message]:
    """Parse a CSV with a header row; columns named, or auto-detected (label/v1, text/v2).

    Rows are numbered as a spreadsheet shows them (the header is row 1).

    >>> [m.label for m in parse_csv("v1,v2,x\\nham,Hi,\\nspam,WIN,\\n", "s.csv")]
    ['ham', 'spam']
    >>> parse_csv("a,b\\nham,Hi\\n", "s.csv")
    Traceback (most recent call last):
    ...
    trainer.errors.DataError: s.csv: no label column (looked for label, v1, ...); columns: a, b
    """
    source = source or name
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{name}: the file is empty") from None
    except csv.Error as exc:
        raise DataError(f"{name}:1: not valid CSV ({exc})") from exc
    columns = {}
    for role, wanted, fallbacks in (
        ("label", label_column, _LABEL_COLUMNS),
        ("text", text_column, _TEXT_COLUMNS),
    ):
        index = _pick_column(header, wanted, fallbacks)
        if index < 0:
            looked = wanted or ", ".join(fallbacks[:2]) + ", ..."
            raise DataError(
                f"{name}: no {role} column (looked for {looked}); columns: {', '.join(header)}"
            )
        columns[role] = index
    messages: list[Message] = []
    needed = max(columns.values())
    try:
        for row in reader:
            where = f"{name}: row {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= needed:
                raise DataError(f"{where}: {len(row)} fields, expected at least {needed + 1}")
            label = normalize_label(row[columns["label"]], where)
            body = row[columns["text"]]
            if not body.strip():
                raise DataError(f"{where}: the message text is blank")
            messages.append(Message(text=body, label=label, source=source, origin=where))
    except csv.Error as exc:
        raise DataError(f"{name}: row {reader.line_num}: not valid CSV ({exc})") from exc
    if not messages:
        raise DataError(f"{name}: no messages found below the header")
    return messages


def load_csv(
    path: str | Path,
    label_column: str | None = None,
    text_column: str | None = None,
    encoding: str = "auto",
) -> list[Message]:
    """Read a CSV; ``encoding="auto"`` takes UTF-8 and falls back to Latin-1 (Kaggle)."""
    path = Path(path)
    data = _read_bytes(path)
    if encoding == "auto":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    elif encoding.replace("-", "").casefold() in {"utf8", "utf8sig"}:
        text = _decode_utf8(data, str(path))
    else:
        try:
            text = data.decode(encoding)
        except LookupError as exc:
            raise DataError(f"{path}: unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise DataError(f"{path}:{line}: bytes that are not {encoding}") from exc
    return parse_csv(text, str(path), label_column, text_column, source=path.name)


def _email_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in _SKIPPED_FILES
    )


def load_email_dir(folder: str | Path, label: str, source: str | None = None) -> list[Message]:
    """Every raw email file in ``folder`` (not recursive), all with one label.

    A message whose subject and body are both blank (e.g. only an attachment) is an
    error naming the file, like a blank line in the other formats.
    """
    folder = Path(folder)
    label = normalize_label(label, str(folder))
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    files = _email_files(folder)
    if not files:
        raise DataError(f"{folder}: no email files in the folder")
    messages = []
    for path in files:
        text = email_to_text(_read_bytes(path))
        if not text:
            raise DataError(f"{path}: the email has no subject or body text")
        messages.append(
            Message(
                text=text,
                label=label,
                source=source or folder.name,
                origin=str(path),
                medium="email",
            )
        )
    return messages


def _load_email_corpus(root: Path) -> list[Message]:
    folders = [root / name for name in EMAIL_FOLDER_LABELS if (root / name).is_dir()]
    if not folders:
        known = ", ".join(EMAIL_FOLDER_LABELS)
        raise DataError(
            f"{root}: a folder source needs sub-folders named {known}, "
            f"or name the label: {root}:spam or {root}:ham"
        )
    messages: list[Message] = []
    for folder in folders:
        messages += load_email_dir(folder, EMAIL_FOLDER_LABELS[folder.name], source=root.name)
    return messages


def load_source(
    spec: str,
    label_column: str | None = None,
    text_column: str | None = None,
    encoding: str = "auto",
) -> list[Message]:
    """Load one ``--data`` source spec (see the module docstring for the forms)."""
    head, sep, tail = spec.rpartition(":")
    if (
        sep
        and not Path(spec).exists()
        and (tail.strip().casefold() in LABEL_ALIASES or Path(head).is_dir())
    ):
        return load_email_dir(Path(head), tail)  # DIR:label (an unknown label is an error)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_email_corpus(path)
    if path.suffix.casefold() == ".csv":
        return load_csv(path, label_column, text_column, encoding)
    return load_sms_collection(path)


def check_dataset(messages: Sequence[Message]) -> None:
    """Refuse data a classifier cannot learn from: nothing, or a single class.

    >>> check_dataset([Message("hi", "ham", "s", "s:1")])
    Traceback (most recent call last):
    ...
    trainer.errors.DataError: only ham messages (1 of them); training needs both spam and ham
    """
    if not messages:
        raise DataError("no messages to train on")
    labels = {m.label for m in messages}
    if len(labels) < 2:
        (only,) = labels
        raise DataError(
            f"only {only} messages ({len(messages)} of them); training needs both spam and ham"
        )


def load_sources(
    specs: Iterable[str],
    label_column: str | None = None,
    text_column: str | None = None,
    encoding: str = "auto",
) -> list[Message]:
    """Load and concatenate several sources, then :func:`check_dataset` the union."""
    messages: list[Message] = []
    for spec in specs:
        messages += load_source(spec, label_column, text_column, encoding)
    check_dataset(messages)
    return messages
