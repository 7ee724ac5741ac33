"""Reading JSON-lines files with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from stancebench.errors import UserError


def read_json_lines(path: Path, utf8_hint: str = "re-save the file as UTF-8",
                    encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line; a bad line is a one-line UserError."""
    try:
        text = Path(path).read_text(encoding=encoding)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8; {utf8_hint}") from None
    yield from parse_json_lines(text, str(path))


def parse_json_lines(text: str, name: str) -> Iterator[tuple[int, dict]]:
    """:func:`read_json_lines` for text already read; ``name`` is how errors refer to it.

    Lines end at ``\n`` only: ``str.splitlines`` would also split at U+2028 and other separators that
    ``json.dumps(..., ensure_ascii=False)`` leaves unescaped inside strings.
    """
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{name}:{lineno}: not valid JSON ({exc.msg}); fix or remove the line") from None
        if not isinstance(record, dict):
            raise UserError(f"{name}:{lineno}: each line must be a JSON object")
        yield lineno, record
