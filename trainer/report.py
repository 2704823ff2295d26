"""The human side of a run's metrics: the printed table and the PNG beside metrics.json."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainer.evaluate import confusion, format_table
from trainer.train import HoldoutScores

__all__ = ["PLOT_NAME", "render_repeats", "render_report", "write_plot"]

PLOT_NAME = "metrics.png"


def render_report(metrics: Mapping[str, Any]) -> str:
    """The holdout table (model, per source, tutorial baseline) with a few context lines."""
    rows: dict[str, Mapping[str, Any]] = {"model (holdout)": metrics["holdout"]}
    for name, report in metrics.get("holdout_per_source", {}).items():
        rows[f"  {name}"] = report
    baseline = metrics.get("baseline")
    if baseline:
        rows["tutorial baseline"] = baseline["holdout"]
        for name, report in baseline.get("holdout_per_source", {}).items():
            rows[f"  {name} "] = report
    data, model, cv = metrics["data"], metrics["model"], metrics["cv"]["selected"]
    sources = ", ".join(
        f"{name} ({c['spam']} spam, {c['ham']} ham)" for name, c in data["sources"].items()
    )
    lines = [
        f"data: {sources}; {data['duplicates_removed']} duplicates and "
        f"{data['conflicting_removed']} conflicting removed; "
        f"{data['train']} train / {data['holdout']} holdout",
        f"selected by {metrics['protocol']['cv_folds']}-fold CV: {model['params']}, "
        f"CV MCC {cv['mcc']:.4f}, threshold {model['threshold']:.4f} "
        f"(CV ham blocked {100 * cv['ham_blocked']:.2f}% <= "
        f"{100 * metrics['protocol']['max_ham_blocked']:.2f}%)",
        *_media_lines(model),
        "",
        format_table(rows),
    ]
    c = metrics["holdout"]["confusion"]
    lines.append(
        f"\nholdout confusion: {c['tp']} spam caught, {c['fn']} spam missed, "
        f"{c['fp']} ham blocked, {c['tn']} ham passed"
    )
    feedback = metrics["data"].get("feedback")
    if feedback:
        trained = f"{len(feedback['trained_on'])} trained on"
        lines.append(
            _people_line("feedback", feedback["reports"], "accepted reports", trained, feedback)
        )
    capture = metrics["data"].get("capture")
    if capture:
        strata = f"{capture['strata']['random']} random, {capture['strata']['uncertain']} uncertain"
        lines.append(_people_line("captures", capture["records"], "labelled", strata, capture))
    place = metrics["cv"].get("place")
    if place:
        lines.append(
            f"the place out of fold ({place['n']} random-stratum captures): MCC "
            f"{place['mcc']:.4f}, spam recall {place['recall']:.4f}, ham blocked "
            f"{100 * place['ham_blocked']:.2f}%"
        )
    if "repeats" in metrics:
        lines += ["", render_repeats(metrics["repeats"])]
    return "\n".join(lines)


def _people_line(name: str, given: int, what: str, detail: str, record: Mapping[str, Any]) -> str:
    """What became of the reports or captures given (``data.feedback``, ``data.capture``)."""
    return (
        f"{name}: {given} {what}, {record['used']} used ({detail}), {record['overruled']} "
        f"overruled a corpus label, {record['already_in_corpus']} already in the corpus; "
        f"digest {record['digest'][:16]}"
    )


def render_repeats(repeats: Mapping[str, Any]) -> str:
    """Mean ± standard deviation of the holdout figures over the repeated seeds."""
    keys = (("accuracy", "accuracy"), ("precision", "spam prec"), ("recall", "spam recall"))
    keys += (("mcc", "MCC"), ("ham_blocked", "ham blocked"))
    rows = {"model (holdout)": repeats["holdout"]}
    rows.update({f"  {name}": r for name, r in repeats["holdout_per_source"].items()})
    width = max(len(name) for name in rows)
    header = " " * width + "".join(f"  {title:>17}" for _, title in keys)
    seeds = repeats["seeds"]
    lines = [f"over {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}), mean ± std:", header]
    for name, figures in rows.items():
        cells = []
        for key, _ in keys:
            mean, std = figures[key]["mean"], figures[key]["std"]
            scale, unit = (100, "%") if key == "ham_blocked" else (1, "")
            cells.append(f"  {f'{scale * mean:.4f}{unit} ± {scale * std:.4f}':>17}")
        lines.append(f"{name:<{width}}" + "".join(cells))
    return "\n".join(lines)


def _media_lines(model: Mapping[str, Any]) -> list[str]:
    """A mixture of experts: each medium's setting and own threshold, and the gate."""
    media, gate = model.get("media"), model.get("gate")
    if not media or not gate:
        return []
    experts = "; ".join(
        f"{name}: {info['params']}, own threshold {info['threshold']:.4f}"
        for name, info in media.items()
    )
    return [
        f"experts (own thresholds mapped to 0.5): {experts}",
        f"gate {gate['params']}: medium accuracy {gate['accuracy_oof']:.4f} out of fold, "
        f"{gate['accuracy_holdout']:.4f} on the holdout",
    ]


def write_plot(holdout: HoldoutScores, threshold: float, path: str | Path) -> Path:
    """Precision-recall curves (model and baseline) and the model's confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    path = Path(path)
    fig, (ax_pr, ax_cm) = plt.subplots(1, 2, figsize=(11, 4.5))
    curves = [("model", holdout.scores)]
    if holdout.baseline_scores is not None:
        curves.append(("tutorial baseline", holdout.baseline_scores))
    for name, scores in curves:
        precision, recall, _ = precision_recall_curve(holdout.y, scores)
        ax_pr.plot(recall, precision, label=name)
    pred = (holdout.scores >= threshold).astype(int)
    c = confusion(holdout.y, pred)
    at_recall = c["tp"] / max(1, c["tp"] + c["fn"])
    at_precision = c["tp"] / max(1, c["tp"] + c["fp"])
    ax_pr.plot([at_recall], [at_precision], "o", color="black", label=f"threshold {threshold:.3f}")
    ax_pr.set(xlabel="spam recall", ylabel="spam precision", title="Holdout precision-recall")
    ax_pr.set_ylim(0.5, 1.01)
    ax_pr.legend(loc="lower left")
    matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    ax_cm.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        colour = "white" if value > matrix.max() / 2 else "black"
        ax_cm.text(col, row, str(value), ha="center", va="center", color=colour, fontsize=14)
    ax_cm.set_xticks([0, 1], ["ham", "spam"])
    ax_cm.set_yticks([0, 1], ["ham", "spam"])
    ax_cm.set(xlabel="predicted", ylabel="true", title="Holdout confusion matrix")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
