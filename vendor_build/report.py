"""Measure a layer zip against Lambda's size limits, and fail with a useful message.

Everything is computed from the zip itself (entry sizes and compressed sizes), so the same
report serves our layer, the naive baseline and any zip someone hands us.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "BUDGET_UNZIPPED",
    "BUDGET_ZIPPED",
    "DEFAULT_LIMITS",
    "LAMBDA_DIRECT_UPLOAD",
    "LAMBDA_INLINE_PUBLISH",
    "LAMBDA_UNZIPPED",
    "LayerTooLargeError",
    "Limit",
    "PackageSize",
    "SizeReport",
    "check_limits",
    "format_report",
    "measure_zip",
]


@dataclass(frozen=True)
class Limit:
    """A size ceiling on one measure: ``unzipped``, ``zipped`` or ``inline_request`` bytes."""

    name: str
    max_bytes: int
    measure: str


#: Function code plus all layers, unzipped ("Unzipped size must be smaller than 262144000 bytes").
LAMBDA_UNZIPPED = Limit("Lambda: function + all layers, unzipped", 262_144_000, "unzipped")
#: A zip uploaded directly (console, inline API call): 50 MiB.
LAMBDA_DIRECT_UPLOAD = Limit("Lambda: zip uploaded directly", 52_428_800, "zipped")
#: publish_layer_version with inline bytes: the base64 request body (4/3 of 50 MiB).
LAMBDA_INLINE_PUBLISH = Limit("Lambda: inline publish request", 69_905_067, "inline_request")
#: This project's budget (issue 4): leave room for the function code and a second layer.
BUDGET_UNZIPPED = Limit("project budget, unzipped", 150_000_000, "unzipped")
BUDGET_ZIPPED = Limit("project budget, zipped", 50_000_000, "zipped")
DEFAULT_LIMITS = (
    LAMBDA_UNZIPPED,
    LAMBDA_DIRECT_UPLOAD,
    LAMBDA_INLINE_PUBLISH,
    BUDGET_UNZIPPED,
    BUDGET_ZIPPED,
)


@dataclass(frozen=True)
class PackageSize:
    """One top-level entry of site-packages (``scipy``, ``scipy.libs``, a ``.dist-info``)."""

    name: str
    unzipped_bytes: int
    zipped_bytes: int
    files: int


@dataclass
class SizeReport:
    """Sizes of one layer zip, per package, against limits."""

    zip_path: str
    sha256: str
    unzipped_bytes: int
    zipped_bytes: int
    files: int
    packages: list[PackageSize]
    limits: list[dict[str, object]] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def inline_request_bytes(self) -> int:
        """The base64 body an inline publish would send."""
        return 4 * math.ceil(self.zipped_bytes / 3)

    @property
    def function_headroom_bytes(self) -> int:
        """What Lambda's unzipped limit leaves for the function code and other layers."""
        return LAMBDA_UNZIPPED.max_bytes - self.unzipped_bytes

    def value(self, measure: str) -> int:
        """The measured bytes a :class:`Limit` compares against."""
        return {
            "unzipped": self.unzipped_bytes,
            "zipped": self.zipped_bytes,
            "inline_request": self.inline_request_bytes,
        }[measure]

    def to_json(self) -> str:
        """The report as JSON (what ``build`` writes next to the zip)."""
        data = asdict(self)
        data["inline_request_bytes"] = self.inline_request_bytes
        data["function_headroom_bytes"] = self.function_headroom_bytes
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


class LayerTooLargeError(RuntimeError):
    """The layer exceeds a limit; the message says by how much and what is biggest."""

    def __init__(self, message: str, report: SizeReport) -> None:
        super().__init__(message)
        self.report = report


def _package_of(name: str) -> str:
    """The site-packages top-level entry an archive member belongs to."""
    parts = PurePosixPath(name).parts
    for index, part in enumerate(parts):
        if part == "site-packages" and index + 1 < len(parts):
            return parts[index + 1] if index + 2 < len(parts) else "(site-packages files)"
    return parts[0] if len(parts) > 1 else "(top-level files)"


