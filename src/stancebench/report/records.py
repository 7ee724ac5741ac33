"""What the report reads: finished training runs, as records of their predictions.

``collect_runs`` turns the experiment's runs into :class:`RunRecord` objects (one per run and
evaluation set); :class:`Row` and :class:`Group` are the shapes :mod:`stancebench.report.analysis`
fills in. ``annotations`` looks up the annotators' votes of a stancebench dataset's sentences.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from stancebench.errors import UserError

# The report's families: the baseline every other family's best row is tested against comes first.
FAMILY_ORDER = ("tfidf", "transformer", "probe")
BASELINE_FAMILY = FAMILY_ORDER[0]
# Shown instead of a sentence whose text is kept upstream (its licence keeps it out of reports).
UPSTREAM_TEXT = "(text kept upstream; look it up by id)"


@dataclass
class RunRecord:
    """One training run as the report needs it: its identity and its predictions by item id."""

    run_id: str
    model: str
    family: str
    dataset: str
    eval_dataset: str
    task: str
    protocol: str
    seed: int
    n_train: int
    labels: list[str]
    main_score: str
    eval_source: str | None
    predictions: dict[str, dict[str, Any]]
    text_upstream: bool = False  # the evaluation text may not be redistributed: reports show ids only

    def predicted(self, ids: list[str]) -> list[str]:
        """The labels this run predicted for ``ids``, in that order."""
        return [self.predictions[i]["predicted"] for i in ids]


@dataclass
class Row:
    """A leaderboard line: the runs of one model at one training-set size."""

    model: str
    family: str
    n_train: int
    runs: list[RunRecord]
    ids: list[str] = field(default_factory=list)  # evaluation items all its runs predicted
    scores: dict[str, list[float]] = field(default_factory=dict)  # metric -> value per run
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def mean(self, metric: str) -> float:
        """The metric's mean over the row's runs."""
        return float(np.mean(self.scores[metric]))

    def std(self, metric: str) -> float | None:
        """The metric's sample standard deviation over runs; None for a single run."""
        return float(np.std(self.scores[metric], ddof=1)) if len(self.runs) > 1 else None

    def representative(self, seed: int | None = None) -> RunRecord:
        """The run with ``seed`` if there is one, else the lowest seed: a neutral choice, not the best."""
        chosen = [r for r in self.runs if r.seed == seed]
        return chosen[0] if chosen else min(self.runs, key=lambda r: r.seed)


@dataclass
class Group:
    """The runs sharing training data, evaluation data, task and protocol: one section of the report."""

    dataset: str
    eval_dataset: str
    task: str
    protocol: str
    labels: list[str]
    main_score: str
    gold: dict[str, str]  # item id -> gold label
    texts: dict[str, str]  # item id -> sentence
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    compared_ids: list[str] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # one per family tested against TF-IDF
    errors: list[dict[str, Any]] = field(default_factory=list)
    n_errors: int = 0
    figures: dict[str, Path] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The section heading: data (training → evaluation when they differ), task, protocol."""
        data = self.dataset if self.dataset == self.eval_dataset else f"{self.dataset} → {self.eval_dataset}"
        return f"{data} · {self.task} · {self.protocol}"

    @property
    def slug(self) -> str:
        """The group's name in file names and HTML anchors."""
        return re.sub(r"[^A-Za-z0-9]+", "-", f"{self.dataset}-{self.eval_dataset}-{self.task}-{self.protocol}").strip("-")

    def contenders(self) -> list[Row]:
        """Each model's row at its largest training size, best first."""
        largest: dict[str, int] = defaultdict(int)
        for row in self.rows:
            largest[row.model] = max(largest[row.model], row.n_train)
        return [r for r in self.rows if r.n_train == largest[r.model]]

    def compared_rows(self) -> list[Row]:
        """The best TF-IDF row, then the best row of each other family present (in ``FAMILY_ORDER``);
        without TF-IDF or without any other family, the two best rows.

        Only each model's largest training size competes: a learning-curve point on fewer items (and,
        under k-fold, other evaluation items) is not a contender.
        """
        contenders = self.contenders()
        best = [next((r for r in contenders if r.family == family), None) for family in FAMILY_ORDER]
        present = [row for row in best if row is not None]
        if best[0] is not None and len(present) > 1:
            return present
        return contenders[:2]


def _prediction_rows(text: str) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {r["id"]: r for r in rows}


def _eval_set_record(record: RunRecord, tags: dict[str, str], key: str, predictions_text: str) -> RunRecord:
    """The record of one of a run's further evaluation sets (``eval_sets``), scored by the same model."""
    return replace(record, eval_dataset=tags.get(f"eval_set.{key}.dataset", key),
                   eval_source=tags.get(f"eval_set.{key}.source"), predictions=_prediction_rows(predictions_text),
                   text_upstream=tags.get(f"eval_set.{key}.text_upstream") == "true")


