"""ICSR Bundles for the service tests: the demo cases built by the project, and renamed copies of them."""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path

from reporter.casefile.parse import load_case
from reporter.fhir.build import build_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_NS = uuid.UUID("0b7d3c52-3f1e-4d7b-9c0e-5a4e2f1d6c80")


@cache
def _demo(path: str) -> str:
    return json.dumps(build_bundle(load_case(Path(path))))


def demo_bundles() -> list[dict]:
    """The demo cases (examples/*.yaml) as ICSR Bundles, freshly built."""
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files, "examples/ holds the demo cases"
    return [json.loads(_demo(str(f))) for f in files]


def renamed(bundle: dict, tag: str) -> dict:
    """A copy of `bundle` as a different case: new case id (C.1.1) and new resource ids throughout."""
    text = json.dumps(bundle)
    for entry in bundle["entry"]:
        old = entry["resource"].get("id")
        if old:
            text = text.replace(old, str(uuid.uuid5(_NS, f"{old}/{tag}")))
    copied = json.loads(text)
    ident = copied["entry"][0]["resource"]["identifier"]
    ident["value"] = f"{ident['value']}-{tag}"
    return copied


def follow_up(stored: dict, note: str) -> dict:
    """The stored Bundle (with its server id) with a changed narrative: a follow-up version."""
    new = copy.deepcopy(stored)
    new.pop("meta", None)
    comp = new["entry"][0]["resource"]
    comp["title"] = f"{comp.get('title', 'ICSR')} ({note})"
    return new


def without_ids(bundle: dict) -> dict:
    """`bundle` with each entry's id, fullUrl and the references to it replaced by its position: what stays
    the same when a server gives the resources ids of its own."""
    copied = copy.deepcopy(bundle)
    positions = {}
    for position, entry in enumerate(copied.get("entry") or []):
        positions[entry.get("fullUrl")] = f"#{position}"
        positions[f"{entry['resource']['resourceType']}/{entry['resource'].get('id')}"] = f"#{position}"
        entry["fullUrl"] = entry["resource"]["id"] = f"#{position}"

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                node["reference"] = positions.get(node["reference"], node["reference"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(copied)
    return copied


def with_local_ids(bundle: dict, tag: str) -> dict:
    """A copy of `bundle` as an EHR export would send it: a new case id (C.1.1), resource ids local to the
    Bundle (`patient-1`, `observation-3`), RESTful fullUrls and relative references."""
    copied = copy.deepcopy(bundle)
    counts: dict[str, int] = {}
    new_ref: dict[str, str] = {}
    for entry in copied["entry"]:
        rtype = entry["resource"]["resourceType"]
        counts[rtype] = counts.get(rtype, 0) + 1
        local = f"{rtype.lower()}-{counts[rtype]}"
        new_ref[entry["fullUrl"]] = f"{rtype}/{local}"
        entry["resource"]["id"] = local
        entry["fullUrl"] = f"http://ehr.example.org/fhir/{rtype}/{local}"

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str) and node["reference"] in new_ref:
                node["reference"] = new_ref[node["reference"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(copied)
    ident = copied["entry"][0]["resource"]["identifier"]
    ident["value"] = f"{ident['value']}-{tag}"
    copied.pop("identifier", None)
    return copied
