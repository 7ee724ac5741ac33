"""The report document as Markdown (``report.md``): figures linked, not embedded."""

from __future__ import annotations

from stancebench.report.sections import (
    Block,
    Cell,
    Code,
    Document,
    Figure,
    Heading,
    Notes,
    Paragraph,
    Span,
    Table,
)


def _spans(spans: list[Span]) -> str:
    return "".join(f"`{s.text}`" if isinstance(s, Code) else s for s in spans)


def _cell(cell: Cell) -> str:
    # Markdown has no cell colours: a wrong prediction is marked in its text.
    text = cell.text + " ✗" if cell.kind == "wrong" else cell.text
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> str:
    lines = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return (f"**{block.lead}** " if block.lead else "") + _spans(block.spans)
    if isinstance(block, Heading):
        return f"### {block.text}"
    if isinstance(block, Notes):
        return "\n".join(f"- {note}" for note in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return f"![{block.caption}]({block.href})"
    raise TypeError(f"no Markdown for {type(block).__name__}")


def render_markdown(document: Document) -> str:
    """The document as Markdown, blocks separated by blank lines."""
    parts = [f"# {document.title}", _block(document.intro)]
    for section in document.sections:
        parts += [f"## {section.title}", *(_block(b) for b in section.blocks)]
    return "\n\n".join(parts).rstrip() + "\n"
