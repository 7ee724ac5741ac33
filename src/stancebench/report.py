"""``python -m stancebench report``: from tracked runs to answers.

Reads the finished training runs of one MLflow experiment and writes, per (training data,
evaluation data, task, protocol) group:

* a leaderboard: one row per model and training-set size, with the task's main score and macro-F1
  as mean ± standard deviation over runs (seeds), and a 95 % bootstrap interval over evaluation
  items of that mean;
* a paired significance test between the best TF-IDF row and the best transformer row on the same
  evaluation items (paired bootstrap on the main score, exact McNemar on correctness);
* figures: per-class F1 bars, confusion matrices side by side, score against training-set size;
* error analysis: the sentences the compared models got wrong, with gold labels and the annotators'
  votes on them when the evaluation data is a stancebench dataset.

Every number is recomputed from each run's logged ``predictions.jsonl`` on the evaluation items
all runs of the group share, so the rows of a group are compared on the same items.
Outputs: ``report.md``, a self-contained ``report.html`` (figures inline, Arabic right-to-left),
``report.json`` and ``figures/`` in the report folder, also logged to MLflow as a run of their own.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT, atomic_open

FAMILY_ORDER = ("tfidf", "transformer")
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
        return float(np.mean(self.scores[metric]))

    def std(self, metric: str) -> float | None:
        return float(np.std(self.scores[metric], ddof=1)) if len(self.runs) > 1 else None

    def representative(self, seed: int | None = None) -> RunRecord:
        """The run with ``seed`` if there is one, else the lowest seed: a neutral choice, not the best."""
        chosen = [r for r in self.runs if r.seed == seed]
        return chosen[0] if chosen else min(self.runs, key=lambda r: r.seed)


@dataclass
class Group:
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
    comparison: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    n_errors: int = 0
    figures: dict[str, Path] = field(default_factory=dict)

    @property
    def title(self) -> str:
        data = self.dataset if self.dataset == self.eval_dataset else f"{self.dataset} → {self.eval_dataset}"
        return f"{data} · {self.task} · {self.protocol}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", f"{self.dataset}-{self.eval_dataset}-{self.task}-{self.protocol}").strip("-")

    def contenders(self) -> list[Row]:
        """Each model's row at its largest training size, best first."""
        largest: dict[str, int] = defaultdict(int)
        for row in self.rows:
            largest[row.model] = max(largest[row.model], row.n_train)
        return [r for r in self.rows if r.n_train == largest[r.model]]

    def compared_rows(self) -> list[Row]:
        """The best TF-IDF and the best transformer row; without both families, the two best rows.

        Only each model's largest training size competes: a learning-curve point on fewer items (and,
        under k-fold, other evaluation items) is not a contender.
        """
        contenders = self.contenders()
        best = [next((r for r in contenders if r.family == family), None) for family in FAMILY_ORDER]
        if all(best):
            return best
        return contenders[:2]


# --- Reading runs ---------------------------------------------------------------------------------


def _eval_set_record(record: RunRecord, tags: dict[str, str], key: str, predictions_text: str) -> RunRecord:
    """The record of one of a run's further evaluation sets (``eval_sets``), scored by the same model."""
    from dataclasses import replace

    rows = [json.loads(line) for line in predictions_text.splitlines() if line.strip()]
    return replace(record, eval_dataset=tags.get(f"eval_set.{key}.dataset", key),
                   eval_source=tags.get(f"eval_set.{key}.source"), predictions={r["id"]: r for r in rows},
                   text_upstream=tags.get(f"eval_set.{key}.text_upstream") == "true")


def _record(run, predictions_text: str) -> RunRecord:
    import ast

    tags, params = run.data.tags, run.data.params
    missing = [f"tag {k}" for k in ("task", "model") if k not in tags] + \
        [f"param {k}" for k in ("task.labels", "n_train") if k not in params]
    if missing:
        raise UserError(f"run {run.info.run_id} lacks {', '.join(missing)}: it was not made by `stancebench train`; "
                        f"leave it out with --exclude-run {run.info.run_id}")
    task = tags["task"]
    protocol = tags.get("protocol", "unknown")
    source_key = "eval.target_data.source" if protocol == "cross_dataset" else "data.source"
    rows = [json.loads(line) for line in predictions_text.splitlines() if line.strip()]
    return RunRecord(
        run_id=run.info.run_id, model=tags["model"], family=tags.get("model_family", "unknown"),
        dataset=tags.get("dataset", "unknown"), eval_dataset=tags.get("eval_dataset", tags.get("dataset", "unknown")),
        task=task, protocol=protocol, seed=int(tags.get("seed", params.get("seed", 0))),
        n_train=int(params.get("n_train", 0)),
        labels=list(ast.literal_eval(params["task.labels"])), main_score=params.get("task.main_score", "macro_f1"),
        eval_source=params.get(source_key),
        predictions={r["id"]: r for r in rows},
    )


