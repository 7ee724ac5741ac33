"""Labelled sources beyond the seed articles: real documents whose text stays upstream, and written
sentences.

A source is a folder ``data/sources/<name>/`` with a ``source.yaml`` (what it is, where its text
comes from, its licence), an ``annotations/`` folder with one JSON-lines file per independent
annotation pass, and an ``adjudication.jsonl``.  Adding a source of a kind below is a config entry
and a label file, not new code.

Kinds:

``posts``
    Documents in a delimited file kept upstream (FIGNEWS-2024): the project commits labels keyed to
    the document (``doc``: its key columns) and the sentence's character offsets, never the text.
    The build reads the text from a local copy (``local``) or downloads the pinned ``url``, checks
    its ``sha256``, segments each document with :func:`stancebench.corpus.articles.segment_post` and joins
    the labels to the sentences.
``written``
    Sentences written for the project (``written.jsonl``), with the writer's intended labels kept in
    their own columns; their gold labels come from the annotation passes like any other text.
    A written source is training data: it may not be placed in a test split.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from stancebench.corpus.annotation import LABELS
from stancebench.corpus.articles import Article, Segment, segment_post
from stancebench.errors import UserError
from stancebench.jsonl import read_json_lines

KINDS = ("posts", "written")
SPLITS = ("train", "test")
WRITTEN_FILE = "written.jsonl"
WRITTEN_FIELDS = ("text", "conflict", "intended_stance", "intended_sentiment")
# Two written sentences whose character 5-gram sets overlap this much (Jaccard, after normalising
# spelling variants) are near-duplicates: one of them is dropped before annotation, and the build
# refuses a file that still has such a pair.
NEAR_DUPLICATE_JACCARD = 0.5
DOWNLOAD_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Source:
    """One labelled source, as its ``source.yaml`` describes it."""

    name: str
    kind: str
    folder: Path
    split: str
    conflict: str | None
    title: str = ""
    licence: str = ""
    rights: str = ""
    citation: str = ""
    redistribute_text: bool = True
    # posts
    file: str | None = None
    local: str | None = None
    url: str | None = None
    sha256: str | None = None
    delimiter: str = "\t"
    filter: dict[str, str] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    text_column: str = "text"

    @property
    def annotations(self) -> Path:
        return self.folder / "annotations"

    @property
    def adjudication(self) -> Path:
        return self.folder / "adjudication.jsonl"

    def doc_id(self, key: dict[str, str]) -> str:
        return "-".join([self.name.split("-")[0], *(str(key[k]) for k in self.key)])


def _config_error(path: Path, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def read_source(folder: Path) -> Source:
    """Parse and check ``folder/source.yaml``."""
    import yaml

    path = Path(folder) / "source.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _config_error(path, f"not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise _config_error(path, "must be a YAML mapping (name, kind, split, ...)")
    name = raw.get("name")
    if name != Path(folder).name:
        raise _config_error(path, f"name {name!r} must equal the folder name {Path(folder).name!r}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _config_error(path, f"kind {kind!r} is not one of {', '.join(KINDS)}")
    split = raw.get("split")
    if split not in SPLITS:
        raise _config_error(path, f"split {split!r} is not one of {', '.join(SPLITS)}")
    if kind == "written" and split == "test":
        raise _config_error(path, "a written source is training data and cannot be a test split; set split: train")
    fields = {k: raw[k] for k in ("title", "licence", "rights", "citation", "file", "local", "url", "sha256",
                                  "delimiter", "text_column") if raw.get(k) is not None}
    source = Source(name=name, kind=kind, folder=Path(folder), split=split, conflict=raw.get("conflict"),
                    redistribute_text=bool(raw.get("redistribute_text", True)),
                    filter={str(k): str(v) for k, v in (raw.get("filter") or {}).items()},
                    key=tuple(raw.get("key") or ()), **{k: str(v) for k, v in fields.items()})
    if kind == "posts":
        missing = [k for k in ("file", "sha256", "key") if not getattr(source, k)]
        if missing:
            raise _config_error(path, f"a posts source needs {', '.join(missing)}")
        if not re.fullmatch(r"[0-9a-f]{64}", source.sha256 or ""):
            raise _config_error(path, "sha256 must be 64 lower-case hex digits")
    return source


def read_sources(sources_dir: Path) -> list[Source]:
    """Every source under ``sources_dir`` (a folder with a ``source.yaml``), sorted by name."""
    sources_dir = Path(sources_dir)
    if not sources_dir.is_dir():
        return []
    return [read_source(p) for p in sorted(sources_dir.iterdir()) if (p / "source.yaml").is_file()]


# --------------------------------------------------------------------------- text kept upstream


def _cache_dir() -> Path:
    return Path(os.environ.get("STANCEBENCH_CACHE", Path.home() / ".cache" / "stancebench")) / "sources"


def _download(source: Source, dest: Path) -> None:
    """Fetch ``source.url`` into ``dest`` (through a temporary file), or raise a one-line UserError."""
    import urllib.error
    import urllib.request

    from stancebench.paths import atomic_open

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(source.url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                atomic_open(dest, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"{source.name}: no local copy of {source.file} and downloading {source.url} failed ({reason}); "
            f"put the file (sha256 {source.sha256}) at {source.local} or pass --source {source.name}=PATH, "
            f"or build without it: --skip-source {source.name}"
        ) from None


def locate_text(source: Source, override: Path | None = None, root: Path | None = None,
                allow_download: bool = True) -> Path:
    """The checksum-verified file holding ``source``'s text: ``override`` (a file, or a folder with
    ``source.file``), else the configured local copy, else the download cache (fetched if needed)."""
    from stancebench.paths import PROJECT_ROOT

    root = Path(root or PROJECT_ROOT)
    candidates = []
    if override is not None:
        override = Path(override).expanduser()
        candidates.append(override / source.file if override.is_dir() else override)
    elif source.local:
        local = Path(source.local).expanduser()
        candidates.append(local if local.is_absolute() else root / local)
    cached = _cache_dir() / source.name / source.file
    for path in candidates:
        if path.is_file():
            _verify(source, path)
            return path
    if override is not None:
        raise UserError(f"{override}: {source.file} not found there; pass --source {source.name}=PATH to the file")
    if cached.is_file():
        _verify(source, cached)
        return cached
    if not (allow_download and source.url):
        where = candidates[0] if candidates else source.file
        raise UserError(
            f"{where}: {source.name} text not found (expected sha256 {source.sha256}); get it from "
            f"{source.url or 'the source'} or build without it: --skip-source {source.name}"
        )
    print(f"{source.name}: no local copy at {candidates[0] if candidates else '(none configured)'}; "
          f"downloading {source.url}", file=sys.stderr)
    _download(source, cached)
    _verify(source, cached, downloaded=True)
    return cached


def _verify(source: Source, path: Path, downloaded: bool = False) -> None:
    from stancebench.corpus.dataset import sha256_file

    actual = sha256_file(path)
    if actual != source.sha256:
        if downloaded:
            path.unlink(missing_ok=True)
        raise UserError(
            f"{path}: sha256 {actual} differs from the expected {source.sha256} ({source.name}); get the "
            f"pinned file from {source.url or 'the source'}"
        )


def read_documents(source: Source, path: Path) -> dict[str, Article]:
    """The source's documents, by document id, in file order (rows failing ``filter`` left out)."""
    return read_documents_with_keys(source, path)[0]