def measure_zip(
    zip_path: Path, sha256: str = "", limits: tuple[Limit, ...] = DEFAULT_LIMITS
) -> SizeReport:
    """Sizes of a layer zip (total and per package) and where it stands against ``limits``."""
    zip_path = Path(zip_path)
    per: dict[str, list[int]] = {}
    unzipped = files = 0
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            entry = per.setdefault(_package_of(info.filename), [0, 0, 0])
            entry[0] += info.file_size
            entry[1] += info.compress_size
            entry[2] += 1
            unzipped += info.file_size
            files += 1
    packages = sorted(
        (PackageSize(name, u, z, n) for name, (u, z, n) in per.items()),
        key=lambda p: (-p.unzipped_bytes, p.name),
    )
    report = SizeReport(
        zip_path=str(zip_path),
        sha256=sha256,
        unzipped_bytes=unzipped,
        zipped_bytes=zip_path.stat().st_size,
        files=files,
        packages=packages,
    )
    report.limits = [
        {
            "name": limit.name,
            "measure": limit.measure,
            "max_bytes": limit.max_bytes,
            "bytes": report.value(limit.measure),
            "headroom_bytes": limit.max_bytes - report.value(limit.measure),
            "ok": report.value(limit.measure) <= limit.max_bytes,
        }
        for limit in limits
    ]
    return report


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def check_limits(report: SizeReport) -> None:
    """Raise :class:`LayerTooLargeError` if the report breaks any of its limits."""
    over = [limit for limit in report.limits if not limit["ok"]]
    if not over:
        return
    lines = [
        f"{limit['name']}: {limit['bytes']:,} {limit['measure']} bytes > {limit['max_bytes']:,} "
        f"(over by {-int(limit['headroom_bytes']):,} bytes, {_mb(-int(limit['headroom_bytes']))})"
        for limit in over
    ]
    biggest = ", ".join(
        f"{p.name} {_mb(p.unzipped_bytes)} ({_mb(p.zipped_bytes)} zipped)"
        for p in report.packages[:5]
    )
    raise LayerTooLargeError(
        f"layer {report.zip_path} is over {len(over)} limit(s):\n  "
        + "\n  ".join(lines)
        + f"\nbiggest parts: {biggest}",
        report,
    )


def format_report(report: SizeReport, top: int = 12) -> str:
    """A plain-text table: per-package sizes, then each limit with its headroom."""
    width = max([len(p.name) for p in report.packages[:top]] + [24])
    rows = [f"{'package':<{width}}  {'unzipped':>14}  {'zipped':>14}  {'files':>6}"]
    for package in report.packages[:top]:
        rows.append(
            f"{package.name:<{width}}  {package.unzipped_bytes:>14,}  {package.zipped_bytes:>14,}"
            f"  {package.files:>6}"
        )
    rest = report.packages[top:]
    if rest:
        rows.append(
            f"{f'({len(rest)} more)':<{width}}  {sum(p.unzipped_bytes for p in rest):>14,}  "
            f"{sum(p.zipped_bytes for p in rest):>14,}  {sum(p.files for p in rest):>6}"
        )
    rows.append(
        f"{'TOTAL':<{width}}  {report.unzipped_bytes:>14,}  {report.zipped_bytes:>14,}"
        f"  {report.files:>6}"
    )
    rows.append("")
    rows.append(f"{'limit':<42}  {'bytes':>14}  {'max':>14}  {'headroom':>14}")
    for limit in report.limits:
        flag = "ok" if limit["ok"] else "OVER"
        rows.append(
            f"{limit['name']:<42}  {limit['bytes']:>14,}  {limit['max_bytes']:>14,}  "
            f"{limit['headroom_bytes']:>14,}  {flag}"
        )
    rows.append(
        f"headroom for function code (+ other layers): {report.function_headroom_bytes:,} bytes"
    )
    if report.sha256:
        rows.append(f"sha256 {report.sha256}")
    return "\n".join(rows)
