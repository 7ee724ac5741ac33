"""The labelled sets of a dataset build: the seed article's sentences, each posts source and each
written source, with gold labels from two or more annotator passes, votes, agreement and folds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stancebench.corpus.annotation import (
    DIMENSIONS,
    TARGET,
    agreement_report,
    cohen_kappa,
    gold_labels,
    read_adjudication,
    read_annotators,
)
from stancebench.corpus.articles import Segment, segment_corpus
from stancebench.errors import UserError
from stancebench.jsonl import read_json_lines

if TYPE_CHECKING:
    from stancebench.corpus.dataset import BuildOptions, ProjectPaths

N_FOLDS = 5
SEED_SOURCE = "seed"
SEED_CONFLICT = "russia-ukraine"
SENTENCE_COLUMNS = (
    "id", "source", "conflict", "article_id", "sentence_index", "start", "end", "text", "target", "stance",
    "sentiment", "fold", "annotators", "stance_votes", "sentiment_votes", "stance_agreement",
    "sentiment_agreement", "stance_adjudicated", "sentiment_adjudicated", "intended_stance",
    "intended_sentiment", "hard_case",
)


def _assign_folds(rows: list[dict], k: int) -> None:
    """Deterministic folds, stratified on (stance, sentiment) by dealing sorted rows round-robin."""
    k = max(1, min(k, len(rows)))
    ordered = sorted(rows, key=lambda r: (r["stance"], r["sentiment"], r["id"]))
    for i, row in enumerate(ordered):
        row["fold"] = i % k


@dataclass
class LabelledSet:
    """One source's labelled rows and the figures computed from its annotator files."""

    name: str
    kind: str
    split: str
    rows: list[dict]
    agreement: dict
    intent: dict | None = None
    diversity: dict | None = None
    has_text: bool = True
    source: object | None = None

    @property
    def redistributable(self) -> bool:
        """Whether its rows may be committed (the seed and written sentences; not text kept upstream)."""
        return self.source is None or self.source.redistribute_text


def _label(name: str, units: list[dict], annotations: Path, adjudication: Path, check_ids: bool = True) -> tuple:
    """Gold labels, votes and agreement for ``units`` (dicts with at least ``id``) from one source's files."""
    ids = [u["id"] for u in units]
    annotators = read_annotators(annotations, known_ids=ids if check_ids else None)
    if len(annotators) < 2:
        raise UserError(
            f"{annotations}: {len(annotators)} annotator file(s) for {name}; the dataset needs at least two "
            "independent passes (`stancebench label --annotator NAME`)"
        )
    decisions = read_adjudication(adjudication, known_ids=ids if check_ids else None)
    gold = gold_labels(annotators, decisions, ids, adjudication=adjudication)
    agreement = agreement_report(annotators, ids)
    names = [a.annotator for a in annotators]
    rows = []
    for unit in units:
        sid = unit["id"]
        row = {c: None for c in SENTENCE_COLUMNS}
        row.update(unit)
        row.update({"target": TARGET, "stance": gold[sid]["stance"], "sentiment": gold[sid]["sentiment"],
                    "fold": 0, "annotators": names})
        for dim in DIMENSIONS:
            votes = [a.labels[dim].get(sid) for a in annotators]
            given = [v for v in votes if v is not None]
            row[f"{dim}_votes"] = [v if v is not None else "" for v in votes]
            row[f"{dim}_agreement"] = round(sum(v == gold[sid][dim] for v in given) / len(given), 4)
            row[f"{dim}_adjudicated"] = (sid, dim) in decisions
        rows.append(row)
    _assign_folds(rows, N_FOLDS)
    return [{c: r[c] for c in SENTENCE_COLUMNS} for r in rows], agreement


def _intent_agreement(rows: list[dict]) -> dict:
    """How often the gold label (and each pass) equals the writer's intended label, per dimension."""
    out = {}
    for dim in DIMENSIONS:
        gold = [r[dim] for r in rows]
        intended = [r[f"intended_{dim}"] for r in rows]
        per_pass = {}
        for k, name in enumerate(rows[0]["annotators"] if rows else []):
            votes = [r[f"{dim}_votes"][k] for r in rows]
            per_pass[name] = round(sum(v == i for v, i in zip(votes, intended)) / len(rows), 4)
        out[dim] = {
            "items": len(rows),
            "gold_equals_intended": round(sum(g == i for g, i in zip(gold, intended)) / len(rows), 4) if rows else None,
            "cohen_kappa_gold_vs_intended": round(cohen_kappa(gold, intended), 4) if rows else None,
            "pass_equals_intended": per_pass,
        }
    return out