def read_documents_with_keys(source: Source, path: Path) -> tuple[dict[str, Article], dict[str, dict[str, str]]]:
    """:func:`read_documents` and each document's key columns (``{"Batch": ..., "ID": ...}``)."""
    csv.field_size_limit(sys.maxsize)
    docs: dict[str, Article] = {}
    keys: dict[str, dict[str, str]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=source.delimiter)
        missing = [c for c in (*source.key, source.text_column, *source.filter) if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: no column(s) {', '.join(missing)} that {source.folder / 'source.yaml'} names")
        for row in reader:
            if any(row[c] != v for c, v in source.filter.items()):
                continue
            doc_id = source.doc_id(row)
            if doc_id in docs:
                raise UserError(f"{path}: two documents share the key {doc_id!r}; check `key` in source.yaml")
            docs[doc_id] = Article(article_id=doc_id, path=path, text=row[source.text_column])
            keys[doc_id] = {k: row[k] for k in source.key}
    return docs, keys


def segment_documents(docs: dict[str, Article]) -> list[Segment]:
    out: list[Segment] = []
    for article in docs.values():
        out.extend(segment_post(article))
    return out


def check_label_keys(source: Source, docs: dict[str, Article], segments: list[Segment]) -> set[str]:
    """Every label row of a posts source names a known document and offsets of one of its sentences;
    returns the ids of the sentences labelled."""
    by_doc_span = {(s.article_id, s.start, s.end): s for s in segments}
    labelled: set[str] = set()
    for path in sorted(source.annotations.glob("*.jsonl")):
        for lineno, record in read_json_lines(path, "annotation files are UTF-8 JSON lines"):
            where = f"{path}:{lineno}"
            doc = record.get("doc")
            if not isinstance(doc, dict) or any(k not in doc for k in source.key):
                raise UserError(f"{where}: each line needs \"doc\" with {', '.join(source.key)} naming the document")
            doc_id = source.doc_id(doc)
            if doc_id not in docs:
                raise UserError(f"{where}: unknown document {doc} in {source.name}; check \"doc\"")
            start, end = record.get("start"), record.get("end")
            length = len(docs[doc_id].text)
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= length):
                raise UserError(f"{where}: offsets {start}..{end} lie outside document {doc} "
                                f"(0..{length}); check \"start\" and \"end\"")
            segment = by_doc_span.get((doc_id, start, end))
            if segment is None or segment.boilerplate:
                raise UserError(f"{where}: {start}..{end} of document {doc} is not a labelled sentence of it; "
                                "offsets come from `stancebench data segments --source NAME`")
            if segment.id != record.get("id"):
                raise UserError(f"{where}: id {record.get('id')!r} does not match the sentence at {start}..{end} "
                                f"({segment.id!r}); the upstream text changed?")
            labelled.add(segment.id)
    return labelled


