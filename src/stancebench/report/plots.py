"""Figures written next to runs and reports (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the headless Agg backend (imported on first use: ~0.7 s)."""
    import logging

    # Its "generated new fontManager" INFO line (first run on a machine) says nothing a user can act on;
    # Hydra's logging set-up would print it.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    pyplot().close(fig)
    return path


def _draw_confusion(ax, gold: Sequence[str], predicted: Sequence[str], labels: list[str], title: str) -> None:
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, predicted):
        matrix[index[g], index[p]] += 1
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    high = matrix.max() if matrix.size else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > high / 2 else "black")


def confusion_matrix_png(gold: list[str], predicted: list[str], labels: list[str], path: Path, title: str) -> Path:
    """Counts of gold (rows) against predicted (columns) labels, saved as a PNG."""
    return confusion_matrices_png([(title, gold, predicted)], labels, path)


def confusion_matrices_png(panels: Sequence[tuple[str, Sequence[str], Sequence[str]]], labels: list[str],
                           path: Path) -> Path:
    """Several confusion matrices side by side, one ``(title, gold, predicted)`` per panel."""
    plt = pyplot()
    size = 1.6 + 1.1 * len(labels)
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size - 0.4), dpi=110, squeeze=False)
    for ax, (title, gold, predicted) in zip(axes[0], panels):
        _draw_confusion(ax, gold, predicted, labels, title)
    return _save(fig, path)


def per_class_f1_png(models: Mapping[str, Mapping[str, tuple[float, float]]], labels: list[str], path: Path,
                     title: str) -> Path:
    """Grouped bars: for each class, each model's F1 (mean over its runs, whisker = std)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2.0 + 1.4 * len(labels) + 0.3 * len(models), 3.4), dpi=110)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(labels))
    for k, (name, per_label) in enumerate(models.items()):
        means = [per_label[label][0] for label in labels]
        stds = [per_label[label][1] for label in labels]
        ax.bar(x + (k - (len(models) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def learning_curve_png(series: Mapping[str, Sequence[tuple[int, float, float]]], metric: str, path: Path,
                       title: str) -> Path:
    """Score against training-set size, one line per model; points ``(n_train, mean, std)``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=110)
    for name, points in series.items():
        points = sorted(points)
        ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], marker="o",
                    capsize=2, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training items")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)
