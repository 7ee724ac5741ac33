"""From run records to report groups: leaderboard scores, intervals, the significance test, errors.

Every number is recomputed from the runs' predictions on the evaluation items the runs of a row
share, so a row's runs are compared on the same items; the compared rows (the best TF-IDF and the
best of each other family) are tested in pairs against TF-IDF on the items each pair shares, and
analysed on the items all of them share.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from stancebench.errors import UserError
from stancebench.report.records import (
    BASELINE_FAMILY,
    UPSTREAM_TEXT,
    Group,
    Row,
    RunRecord,
    annotations,
)


def shared_ids(runs: list[RunRecord]) -> list[str]:
    """Item ids every run predicted, in the first run's order."""
    common = set(runs[0].predictions)
    for run in runs[1:]:
        common &= set(run.predictions)
    return [i for i in runs[0].predictions if i in common]


def _gold_and_texts(records: list[RunRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """Each item's gold label and shown sentence; runs disagreeing on a gold label are an error."""
    gold_of: dict[str, str] = {}
    text_of: dict[str, str] = {}
    for record in records:
        for item, row in record.predictions.items():
            if gold_of.setdefault(item, row["gold"]) != row["gold"]:
                raise UserError(f"item {item} has gold label {gold_of[item]!r} in one run and {row['gold']!r} in run "
                                f"{record.run_id}; the runs used different data versions — report them apart "
                                "with --exclude-run or --dataset")
            text_of.setdefault(item, UPSTREAM_TEXT if record.text_upstream else row.get("text", ""))
    return gold_of, text_of


def _scored_rows(key: tuple, records: list[RunRecord], gold_of: dict[str, str], resamples: int, confidence: float,
                 seed: int) -> list[Row]:
    """One row per (model, training size), scored per run, with bootstrap intervals, best first."""
    from stancebench.experiment.scoring import (
        classification_scores,
        percentile_interval,
        resampled_scores,
    )

    dataset, _, task, protocol = key
    labels, main = records[0].labels, records[0].main_score
    by_row: dict[tuple[str, int], list[RunRecord]] = defaultdict(list)
    for record in records:
        by_row[(record.model, record.n_train)].append(record)
    rows = []
    for (model, n_train), runs in sorted(by_row.items()):
        runs.sort(key=lambda r: r.seed)
        row = Row(model, runs[0].family, n_train, runs, ids=shared_ids(runs))
        if not row.ids:
            raise UserError(f"the runs of {model} on {dataset}/{task}/{protocol} share no evaluation item; report "
                            "them separately with --exclude-run")
        gold = [gold_of[i] for i in row.ids]
        predictions = [run.predicted(row.ids) for run in runs]
        per_run = [classification_scores(gold, p, labels, task) for p in predictions]
        row.scores = {name: [s[name] for s in per_run] for name in per_run[0]}
        for metric in dict.fromkeys([main, "macro_f1"]):
            # One seed for every row: rows predicting alike on the same items get the same interval.
            values = resampled_scores(gold, [predictions], labels, task, metric, resamples, seed)[0]
            row.intervals[metric] = percentile_interval(values, confidence)
        rows.append(row)
    rows.sort(key=lambda r: (-r.mean(main), -r.mean("macro_f1"), r.model, -r.n_train))
    return rows


def _compare(group: Group, resamples: int, confidence: float, seed: int) -> None:
    """Set the group's paired tests (each other family's best row against the best TF-IDF), or a note
    saying why there are none."""
    from stancebench.experiment.scoring import mcnemar_exact, paired_bootstrap

    compared = group.compared_rows()
    shared_by_all = set.intersection(*(set(r.ids) for r in compared))
    group.compared_ids = [i for i in compared[0].ids if i in shared_by_all]
    baseline, others = compared[0], compared[1:]
    if baseline.family != BASELINE_FAMILY or not others or any(r.family == BASELINE_FAMILY for r in others):
        missing = "TF-IDF run" if baseline.family != BASELINE_FAMILY else "run of another family"
        group.notes.append(f"No significance test: it compares the best TF-IDF with the best row of each other "
                           f"family, and this group has no {missing}.")
        return
    for other in others:
        shared = [i for i in baseline.ids if i in set(other.ids)]
        if not shared:
            group.notes.append(f"No significance test of {other.model}: it shares no evaluation item with "
                               f"{baseline.model}.")
            continue
        gold = [group.gold[i] for i in shared]
        test = paired_bootstrap(gold, [r.predicted(shared) for r in baseline.runs],
                                [r.predicted(shared) for r in other.runs], group.labels, group.task,
                                group.main_score, resamples, confidence, seed)
        # McNemar pairs single runs: the same seed on both sides when the rows have one in common.
        seeds = sorted({r.seed for r in baseline.runs} & {r.seed for r in other.runs})
        rep_a = baseline.representative(seeds[0] if seeds else None)
        rep_b = other.representative(seeds[0] if seeds else None)
        mcnemar = mcnemar_exact(gold, rep_a.predicted(shared), rep_b.predicted(shared))
        group.comparisons.append({
            "a": baseline.model, "b": other.model, "b_family": other.family, "a_runs": len(baseline.runs),
            "b_runs": len(other.runs), "metric": group.main_score, "items": len(shared), "paired_bootstrap": test,
            "mcnemar": {**mcnemar, "run_a": rep_a.run_id, "run_b": rep_b.run_id}})
    if len(group.comparisons) > 1:
        k = len(group.comparisons)
        group.notes.append(f"{k} tests against the same TF-IDF row, each at its own p-value, not corrected for "
                           f"multiplicity (Bonferroni: compare each with {0.05 / k:.3g}).")


def _find_errors(group: Group, votes: dict[str, dict[str, Any]], max_errors: int) -> None:
    """The items a compared row's representative run got wrong: those both missed first."""
    reps = [(row.model, row.representative()) for row in group.compared_rows()]
    wrong = []
    for k, item in enumerate(group.compared_ids):
        gold = group.gold[item]
        predicted = {name: run.predictions[item]["predicted"] for name, run in reps}
        n_right = sum(p == gold for p in predicted.values())
        if n_right < len(reps):
            wrong.append((n_right, k, {"id": item, "text": group.texts[item], "gold": gold, "predicted": predicted,
                                       "annotation": votes.get(item)}))
    wrong.sort(key=lambda w: (w[0], w[1]))
    group.n_errors = len(wrong)
    group.errors = [w[2] for w in wrong[:max_errors]]


def _build_group(key: tuple, records: list[RunRecord], resamples: int, confidence: float, seed: int,
                 max_errors: int) -> Group:
    dataset, eval_dataset, task, protocol = key
    first = records[0]
    gold_of, text_of = _gold_and_texts(records)
    rows = _scored_rows(key, records, gold_of, resamples, confidence, seed)
    group = Group(dataset, eval_dataset, task, protocol, first.labels, first.main_score, gold_of, text_of, rows)
    if len({tuple(r.ids) for r in rows}) > 1:
        group.notes.append("Rows are scored on different evaluation items (the 'eval items' column; e.g. k-fold "
                           "runs with capped training data); the significance test and the error analysis use "
                           "the items both compared rows share.")
    _compare(group, resamples, confidence, seed)
    _find_errors(group, annotations(first.eval_source, task), max_errors)
    return group


def build_groups(records: list[RunRecord], resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                 max_errors: int = 40) -> list[Group]:
    """One scored group per (training data, evaluation data, task, protocol), in that order."""
    grouped: dict[tuple, list[RunRecord]] = defaultdict(list)
    for record in records:
        grouped[(record.dataset, record.eval_dataset, record.task, record.protocol)].append(record)
    return [_build_group(key, grouped[key], resamples, confidence, seed, max_errors) for key in sorted(grouped)]


def champion(groups: list[Group]) -> dict[str, tuple[Group, RunRecord]]:
    """Per task, the best run of the best row: the model an alias should point at."""
    by_task: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        by_task[group.task].append(group)
    chosen = {}
    for task, task_groups in by_task.items():
        if len(task_groups) > 1:
            raise UserError(f"--alias needs one group per task, and task {task} has {len(task_groups)} "
                            f"({'; '.join(g.title for g in task_groups)}); narrow it with --dataset")
        group = task_groups[0]
        best = group.contenders()[0]
        index = int(np.argmax(best.scores[group.main_score]))
        chosen[task] = (group, best.runs[index])
    return chosen