# --------------------------------------------------------------------------- written sentences

_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})


def normalise(text: str) -> str:
    """Spelling-insensitive form for duplicate checks: NFKC, no diacritics or tatweel, one alef/yeh/teh
    marbuta, letters and digits only, single spaces."""
    text = _TASHKEEL.sub("", unicodedata.normalize("NFKC", text)).translate(_ALEF)
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def written_id(text: str) -> str:
    return "syn-" + hashlib.sha1(normalise(text).encode("utf-8")).hexdigest()[:10]


def char_ngram_sets(texts: list[str], n: int = 5):
    """A sparse binary (texts x n-grams) matrix of each normalised text's character n-grams."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(analyzer="char", ngram_range=(n, n), binary=True, lowercase=False)
    return vec.fit_transform([normalise(t) for t in texts])


_LAST_OVERLAPS: list = []  # (texts, result) of the last call: a build asks twice for the same texts


def _overlaps(texts: list[str]):
    """(i, j, jaccard) arrays over every pair i != j of texts sharing a character 5-gram."""
    if _LAST_OVERLAPS and _LAST_OVERLAPS[0][0] == texts:
        return _LAST_OVERLAPS[0][1]
    result = _compute_overlaps(texts)
    _LAST_OVERLAPS[:] = [(list(texts), result)]
    return result


def _compute_overlaps(texts: list[str]):
    import numpy as np

    x = char_ngram_sets(texts).astype(np.float32).tocsr()
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = (x @ x.T).tocoo()
    off = inter.row != inter.col
    i, j, shared = inter.row[off], inter.col[off], inter.data[off]
    return i, j, shared / (sizes[i] + sizes[j] - shared)


def near_duplicate_pairs(texts: list[str], threshold: float = NEAR_DUPLICATE_JACCARD) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard), i < j, whose character 5-gram Jaccard similarity is >= ``threshold``."""
    if len(texts) < 2:
        return []
    i, j, jac = _overlaps(texts)
    keep = (i < j) & (jac >= threshold)
    return sorted((int(a), int(b), float(c)) for a, b, c in zip(i[keep], j[keep], jac[keep]))


