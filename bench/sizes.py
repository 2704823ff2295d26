"""5. Sizes: our layer per architecture vs the tutorial's, deployment.zip, model artifacts.

Lambda's limits are on bytes: 262,144,000 unzipped for function code plus all layers,
50 MB for a zip uploaded directly. The layer issue's own targets are tighter (150 MB
unzipped, 50 MB zipped) to leave headroom for the function and the model's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.layers import LayerInfo, zip_sizes
from bench.stats import ratio, verdict
from bench.table import Row, fmt_bytes, fmt_ratio

__all__ = [
    "LAMBDA_UNZIPPED_LIMIT",
    "TARGET_LAYER_UNZIPPED",
    "TARGET_LAYER_ZIPPED",
    "rows",
]

LAMBDA_UNZIPPED_LIMIT = 262_144_000
DIRECT_UPLOAD_LIMIT = 50_000_000
TARGET_LAYER_UNZIPPED = 150_000_000
TARGET_LAYER_ZIPPED = 50_000_000
#: kind -> (the target as the table states it, the limit in bytes)
_LAYER_TARGETS = {
    "unzipped": ("≤ 150 MB", TARGET_LAYER_UNZIPPED),
    "zipped": ("≤ 50 MB", TARGET_LAYER_ZIPPED),
}


def _layer_row(label: str, ours: int, tutorial: int, target: str, limit: int, notes: str) -> Row:
    """One layer-size row: our bytes against the tutorial's, judged against ``limit``."""
    return Row(
        "5",
        label,
        ours=fmt_bytes(ours),
        baseline=f"tutorial {fmt_bytes(tutorial)}",
        ratio=fmt_ratio(ratio(ours, tutorial)),
        target=target,
        result=verdict(ours, limit, at_most=True),
        notes=notes,
        raw={"ours": ours, "tutorial": tutorial},
    )


def other_arch_rows(layer: LayerInfo, x86_64: LayerInfo | None) -> list[Row]:
    """Unzipped and zipped rows of another architecture's layer, against the same limits.

    The baseline is the x86_64 layer of the same pins and trimming (when it was built): the
    difference is the architecture's wheels alone.
    """
    out = []
    for kind, (target, limit) in _LAYER_TARGETS.items():
        ours = getattr(layer, f"{kind}_bytes")
        reference = getattr(x86_64, f"{kind}_bytes") if x86_64 else None
        out.append(
            Row(
                "5",
                f"layer {kind}, {layer.label}",
                ours=fmt_bytes(ours),
                baseline=f"{x86_64.label} {fmt_bytes(reference)}" if x86_64 else "—",
                ratio=fmt_ratio(ratio(ours, reference)),
                target=target,
                result=verdict(ours, limit, at_most=True),
                notes=f"same pins and trimming as x86_64, its own wheels; {layer.origin}",
                raw={"ours": ours, "x86_64": reference},
            )
        )
    return out


def rows(
    ours: LayerInfo | None,
    tutorial: LayerInfo | None,
    deployment_zip: Any | None,
    our_artifacts: dict[str, int] | None,
    tutorial_artifacts: dict[str, int] | None,
    other_arches: Sequence[LayerInfo] = (),
) -> list[Row]:
    """Size rows; a ``None`` input is simply skipped (its failure is reported elsewhere).

    ``other_arches`` are our layers for the other architectures (arm64), each judged
    against the same limits.
    """
    out: list[Row] = []
    if ours and tutorial:
        out.append(
            _layer_row(
                f"layer unzipped, {ours.label}",
                ours.unzipped_bytes,
                tutorial.unzipped_bytes,
                "≤ 150 MB",
                TARGET_LAYER_UNZIPPED,
                f"Lambda limit {LAMBDA_UNZIPPED_LIMIT:,} B (function + layers): tutorial "
                f"{'over' if tutorial.unzipped_bytes > LAMBDA_UNZIPPED_LIMIT else 'under'}"
                f"; ours: {ours.origin}; tutorial: {tutorial.origin}",
            )
        )
        out.append(
            _layer_row(
                f"layer zipped, {ours.label}",
                ours.zipped_bytes,
                tutorial.zipped_bytes,
                "≤ 50 MB",
                TARGET_LAYER_ZIPPED,
                "direct-upload limit 50 MB; larger zips must go through S3",
            )
        )
    for layer in other_arches:
        out.extend(other_arch_rows(layer, ours))
    if deployment_zip is not None:
        unzipped, zipped = zip_sizes(deployment_zip)
        total = unzipped + (ours.unzipped_bytes if ours else 0)
        out.append(
            Row(
                "5",
                "deployment.zip (`chalice package`), zipped / unzipped",
                ours=f"{fmt_bytes(zipped)} / {fmt_bytes(unzipped)}",
                target=f"function + layer ≤ {LAMBDA_UNZIPPED_LIMIT:,} B",
                result=verdict(total, LAMBDA_UNZIPPED_LIMIT, at_most=True) if ours else "n/a",
                notes=(
                    f"function + our layer unzipped {fmt_bytes(total)}, headroom "
                    f"{fmt_bytes(LAMBDA_UNZIPPED_LIMIT - total)}"
                    if ours
                    else "layer size unknown"
                ),
                raw={"zipped": zipped, "unzipped": unzipped, "with_layer": total},
            )
        )
    if our_artifacts:
        ours_total = sum(our_artifacts.values())
        tut_total = sum(tutorial_artifacts.values()) if tutorial_artifacts else None
        out.append(
            Row(
                "5",
                "model artifacts (vectorizer.pkl + spam_model.pkl)",
                ours=fmt_bytes(ours_total),
                baseline=f"tutorial {fmt_bytes(tut_total)}" if tut_total else "—",
                ratio=fmt_ratio(ratio(ours_total, tut_total)),
                notes=", ".join(f"{k} {fmt_bytes(v)}" for k, v in our_artifacts.items()),
                raw={"ours": dict(our_artifacts), "tutorial": dict(tutorial_artifacts or {})},
            )
        )
    return out
