"""The report's numbers, machine-readable: the content of ``report.json``."""

from __future__ import annotations

from typing import Any

from stancebench.report.records import Group, Row


def _score(row: Row, metric: str) -> dict[str, Any]:
    return {"mean": row.mean(metric), "std": row.std(metric), "ci": list(row.intervals[metric])}


def _leaderboard(group: Group) -> list[dict[str, Any]]:
    main = group.main_score
    return [{
        "model": row.model, "family": row.family, "n_train": row.n_train, "n_eval": len(row.ids),
        "runs": [r.run_id for r in row.runs], "seeds": [r.seed for r in row.runs],
        main: _score(row, main), "macro_f1": _score(row, "macro_f1"),
        "per_class_f1": {label: row.mean(f"f1_{label}") for label in group.labels},
    } for row in group.rows]


def summary(groups: list[Group], meta: dict[str, Any]) -> dict[str, Any]:
    """The report's numbers, machine-readable (report.json): ``meta`` and one entry per group."""
    return {**meta, "groups": [{
        "dataset": group.dataset, "eval_dataset": group.eval_dataset, "task": group.task,
        "protocol": group.protocol, "main_score": group.main_score, "n_items": len(group.gold),
        "leaderboard": _leaderboard(group),
        "comparisons": group.comparisons, "notes": group.notes, "n_errors": group.n_errors,
        "errors": group.errors, "figures": {k: v.name for k, v in group.figures.items()},
    } for group in groups]}
