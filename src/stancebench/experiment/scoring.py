"""Scores for stance and sentiment, and bootstrap confidence intervals.

Definitions (the keys logged to MLflow):

* ``accuracy``; ``macro_f1``: unweighted mean of per-class F1 over the task's labels;
* ``f1_<label>`` for every label of the task;
* ``f_avg`` (stance): mean F1 of ``favor`` and ``against``, the SemEval-2016 / StanceEval score;
* ``f1_pn`` (sentiment): mean F1 of ``positive`` and ``negative``, the ArSarcasm / SemEval score.

The evaluate metric module in ``stancebench/experiment/metrics`` wraps :func:`classification_scores`, so a
score means the same thing whether it comes from ``evaluate`` or from the bootstrap here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stancebench.tasks import TASKS

# Each task's main score and the two labels it averages (stancebench.tasks defines them).
MAIN_PAIRS = {name: (task.main_score, task.main_pair) for name, task in TASKS.items()}


def _f1_per_label(gold: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """F1 of every task label (scikit-learn); a label neither predicted nor in the gold scores 0."""
    from sklearn.metrics import f1_score

    values = f1_score(gold.tolist(), pred.tolist(), labels=list(labels), average=None, zero_division=0)
    return {label: float(v) for label, v in zip(labels, values)}


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


def _scores_from_confusions(confusions: np.ndarray, labels: Sequence[str], task: str | None) -> dict[str, np.ndarray]:
    """Vectorised :func:`classification_scores` over a stack of confusion matrices ``(R, L, L)``."""
    tp = np.diagonal(confusions, axis1=1, axis2=2).astype(float)
    fp = confusions.sum(axis=1) - tp
    fn = confusions.sum(axis=2) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    out = {"accuracy": tp.sum(axis=1) / confusions.sum(axis=(1, 2)), "macro_f1": f1.mean(axis=1)}
    for j, label in enumerate(labels):
        out[f"f1_{label}"] = f1[:, j]
    if task in MAIN_PAIRS:
        key, pair = MAIN_PAIRS[task]
        out[key] = f1[:, [list(labels).index(p) for p in pair]].mean(axis=1)
    return out


def _codes(references: Sequence[str], predictions: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Each (gold, predicted) pair as one integer ``gold * L + predicted``: a confusion-matrix cell."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted((set(references) | set(predictions)) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among {list(labels)}")
    return np.array([index[g] * len(labels) + index[p] for g, p in zip(references, predictions)], dtype=np.int64)


def resampled_scores(
    references: Sequence[str],
    systems: Sequence[Sequence[Sequence[str]]],
    labels: Sequence[str],
    task: str | None,
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """``metric`` of each system on the same ``n_resamples`` bootstrap resamples of the items.

    ``systems[s]`` is a list of runs (e.g. seeds) of system ``s``, each a prediction per item of
    ``references``; a system's value on a resample is the mean of its runs' values.  Sharing the
    resamples across systems is what makes a paired comparison.  Returns shape ``(S, n_resamples)``.
    Each resample's confusion matrices come from one ``bincount``, so thousands of resamples of
    thousands of items take well under a second.
    """
    n, n_labels = len(references), len(labels)
    codes = [[_codes(references, run, labels) for run in runs] for runs in systems]
    rng = np.random.default_rng(seed)
    out = np.zeros((len(systems), n_resamples))
    cells = n_labels * n_labels
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        index = rng.integers(0, n, (rows, n))
        offsets = (np.arange(rows) * cells)[:, None]
        for s, runs in enumerate(codes):
            total = np.zeros(rows)
            for run_codes in runs:
                confusions = np.bincount((run_codes[index] + offsets).ravel(), minlength=rows * cells)
                total += _scores_from_confusions(confusions.reshape(rows, n_labels, n_labels), labels, task)[metric]
            out[s, start:start + rows] = total / len(runs)
    return out


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
    values = resampled_scores(references, [[predictions]], labels, task, metric, n_resamples, seed)[0]
    return percentile_interval(values, confidence)


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def paired_bootstrap(
    references: Sequence[str],
    runs_a: Sequence[Sequence[str]],
    runs_b: Sequence[Sequence[str]],
    labels: Sequence[str],
    task: str | None,
    metric: str,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap test of ``metric(A) - metric(B)`` on the same items (Efron & Tibshirani 1993, ch. 16).

    The two-sided p-value counts resamples whose difference lies at least as far from the observed
    difference as the observed difference lies from zero (the shifted null of Berg-Kirkpatrick et
    al., EMNLP 2012, made two-sided), with the usual +1 correction.
    """
    observed = [float(np.mean([classification_scores(references, run, labels, task)[metric] for run in runs]))
                for runs in (runs_a, runs_b)]
    delta = observed[0] - observed[1]
    values = resampled_scores(references, [runs_a, runs_b], labels, task, metric, n_resamples, seed)
    deltas = values[0] - values[1]
    extreme = int(np.sum(np.abs(deltas - delta) >= abs(delta) - 1e-12))
    low, high = percentile_interval(deltas, confidence)
    return {"a": observed[0], "b": observed[1], "delta": delta, "ci_low": low, "ci_high": high,
            "p_value": min(1.0, (extreme + 1) / (n_resamples + 1)), "resamples": n_resamples}


def mcnemar_exact(references: Sequence[str], predictions_a: Sequence[str], predictions_b: Sequence[str]) -> dict:
    """Exact McNemar test on per-item correctness: a two-sided binomial test on the discordant items."""
    from scipy.stats import binomtest

    a_only = sum(1 for g, a, b in zip(references, predictions_a, predictions_b) if a == g and b != g)
    b_only = sum(1 for g, a, b in zip(references, predictions_a, predictions_b) if b == g and a != g)
    discordant = a_only + b_only
    p = 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
    return {"a_only_correct": a_only, "b_only_correct": b_only, "p_value": p}
