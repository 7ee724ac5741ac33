"""What the report says, once: a document of sections made of plain blocks.

:func:`build_document` turns the groups into a :class:`Document`; ``markdown`` and ``html`` only
lay that document out, so the two files carry the same words, numbers and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from stancebench.report.records import Group


@dataclass
class Code:
    """An identifier inside running text (an experiment, a store URI), set in a fixed-width font."""

    text: str


Span = Union[str, Code]


@dataclass
class Paragraph:
    """Running text, optionally opened by a bold ``lead``; ``role`` names its kind for styling."""

    spans: list[Span]
    lead: str = ""
    role: str = ""


@dataclass
class Heading:
    """A heading below the section's title."""

    text: str


@dataclass
class Notes:
    """Caveats about a group's numbers, one sentence each."""

    items: list[str]


@dataclass
class Cell:
    """A table cell; ``kind`` is "num" (a number), "id" (an item id), "ar" (an Arabic sentence) or
    "wrong" (a prediction that misses the gold label), else ""."""

    text: str
    kind: str = ""


@dataclass
class Table:
    """A table with a header line; ``role`` names its kind for styling."""

    header: list[str]
    rows: list[list[Cell]]
    role: str = ""


@dataclass
class Figure:
    """A figure file, with its path relative to the report folder."""

    path: Path
    href: str
    caption: str


Block = Union[Paragraph, Heading, Notes, Table, Figure]


@dataclass
class Section:
    """One group's part of the report; ``anchor`` is its stable name (the group's slug)."""

    anchor: str
    title: str
    blocks: list[Block]


@dataclass
class Document:
    """The whole report: a title, an opening paragraph and a section per group."""

    title: str
    intro: Paragraph
    sections: list[Section]


FIGURE_CAPTIONS = (("per_class_f1", "Per-class F1 (mean over runs; whiskers: std)"),
                   ("confusion", "Confusion matrices (one run each)"),
                   ("learning_curve", "Score vs training-set size"))
LEADERBOARD_KINDS = ("num", "", "", "num", "num", "num", "num", "num", "num", "num")


def _pm(mean: float, std: float | None) -> str:
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def leaderboard(group: Group) -> Table:
    """The group's rows, best first: main score and macro-F1 as mean ± std and their intervals."""
    main = group.main_score
    header = ["#", "model", "family", "train items", "eval items", "runs", f"{main} mean ± std", "95% CI",
              "macro_f1 mean ± std", "95% CI"]
    rows = []
    for rank, row in enumerate(group.rows, 1):
        texts = [str(rank), row.model, row.family, str(row.n_train), str(len(row.ids)), str(len(row.runs)),
                 _pm(row.mean(main), row.std(main)), _ci(row.intervals[main]),
                 _pm(row.mean("macro_f1"), row.std("macro_f1")), _ci(row.intervals["macro_f1"])]
        rows.append([Cell(text, kind) for text, kind in zip(texts, LEADERBOARD_KINDS)])
    return Table(header, rows)


def significance_text(group: Group) -> str | None:
    """The paired tests of the compared rows, a sentence or two each; None when the group has none."""
    sentences = []
    for c in group.comparisons:
        t, m = c["paired_bootstrap"], c["mcnemar"]
        verdict = "significant" if t["p_value"] < 0.05 else "not significant"
        sentences.append(
            f"{c['a']} vs {c['b']} on the same {c['items']} items: {c['metric']} {t['a']:.3f} vs {t['b']:.3f}, "
            f"difference {t['delta']:+.3f} (95% CI {_ci((t['ci_low'], t['ci_high']))}); paired bootstrap "
            f"p = {t['p_value']:.3g} over {t['resamples']} resamples ({verdict} at 0.05). Exact McNemar on one run "
            f"each: {c['a']} alone right on {m['a_only_correct']} items, {c['b']} alone right on "
            f"{m['b_only_correct']}, p = {m['p_value']:.3g}.")
    return " ".join(sentences) or None


def votes_text(annotation: dict[str, Any] | None) -> str:
    """The annotators' votes on a sentence, with their agreement; a dash when there are none."""
    if not annotation:
        return "—"
    pairs = ", ".join(f"{a}: {v}" for a, v in zip(annotation["annotators"], annotation["votes"]))
    agreement = annotation.get("agreement")
    suffix = f" (agreement {agreement:.2f}{', adjudicated' if annotation['adjudicated'] else ''})" \
        if agreement is not None else ""
    return pairs + suffix


def _error_blocks(group: Group) -> list[Block]:
    columns = [row.model for row in group.compared_rows()]
    shown = f"; first {len(group.errors)} shown" if len(group.errors) < group.n_errors else ""
    blocks: list[Block] = [Heading(f"Errors ({group.n_errors} items wrong for at least one of "
                                   f"{', '.join(columns)}{shown})")]
    if group.errors:
        rows = [[Cell(e["id"], "id"), Cell(e["text"], "ar"), Cell(e["gold"]),
                 *[Cell(p, "" if p == e["gold"] else "wrong") for p in e["predicted"].values()],
                 Cell(votes_text(e["annotation"]))] for e in group.errors]
        blocks.append(Table(["id", "sentence", "gold", *columns, "annotators"], rows, role="errors"))
    return blocks


def group_section(group: Group, folder: Path) -> Section:
    """A group's section; figure links are relative to the report ``folder``."""
    blocks: list[Block] = [Paragraph([f"{len(group.gold)} evaluation items."]), leaderboard(group)]
    significance = significance_text(group)
    if significance:
        blocks.append(Paragraph([significance], lead="Significance.", role="significance"))
    if group.notes:
        blocks.append(Notes(list(group.notes)))
    for key, caption in FIGURE_CAPTIONS:
        if key in group.figures:
            path = group.figures[key]
            blocks.append(Figure(path, path.relative_to(folder).as_posix(), caption))
    return Section(group.slug, group.title, blocks + _error_blocks(group))


def build_document(groups: list[Group], meta: dict[str, Any], folder: Path) -> Document:
    """The report of ``groups`` (figures already drawn) as one document; ``meta`` describes the runs read."""
    intro = Paragraph(["Experiment ", Code(meta["experiment"]), " in ", Code(meta["tracking_uri"]),
                       f": {meta['n_runs']} finished training runs. Scores are recomputed from each run's logged "
                       "predictions; ± is the standard deviation over runs (seeds); the 95% CI is a bootstrap over "
                       f"evaluation items ({meta['resamples']} resamples) of the mean over runs."])
    return Document(f"stancebench report: {meta['name']}", intro, [group_section(g, folder) for g in groups])
