"""Scores for stance and sentiment, and bootstrap confidence intervals.

Definitions (the keys logged to MLflow):

* ``accuracy``; ``macro_f1``: unweighted mean of per-class F1 over the task's labels;
* ``f1_<label>`` for every label of the task;
* ``f_avg`` (stance): mean F1 of ``favor`` and ``against``, the SemEval-2016 / StanceEval score;
* ``f1_pn`` (sentiment): mean F1 of ``positive`` and ``negative``, the ArSarcasm / SemEval score.

The evaluate metric module in ``stancebench/metrics`` wraps :func:`classification_scores`, so a
score means the same thing whether it comes from ``evaluate`` or from the bootstrap here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAIN_PAIRS = {"stance": ("f_avg", ("favor", "against")), "sentiment": ("f1_pn", ("positive", "negative"))}


def _f1_per_label(gold: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    out = {}
    for label in labels:
        tp = float(np.sum((pred == label) & (gold == label)))
        fp = float(np.sum((pred == label) & (gold != label)))
        fn = float(np.sum((pred != label) & (gold == label)))
        denom = 2 * tp + fp + fn
        out[label] = 0.0 if denom == 0 else 2 * tp / denom
    return out


def classification_scores(
    references: Sequence[str], predictions: Sequence[str], labels: Sequence[str], task: str | None = None
) -> dict[str, float]:
    """Accuracy, macro-F1, per-label F1 and the task's pair score (``f_avg`` or ``f1_pn``)."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not len(references):
        raise ValueError("no items to score")
    gold = np.asarray(references, dtype=object)
    pred = np.asarray(predictions, dtype=object)
    per_label = _f1_per_label(gold, pred, labels)
    scores = {"accuracy": float(np.mean(gold == pred)), "macro_f1": float(np.mean(list(per_label.values())))}
    scores.update({f"f1_{label}": value for label, value in per_label.items()})
    if task in MAIN_PAIRS:
        key, pair = MAIN_PAIRS[task]
        scores[key] = float(np.mean([per_label[p] for p in pair]))
    return scores


def bootstrap_interval(
    references: Sequence[str],
    predictions: Sequence[str],
    labels: Sequence[str],
    task: str | None = None,
    metric: str = "macro_f1",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over resampled evaluation items."""
    gold = np.asarray(references, dtype=object)
    pred = np.asarray(predictions, dtype=object)
    rng = np.random.default_rng(seed)
    n = len(gold)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, n, n)
        values[i] = classification_scores(gold[idx], pred[idx], labels, task)[metric]
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))
