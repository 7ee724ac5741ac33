"""The report document as one self-contained HTML page (``report.html``).

Figures are embedded as data URIs and the style sheet is inline, so the page opens offline and
can be mailed as one file; Arabic sentences are set right to left in their own cells.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

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


def _spans(spans: list[Span]) -> str:
    return "".join(f"<code>{html.escape(s.text)}</code>" if isinstance(s, Code) else html.escape(s) for s in spans)


def _class(name: str) -> str:
    return f' class="{name}"' if name else ""


def _cell(cell: Cell) -> str:
    if cell.kind == "ar":
        return f'<td class="ar" dir="rtl" lang="ar">{html.escape(cell.text)}</td>'
    return f"<td{_class(cell.kind)}>{html.escape(cell.text)}</td>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    rows = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    return f"<table{_class(table.role)}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        lead = f"<strong>{html.escape(block.lead)}</strong> " if block.lead else ""
        return [f"<p{_class(block.role)}>{lead}{_spans(block.spans)}</p>"]
    if isinstance(block, Heading):
        return [f"<h3>{html.escape(block.text)}</h3>"]
    if isinstance(block, Notes):
        return [f'<p class="note">{html.escape(note)}</p>' for note in block.items]
    if isinstance(block, Table):
        return [_table(block)]
    if isinstance(block, Figure):
        return [_img(block.path, block.caption)]
    raise TypeError(f"no HTML for {type(block).__name__}")


def render_html(document: Document) -> str:
    """The document as a complete HTML page."""
    title = html.escape(document.title)
    parts = [f"<h1>{title}</h1>", *_block(document.intro)]
    for section in document.sections:
        parts.append(f'<section id="{html.escape(section.anchor)}"><h2>{html.escape(section.title)}</h2>')
        parts += [part for block in section.blocks for part in _block(block)]
        parts.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