def _record(run, predictions_text: str) -> RunRecord:
    """The record of a run on its own evaluation data; a run `stancebench train` did not make is an error."""
    import ast

    tags, params = run.data.tags, run.data.params
    missing = [f"tag {k}" for k in ("task", "model") if k not in tags] + \
        [f"param {k}" for k in ("task.labels", "n_train") if k not in params]
    if missing:
        raise UserError(f"run {run.info.run_id} lacks {', '.join(missing)}: it was not made by `stancebench train`; "
                        f"leave it out with --exclude-run {run.info.run_id}")
    protocol = tags.get("protocol", "unknown")
    # A cross-dataset run is evaluated on its target data, whose source is logged apart.
    source_key = "eval.target_data.source" if protocol == "cross_dataset" else "data.source"
    return RunRecord(
        run_id=run.info.run_id, model=tags["model"], family=tags.get("model_family", "unknown"),
        dataset=tags.get("dataset", "unknown"), eval_dataset=tags.get("eval_dataset", tags.get("dataset", "unknown")),
        task=tags["task"], protocol=protocol, seed=int(tags.get("seed", params.get("seed", 0))),
        n_train=int(params.get("n_train", 0)),
        labels=list(ast.literal_eval(params["task.labels"])), main_score=params.get("task.main_score", "macro_f1"),
        eval_source=params.get(source_key),
        predictions=_prediction_rows(predictions_text),
    )


def _wanted(tags: dict[str, str], datasets: list[str], tasks: list[str], models: list[str]) -> bool:
    if datasets and tags.get("dataset") not in datasets and tags.get("eval_dataset") not in datasets:
        return False
    return not (tasks and tags.get("task") not in tasks) and not (models and tags.get("model") not in models)


def collect_runs(settings, datasets: list[str], tasks: list[str], models: list[str],
                 exclude: list[str]) -> list[RunRecord]:
    """The experiment's finished training runs that pass the filters, with their predictions."""
    from stancebench.tracking import registry

    selected = [run for run in registry.training_runs(settings)
                if run.info.run_id not in exclude and _wanted(run.data.tags, datasets, tasks, models)]
    if not selected:
        wanted = ", ".join(f"{k}={','.join(v)}" for k, v in (("dataset", datasets), ("task", tasks), ("model", models))
                           if v)
        raise UserError(f"no finished training runs in experiment {settings.experiment!r}"
                        f"{' with ' + wanted if wanted else ''}; train some first (python -m stancebench train "
                        f"tracking.experiment={settings.experiment}) or loosen the filters")
    records = []
    for run in selected:
        text = registry.run_artifact_text(settings, run.info.run_id, "predictions.jsonl")
        if not text or not text.strip():
            tags = run.data.tags
            raise UserError(
                f"run {run.info.run_id} ({tags.get('model')} on {tags.get('dataset')}, {tags.get('task')}) has no "
                f"logged predictions.jsonl; leave it out with --exclude-run {run.info.run_id} or delete it "
                f"(mlflow runs delete --run-id {run.info.run_id})"
            )
        record = _record(run, text)
        records.append(record)
        for key in filter(None, run.data.tags.get("eval_sets", "").split(",")):
            set_text = registry.run_artifact_text(settings, run.info.run_id, f"predictions-{key}.jsonl")
            if set_text and set_text.strip():
                records.append(_eval_set_record(record, run.data.tags, key, set_text))
    if datasets:  # a run trained on one dataset is reported on the evaluation sets asked for
        records = [r for r in records if r.dataset in datasets or r.eval_dataset in datasets]
    return records


def annotations(source: str | None, task: str) -> dict[str, dict[str, Any]]:
    """Per-sentence annotator votes when the evaluation data is a stancebench dataset folder."""
    if not source:
        return {}
    from stancebench.jsonl import read_json_lines
    from stancebench.paths import resolve_source

    path = Path(resolve_source(source))
    files = sorted((path / "data").glob("*.jsonl")) if path.is_dir() else []
    found = {}
    for rows_file in files:  # every source's rows (the seed, written sentences, sources built locally)
        if rows_file.name == "segments.jsonl":
            continue
        for _, row in read_json_lines(rows_file):
            votes = row.get(f"{task}_votes")
            if votes:
                found[row["id"]] = {"annotators": row.get("annotators", []), "votes": votes,
                                    "agreement": row.get(f"{task}_agreement"),
                                    "adjudicated": bool(row.get(f"{task}_adjudicated"))}
    return found
