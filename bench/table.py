"""The results table: rows in, one markdown table (and its JSON twin) out.

Rendering is pure so tests can check the exact text; writing the files is one small
function at the end. Every cell is a string already formatted by the measurement that
made it, so the markdown and the JSON say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "COLUMNS",
    "Row",
    "fmt_bytes",
    "fmt_ms",
    "fmt_rate",
    "fmt_ratio",
    "not_measured",
    "render_json",
    "render_markdown",
    "write_results",
]

COLUMNS = ("#", "measure", "ours", "baseline", "ratio", "target", "result", "notes")


@dataclass(frozen=True)
class Row:
    """One line of the table. ``raw`` carries the unformatted numbers for the JSON."""

    section: str
    measure: str
    ours: str = "—"
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    result: str = "—"
    notes: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def cells(self) -> tuple[str, ...]:
        """The cells in column order."""
        return (
            self.section,
            self.measure,
            self.ours,
            self.baseline,
            self.ratio,
            self.target,
            self.result,
            self.notes,
        )


def not_measured(section: str, measure: str, reason: str) -> Row:
    """The row for a measurement that failed: it says why, and the run will exit non-zero."""
    return Row(section=section, measure=measure, result="NOT MEASURED", notes=reason)


def _escape(cell: str) -> str:
    """Keep a cell on one line and its pipes from splitting columns."""
    return " ".join(cell.replace("|", "\\|").split())


def render_markdown(rows: Sequence[Row], title: str | None = None) -> str:
    """A GitHub-flavoured markdown table, optionally under a one-line title.

    >>> print(render_markdown([Row("1", "x", ours="2 ms")]))
    | # | measure | ours | baseline | ratio | target | result | notes |
    | --- | --- | --- | --- | --- | --- | --- | --- |
    | 1 | x | 2 ms | — | — | — | — |  |
    """
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("| " + " | ".join("---" for _ in COLUMNS) + " |")
    for row in rows:
        lines.append("| " + " | ".join(_escape(c) for c in row.cells()) + " |")
    return "\n".join(lines)


def render_json(rows: Sequence[Row], meta: Mapping[str, Any]) -> str:
    """The same rows plus run metadata, for tools and for diffing runs."""
    return json.dumps(
        {"meta": dict(meta), "rows": [asdict(r) for r in rows]},
        indent=2,
        sort_keys=False,
        default=str,
    )


def write_results(directory: Path, markdown: str, json_text: str) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` atomically (temp file, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("latest.md", markdown), ("latest.json", json_text)):
        target = directory / name
        tmp = directory / f"{name}.tmp"
        tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        tmp.replace(target)
        written.append(target)
    return written[0], written[1]


def fmt_ms(ms: float | None) -> str:
    """Milliseconds with sensible precision.

    >>> fmt_ms(0.01234), fmt_ms(1.234), fmt_ms(1234.5)
    ('0.0123 ms', '1.23 ms', '1,234 ms')
    """
    if ms is None:
        return "—"
    if ms < 0.1:
        return f"{ms:.4f} ms"
    if ms < 100:
        return f"{ms:.3g} ms" if ms >= 1 else f"{ms:.3f} ms"
    return f"{ms:,.0f} ms"


def fmt_ratio(value: float | None) -> str:
    """A ratio as ``1.42×``.

    >>> fmt_ratio(1.4249), fmt_ratio(None)
    ('1.42×', '—')
    """
    return "—" if value is None else f"{value:.2f}×"


def fmt_bytes(n: int | None) -> str:
    """Bytes as MB (10^6, as Lambda's limits are quoted) with the exact count.

    >>> fmt_bytes(273127701)
    '273.1 MB (273,127,701 B)'
    """
    if n is None:
        return "—"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB ({n:,} B)"
    return f"{n / 1_000_000:.1f} MB ({n:,} B)"


def fmt_rate(per_second: float | None, unit: str = "msg/s") -> str:
    """A rate with thousands separators.

    >>> fmt_rate(12345.6)
    '12,346 msg/s'
    """
    return "—" if per_second is None else f"{per_second:,.0f} {unit}"
