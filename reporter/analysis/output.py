"""Tables (a header and rows of cells) written as text, CSV, XLSX, JSON or HTML: one writer for the
tabulations, line listings and disproportionality tables."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from markupsafe import escape

Cell = str | int | float | None


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        return f"{cell:.1f}"
    return str(cell)


def as_text(header: list[str], rows: list[list[Cell]], notes: list[str] | None = None) -> str:
    cells = [header, *[[_text(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(isinstance(r[i], int | float) or r[i] is None for r in rows) for i in range(len(header))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if numeric[i] and n else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"note: {note}" for note in notes or []]
    return "\n".join(lines) + "\n"


def as_csv(header: list[str], rows: list[list[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if c is None else c for c in r] for r in rows])
    return out.getvalue()


def as_xlsx(header: list[str], rows: list[list[Cell]], notes: list[str] | None = None,
            title: str = "Tabulation") -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r in rows:
        sheet.append([_safe_cell(c) for c in r])
    for note in notes or []:
        sheet.append([])
        sheet.append([f"note: {note}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _safe_cell(cell: Cell) -> Cell:
    """Text that a spreadsheet would run as a formula is written as text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@"):
        return "'" + cell
    return cell


def as_html(header: list[str], rows: list[list[Cell]], title: str, notes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(_text(c))}</td>" for c in r) + "</tr>" for r in rows)
    foot = "".join(f"<p>{escape(n)}</p>" for n in notes or [])
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>table{{border-collapse:collapse;font:13px sans-serif}}"
            "td,th{border:1px solid #999;padding:2px 6px;text-align:left;vertical-align:top}</style></head>"
            f"<body><h1>{escape(title)}</h1><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"{foot}</body></html>\n")


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
