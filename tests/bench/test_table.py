"""Table rendering: one markdown table, its JSON twin, and the files they go to."""

from __future__ import annotations

import json

from bench.table import (
    COLUMNS,
    Row,
    fmt_bytes,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    not_measured,
    render_json,
    render_markdown,
    write_results,
)


def test_markdown_has_header_separator_and_one_line_per_row() -> None:
    rows = [Row("1", "a"), Row("2", "b | c", notes="multi\nline")]
    text = render_markdown(rows, title="**Bench**")
    lines = text.splitlines()
    assert lines[0] == "**Bench**"
    table = lines[2:]
    assert len(table) == 2 + len(rows)
    assert all(line.startswith("| ") and line.endswith(" |") for line in table)
    assert table[0].count(" | ") == len(COLUMNS) - 1
    assert "b \\| c" in table[3]  # a pipe inside a cell does not split it
    assert "multi line" in table[3]


def test_not_measured_row_says_why() -> None:
    row = not_measured("4", "cold start", "layer missing")
    assert row.result == "NOT MEASURED"
    assert row.notes == "layer missing"


def test_json_round_trips_rows_and_meta() -> None:
    rows = [Row("3", "batch", ours="1 msg/s", raw={"x": 1.5})]
    data = json.loads(render_json(rows, {"machine": "m"}))
    assert data["meta"] == {"machine": "m"}
    assert data["rows"][0]["raw"] == {"x": 1.5}
    assert data["rows"][0]["ours"] == "1 msg/s"


def test_write_results_writes_latest_files(tmp_path) -> None:
    md, js = write_results(tmp_path / "results", "| a |", "{}")
    assert md.read_text() == "| a |\n"
    assert js.name == "latest.json"
    assert not list((tmp_path / "results").glob("*.tmp"))


def test_formatters() -> None:
    assert fmt_ms(None) == "—"
    assert fmt_ms(0.5) == "0.500 ms"
    assert fmt_ms(12.345) == "12.3 ms"
    assert fmt_ratio(2) == "2.00×"
    assert fmt_bytes(999) == "1.0 kB (999 B)"
    assert fmt_bytes(50_000_000) == "50.0 MB (50,000,000 B)"
    assert fmt_rate(None) == "—"
    assert fmt_rate(10.4, "req/s") == "10 req/s"
