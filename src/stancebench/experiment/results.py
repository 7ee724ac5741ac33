"""A run's results: its scores (through the ``evaluate`` module, with bootstrap intervals) and the
files written into its local folder before anything goes to MLflow."""

from __future__ import annotations

import json
from pathlib import Path

from stancebench.tasks import TaskSpec


def load_metric():
    """The project's `evaluate` metric module, loaded by path (the hub's scripts are out of reach)."""
    from stancebench.experiment.metrics import metric_path
    from stancebench.lazy import import_without_torch

    evaluate = import_without_torch("evaluate")
    return evaluate.load(str(metric_path("stance_sentiment_scores")))


def compute_metrics(preds, task: TaskSpec, resamples: int, confidence: float, seed: int,
                    metric=None) -> dict[str, float]:
    """Scores through the `evaluate` metric module (``metric``: one :func:`load_metric` gave already),
    plus bootstrap bounds for macro-F1 and the task's main score."""
    from stancebench.experiment.scoring import bootstrap_interval

    metric = metric or load_metric()
    labels = list(task.labels)
    scores = metric.compute(predictions=preds.predicted, references=preds.items.labels, labels=labels,
                            task=task.name)
    for name in dict.fromkeys(["macro_f1", task.main_score]):
        low, high = bootstrap_interval(preds.items.labels, preds.predicted, labels, task.name, name, resamples,
                                       confidence, seed)
        scores[f"{name}_ci_low"], scores[f"{name}_ci_high"] = low, high
    scores["n_eval"] = len(preds.items)
    return scores


def write_outputs(folder: Path, config: dict, overrides: list[str], preds, metrics: dict, task: TaskSpec,
                  title: str) -> None:
    """The run's files, written locally first: they survive a tracking server that goes away."""
    from omegaconf import OmegaConf
    from sklearn.metrics import classification_report

    from stancebench.report.plots import confusion_matrix_png
    from stancebench.tracking.redaction import redact, redact_override

    folder.mkdir(parents=True, exist_ok=True)
    # What a config read from the environment (${oc.env:...}) must not carry into the run's files.
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(redact(config))), encoding="utf-8")
    shown = [redact_override(o) for o in overrides]
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(shown)), encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    gold, labels = preds.items.labels, list(task.labels)
    report = classification_report(gold, preds.predicted, labels=labels, zero_division=0, digits=4)
    (folder / "classification_report.txt").write_text(report, encoding="utf-8")
    confusion_matrix_png(gold, preds.predicted, labels, folder / "confusion_matrix.png", title)
    write_predictions(folder / "predictions.jsonl", preds)


def write_predictions(path: Path, preds) -> None:
    """One JSON line per evaluation item: id, text, target, gold, predicted, fold and class scores."""
    gold = preds.items.labels
    with open(path, "w", encoding="utf-8") as f:
        for i, sid in enumerate(preds.items.ids):
            f.write(json.dumps({
                "id": sid, "text": preds.items.texts[i], "target": preds.items.targets[i],
                "gold": gold[i], "predicted": preds.predicted[i], "fold": preds.folds[i],
                "scores": {lab: (None if s == float("-inf") else round(float(s), 6))
                           for lab, s in zip(preds.score_labels, preds.scores[i])},
            }, ensure_ascii=False) + "\n")
