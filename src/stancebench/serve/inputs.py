"""Sentences to label, from command-line arguments or a file (text, CSV/TSV, JSONL; ``-``: stdin).

Read and checked before MLflow is imported: a bad file fails at once, with the file, line and way out.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stancebench.errors import UserError

FORMATS = ("auto", "txt", "csv", "tsv", "jsonl")
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Sentence:
    """One input: its id (input id column or 0-based position), text and optional stance target."""

    id: Any
    text: str
    target: str | None = None



def read_sentences(
    texts: Sequence[str] = (),
    path: Path | str | None = None,
    fmt: str = "auto",
    text_column: str = "text",
    target_column: str = "target",
    id_column: str = "id",
    target: str | None = None,
) -> list[Sentence]:
    """Sentences from command-line ``texts`` or from ``path`` (text, CSV/TSV or JSONL; ``-``: stdin).

    ``target`` fills in the stance target of every sentence that has none of its own.
    """
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if texts and path is not None:
        raise UserError("give sentences as arguments or --input FILE, not both")
    if path is None:
        if not texts:
            raise UserError("no input: give sentences as arguments, or --input FILE (one sentence per line, "
                            "CSV or JSONL; - reads standard input)")
        sentences = [Sentence(i, _checked_argument(i, t)) for i, t in enumerate(texts)]
    else:
        name, data = _read_bytes(path)
        kind = fmt if fmt != "auto" else SUFFIX_FORMATS.get(Path(name).suffix.lower(), "txt")
        text = _decode(data, name)
        if kind == "txt":
            sentences = _from_lines(text)
        elif kind == "jsonl":
            sentences = _from_jsonl(text, name, text_column, target_column, id_column)
        else:
            sentences = _from_csv(text, name, "\t" if kind == "tsv" else ",", text_column, target_column, id_column)
        if not sentences:
            raise UserError(f"{name} holds no sentences (it is empty, blank or a header only); give a file with one "
                            f"sentence per line, or a CSV/JSONL file with a {text_column!r} column")
    if target:
        sentences = [s if s.target else Sentence(s.id, s.text, target) for s in sentences]
    return sentences


def _checked_argument(index: int, text: str) -> str:
    try:
        text.encode("utf-8")  # undecodable argv bytes arrive as lone surrogates
    except UnicodeEncodeError:
        raise UserError(f"sentence argument {index + 1} is not valid UTF-8; set a UTF-8 locale or use "
                        "--input FILE with a UTF-8 file") from None
    return text


def _read_bytes(path: Path | str) -> tuple[str, bytes]:
    if str(path) == "-":
        return "<stdin>", sys.stdin.buffer.read()
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"input file {path} does not exist; check the path given to --input")
    return str(path), path.read_bytes()


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: a BOM (spreadsheet exports) is not part of the first text
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"{name}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as "
                        "UTF-8 (e.g. iconv -f WINDOWS-1256 -t UTF-8)") from None


def _from_lines(text: str) -> list[Sentence]:
    """One sentence per non-blank line; the id is the 0-based line number."""
    return [Sentence(i, line.strip()) for i, line in enumerate(text.split("\n")) if line.strip()]


def _from_csv(text: str, name: str, delimiter: str, text_column: str, target_column: str,
              id_column: str) -> list[Sentence]:
    import csv

    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = reader.fieldnames or []
    if columns and text_column not in columns:
        raise UserError(f"{name} has no column {text_column!r} (columns: {', '.join(columns)}); "
                        "name the text column with --text-column NAME")
    out = []
    for row_number, row in enumerate(reader):
        value = row.get(text_column)
        if value is None:
            raise UserError(f"{name}: data row {row_number + 1} has no {text_column!r} value (a short row); "
                            "fix or remove the row")
        sid = row.get(id_column) if id_column in columns else row_number
        out.append(Sentence(sid, value, row.get(target_column) or None))
    return out


def _from_jsonl(text: str, name: str, text_column: str, target_column: str, id_column: str) -> list[Sentence]:
    from stancebench.jsonl import parse_json_lines

    out = []
    for lineno, record in parse_json_lines(text, name):
        value = record.get(text_column)
        if not isinstance(value, str):
            what = "no" if value is None else "a non-string"
            raise UserError(f"{name}:{lineno}: {what} {text_column!r} field (fields: {', '.join(record)}); "
                            "name the text field with --text-column NAME")
        target = record.get(target_column)
        out.append(Sentence(record.get(id_column, lineno - 1), value, str(target) if target else None))
    return out