def collect_runs(settings, datasets: list[str], tasks: list[str], models: list[str],
                 exclude: list[str]) -> list[RunRecord]:
    """The experiment's finished training runs that pass the filters, with their predictions."""
    from stancebench import tracking

    selected = []
    for run in tracking.training_runs(settings):
        tags = run.data.tags
        if run.info.run_id in exclude:
            continue
        if (datasets and tags.get("dataset") not in datasets and tags.get("eval_dataset") not in datasets) \
                or (tasks and tags.get("task") not in tasks) or (models and tags.get("model") not in models):
            continue
        selected.append(run)
    if not selected:
        wanted = ", ".join(f"{k}={','.join(v)}" for k, v in (("dataset", datasets), ("task", tasks), ("model", models))
                           if v)
        raise UserError(f"no finished training runs in experiment {settings.experiment!r}"
                        f"{' with ' + wanted if wanted else ''}; train some first (python -m stancebench train "
                        f"tracking.experiment={settings.experiment}) or loosen the filters")
    records = []
    for run in selected:
        text = tracking.run_artifact_text(settings, run.info.run_id, "predictions.jsonl")
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
            set_text = tracking.run_artifact_text(settings, run.info.run_id, f"predictions-{key}.jsonl")
            if set_text and set_text.strip():
                records.append(_eval_set_record(record, run.data.tags, key, set_text))
    if datasets:  # a run trained on one dataset is reported on the evaluation sets asked for
        records = [r for r in records if r.dataset in datasets or r.eval_dataset in datasets]
    return records


# --- Numbers --------------------------------------------------------------------------------------


def _annotations(source: str | None, task: str) -> dict[str, dict[str, Any]]:
    """Per-sentence annotator votes when the evaluation data is a stancebench dataset folder."""
    if not source:
        return {}
    from stancebench.paths import resolve_source

    path = Path(resolve_source(source))
    files = sorted((path / "data").glob("*.jsonl")) if path.is_dir() else []
    from stancebench.jsonl import read_json_lines

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


def _shared_ids(runs: list[RunRecord]) -> list[str]:
    """Item ids every run predicted, in the first run's order."""
    common = set(runs[0].predictions)
    for run in runs[1:]:
        common &= set(run.predictions)
    return [i for i in runs[0].predictions if i in common]


def _predicted(run: RunRecord, ids: list[str]) -> list[str]:
    return [run.predictions[i]["predicted"] for i in ids]


