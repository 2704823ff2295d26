"""Loaders: each format, label normalisation, and every bad-data error names where."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.data import (
    check_dataset,
    load_csv,
    load_email_dir,
    load_sms_collection,
    load_source,
    load_sources,
    normalize_label,
)
from trainer.emails import email_to_text, html_to_text
from trainer.errors import DataError

# --- labels -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("spam", "spam"),
        ("SPAM", "spam"),
        (" Spam ", "spam"),
        ("1", "spam"),
        ("smishing", "spam"),
        ("Smishing", "spam"),
        ("ham", "ham"),
        ("HAM", "ham"),
        ("0", "ham"),
    ],
)
def test_labels_normalise(raw: str, expected: str) -> None:
    assert normalize_label(raw, "x") == expected


@pytest.mark.parametrize("raw", ["", "2", "spamm", "hamm", "yes"])
def test_unknown_labels_are_errors_naming_where(raw: str) -> None:
    with pytest.raises(DataError, match=r"f\.txt:7: unknown label"):
        normalize_label(raw, "f.txt:7")


# --- SMS collection -----------------------------------------------------------


def test_sms_collection_loads_labels_texts_and_source(tmp_path: Path) -> None:
    path = tmp_path / "sms.txt"
    path.write_text("ham\tGo until jurong point\nSPAM\tFree entry\tin 2 a wkly comp\n\n")
    messages = load_sms_collection(path)
    assert [(m.label, m.text) for m in messages] == [
        ("ham", "Go until jurong point"),
        ("spam", "Free entry\tin 2 a wkly comp"),  # only the first tab separates
    ]
    assert {m.source for m in messages} == {"sms.txt"}
    assert messages[1].origin.endswith("sms.txt:2")


def test_sms_collection_accepts_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "sms.txt"
    path.write_bytes(b"\xef\xbb\xbfham\tHi there\r\nspam\tWIN\r\n")
    assert [m.label for m in load_sms_collection(path)] == ["ham", "spam"]
    assert load_sms_collection(path)[0].text == "Hi there"


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"sms\.txt: the file is empty"),
        (b"\n  \n", r"sms\.txt: the file is empty"),
        (b"ham\tok\nham no tab here\n", r"sms\.txt:2: expected 'label<TAB>text'"),
        (b"ham\tok\nspma\tWIN\n", r"sms\.txt:2: unknown label 'spma'"),
        (b"ham\tok\nspam\t   \n", r"sms\.txt:2: the message text is blank"),
        (b"ham\tok\nham\tcaf\xe9\n", r"sms\.txt:2: bytes that are not UTF-8"),
    ],
)
def test_bad_sms_files_name_the_file_and_line(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = tmp_path / "sms.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        load_sms_collection(path)


def test_unreadable_and_missing_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_sms_collection(tmp_path)  # a folder is not a readable file
    with pytest.raises(DataError, match="no such file or folder"):
        load_source(str(tmp_path / "missing.txt"))


def test_a_single_class_is_refused(write_sms) -> None:
    path = write_sms("ham.txt", [("ham", "hello"), ("ham", "see you")])
    with pytest.raises(DataError, match=r"only ham messages \(2 of them\); training needs both"):
        load_sources([str(path)])
    with pytest.raises(DataError, match="no messages"):
        check_dataset([])


def test_sources_are_combined_and_keep_their_names(write_sms) -> None:
    a = write_sms("a.txt", [("ham", "hello")])
    b = write_sms("b.txt", [("spam", "win")])
    messages = load_sources([str(a), str(b)])
    assert [(m.source, m.label) for m in messages] == [("a.txt", "ham"), ("b.txt", "spam")]


# --- CSV --------------------------------------------------------------------------


def test_kaggle_csv_latin1_with_v1_v2_columns(tmp_path: Path) -> None:
    path = tmp_path / "spam.csv"
    text = 'v1,v2,,,\nham,"Go until jurong, point",,,\nspam,Win \xa3100 now,,,\n'
    path.write_bytes(text.encode("latin-1"))
    messages = load_csv(path)
    assert [(m.label, m.text) for m in messages] == [
        ("ham", "Go until jurong, point"),
        ("spam", "Win £100 now"),
    ]
    assert messages[0].source == "spam.csv"


def test_csv_columns_are_configurable_and_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("Body,Kind\nhello there,0\nWIN NOW,1\nphish,Smishing\n", encoding="utf-8")
    messages = load_source(str(path), label_column="kind", text_column="body")
    assert [m.label for m in messages] == ["ham", "spam", "spam"]


@pytest.mark.parametrize(
    ("content", "kwargs", "pattern"),
    [
        ("a,b\nham,hi\n", {}, r"d\.csv: no label column .*columns: a, b"),
        ("label,body\nham,hi\n", {}, r"d\.csv: no text column"),
        ("label,text\nham,hi\n", {"text_column": "msg"}, r"no text column \(looked for msg\)"),
        ("label,text\nham,hi\nspamish,x\n", {}, r"d\.csv: row 3: unknown label 'spamish'"),
        ("label,text\nham,hi\nspam,  \n", {}, r"d\.csv: row 3: the message text is blank"),
        ("label,text\nham,hi\nspam\n", {}, r"d\.csv: row 3: 1 fields"),
        ("label,text\n", {}, r"d\.csv: no messages found below the header"),
    ],
)
def test_bad_csv_files_name_the_row(
    tmp_path: Path, content: str, kwargs: dict, pattern: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=pattern):
        load_csv(path, **kwargs)


def test_csv_rows_count_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('label,text\nham,"two\nlines"\nbogus,x\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"row 4: unknown label 'bogus'"):
        load_csv(path)


def test_csv_with_explicit_utf8_reports_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"label,text\nham,ok\nspam,caf\xe9\n")
    with pytest.raises(DataError, match=r"d\.csv:3: bytes that are not UTF-8"):
        load_csv(path, encoding="utf-8")
    assert load_csv(path)[1].text == "café"  # auto falls back to Latin-1


# --- emails -----------------------------------------------------------------------

PLAIN = b"""From someone@example.com  Thu Aug 22 12:00:00 2002
Return-Path: <someone@example.com>
Received: from mail.example.com by relay.example.org
Subject: Lunch tomorrow?
Content-Type: text/plain; charset="us-ascii"

