"""The report's figures: per-class F1 bars, confusion matrices, score against training-set size.

Figures are drawn into a staging folder and moved into ``figures/`` only once all of them are
drawn, so a failed report leaves the previous report's figures whole.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

from stancebench.report.records import Group, Row


def draw_figures(group: Group, folder: Path) -> None:
    """Draw the group's figures into ``folder`` and record them in ``group.figures``.

    A group without a model at two training sizes gets a note instead of a learning curve.
    """
    from stancebench.report.plots import (
        confusion_matrices_png,
        learning_curve_png,
        per_class_f1_png,
    )

    best_per_model: dict[str, Row] = {}
    for row in group.rows:  # rows are sorted best first: keep each model's best size
        best_per_model.setdefault(row.model, row)
    per_class = {name: {label: (row.mean(f"f1_{label}"), row.std(f"f1_{label}") or 0.0) for label in group.labels}
                 for name, row in best_per_model.items()}
    group.figures["per_class_f1"] = per_class_f1_png(per_class, group.labels,
                                                     folder / f"{group.slug}-per-class-f1.png",
                                                     f"per-class F1, {group.title}")
    panels = []
    for row in group.compared_rows():
        run = row.representative()
        panels.append((f"{row.model} (seed {run.seed})", [group.gold[i] for i in row.ids], run.predicted(row.ids)))
    group.figures["confusion"] = confusion_matrices_png(panels, group.labels, folder / f"{group.slug}-confusion.png")
    curves = defaultdict(list)
    for row in group.rows:
        curves[row.model].append((row.n_train, row.mean(group.main_score), row.std(group.main_score) or 0.0))
    curves = {model: points for model, points in curves.items() if len(points) > 1}
    if curves:
        group.figures["learning_curve"] = learning_curve_png(curves, group.main_score,
                                                             folder / f"{group.slug}-learning-curve.png",
                                                             f"{group.main_score} vs training size, {group.title}")
    else:
        group.notes.append("No score-vs-training-size plot: no model has runs at two training sizes "
                           "(vary max_train_samples to get one).")


def _previous_figures(folder: Path) -> set[str]:
    """The figure names the report last written into ``folder`` lists; none if it is unreadable."""
    previous = folder / "report.json"
    if not previous.is_file():
        return set()
    try:
        old = json.loads(previous.read_text(encoding="utf-8"))
        return {name for g in old.get("groups", []) for name in g.get("figures", {}).values()}
    except (ValueError, AttributeError):
        return set()


def write_figures(groups: list[Group], folder: Path) -> list[Path]:
    """Draw every group's figures into ``folder/figures``; returns them.

    Figures a previous report wrote and this one does not are removed; other files are left alone.
    """
    old_figures = _previous_figures(folder)
    staging = folder / f".figures.tmp-{os.getpid()}"
    figures = folder / "figures"
    try:
        for group in groups:
            draw_figures(group, staging)
        figures.mkdir(exist_ok=True)
        for group in groups:
            for key, path in group.figures.items():
                target = figures / path.name
                os.replace(path, target)
                group.figures[key] = target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    current = {p.name for g in groups for p in g.figures.values()}
    for name in old_figures - current:
        (figures / name).unlink(missing_ok=True)
    return [p for g in groups for p in g.figures.values()]