def _build_group(key: tuple, records: list[RunRecord], resamples: int, confidence: float, seed: int,
                 max_errors: int) -> Group:
    from stancebench.scoring import (classification_scores, mcnemar_exact, paired_bootstrap, percentile_interval,
                                     resampled_scores)

    dataset, eval_dataset, task, protocol = key
    first = records[0]
    labels, main = first.labels, first.main_score
    gold_of: dict[str, str] = {}
    text_of: dict[str, str] = {}
    for record in records:
        for item, row in record.predictions.items():
            if gold_of.setdefault(item, row["gold"]) != row["gold"]:
                raise UserError(f"item {item} has gold label {gold_of[item]!r} in one run and {row['gold']!r} in run "
                                f"{record.run_id}; the runs used different data versions — report them apart "
                                "with --exclude-run or --dataset")
            text_of.setdefault(item, UPSTREAM_TEXT if record.text_upstream else row.get("text", ""))
    by_row: dict[tuple[str, int], list[RunRecord]] = defaultdict(list)
    for record in records:
        by_row[(record.model, record.n_train)].append(record)
    rows = []
    for (model, n_train), runs in sorted(by_row.items()):
        runs.sort(key=lambda r: r.seed)
        row = Row(model, runs[0].family, n_train, runs, ids=_shared_ids(runs))
        if not row.ids:
            raise UserError(f"the runs of {model} on {dataset}/{task}/{protocol} share no evaluation item; report "
                            "them separately with --exclude-run")
        gold = [gold_of[i] for i in row.ids]
        predictions = [_predicted(run, row.ids) for run in runs]
        per_run = [classification_scores(gold, p, labels, task) for p in predictions]
        row.scores = {name: [s[name] for s in per_run] for name in per_run[0]}
        for metric in dict.fromkeys([main, "macro_f1"]):
            # One seed for every row: rows predicting alike on the same items get the same interval.
            values = resampled_scores(gold, [predictions], labels, task, metric, resamples, seed)[0]
            row.intervals[metric] = percentile_interval(values, confidence)
        rows.append(row)
    rows.sort(key=lambda r: (-r.mean(main), -r.mean("macro_f1"), r.model, -r.n_train))
    group = Group(dataset, eval_dataset, task, protocol, labels, main, gold_of, text_of, rows)
    if len({tuple(r.ids) for r in rows}) > 1:
        group.notes.append("Rows are scored on different evaluation items (the 'eval items' column; e.g. k-fold "
                           "runs with capped training data); the significance test and the error analysis use "
                           "the items both compared rows share.")

    compared = group.compared_rows()
    shared = [i for i in compared[0].ids if i in set.intersection(*(set(r.ids) for r in compared))]
    group.compared_ids = shared
    gold = [gold_of[i] for i in shared]
    if len(compared) == 2 and {r.family for r in compared} == set(FAMILY_ORDER):
        a, b = compared
        if shared:
            test = paired_bootstrap(gold, [_predicted(r, shared) for r in a.runs],
                                    [_predicted(r, shared) for r in b.runs], labels, task, main, resamples,
                                    confidence, seed)
            seeds = sorted({r.seed for r in a.runs} & {r.seed for r in b.runs})
            rep_a, rep_b = a.representative(seeds[0] if seeds else None), b.representative(seeds[0] if seeds else None)
            mcnemar = mcnemar_exact(gold, _predicted(rep_a, shared), _predicted(rep_b, shared))
            group.comparison = {"a": a.model, "b": b.model, "a_runs": len(a.runs), "b_runs": len(b.runs),
                                "metric": main, "items": len(shared), "paired_bootstrap": test,
                                "mcnemar": {**mcnemar, "run_a": rep_a.run_id, "run_b": rep_b.run_id}}
        else:
            group.notes.append(f"No significance test: {a.model} and {b.model} share no evaluation item.")
    else:
        missing = [f for f in FAMILY_ORDER if not any(r.family == f for r in rows)]
        group.notes.append(f"No significance test: it compares the best TF-IDF with the best transformer, and "
                           f"this group has no {' or '.join(missing)} run.")

    # Error analysis: one run of each compared row (the lowest seed), on the items they share.
    votes = _annotations(first.eval_source, task)
    reps = [(row.model, row.representative()) for row in compared]
    wrong = []
    for k, item in enumerate(shared):
        predicted = {name: run.predictions[item]["predicted"] for name, run in reps}
        n_right = sum(p == gold[k] for p in predicted.values())
        if n_right < len(reps):
            wrong.append((n_right, k, {"id": item, "text": text_of[item], "gold": gold[k], "predicted": predicted,
                                       "annotation": votes.get(item)}))
    wrong.sort(key=lambda w: (w[0], w[1]))
    group.n_errors = len(wrong)
    group.errors = [w[2] for w in wrong[:max_errors]]
    return group


def build_groups(records: list[RunRecord], resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                 max_errors: int = 40) -> list[Group]:
    grouped: dict[tuple, list[RunRecord]] = defaultdict(list)
    for record in records:
        grouped[(record.dataset, record.eval_dataset, record.task, record.protocol)].append(record)
    return [_build_group(key, grouped[key], resamples, confidence, seed, max_errors) for key in sorted(grouped)]


# --- Figures and documents ------------------------------------------------------------------------


def _draw_figures(group: Group, folder: Path) -> None:
    from stancebench.plots import confusion_matrices_png, learning_curve_png, per_class_f1_png

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
        panels.append((f"{row.model} (seed {run.seed})", [group.gold[i] for i in row.ids], _predicted(run, row.ids)))
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


