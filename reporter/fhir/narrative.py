"""Narrative sections as XHTML and back: the case narrative (H.1) with its native-language summaries
(H.5.r) as <div lang> blocks, reporter's and sender's comments (H.2, H.4)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from html.parser import HTMLParser
from typing import Any

BREAKS = ("p", "div", "br", "li")


def narrative_div(text: str, summaries: Sequence[tuple[str, str]] = ()) -> str:
    """XHTML for a narrative section: paragraphs of the text, then one <div lang> per (language, summary)."""

    def paragraphs(body: str) -> str:
        parts = [p.strip() for p in body.replace("\r\n", "\n").split("\n\n") if p.strip()]
        return "".join(f"<p>{escape(p)}</p>" for p in parts) or "<p></p>"

    inner = f"<div>{paragraphs(text)}</div>" if summaries else paragraphs(text)
    for language, summary in summaries:
        inner += f'<div lang="{escape(language)}">{paragraphs(summary)}</div>'
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{inner}</div>'


class _Paragraphs(HTMLParser):
    """Collects paragraphs of text, with the <div lang> summaries apart from the main text."""

    def __init__(self, collapse: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.collapse = collapse
        self.main: list[str] = []
        self.summaries: list[tuple[str, list[str]]] = []
        self.lang_depth: int | None = None
        self.depth = 0
        self.buf: list[str] = []

    def flush(self) -> None:
        text = "".join(self.buf)
        text = " ".join(text.split()) if self.collapse else text.strip()
        if text:
            (self.summaries[-1][1] if self.lang_depth is not None else self.main).append(text)
        self.buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.depth += 1
        if tag in BREAKS:
            self.flush()
        lang = dict(attrs).get("lang")
        if tag == "div" and lang and self.lang_depth is None:
            self.lang_depth = self.depth
            self.summaries.append((lang, []))

    def handle_endtag(self, tag: str) -> None:
        if tag in BREAKS:
            self.flush()
        if self.lang_depth is not None and self.depth == self.lang_depth:
            self.lang_depth = None
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        self.buf.append(data)


def narrative_text(div: Any, *, collapse_whitespace: bool = False) -> tuple[str | None, list[tuple[str, str]]]:
    """(main text, [(language, summary text)]) from a section's XHTML div; paragraphs joined by blank lines.

    Export keeps each paragraph's text as written (E2B carries it verbatim); the report collapses runs of
    white space as a browser would."""
    if not isinstance(div, str) or not div.strip():
        return None, []
    parser = _Paragraphs(collapse_whitespace)
    parser.feed(div)
    parser.close()
    parser.flush()
    main = "\n\n".join(parser.main) or None
    return main, [(lang, "\n\n".join(parts)) for lang, parts in parser.summaries if parts]
