"""Hostile inputs from the reliability review (issue 17), built small, shared by the tests (which assert each is
refused cleanly) and bench/attacks.py (which times each refusal)."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def deep_json(depth: int = 1000) -> str:
    return '{"resourceType": "Bundle", "x": ' + "[" * depth + "]" * depth + "}"


def deep_case_json(depth: int = 1000) -> str:
    return '{"case_id": ' + "[" * depth + "]" * depth + "}"


def fhir_xml_attributes(count: int = 64_000) -> bytes:
    attrs = " ".join(f'a{i}="v"' for i in range(count))
    return f'<Patient xmlns="http://hl7.org/fhir" {attrs}><id value="p1"/></Patient>'.encode()


def fhir_xml_elements(count: int = 250_000) -> bytes:
    return ('<Patient xmlns="http://hl7.org/fhir"><id value="p1"/>' + '<x/>' * count + "</Patient>").encode()


YAML_ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def e2b_source(shared: Path) -> bytes:
    return (shared / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml").read_bytes()


def _inside_first_report(xml: bytes, insert: bytes) -> bytes:
    """Insert bytes right after the opening tag of the first <subject> (inside a report)."""
    match = re.search(rb"<(?:\w+:)?subject\b[^>]*>", xml)
    assert match, "the E2B example has a <subject>"
    return xml[:match.end()] + insert + xml[match.end():]


def e2b_many_errors(source: bytes, count: int = 10_000) -> bytes:
    """About `count` XSD errors of few kinds: every element of the first report, copied until there are
    `count` of them, carries an attribute the schema does not allow (one error per element)."""
    marked = re.sub(rb"<([A-Za-z][\w.:-]*)(?=[\s/>])", rb'<\1 bogus="1"', source)
    match = re.search(rb"<(?:\w+:)?subject\b[^>]*>(.*?)</(?:\w+:)?subject>", marked, re.S)
    assert match, "the E2B example has a <subject>"
    body = match.group(1)
    copies = max(1, count // max(1, body.count(b"<") - body.count(b"</")))
    return marked[:match.start(1)] + body * copies + marked[match.end(1):]


def e2b_many_attributes(source: bytes, count: int = 200_000, per_element: int = 30) -> bytes:
    """`count` foreign attributes spread over elements that each stay under the per-element limit."""
    attrs = " ".join(f'z{i}="1"' for i in range(per_element))
    return _inside_first_report(source, f"<bogus {attrs}/>".encode() * (count // per_element))


def e2b_many_elements(source: bytes, count: int) -> bytes:
    """`count` empty foreign elements inside the first report."""
    return _inside_first_report(source, b"<bogus/>" * count)


def e2b_one_element_attributes(source: bytes, count: int = 200_000) -> bytes:
    attrs = " ".join(f'z{i}="1"' for i in range(count))
    return _inside_first_report(source, f"<bogus {attrs}/>".encode())


def e2b_xinclude(source: bytes) -> bytes:
    return _inside_first_report(
        source, b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>')


def control_char_bundle(bundle: dict, char: str = "\x01") -> dict:
    copy = json.loads(json.dumps(bundle))
    copy["entry"][0]["resource"]["title"] = f"ICSR{char}report"
    return copy


def store_control_character(store, bundle: dict) -> str:
    """A case whose stored text holds U+0001, written into the tables directly (as a case stored before input
    refused such characters would be): the Composition title, in the version's Bundle and in its index rows.
    Its title reads "Adverse event \x01 report"; returns the case id."""
    from sqlalchemy import text

    bundle = json.loads(json.dumps(bundle))
    bundle["entry"][0]["resource"]["title"] = "Adverse event PLACEHOLDER-CTRL report"
    case_id = store.create(bundle, author="token:old").case_id
    cast = "(%s::text)" if store.dialect == "postgresql" else "%s"
    back = "::json" if store.dialect == "postgresql" else ""
    with store.engine.begin() as db:
        for table, column in (("case_version", "bundle"), ("resource_index", "resource")):
            db.execute(text(f"UPDATE {table} SET {column} = replace({cast % column}, 'PLACEHOLDER-CTRL', "
                            f":char){back} WHERE case_id = :case"), {"char": "\\u0001", "case": case_id})
    return case_id


def nul_case_key_bundle(bundle: dict) -> dict:
    copy = json.loads(json.dumps(bundle))
    copy["entry"][0]["resource"]["identifier"]["value"] = "GB-\x00-1"
    return copy
