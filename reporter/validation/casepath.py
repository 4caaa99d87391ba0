"""Case-file locations: a field path ("reactions[0].onset") with the line it is on in the case file, for
problems found after the case file was turned into a Bundle (plausibility, E2B output checks)."""

from __future__ import annotations

import re
from typing import Any

from reporter.casefile.parse import _line_index, format_path

_STEP = re.compile(r"\.?([A-Za-z_$][\w$]*)|\[(\d+)\]")


def split_path(path: str) -> tuple[Any, ...]:
    return tuple(int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _STEP.finditer(path))


class CaseLines:
    """Where the fields of one case file are (its text) and what they hold (its data)."""

    def __init__(self, text: str, data: dict[str, Any]) -> None:
        self.lines = _line_index(text)
        self.data = data

    def resolve(self, path: str) -> str:
        """`drugs[0].reactions[reactions[1]]...` (a drug's link to a reaction, named by the reaction's
        position in the case) -> `drugs[0].reactions[<its index in that drug's list>]...`."""
        def link(match: re.Match[str]) -> str:
            drug, reaction = int(match.group(1)), int(match.group(2))
            try:
                rid = self.data["reactions"][reaction]["id"]
                links = self.data["drugs"][drug]["reactions"]
                k = next(i for i, item in enumerate(links) if item.get("reaction") == rid)
            except (KeyError, IndexError, TypeError, StopIteration):
                return f"drugs[{drug}]"
            return f"drugs[{drug}].reactions[{k}]"
        return re.sub(r"drugs\[(\d+)\]\.reactions\[reactions\[(\d+)\]\]", link, path)

    def line(self, path: str) -> int | None:
        probe = split_path(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return self.lines.get(probe) if probe else None

    def where(self, path: str) -> str:
        """`path (line N)`, with the line of the nearest field that is in the file."""
        path = format_path(split_path(self.resolve(path)))
        line = self.line(path)
        return f"{path} (line {line})" if line else path