def nearest_neighbour_similarity(texts: list[str]):
    """Each text's highest character 5-gram Jaccard similarity to any other text."""
    import numpy as np

    best = np.zeros(len(texts))
    if len(texts) > 1:
        i, _, jac = _overlaps(texts)
        np.maximum.at(best, i, jac)
    return best


def diversity(texts: list[str]) -> dict[str, float]:
    """Distinct-n (unique word n-grams / all word n-grams, n = 1..3) and nearest-neighbour similarity."""
    import numpy as np

    out: dict[str, float] = {}
    tokens = [normalise(t).split() for t in texts]
    for n in (1, 2, 3):
        grams = [tuple(t[i:i + n]) for t in tokens for i in range(len(t) - n + 1)]
        out[f"distinct_{n}"] = round(len(set(grams)) / max(1, len(grams)), 4)
    nn = nearest_neighbour_similarity(texts) if len(texts) > 1 else np.zeros(1)
    out["nn_jaccard_mean"] = round(float(nn.mean()), 4)
    out["nn_jaccard_max"] = round(float(nn.max()), 4)
    out["mean_words"] = round(float(np.mean([len(t) for t in tokens])), 1)
    return out


@dataclass(frozen=True)
class WrittenRow:
    id: str
    text: str
    conflict: str
    intended_stance: str
    intended_sentiment: str
    hard_case: str | None
    style: str | None
    writer: str | None
    line: int


def read_written(source: Source) -> list[WrittenRow]:
    """The written sentences of ``source``, checked: fields, labels, conflicts, split, duplicates."""
    path = source.folder / WRITTEN_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; a written source keeps its sentences in {WRITTEN_FILE}")
    rows: list[WrittenRow] = []
    seen: dict[str, int] = {}
    for lineno, rec in read_json_lines(path, "written sentences are UTF-8 JSON lines"):
        where = f"{path}:{lineno}"
        missing = [k for k in ("id", *WRITTEN_FIELDS) if not isinstance(rec.get(k), str) or not rec[k].strip()]
        if missing:
            raise UserError(f"{where}: missing or empty {', '.join(missing)}")
        if rec.get("split", source.split) != "train":
            raise UserError(f"{where}: a written sentence cannot be placed in split {rec['split']!r}; written "
                            "sentences are training data only (remove \"split\")")
        for dim in ("stance", "sentiment"):
            if rec[f"intended_{dim}"] not in LABELS[dim]:
                raise UserError(f"{where}: intended_{dim} {rec[f'intended_{dim}']!r} is not one of "
                                f"{', '.join(LABELS[dim])}")
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rec["conflict"]):
            raise UserError(f"{where}: conflict {rec['conflict']!r} must be a lower-case hyphenated name, "
                            "e.g. russia-ukraine")
        if rec["id"] != written_id(rec["text"]):
            raise UserError(f"{where}: id {rec['id']!r} is not the text's id {written_id(rec['text'])!r}; "
                            "ids are syn-<sha1 of the normalised text>")
        if rec["id"] in seen:
            raise UserError(f"{where}: duplicates the sentence at line {seen[rec['id']]} (same text up to "
                            "spelling); keep one")
        seen[rec["id"]] = lineno
        rows.append(WrittenRow(rec["id"], rec["text"], rec["conflict"], rec["intended_stance"],
                               rec["intended_sentiment"], rec.get("hard_case"), rec.get("style"),
                               rec.get("writer"), lineno))
    for i, j, jac in near_duplicate_pairs([r.text for r in rows])[:1]:
        raise UserError(f"{path}:{rows[j].line}: near-duplicate of line {rows[i].line} (character 5-gram "
                        f"Jaccard {jac:.2f} >= {NEAR_DUPLICATE_JACCARD}); reword or drop one")
    return rows