def _seed_set(paths: ProjectPaths) -> tuple[list[Segment], LabelledSet]:
    if not Path(paths.seeds).is_dir():  # the build takes --root, not --seeds: say so
        raise UserError(f"{paths.seeds}: seeds folder not found; pass --root with the folder that holds seeds/ "
                        "and data/")
    segments = segment_corpus(paths.seeds)
    labelled = [s for s in segments if not s.boilerplate]
    if not labelled:
        raise UserError(f"{paths.seeds}: every segment is boilerplate; there is nothing to label")
    units = [{"id": s.id, "source": SEED_SOURCE, "conflict": SEED_CONFLICT, "article_id": s.article_id,
              "sentence_index": s.index, "start": s.start, "end": s.end, "text": s.text} for s in labelled]
    rows, agreement = _label(SEED_SOURCE, units, paths.annotations, paths.adjudication)
    return segments, LabelledSet(SEED_SOURCE, "articles", "test", rows, agreement)


def posts_set(source, options: BuildOptions) -> LabelledSet:
    """A posts source: labels always; text (and the checks that need it) when its copy is available."""
    from stancebench.corpus import sources as src

    if source.name in options.skip_sources:
        # Labels only: ids, votes and decisions need no text; offsets are checked when it is built.
        units = _label_units_without_text(source)
        rows, agreement = _label(source.name, units, source.annotations, source.adjudication, check_ids=False)
        return LabelledSet(source.name, source.kind, source.split, rows, agreement, has_text=False, source=source)
    path = src.locate_text(source, options.source_paths.get(source.name), allow_download=options.allow_download)
    docs = src.read_documents(source, path)
    segments = src.segment_documents(docs)
    labelled = src.check_label_keys(source, docs, segments)
    units = [{"id": s.id, "source": source.name, "conflict": source.conflict, "article_id": s.article_id,
              "sentence_index": s.index, "start": s.start, "end": s.end, "text": s.text}
             for s in segments if s.id in labelled]
    rows, agreement = _label(source.name, units, source.annotations, source.adjudication)
    return LabelledSet(source.name, source.kind, source.split, rows, agreement, source=source)


def _label_units_without_text(source) -> list[dict]:
    """The sentences a posts source's annotator files label, with their keys and offsets (no text)."""
    units: dict[str, dict] = {}
    for path in sorted(source.annotations.glob("*.jsonl")):
        for lineno, record in read_json_lines(path, "annotation files are UTF-8 JSON lines"):
            sid = record.get("id")
            doc = record.get("doc")
            if not isinstance(sid, str) or not isinstance(doc, dict):
                raise UserError(f"{path}:{lineno}: each line needs a string \"id\" and \"doc\" naming the document")
            units.setdefault(sid, {"id": sid, "source": source.name, "conflict": source.conflict,
                                   "article_id": source.doc_id(doc), "start": record.get("start"),
                                   "end": record.get("end"), "text": None})
    return sorted(units.values(), key=lambda u: (u["article_id"], u["start"] or 0))


def _written_set(source) -> LabelledSet:
    from stancebench.corpus import sources as src

    written = src.read_written(source)
    units = [{"id": r.id, "source": source.name, "conflict": r.conflict, "article_id": None,
              "sentence_index": r.line - 1, "text": r.text, "intended_stance": r.intended_stance,
              "intended_sentiment": r.intended_sentiment, "hard_case": r.hard_case} for r in written]
    rows, agreement = _label(source.name, units, source.annotations, source.adjudication)
    return LabelledSet(source.name, source.kind, source.split, rows, agreement, intent=_intent_agreement(rows),
                       diversity=src.diversity([r["text"] for r in rows]), source=source)


def build_sets(paths: ProjectPaths, options: BuildOptions | None = None) -> tuple[list[Segment], list[LabelledSet]]:
    """The seed's segments, and every source's labelled set (seed first, then sources by name)."""
    from stancebench.corpus import sources as src
    from stancebench.corpus.dataset import BuildOptions

    options = options or BuildOptions()
    segments, seed = _seed_set(paths)
    sources = src.read_sources(paths.sources) if paths.sources else []
    known = {s.name for s in sources}
    for name in sorted(set(options.skip_sources) | set(options.source_paths)):
        if name not in known:
            raise UserError(f"no source {name!r} under {paths.sources}; sources: {', '.join(sorted(known)) or 'none'}")
    return segments, [seed, *(posts_set(s, options) if s.kind == "posts" else _written_set(s) for s in sources)]


def build_rows(paths: ProjectPaths) -> tuple[list[Segment], list[dict], dict]:
    """Segments, the seed's labelled rows and its agreement report (the seed alone)."""
    segments, seed = _seed_set(paths)
    return segments, seed.rows, seed.agreement
