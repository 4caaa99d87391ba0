"""Element-by-element symmetry of the E2B element table (mappings/e2b/locations.yaml, `case` and `fhir`).

One element's value is changed at one instance of a message the importer reads it from; the message is
imported, the Bundle turned into a case (reporter.fhir.to_case), the case built into a Bundle again and
exported. `probe` says where each step differs from the unchanged message's: the case-file paths (with
[n] list indexes), the Bundle paths (in the table's notation: `Type.element.extension(key).valueX`) and
whether the export writes the new value at the element's location.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from reporter.casefile.model import CaseFile
from reporter.e2b import export, importer, to_case, xmlsafe
from reporter.e2b.xmlsafe import HL7, XSI
from reporter.fhir.build import build_bundle
from reporter.fhir.to_case import bundle_to_case
from reporter.paths import mappings_dir
from tests.conftest import EXAMPLES, shared_path
from tests.e2b.helpers import FIXED_BATCH, FIXED_TIME, bundle_for, case_data

INPUTS = Path(__file__).parent / "inputs"
RICH = Path(__file__).parent / "data" / "rich-case.yaml"
MEDDRA = "2.16.840.1.113883.6.163"
ROUTE_OID = "2.16.840.1.113883.3.989.2.1.1.14"
NULL_FLAVOR = "@nullFlavor=NI"  # a candidate "value": the value replaced by null flavor NI
# Elements whose codes combine two facts: the other code that keeps the second one (E.i.3.1: highlighted
# by the reporter x serious; the exporter derives "serious" from E.i.3.2), or the only change there is
# (C.2.r.5: "1" marks the primary source, there is no other value).
SWAPS = {"E.i.3.1": {"1": "2", "2": "1", "3": "4", "4": "3"}, "C.2.r.5": {}}
_INDEX = re.compile(r"\[\d+\]")
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?$")
DATE_NODES = {"low", "high", "birthTime", "deceasedTime", "effectiveTime", "availabilityTime", "creationTime"}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# A unit -> another unit of the same kind (UCUM), so the changed value stays meaningful.
OTHER_UNIT = {"a": "mo", "mo": "wk", "wk": "d", "d": "h", "h": "min", "min": "s", "s": "min", "kg": "g",
              "g": "mg", "mg": "g", "ug": "mg", "ml": "l", "mL": "L", "l": "ml", "L": "mL", "cm": "m", "m": "cm",
              "1": "%", "%": "1", "[iU]": "mg", "{DF}": "mg", "{cyclical}": "d", "{trimester}": "wk"}


@cache
def table() -> dict[str, Any]:
    return yaml.safe_load((mappings_dir() / "e2b" / "locations.yaml").read_text(encoding="utf-8"))


@cache
def extension_keys() -> dict[str, str]:
    """Extension URL -> its key in mappings/fhir.yaml (the table's `extension(<key>)` notation)."""
    data = yaml.safe_load((mappings_dir() / "fhir.yaml").read_text(encoding="utf-8"))
    return {url: key for key, url in data["extensions"].items()}


@cache
def code_lists() -> dict[str, tuple[str | None, list[str]]]:
    """Code list name -> (its OID, its E2B codes), from mappings/codes.yaml and mappings/routes.yaml."""
    data = yaml.safe_load((mappings_dir() / "codes.yaml").read_text(encoding="utf-8"))
    out = {name: (spec.get("oid"), [str(v["e2b"]) for v in spec["codes"].values() if v.get("e2b") is not None])
           for name, spec in data.items() if isinstance(spec, dict) and "codes" in spec}
    routes = yaml.safe_load((mappings_dir() / "routes.yaml").read_text(encoding="utf-8"))["routes"]
    out["route"] = (ROUTE_OID, [str(v["ich"]) for v in routes.values() if v.get("ich")])
    return out


@cache
def sections() -> dict[str, str]:
    """Composition section code -> its key in mappings/fhir.yaml."""
    data = yaml.safe_load((mappings_dir() / "fhir.yaml").read_text(encoding="utf-8"))
    return {s["code"]: s["key"] for s in data["sections"]}


@cache
def observations() -> dict[str, str]:
    """Patient observation code (LOINC) -> its key in mappings/fhir.yaml."""
    data = yaml.safe_load((mappings_dir() / "fhir.yaml").read_text(encoding="utf-8"))
    return {spec["code"]: key for key, spec in data["patient_observations"].items()}


# -- corpus -----------------------------------------------------------------------------------------

def corpus() -> dict[str, bytes]:
    """Own inputs, the shared examples (when present) and the demo cases exported for FDA."""
    files = sorted(INPUTS.glob("*.xml"))
    examples = shared_path() / "e2b" / "examples"
    if examples.is_dir():
        files += sorted(p for p in examples.glob("*/*.xml") if "negative" not in p.parts)
    out = {p.name: p.read_bytes() for p in files}
    out["other-senders-shapes.xml"] = other_sender_shapes((INPUTS / "other-senders-content.xml").read_bytes())
    bundles = {f"{p.stem}.fda.xml": bundle_for(p) for p in [*sorted(EXAMPLES.glob("case*.yaml")), RICH]}
    bundles["rich-case-more.fda.xml"] = build_bundle(CaseFile.model_validate(more_case()))
    for name, bundle in bundles.items():
        out[name] = export.export_bundles([bundle], receiver_name="fda", batch_id=FIXED_BATCH,
                                          creation_time=FIXED_TIME).xml
    return out


# Shapes other senders write that an export writes in ICH's own form (so not in an own input, which must
# round-trip unchanged): a test result as a plain PQ, as a range (both bounds), as one bound without its infinite
# partner; a reaction's duration as an IVL_TS width alone.
OTHER_SENDER_SHAPES = [
    ('<value xsi:type="IVL_PQ"><center value="131" unit="mmol/L"/></value>',
     '<value xsi:type="PQ" value="131" unit="mmol/L"/>'),
    ('<value xsi:type="ED">1.2 to 1.5 mg/dL</value>',
     '<value xsi:type="IVL_PQ"><low value="1.2" unit="mg/dL"/><high value="1.5" unit="mg/dL"/></value>'),
    ('<low nullFlavor="NINF"/><high value="0.01" unit="ng/mL" inclusive="true"/>',
     '<high value="0.01" unit="ng/mL" inclusive="true"/>'),
    ('<effectiveTime xsi:type="SXPR_TS"><comp xsi:type="IVL_TS"/><comp xsi:type="IVL_TS" operator="A"><width value="3" '
     'unit="h"/></comp></effectiveTime>',
     '<effectiveTime xsi:type="IVL_TS"><width value="3" unit="h"/></effectiveTime>'),
]


def other_sender_shapes(raw: bytes) -> bytes:
    text = raw.decode("utf-8")
    for ours, theirs in OTHER_SENDER_SHAPES:
        assert ours in text, ours
        text = text.replace(ours, theirs, 1)
    return text.encode("utf-8")


def more_case() -> dict:
    """The rich test case with the elements no other corpus file holds (parent history and past drugs,
    amendment, gestation, blinded product...), so that those are exercised too."""
    data = case_data(RICH)
    data["case_id"] = "DE-TESTSENDER-2024-MORE"
    data["report"]["nullification"] = {"kind": "amendment", "reason": "Korrektur der Dosis"}
    data["sender"]["person"]["middle"] = "Maria"
    patient = data["patient"]
    patient["gestation_at_onset"] = {"value": 30, "unit": "wk"}
    patient["last_menstrual_period"] = "2014-06-01"
    parent = patient["parent"]
    parent.update(last_menstrual_period="2014-06-02", height_cm=168,
                  history_text="Epilepsie seit der Jugend.",
                  medical_history=[{"meddra": {"code": "10015037", "version": "26.1"}, "start": "2001",
                                    "end": "2020-05", "comments": "gut eingestellt"}],
                  past_drugs=[{"name": "Valproat", "start": "2010-01", "end": "2014-05",
                               "identifiers": [{"kind": "product-code", "code": "0093-1234",
                                                "system": "2.16.840.1.113883.6.69", "version": "2020"}],
                               "indication": {"code": "10015037", "version": "26.1"},
                               "reaction": {"code": "10019211", "version": "26.1"}}])
    reaction = data["reactions"][0]
    reaction["seriousness"].update(life_threatening=True, congenital_anomaly=True, required_intervention=True)
    drug = data["drugs"][0]
    drug.update(blinded=True, gestation_at_exposure={"value": 10, "unit": "wk"})
    drug["dosages"][0]["form"] = {"text": "Filmtablette", "code": "10221000", "system": "0.4.0.127.0.16.1.1.2.1",
                                  "version": "2023-01"}
    drug["dosages"][0]["parent_route"] = {"code": "oral", "text": "oral (Mutter)"}  # FDA sends a TermID for oral
    # every kind of medical record number (D.1.1.1-4)
    patient["record_numbers"] = [{"source": s, "value": f"{s[:3].upper()}-4711"}
                                 for s in ("gp", "specialist", "hospital", "investigation")]
    # included documents: the literature article (C.4.r.2) and a document held by the sender (C.1.6.1.r.2)
    article = {"media_type": "application/pdf", "data": "JVBERi0xLjQgYXJ0aWNsZQ==", "reference": "article.pdf"}
    for item in data.get("literature") or []:
        item["file"] = dict(article)
    data["report"]["additional_documents"] = [{"description": "Arztbrief", "file": {
        "media_type": "text/plain", "data": "RW50bGFzc3VuZyBhbSBUYWcgMzA=", "reference": "arztbrief.txt"}}]
    return data


# -- flattening -------------------------------------------------------------------------------------

def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested data -> {path with [n] list indexes: leaf}."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def _fhir_flatten(value: Any, prefix: str) -> dict[str, Any]:
    """A FHIR resource -> {path: leaf}; an extension is named `extension(<key>)` by its URL."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "url" and prefix.endswith(")"):
                continue
            if key == "section" and isinstance(item, list):
                for i, section in enumerate(item):
                    code = ((section.get("code") or {}).get("coding") or [{}])[0].get("code")
                    out.update(_fhir_flatten(section, f"{prefix}.section({sections().get(code, code)})[{i}]"))
            elif key in ("extension", "modifierExtension") and isinstance(item, list):
                for i, ext in enumerate(item):
                    url = ext.get("url", "") if isinstance(ext, dict) else ""
                    name = extension_keys().get(url, url)
                    out.update(_fhir_flatten(ext, f"{prefix}.{key}({name})[{i}]"))
            else:
                out.update(_fhir_flatten(item, f"{prefix}.{key}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(_fhir_flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def bundle_flat(bundle: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource", {})
        kind = resource.get("resourceType")
        code = ((resource.get("code") or {}).get("coding") or [{}])[0].get("code") if kind == "Observation" else None
        if code in observations():
            kind = f"Observation({observations()[code]})"
        out.update(_fhir_flatten(resource, f"[{i}]{kind}"))
    return out


def differing(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def generic(path: str) -> str:
    """A case path with [*] for list items; a Bundle path without indexes."""
    return _INDEX.sub("[*]", path)


def fhir_generic(path: str) -> str:
    return _INDEX.sub("", path)


def matches(path: str, patterns: str | list[str]) -> bool:
    """Whether a case path (with [n] indexes) is one of the patterns or a sub-field of one; fnmatch, with
    `[*]` meaning any list item (not a character class)."""
    concrete = generic(path).replace("[*]", "#")
    return any(fnmatch.fnmatchcase(concrete, p.replace("[*]", "#"))
               or fnmatch.fnmatchcase(concrete, p.replace("[*]", "#") + ".*")
               for p in ([patterns] if isinstance(patterns, str) else patterns))


def fhir_matches(path: str, patterns: str | list[str]) -> bool:
    concrete = fhir_generic(path)
    return any(fnmatch.fnmatchcase(concrete.replace("(", "<").replace(")", ">"),
                                   p.replace("(", "<").replace(")", ">"))
               for p in ([patterns] if isinstance(patterns, str) else patterns))


# -- finding and changing values ---------------------------------------------------------------------

@dataclass
class Site:
    """One instance of an element in a message, read by the importer."""

    number: str
    message: int        # index of the message in the batch
    node: etree._Element
    attr: str           # "#text" or the attribute name
    value: str


def _messages(doc: etree._Element) -> list[etree._Element]:
    return doc.findall(f"{{{HL7}}}PORR_IN049016UV")


def _attr(number: str) -> str:
    where = table()["elements"][number].get("value", "text()")
    if where == "text()":
        return "#text"
    where = where.lstrip("@")
    return f"{{{XSI}}}{where[4:]}" if where.startswith("xsi:") else where


def sites(doc: etree._Element) -> Iterator[Site]:
    """Every element instance the importer reads a value from, per message, in table order."""
    for index, message in enumerate(_messages(doc)):
        case, reader, _ = to_case.message_to_case(message)
        if case is None:
            continue
        used = {(id(node), attr) for node, attr in reader.used}
        fresh = to_case.Reader(message)
        for number, spec in table()["elements"].items():
            attr = _attr(number)
            key = attr.split("}")[-1] if attr.startswith("{") else attr
            for inst in fresh.instances(spec["group"]):
                for node in fresh._xpath(inst, spec["node"]):
                    if (id(node), key) not in used:
                        continue
                    value = (node.text or "").strip() if attr == "#text" else node.get(attr)
                    if value:
                        yield Site(number, index, node, attr, value)


def elements_read(doc: etree._Element) -> set[str]:
    return {site.number for site in sites(doc)}


def _ts_shift(value: str) -> str | None:
    match = _TS.match(value)
    if not match:
        return None
    year = int(match.group(1))
    return f"{year - 1:04d}{value[4:]}"


def candidates(site: Site) -> list[str]:
    """New values for a site, of the same kind as the old one (tried in order)."""
    value, node, attr = site.value, site.node, site.attr
    if site.number in SWAPS:
        return [SWAPS[site.number][value]] if value in SWAPS[site.number] else []
    if site.number == "C.1.9.1" and value == "true":
        return []  # the C.1.9.1.r ids that follow a "true" would contradict a "false"
    if re.fullmatch(r"[A-Z]{2}", value) and attr in ("code", "#text"):  # a country (ISO 3166)
        return ["FR" if value != "FR" else "IT"]
    if attr == "codeSystemVersion":
        return ["19.0" if value != "19.0" else "20.0"]
    if attr == "code" and node.get("codeSystem") == MEDDRA:
        return [c for c in ("10019211", "10047700", "10028813") if c != value]
    if attr == "code":
        system = node.get("codeSystem")
        lists = [codes for oid, codes in code_lists().values() if oid and oid == system]
        lists = lists or [codes for _, codes in code_lists().values() if value in codes]
        out = [c for codes in lists for c in codes if c != value]
        return out or [value + "0"]
    if attr == "unit":
        return [OTHER_UNIT[value]] if value in OTHER_UNIT else ["mg" if value != "mg" else "g"]
    if attr == "language":
        return ["fr" if value != "fr" else "de"]
    if attr == "root":
        return []
    if value in ("true", "false"):
        # E.i.3.2: E2B has true or null flavor NI only (a "no" leaves as NI)
        return [NULL_FLAVOR] if site.number.startswith(("E.i.3.2", "FDA.E.i.3.2")) else \
            ["false" if value == "true" else "true"]
    if attr == "value" and value.startswith(("tel:", "fax:", "mailto:")):
        scheme, rest = value.split(":", 1)
        return [f"{scheme}:{'x' + rest if scheme == 'mailto' else rest + '9'}"]
    if attr == "value" and (etree.QName(node).localname in DATE_NODES or node.get(f"{{{XSI}}}type") == "TS"):
        shifted = _ts_shift(value)
        return [shifted] if shifted else []
    if _NUMBER.match(value):
        number = float(value)
        new = number + 1
        return [str(int(new)) if "." not in value else f"{new:g}"]
    return [value + " (changed)" if attr == "#text" else value + "X"]


def _set(site: Site, doc: etree._Element, new: str) -> None:
    """Set the value at the site's node in `doc` (a copy of the document the site was found in)."""
    path = site.node.getroottree().getpath(site.node)
    node = doc.getroottree().xpath(path)[0]
    if new == NULL_FLAVOR:
        node.attrib.pop(site.attr, None)
        node.set("nullFlavor", "NI")
    elif site.attr == "#text":
        node.text = new
    else:
        node.set(site.attr, new)
    if site.number == "F.r.3.3":  # the model holds one unit for a result and its reference range
        test = node.getparent().getparent()
        for bound in test.xpath("h:referenceRange/h:observationRange/h:value", namespaces={"h": HL7}):
            if bound.get("unit") == site.value:
                bound.set("unit", new)


# -- one probe ----------------------------------------------------------------------------------------

@dataclass
class Probe:
    number: str
    source: str
    old: str
    new: str
    case_paths: set[str] = field(default_factory=set)
    fhir_paths: set[str] = field(default_factory=set)
    exported: list[str] = field(default_factory=list)   # the element's values in the export
    problem: str | None = None
    base_exported: list[str] = field(default_factory=list)   # ... in the export of the unchanged message

    @property
    def written(self) -> bool:
        """The export holds the new value once more than the unchanged message's export, and the old one
        once less (where that export holds it: C.1.9.1 "false" leaves as NI)."""
        return (self.exported.count(self.new) == self.base_exported.count(self.new) + 1
                and self.exported.count(self.old) == max(self.base_exported.count(self.old) - 1, 0))


def _import(data: bytes, source: str) -> list[dict | None]:
    result = importer.import_loaded(xmlsafe.parse_bytes(data, source))
    return [r.bundle for r in result.reports]


@dataclass
class Base:
    """The unchanged message: its case and rebuilt Bundle (flattened), receiver and export."""

    case: dict[str, Any]
    fhir: dict[str, Any]
    receiver: str | None
    export: etree._Element


_BASES: dict[tuple[str, int], Base] = {}


def _export(bundle: dict, receiver: str | None) -> etree._Element:
    xml = export.export_bundles([bundle], receiver_name=receiver, batch_id=FIXED_BATCH,
                                creation_time=FIXED_TIME).xml
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def _base(source: str, data: bytes, message: int) -> Base:
    key = (source, message)
    if key not in _BASES:
        bundle = _import(data, source)[message]
        assert bundle is not None, f"{source}: message {message + 1} is not imported"
        case = bundle_to_case(bundle)
        rebuilt = build_bundle(case)
        receiver = export.bundle_receiver(bundle)
        _BASES[key] = Base(flatten(case.model_dump(mode="json", exclude_none=True)), bundle_flat(rebuilt),
                           receiver, _export(rebuilt, receiver))
    return _BASES[key]


def probe(number: str, source: str, data: bytes, site: Site) -> Probe:
    """Change the site's value and follow it through import, Bundle -> case, case -> Bundle and export."""
    base = _base(source, data, site.message)
    base_exported = exported_values(number, base.export, site.attr)
    first: Probe | None = None
    last = Probe(number, source, site.value, "", problem="no candidate value")
    for new in candidates(site):
        doc = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        _set(site, doc, new)
        out = Probe(number, source, site.value, new, base_exported=base_exported)
        bundle = _import(etree.tostring(doc), source)[site.message]
        if bundle is None:
            out.problem = "the changed message is not imported"
            last = out
            continue
        case = bundle_to_case(bundle)
        out.case_paths = differing(base.case, flatten(case.model_dump(mode="json", exclude_none=True)))
        rebuilt = build_bundle(case)
        out.fhir_paths = {fhir_generic(p) for p in differing(base.fhir, bundle_flat(rebuilt))}
        out.exported = exported_values(number, _export(rebuilt, base.receiver), site.attr)
        if not out.case_paths:
            out.problem = "the case does not change"
            last = out
            continue
        if out.written:
            return out
        first = first or out
    return first or last


def exported_values(number: str, doc: etree._Element, attr: str) -> list[str]:
    """The element's values in (the first message of) an export; a null flavor as NULL_FLAVOR's form."""
    reader = to_case.Reader(_messages(doc)[0])
    spec = table()["elements"][number]
    out = []
    for inst in reader.instances(spec["group"]):
        for node in reader._xpath(inst, spec["node"]):
            value = (node.text or "").strip() if attr == "#text" else node.get(attr)
            if value:
                out.append(value)
            elif node.get("nullFlavor"):
                out.append(f"@nullFlavor={node.get('nullFlavor')}")
    return out


def check(probe: Probe) -> list[str]:
    """What does not hold for a probe, against the element's `case` and `fhir` columns (empty: all holds)."""
    spec = table()["elements"][probe.number]
    where = f"{probe.number} in {probe.source}: {probe.old!r} -> {probe.new!r}"
    if probe.problem:
        return [f"{where}: {probe.problem}"]
    out = []
    stray = sorted(p for p in probe.case_paths if not matches(p, spec["case"]))
    if stray:
        out.append(f"{where}: the case also changes at {stray} (table: {spec['case']})")
    if not any(fhir_matches(p, spec["fhir"]) for p in probe.fhir_paths):
        out.append(f"{where}: the Bundle changes at {sorted(probe.fhir_paths)[:10]}, not at {spec['fhir']}")
    if not probe.written:
        out.append(f"{where}: the export writes {probe.exported[:6]} at {spec['group']}/{spec['node']} "
                   f"(unchanged message: {probe.base_exported[:6]}), not the new value in place of the old one")
    return out


# -- over the corpus ------------------------------------------------------------------------------------

@dataclass
class Survey:
    """Per element: the first site (in corpus order) that can be changed; per file: the elements read."""

    first: dict[str, tuple[str, Site]] = field(default_factory=dict)
    read: dict[str, set[str]] = field(default_factory=dict)
    present: dict[str, set[str]] = field(default_factory=dict)   # elements with a value in the file


def survey(files: dict[str, bytes]) -> Survey:
    out = Survey()
    for name, data in files.items():
        doc = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        out.read[name] = set()
        for site in sites(doc):
            out.read[name].add(site.number)
            if site.number not in out.first and candidates(site):
                out.first[site.number] = (name, site)
        out.present[name] = present(doc)
    return out


def present(doc: etree._Element) -> set[str]:
    """The elements that have a value (not a null flavor) in the first message of a document."""
    reader = to_case.Reader(_messages(doc)[0])
    found = set()
    for number, spec in table()["elements"].items():
        if spec["group"] in ("batch", "message"):
            continue
        attr = _attr(number)
        for inst in reader.instances(spec["group"]):
            for node in reader._xpath(inst, spec["node"]):
                if ((node.text or "").strip() if attr == "#text" else node.get(attr)):
                    found.add(number)
    return found