def _pm(mean: float, std: float | None) -> str:
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _leaderboard(group: Group) -> tuple[list[str], list[list[str]]]:
    main = group.main_score
    header = ["#", "model", "family", "train items", "eval items", "runs", f"{main} mean ± std", "95% CI",
              "macro_f1 mean ± std", "95% CI"]
    body = []
    for rank, row in enumerate(group.rows, 1):
        body.append([str(rank), row.model, row.family, str(row.n_train), str(len(row.ids)), str(len(row.runs)),
                     _pm(row.mean(main), row.std(main)), _ci(row.intervals[main]),
                     _pm(row.mean("macro_f1"), row.std("macro_f1")), _ci(row.intervals["macro_f1"])])
    return header, body


def _significance_text(group: Group) -> str | None:
    c = group.comparison
    if c is None:
        return None
    t, m = c["paired_bootstrap"], c["mcnemar"]
    verdict = "significant" if t["p_value"] < 0.05 else "not significant"
    return (f"{c['a']} vs {c['b']} on the same {c['items']} items: {c['metric']} {t['a']:.3f} vs {t['b']:.3f}, "
            f"difference {t['delta']:+.3f} (95% CI {_ci((t['ci_low'], t['ci_high']))}); paired bootstrap "
            f"p = {t['p_value']:.3g} over {t['resamples']} resamples ({verdict} at 0.05). Exact McNemar on one run "
            f"each: {c['a']} alone right on {m['a_only_correct']} items, {c['b']} alone right on "
            f"{m['b_only_correct']}, p = {m['p_value']:.3g}.")


def _votes_text(annotation: dict[str, Any] | None) -> str:
    if not annotation:
        return "—"
    pairs = ", ".join(f"{a}: {v}" for a, v in zip(annotation["annotators"], annotation["votes"]))
    agreement = annotation.get("agreement")
    suffix = f" (agreement {agreement:.2f}{', adjudicated' if annotation['adjudicated'] else ''})" \
        if agreement is not None else ""
    return pairs + suffix


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
    return lines


def _error_columns(group: Group) -> list[str]:
    return [row.model for row in group.compared_rows()]


def render_markdown(groups: list[Group], meta: dict[str, Any], folder: Path) -> str:
    out = [f"# stancebench report: {meta['name']}", "",
           f"Experiment `{meta['experiment']}` in `{meta['tracking_uri']}`: {meta['n_runs']} finished training runs. "
           "Scores are recomputed from each run's logged predictions; ± is the standard deviation over runs "
           f"(seeds); the 95% CI is a bootstrap over evaluation items ({meta['resamples']} resamples) of the "
           "mean over runs.", ""]
    for group in groups:
        out += [f"## {group.title}", "", f"{len(group.gold)} evaluation items.", ""]
        out += _md_table(*_leaderboard(group)) + [""]
        significance = _significance_text(group)
        if significance:
            out += ["**Significance.** " + significance, ""]
        out += [f"- {note}" for note in group.notes] + ([""] if group.notes else [])
        for key, caption in (("per_class_f1", "Per-class F1"), ("confusion", "Confusion matrices"),
                             ("learning_curve", "Score vs training-set size")):
            if key in group.figures:
                out += [f"![{caption}]({group.figures[key].relative_to(folder).as_posix()})", ""]
        out += [f"### Errors ({group.n_errors} items wrong for at least one of {', '.join(_error_columns(group))}"
                f"{'; first ' + str(len(group.errors)) + ' shown' if len(group.errors) < group.n_errors else ''})", ""]
        if group.errors:
            header = ["id", "sentence", "gold", *_error_columns(group), "annotators"]
            body = [[e["id"], e["text"], e["gold"],
                     *[p + ("" if p == e["gold"] else " ✗") for p in e["predicted"].values()],
                     _votes_text(e["annotation"])] for e in group.errors]
            out += _md_table(header, body) + [""]
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1b1b; }
table { border-collapse: collapse; margin: 0.8rem 0 1.4rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.55rem; vertical-align: top; }
th { background: #f2f4f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ar { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", serif; font-size: 1.05rem;
        min-width: 22rem; text-align: start; unicode-bidi: isolate; }
