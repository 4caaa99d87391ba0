"""Readiness and export problems in words for the pages. The checker's messages name E2B elements and null
flavors ('nullFlavor NI used for C.1.7'), which the command line and the API keep; a clinician or drug-safety
officer reads the problem in words on the pages, with the element number after it as a detail
(mappings/e2b/plain_words.yaml)."""

from __future__ import annotations

import re
from functools import cache

from reporter.tables import load_yaml
from reporter.validation.report import Issue

_ELEMENT = re.compile(r"(?<![\w.])(?:FDA\.)?[A-HN](?:\.[A-Za-z0-9]+)+(?![\w.]*\w)")
_NULL_FLAVOR = re.compile(r"\bnullFlavor ([A-Z]{2,4})\b")
_CASE_NUMBER = re.compile(r"\bcase \d+(?:, |(?=\)))")
_NOTE = re.compile(r"^(?P<where>(?:FDA\.)?[A-HN](?:\.[A-Za-z0-9]+)*(?: \([^)]*\))?): (?P<text>.+)$", re.S)
_CHECK = re.compile(r"\((E2B-[A-Z-]+)\)")


@cache
def _issues() -> dict[str, str]:
    return dict(load_yaml("e2b/plain_words.yaml").get("issues") or {})


@cache
def _checks() -> dict[str, str]:
    return dict(load_yaml("e2b/plain_words.yaml").get("checks") or {})


@cache
def _null_flavors() -> dict[str, str]:
    """E2B null flavor -> its words ('NI' -> 'no information')."""
    codes = load_yaml("codes.yaml")["null_flavor"]["codes"]
    return {c["e2b"]: c["display"].lower() for c in codes.values()}


def _element_name(number: str) -> str | None:
    from reporter.e2b.dictionary import dictionary

    found = dictionary().elements.get(number)
    return found.name if found and found.name != number else None


def _named(text: str) -> str:
    """E2B element numbers as their names and null flavors as words."""
    text = _NULL_FLAVOR.sub(lambda m: f"'{_null_flavors().get(m.group(1), m.group(1))}'", text)
    return _ELEMENT.sub(lambda m: f"“{name}”" if (name := _element_name(m.group(0))) else m.group(0), text)


def words(issue: Issue) -> str:
    """The problem in words: the table's sentence for its code, else its message with names for numbers."""
    text = _issues().get(issue.code) or _named(issue.message)
    return text[:1].upper() + text[1:]


def reference(issue: Issue) -> str:
    """Where E2B places the problem, without the batch's case number a page of one case does not need:
    'G.k.2.1.1a (case 1, drug 2)' -> 'G.k.2.1.1a (drug 2)', 'C.1.7 (case 1)' -> 'C.1.7'."""
    return _CASE_NUMBER.sub("", issue.location).replace(" ()", "")


def element_name(number: str) -> str:
    """An E2B element's name for a table of element numbers ('' when the number names no element)."""
    return _element_name(number) or ""


def note(text: str) -> tuple[str, str | None]:
    """An import note or warning ('G.k.2.1.1a (case 1, drug 2): accepted by ... (E2B-LENGTH)') in words, and
    the E2B place it names (None when it names none)."""
    found = _NOTE.match(text)
    where, said = (found.group("where"), found.group("text")) if found else (None, text)
    said = _CHECK.sub(lambda m: f"({_checks().get(m.group(1), m.group(1))})", _named(said))
    if not where:
        return said[:1].upper() + said[1:], None
    name = _element_name(where.split(" ", 1)[0])
    return (f"{name}: {said}" if name else said[:1].upper() + said[1:]), reference(Issue("warning", "", where, ""))


def standard(issue: Issue) -> str:
    """What the place an issue names is in: 'E2B' (an element number), 'FHIR' (a FHIRPath of the Bundle, from
    validation, which the export runs first), else ''."""
    if _NOTE.match(f"{issue.location}: -"):
        return "E2B"
    return "FHIR" if issue.location.startswith("Bundle") else ""
