"""One loader for every dataset: the project's own, local CSV/JSONL files and Hugging Face hub ids.

Every source is mapped onto the same columns — ``id``, ``text``, ``target``, ``stance``,
``sentiment``, ``fold`` — through a column mapping and a label mapping, and comes back as a
``datasets.DatasetDict``.  A label dimension the source does not have is ``None`` on every row.
Raw labels are matched case-insensitively to the project's label names (``Favor`` -> ``favor``,
``POS`` -> ``positive`` through an explicit map), and anything else is an error naming the file and
line.  CSV values are read as plain strings: the stance label ``None`` stays the string "None"
(pandas would turn it into NaN by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stancebench.corpus.annotation import DIMENSIONS, LABELS
from stancebench.errors import UserError
from stancebench.jsonl import read_json_lines

if TYPE_CHECKING:
    import datasets

STANDARD_COLUMNS = ("id", "text", "target", "stance", "sentiment", "fold")
DATA_FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


@dataclass
class DataSpec:
    """How to read one dataset and map it onto the project's columns and labels.

    ``source`` is a local file, a local folder (with ``splits`` naming a file per split, or a
    Hugging Face-style folder with a dataset card), or a hub id ``ORG/NAME``.  ``columns`` maps
    standard column names to source column names; ``label_map`` maps raw labels per dimension.
    """

    name: str
    source: str
    format: str = "auto"
    splits: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str | None] = field(default_factory=dict)
    label_map: dict[str, dict[str, str]] = field(default_factory=dict)
    target: str | None = None
    revision: str | None = None
    config_name: str | None = None


def _column(spec: DataSpec, standard: str) -> str | None:
    return spec.columns.get(standard, standard)


def _map_label(spec: DataSpec, dim: str, raw: Any, where: str) -> str | None:
    if raw is None or (isinstance(raw, float) and raw != raw) or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    explicit = spec.label_map.get(dim, {})
    if text in explicit:
        return explicit[text]
    lowered = {k.lower(): v for k, v in explicit.items()}
    if text.lower() in lowered:
        return lowered[text.lower()]
    if text.lower() in LABELS[dim]:
        return text.lower()
    raise UserError(
        f"{where}: {dim} label {text!r} is not one of {', '.join(LABELS[dim])}; "
        f"map it with data.label_map.{dim}.{text}=<label>"
    )


def _standardise(spec: DataSpec, rows: list[dict], origin: str, split: str, first_line: int) -> dict[str, list]:
    """Map raw rows onto the standard columns; errors name ``origin`` and the line."""
    out: dict[str, list] = {c: [] for c in STANDARD_COLUMNS}
    if rows:
        present = set(rows[0])
        required = [_column(spec, "text")]
        missing = [c for c in required if c not in present]
        if missing:
            raise UserError(
                f"{origin}: no column {', '.join(map(repr, missing))} (columns: {', '.join(sorted(present))}); "
                "set data.columns.text=<column>"
            )
    for i, row in enumerate(rows):
        where = f"{origin}:{first_line + i}"
        text = row.get(_column(spec, "text"))
        if text is None or not str(text).strip():
            continue  # an empty text carries nothing to classify
        id_col = _column(spec, "id")
        rid = row.get(id_col) if id_col else None
        out["id"].append(str(rid) if rid not in (None, "") else f"{spec.name}-{split}-{i:06d}")
        out["text"].append(str(text))
        tcol = _column(spec, "target")
        target = row.get(tcol) if tcol else None
        out["target"].append(str(target) if target not in (None, "") else spec.target)
        for dim in DIMENSIONS:
            col = _column(spec, dim)
            out[dim].append(_map_label(spec, dim, row.get(col), where) if col and col in row else None)
        fcol = _column(spec, "fold")
        fold = row.get(fcol) if fcol else None
        try:
            out["fold"].append(int(fold) if fold not in (None, "") else -1)
        except (TypeError, ValueError):
            raise UserError(f"{where}: fold {fold!r} is not an integer") from None
    return out


def _read_csv(path: Path) -> list[dict]:
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8; re-save the file as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise UserError(f"{path}: cannot parse as CSV ({str(exc).strip()})") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty; add a header row and data rows, or set data.source to "
                        "another file") from None
    return frame.to_dict(orient="records")


def _read_jsonl(path: Path) -> list[dict]:
    return [row for _, row in read_json_lines(path, encoding="utf-8-sig")]


def _read_file(path: Path, fmt: str) -> list[dict]:
    if not path.exists():
        raise UserError(f"{path}: file not found; check data.source / data.splits")
    fmt = fmt if fmt != "auto" else {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}.get(
        path.suffix.lower(), ""
    )
    if fmt == "csv":
        return _read_csv(path)
    if fmt == "jsonl":
        return _read_jsonl(path)
    raise UserError(f"{path}: unknown format {path.suffix!r}; set data.format=csv or data.format=jsonl")


def _to_dataset_dict(columns_by_split: dict[str, dict[str, list]]) -> "datasets.DatasetDict":
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "target": datasets.Value("string"),
            "stance": datasets.Value("string"),
            "sentiment": datasets.Value("string"),
            "fold": datasets.Value("int32"),
        }
    )
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(cols, features=features) for split, cols in columns_by_split.items()}
    )


def _is_hub_id(source: str) -> bool:
    """ORG/NAME, and not a path: ``data/tweets.csv`` that does not exist is a missing file, not a hub id."""
    return (source.count("/") == 1 and not Path(source).exists() and not source.startswith((".", "/", "~"))
            and Path(source).suffix.lower() not in DATA_FILE_SUFFIXES)


def load_data(spec: DataSpec) -> "datasets.DatasetDict":
    """Read ``spec.source`` and return a DatasetDict with the standard columns."""
    source = Path(spec.source).expanduser()
    if spec.splits:
        if not source.is_dir():
            raise UserError(f"{source}: dataset folder not found; set data.source=<folder>")
        by_split = {
            split: _standardise(spec, _read_file(source / rel, spec.format), str(source / rel), split, 2)
            for split, rel in spec.splits.items()
        }
        return _to_dataset_dict(by_split)
    if source.is_file():
        first_line = 2 if (spec.format == "csv" or source.suffix.lower() in {".csv", ".tsv"}) else 1
        rows = _read_file(source, spec.format)
        return _to_dataset_dict({"train": _standardise(spec, rows, str(source), "train", first_line)})
    if source.is_dir() or _is_hub_id(spec.source):
        return _load_with_datasets(spec, source)
    raise UserError(f"{spec.source}: not a file, folder or hub id ORG/NAME; check data.source")


@contextmanager
def _quiet_progress() -> Iterator[None]:
    """Turn the datasets library's progress bars off for a while (back on after, if they were)."""
    from datasets.utils import logging as datasets_logging

    was_enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            datasets_logging.enable_progress_bar()


