"""Annotations: the label schema, annotator files, adjudication and agreement.

An annotator file (``data/annotations/<annotator>.jsonl``) is an append-only log, one JSON object
a line.  A line sets one or both dimensions of a sentence (``{"id", "stance"?, "sentiment"?,
"note"?}``) or takes answers back (``{"id", "retract": ["stance", ...]}``); the labelling tool writes
exactly this, so a hand-written file and a tool-written file read the same way.  Setting a dimension
that is already set, without retracting it first, is a duplicate and an error.

The adjudication file (``data/adjudication.jsonl``) holds one decision per disagreement:
``{"id", "dimension", "label", "reason"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stancebench.errors import UserError
from stancebench.jsonl import read_json_lines
from stancebench.tasks import TASKS

TARGET = "peace talks"
# The label schema is the tasks' (stancebench.tasks): one dimension of annotation per task.
LABELS: dict[str, tuple[str, ...]] = {name: task.labels for name, task in TASKS.items()}
DIMENSIONS = tuple(LABELS)


@dataclass
class AnnotatorLabels:
    """The final labels of one annotator: ``labels[dimension][sentence_id] -> label``."""

    annotator: str
    path: Path
    labels: dict[str, dict[str, str]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    notes: dict[str, str] = field(default_factory=dict)

    def complete_ids(self) -> set[str]:
        """Ids that have a label on every dimension."""
        ids = set(self.labels[DIMENSIONS[0]])
        for dim in DIMENSIONS[1:]:
            ids &= set(self.labels[dim])
        return ids


def check_label(dimension: str, label: object, where: str) -> str:
    allowed = LABELS[dimension]
    if label not in allowed:
        raise UserError(f"{where}: {dimension} {label!r} is not one of {', '.join(allowed)}")
    return str(label)


def _records(path: Path, utf8_hint: str) -> Iterator[tuple[int, dict]]:
    """The file's JSON objects with their line numbers; each must carry a string ``id``."""
    for lineno, record in read_json_lines(path, utf8_hint):
        if not isinstance(record.get("id"), str):
            raise UserError(f"{path}:{lineno}: each line must be a JSON object with a string \"id\"")
        yield lineno, record


def read_annotator_file(path: Path, known_ids: Iterable[str] | None = None) -> AnnotatorLabels:
    """Replay one annotator's log into final labels, validating ids and labels."""
    path = Path(path)
    known = set(known_ids) if known_ids is not None else None
    result = AnnotatorLabels(annotator=path.stem, path=path)
    set_at: dict[tuple[str, str], int] = {}
    for lineno, record in _records(path, "annotation files are UTF-8 JSON lines"):
        sid = record["id"]
        where = f"{path}:{lineno}"
        if known is not None and sid not in known:
            raise UserError(f"{where}: unknown sentence id {sid!r}; ids come from `stancebench data segments`")
        retract = record.get("retract", [])
        if not isinstance(retract, list):
            raise UserError(f"{where}: \"retract\" must be a list of dimensions, e.g. [\"stance\"]")
        for dim in retract:
            if dim not in LABELS:
                raise UserError(f"{where}: cannot retract unknown dimension {dim!r}")
            result.labels[dim].pop(sid, None)
            set_at.pop((sid, dim), None)
        for dim in DIMENSIONS:
            if dim not in record:
                continue
            label = check_label(dim, record[dim], where)
            if (sid, dim) in set_at:
                raise UserError(
                    f"{where}: duplicate {dim} for id {sid!r} (already set at line {set_at[sid, dim]}); "
                    "keep one line or retract the first"
                )
            result.labels[dim][sid] = label
            set_at[sid, dim] = lineno
        if record.get("note"):
            result.notes[sid] = str(record["note"])
    return result


def read_annotators(folder: Path, known_ids: Iterable[str] | None = None) -> list[AnnotatorLabels]:
    """Every ``*.jsonl`` annotator file of ``folder``, sorted by annotator name."""
    folder = Path(folder)
    known = list(known_ids) if known_ids is not None else None
    return [read_annotator_file(p, known) for p in sorted(folder.glob("*.jsonl"))]


@dataclass(frozen=True)
class Decision:
    sentence_id: str
    dimension: str
    label: str
    reason: str


def read_adjudication(path: Path, known_ids: Iterable[str] | None = None) -> dict[tuple[str, str], Decision]:
    """Adjudication decisions keyed by ``(sentence_id, dimension)``; duplicates are errors."""
    path = Path(path)
    known = set(known_ids) if known_ids is not None else None
    decisions: dict[tuple[str, str], Decision] = {}
    if not path.exists():
        return decisions
    for lineno, record in _records(path, "the adjudication file is UTF-8 JSON lines"):
        where = f"{path}:{lineno}"
        sid, dim = record["id"], record.get("dimension")
        if known is not None and sid not in known:
            raise UserError(f"{where}: unknown sentence id {sid!r}; ids come from `stancebench data segments`")
        if dim not in LABELS:
            raise UserError(f"{where}: dimension {dim!r} is not one of {', '.join(DIMENSIONS)}")
        label = check_label(dim, record.get("label"), where)
        if not str(record.get("reason", "")).strip():
            raise UserError(f"{where}: an adjudication needs a \"reason\"")
        if (sid, dim) in decisions:
            raise UserError(f"{where}: duplicate adjudication for {sid!r} {dim}; keep one")
        decisions[sid, dim] = Decision(sid, dim, label, str(record["reason"]))
    return decisions