Are we still on for lunch?
"""

HTML_LATIN1 = b"""Subject: =?iso-8859-1?q?Gagnez_=E0_coup_s=FBr?=
Content-Type: text/html; charset=iso-8859-1

<html><head><title>t</title><style>p {color: red}</style></head>
<body><p>Cliquez <b>ici</b> &amp; gagnez</p><script>alert(1)</script><p>caf\xe9</p></body></html>
"""

MULTIPART = b"""Subject: Report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: multipart/alternative; boundary="YY"

--YY
Content-Type: text/plain; charset=utf-8

plain version
--YY
Content-Type: text/html; charset=utf-8

<p>html version</p>
--YY--
--XX
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attached secret words
--XX
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQ=
--XX--
"""


def test_email_text_is_subject_and_body_without_headers_or_mbox_line() -> None:
    text = email_to_text(PLAIN)
    assert text == "Lunch tomorrow?\nAre we still on for lunch?"
    assert "Received" not in text and "example" not in text


def test_html_email_is_reduced_to_visible_text_and_decoded() -> None:
    text = email_to_text(HTML_LATIN1)
    assert text.startswith("Gagnez à coup sûr")
    assert "Cliquez ici & gagnez" in text and "café" in text
    assert "<" not in text and "alert" not in text and "color" not in text


def test_multipart_prefers_plain_text_and_ignores_attachments() -> None:
    text = email_to_text(MULTIPART)
    assert "plain version" in text
    assert "html version" not in text
    assert "attached secret words" not in text


def test_undeclared_non_utf8_bytes_decode_as_latin1() -> None:
    assert email_to_text(b"Subject: x\n\nna\xefve\n") == "x\nnaïve"


def test_html_to_text_keeps_block_breaks() -> None:
    text = html_to_text("<div>a</div><div>b<br>c</div>")
    assert [line for line in text.splitlines() if line] == ["a", "b", "c"]


def _write_emails(folder: Path, bodies: list[bytes]) -> Path:
    folder.mkdir(parents=True)
    for i, body in enumerate(bodies):
        (folder / f"{i:05d}.msg").write_bytes(body)
    (folder / "cmds").write_text("mv a b\n")  # the tarballs' shell file: skipped
    return folder


def test_email_corpus_folder_is_labelled_by_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _write_emails(root / "easy_ham", [PLAIN])
    _write_emails(root / "hard_ham", [MULTIPART])
    _write_emails(root / "spam_2", [HTML_LATIN1])
    messages = load_source(str(root))
    assert sorted(m.label for m in messages) == ["ham", "ham", "spam"]
    assert {m.source for m in messages} == {"corpus"}
    assert all("cmds" not in m.origin for m in messages)


def test_explicit_dir_label_form(tmp_path: Path) -> None:
    folder = _write_emails(tmp_path / "inbox", [PLAIN, MULTIPART])
    messages = load_source(f"{folder}:HAM")
    assert [m.label for m in messages] == ["ham", "ham"]
    assert messages[0].source == "inbox"


def test_folder_without_known_subfolders_asks_for_a_label(tmp_path: Path) -> None:
    folder = _write_emails(tmp_path / "mail", [PLAIN])
    with pytest.raises(DataError, match=r"mail:spam or .*mail:ham"):
        load_source(str(folder))


def test_email_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no email files"):
        load_email_dir(empty, "spam")
    blank = _write_emails(tmp_path / "blank", [b"Subject:\n\n   \n"])
    with pytest.raises(DataError, match=r"00000\.msg: the email has no subject or body text"):
        load_email_dir(blank, "spam")
    with pytest.raises(DataError, match="unknown label 'maybe'"):
        load_source(f"{blank}:maybe")


def test_spamassassin_corpus_loads_every_message(spamassassin_dir: Path) -> None:
    """Every file of one real set parses to non-blank text (non-UTF-8 and mbox included)."""
    messages = load_email_dir(spamassassin_dir / "spam", "spam")
    assert len(messages) == 500
    assert all(m.text.strip() for m in messages)
    assert not any(m.text.startswith("From ") for m in messages)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (b"caf\xc3\xa9 cr\xc3\xa8me", "café crème"),  # raw UTF-8 bytes, no charset declared
        (b"caf\xe9", "café"),  # raw Latin-1 bytes
        (b"=?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?= ok", "café crème ok"),  # RFC 2047
        (b"=?x-bogus?q?win?=", "win"),  # unknown charset
    ],
)
def test_subjects_decode_whatever_their_encoding(subject: bytes, expected: str) -> None:
    assert email_to_text(b"Subject: " + subject + b"\n\nbody\n") == f"{expected}\nbody"