def _load_with_datasets(spec: DataSpec, source: Path) -> "datasets.DatasetDict":
    """A Hugging Face dataset: a local folder with a card, or a hub id (probed before loading)."""
    import datasets

    if source.is_dir():
        from stancebench.corpus.dataset import validate

        if (source / "SHA256SUMS").exists():
            validate(source)
        from datasets.data_files import EmptyDatasetError
        from datasets.exceptions import DataFilesNotFoundError

        try:
            with _quiet_progress():  # "Generating train split" bars say nothing about a local folder
                # The datasets cache keys a local folder by its file names, not their content: a folder
                # rebuilt in place would load stale rows.  Re-reading it costs a fraction of a second.
                loaded = datasets.load_dataset(str(source), spec.config_name, download_mode="force_redownload")
        except (EmptyDatasetError, DataFilesNotFoundError):
            raise UserError(f"{source}: no data files (CSV, JSON lines, Parquet, ...) in this folder; set "
                            "data.source to a data file, or to a folder with data files or a dataset card") from None
        origin = str(source)
    else:
        from stancebench.hub import require_hub

        require_hub(what=f"dataset {spec.source}")
        loaded = datasets.load_dataset(spec.source, spec.config_name, revision=spec.revision)
        origin = spec.source
    return _to_dataset_dict(
        {split: _standardise(spec, ds.to_list(), f"{origin}[{split}]", split, 1) for split, ds in loaded.items()}
    )


def source_digest(spec: DataSpec) -> str:
    """A short digest identifying the exact data read (checksums for local files)."""
    source = Path(spec.source).expanduser()
    if source.is_dir() and (source / "SHA256SUMS").exists():
        from stancebench.corpus.dataset import dataset_digest

        return dataset_digest(source)
    files = [source / rel for rel in spec.splits.values()] if spec.splits else ([source] if source.is_file() else [])
    if not files:
        return f"hub:{spec.revision or 'main'}"
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:12]