# --------------------------------------------------------------------------- agreement


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two annotators over the same items (nominal labels), by scikit-learn.

    Two annotators who used one and the same label throughout agree perfectly: 1.0 (scikit-learn's
    formula is 0/0 there)."""
    if len(a) != len(b) or not a:
        raise ValueError("cohen_kappa needs two equally long, non-empty label lists")
    if len(set(a) | set(b)) == 1:
        return 1.0
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b))


def krippendorff_alpha_nominal(units: list[list[str | None]]) -> float:
    """Krippendorff's alpha for nominal data, by the ``krippendorff`` package.

    ``units`` holds, per item, the label of each annotator (``None`` where one did not label it).
    Items with fewer than two labels carry no pairing information and are skipped; one label used
    throughout is perfect agreement (1.0; the package refuses a one-value domain).
    """
    rows = [[v for v in unit] for unit in units if sum(v is not None for v in unit) >= 2]
    if not rows:
        raise ValueError("krippendorff_alpha_nominal needs at least one item with two labels")
    values = sorted({v for row in rows for v in row if v is not None})
    if len(values) == 1:
        return 1.0
    import krippendorff

    code = {v: i for i, v in enumerate(values)}
    width = max(len(row) for row in rows)
    # The package's layout: one row per annotator, one column per item, NaN where a label is missing.
    data = np.full((width, len(rows)), np.nan)
    for j, row in enumerate(rows):
        for i, v in enumerate(row):
            if v is not None:
                data[i, j] = code[v]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def agreement_report(annotators: list[AnnotatorLabels], ids: list[str]) -> dict[str, dict]:
    """Per dimension: Cohen's kappa (mean over annotator pairs), Krippendorff's alpha, raw agreement."""
    report: dict[str, dict] = {}
    for dim in DIMENSIONS:
        units = [[a.labels[dim].get(sid) for a in annotators] for sid in ids]
        pair_kappas = []
        pair_raw = []
        for i in range(len(annotators)):
            for j in range(i + 1, len(annotators)):
                both = [sid for sid in ids if sid in annotators[i].labels[dim] and sid in annotators[j].labels[dim]]
                if not both:
                    continue
                xa = [annotators[i].labels[dim][s] for s in both]
                xb = [annotators[j].labels[dim][s] for s in both]
                pair_kappas.append(cohen_kappa(xa, xb))
                pair_raw.append(sum(x == y for x, y in zip(xa, xb)) / len(both))
        report[dim] = {
            "annotators": [a.annotator for a in annotators],
            "items": sum(1 for u in units if sum(v is not None for v in u) >= 2),
            "cohen_kappa": round(float(np.mean(pair_kappas)), 4) if pair_kappas else None,
            "krippendorff_alpha": round(krippendorff_alpha_nominal(units), 4) if pair_kappas else None,
            "percent_agreement": round(float(np.mean(pair_raw)), 4) if pair_raw else None,
        }
    return report


def gold_labels(
    annotators: list[AnnotatorLabels],
    decisions: Mapping[tuple[str, str], Decision],
    ids: list[str],
    adjudication: Path | str = "data/adjudication.jsonl",
) -> dict[str, dict[str, str]]:
    """Gold label per sentence and dimension: the unanimous label, else the adjudicated one.

    ``adjudication`` is the file the decisions came from, named when one is missing.
    """
    gold: dict[str, dict[str, str]] = {}
    for sid in ids:
        gold[sid] = {}
        for dim in DIMENSIONS:
            given = {a.annotator: a.labels[dim][sid] for a in annotators if sid in a.labels[dim]}
            if len(given) < 2:
                raise UserError(
                    f"sentence {sid!r}: {dim} has {len(given)} annotation(s), the dataset needs two; "
                    "run `stancebench label --annotator NAME`"
                )
            if (sid, dim) in decisions:
                gold[sid][dim] = decisions[sid, dim].label
            elif len(set(given.values())) == 1:
                gold[sid][dim] = next(iter(given.values()))
            else:
                shown = ", ".join(f"{k}={v}" for k, v in sorted(given.items()))
                raise UserError(
                    f"sentence {sid!r}: annotators disagree on {dim} ({shown}) and {adjudication} has no "
                    f"decision; add the line {{\"id\": {json.dumps(sid)}, \"dimension\": \"{dim}\", \"label\": ..., "
                    "\"reason\": ...}"
                )
    return gold