td.wrong { color: #a40000; font-weight: 600; }
td.id { font-family: ui-monospace, monospace; font-size: 0.85rem; }
figure { display: inline-block; margin: 0.5rem 1rem 1rem 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
.note { color: #555; }
"""


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _html_cell(text: str, cls: str = "") -> str:
    """One table cell; class ``ar`` marks Arabic text, laid out right to left."""
    if cls == "ar":
        return f'<td class="ar" dir="rtl" lang="ar">{html.escape(text)}</td>'
    return f'<td class="{cls}">{html.escape(text)}</td>' if cls else f"<td>{html.escape(text)}</td>"


def _html_table(header: list[str], body: list[list[str | tuple[str, str]]], classes: list[str] | None = None,
                table_class: str = "") -> str:
    """A table; a cell is its text (with the column's class from ``classes``) or ``(text, class)``."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    classes = classes or [""] * len(header)
    rows = ["<tr>" + "".join(_html_cell(*cell) if isinstance(cell, tuple) else _html_cell(cell, classes[j])
                             for j, cell in enumerate(row)) + "</tr>" for row in body]
    attrs = f' class="{table_class}"' if table_class else ""
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(groups: list[Group], meta: dict[str, Any]) -> str:
    parts = [f"<h1>stancebench report: {html.escape(meta['name'])}</h1>",
             f"<p>Experiment <code>{html.escape(meta['experiment'])}</code> in <code>{html.escape(meta['tracking_uri'])}"
             f"</code>: {meta['n_runs']} finished training runs. Scores are recomputed from each run's logged "
             "predictions; ± is the standard deviation over runs (seeds); the 95% CI is a bootstrap over evaluation "
             f"items ({meta['resamples']} resamples) of the mean over runs.</p>"]
    for group in groups:
        header, body = _leaderboard(group)
        parts += [f'<section id="{group.slug}"><h2>{html.escape(group.title)}</h2>',
                  f"<p>{len(group.gold)} evaluation items.</p>",
                  _html_table(header, body, ["num", "", "", "num", "num", "num", "num", "num", "num", "num"])]
        significance = _significance_text(group)
        if significance:
            parts.append(f'<p class="significance"><strong>Significance.</strong> {html.escape(significance)}</p>')
        parts += [f'<p class="note">{html.escape(note)}</p>' for note in group.notes]
        for key, caption in (("per_class_f1", "Per-class F1 (mean over runs; whiskers: std)"),
                             ("confusion", "Confusion matrices (one run each)"),
                             ("learning_curve", "Score vs training-set size")):
            if key in group.figures:
                parts.append(_img(group.figures[key], caption))
        columns = _error_columns(group)
        shown = f"; first {len(group.errors)} shown" if len(group.errors) < group.n_errors else ""
        parts.append(f"<h3>Errors ({group.n_errors} items wrong for at least one of {html.escape(', '.join(columns))}"
                     f"{shown})</h3>")
        if group.errors:
            body = [[(e["id"], "id"), (e["text"], "ar"), e["gold"],
                     *[(p, "" if p == e["gold"] else "wrong") for p in e["predicted"].values()],
                     _votes_text(e["annotation"])] for e in group.errors]
            parts.append(_html_table(["id", "sentence", "gold", *columns, "annotators"], body, table_class="errors"))
        parts.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\"><head><meta charset=\"utf-8\">"
            f"<title>stancebench report: {html.escape(meta['name'])}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def summary(groups: list[Group], meta: dict[str, Any]) -> dict[str, Any]:
    """The report's numbers, machine-readable (report.json)."""
    out = {**meta, "groups": []}
    for group in groups:
        main = group.main_score
        out["groups"].append({
            "dataset": group.dataset, "eval_dataset": group.eval_dataset, "task": group.task,
            "protocol": group.protocol, "main_score": main, "n_items": len(group.gold),
            "leaderboard": [{
                "model": row.model, "family": row.family, "n_train": row.n_train, "n_eval": len(row.ids),
                "runs": [r.run_id for r in row.runs], "seeds": [r.seed for r in row.runs],
                main: {"mean": row.mean(main), "std": row.std(main), "ci": list(row.intervals[main])},
                "macro_f1": {"mean": row.mean("macro_f1"), "std": row.std("macro_f1"),
                             "ci": list(row.intervals["macro_f1"])},
                "per_class_f1": {label: row.mean(f"f1_{label}") for label in group.labels},
            } for row in group.rows],
            "comparison": group.comparison, "notes": group.notes, "n_errors": group.n_errors,
            "errors": group.errors, "figures": {k: v.name for k, v in group.figures.items()},
        })
    return out


def write_report(groups: list[Group], meta: dict[str, Any], folder: Path) -> list[Path]:
    """Write figures, report.md, report.html and report.json into ``folder``; returns the files.

    Each file is written to a temporary name and renamed; figures a previous report wrote and this
    one does not are removed (other files in the folder are left alone).
    """
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / "report.json"
    old_figures = set()
    if previous.is_file():
        try:
            old = json.loads(previous.read_text(encoding="utf-8"))
            old_figures = {name for g in old.get("groups", []) for name in g.get("figures", {}).values()}
        except (ValueError, AttributeError):
            pass
    import shutil

    staging = folder / f".figures.tmp-{os.getpid()}"
    figures = folder / "figures"
    try:
        for group in groups:
            _draw_figures(group, staging)
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
    files = [p for g in groups for p in g.figures.values()]
    for name, text in (("report.md", render_markdown(groups, meta, folder)), ("report.html", render_html(groups, meta)),
                       ("report.json", json.dumps(summary(groups, meta), indent=2, ensure_ascii=False) + "\n")):
        with atomic_open(folder / name) as f:
            f.write(text)
        files.append(folder / name)
    return files


# --- The command ----------------------------------------------------------------------------------


def _champion(groups: list[Group]) -> dict[str, tuple[Group, RunRecord]]:
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


def shown_store(uri: str) -> str:
    """The store as a report names it: a local store inside the project relative to the project (a
    committed report must not carry one machine's absolute paths), any other URI as given."""
    prefix = "sqlite:///"
    path, root = Path(uri.removeprefix(prefix)), PROJECT_ROOT.resolve()
    if uri.startswith(prefix) and path.is_absolute() and path.resolve().is_relative_to(root):
        return f"{prefix}{path.resolve().relative_to(root).as_posix()} (in the project)"
    return uri


def run_report(*, experiment: str, tracking_uri: str | None, name: str | None, output_dir: Path | None,
               datasets: list[str], tasks: list[str], models: list[str], exclude: list[str], alias: str | None,
               resamples: int, confidence: float, seed: int, max_errors: int, log: bool) -> dict[str, Any]:
    from stancebench import tracking

    if resamples < 100:
        raise UserError(f"--resamples {resamples} is too few for a 95% interval; use 1000 or more (at least 100)")
    if not 0 < confidence < 1:
        raise UserError(f"--confidence {confidence} must be between 0 and 1, e.g. 0.95")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per downloaded file otherwise
    settings = tracking.StoreSettings.from_config(
        {"uri": tracking_uri, "experiment": experiment},
        way_out="pass --tracking-uri with a running server or a local store (sqlite:///PATH)")
    name = name or experiment
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"--name {name!r} must be a plain folder name (letters, digits, _ . -)")
    folder = (output_dir or PROJECT_ROOT / "experiments" / name).expanduser().resolve()
    records = collect_runs(settings, datasets, tasks, models, exclude)
    groups = build_groups(records, resamples, confidence, seed, max_errors)
    meta = {"name": name, "experiment": experiment, "tracking_uri": shown_store(settings.uri),
            "n_runs": len({r.run_id for r in records}),  # a run scored on several sets has a record per set
            "resamples": resamples, "confidence": confidence, "seed": seed}
    champions = _champion(groups) if alias else {}
    files = write_report(groups, meta, folder)
    result: dict[str, Any] = {"folder": str(folder), "groups": groups, "files": files, "aliases": {}}
    if log:
        result["report_run_id"] = tracking.log_report(
            settings, name, files, {"datasets": datasets, "tasks": tasks, "models": models, "exclude": exclude,
                                    "resamples": resamples, "confidence": confidence, "seed": seed})
    for task, (group, run) in champions.items():
        registered = f"stancebench-{task}"
        version = tracking.set_model_alias(settings, run.run_id, registered, alias)
        result["aliases"][task] = {"name": registered, "version": version, "alias": alias, "run_id": run.run_id,
                                   "model": run.model}
    return result
