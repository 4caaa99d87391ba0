"""Generate mappings/fhir-r4-structure.json: per-type rule tables for the fast FHIR R4 structure check.

Source: the official FHIR R4 (4.0.1) StructureDefinitions, ValueSets and CodeSystems, as published in the
npm package `hl7.fhir.r4.examples` (installed by `npm ci` in tools/fhir-validator). Re-run after changing
this script or the package version:

    (cd tools/fhir-validator && npm ci) && python tools/gen_fhir_r4_structure.py

Output (compact JSON, committed):
  primitives: {name: [json kind, regex]}            json kind: boolean | integer | number | string
  types:      {type or backbone path: {element json name: [type, many, min, value set or "", choice group or ""]}}
  choices:    {type: {group: min}}                   choice groups (value[x]) and their minimum
  valuesets:  {url: [codes]}                          expansions of the required bindings on `code` elements
  resources:  [resource type names]
Required bindings whose value set cannot be expanded from the package (filters, external code systems)
are listed under `unexpanded` and left unchecked, like the R4B models leave them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tools" / "fhir-validator" / "node_modules" / "hl7.fhir.r4.examples"
OUT = ROOT / "mappings" / "fhir-r4-structure.json"
FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
JSON_KIND = {"boolean": "boolean", "integer": "integer", "positiveInt": "integer", "unsignedInt": "integer",
             "decimal": "number"}


def load_package(folder: Path) -> tuple[list[dict], dict[str, dict], dict[str, dict]]:
    sds, valuesets, codesystems = [], {}, {}
    for path in sorted(folder.glob("*.json")):
        prefix = path.name.split("-", 1)[0]
        if prefix not in ("StructureDefinition", "ValueSet", "CodeSystem"):
            continue
        res = json.loads(path.read_text(encoding="utf-8"))
        if res.get("resourceType") == "StructureDefinition":
            sds.append(res)
        elif res.get("resourceType") == "ValueSet":
            valuesets[res["url"]] = res
        elif res.get("resourceType") == "CodeSystem":
            codesystems[res["url"]] = res
    return sds, valuesets, codesystems


def _codes_of(concepts: list[dict]) -> list[str]:
    out = []
    for c in concepts or []:
        out.append(c["code"])
        out.extend(_codes_of(c.get("concept", [])))
    return out


def expand(url: str, valuesets: dict, codesystems: dict, seen: frozenset = frozenset()) -> list[str] | None:
    """Codes of a value set from its compose (None when it needs filters or a code system not in the
    package)."""
    vs = valuesets.get(url.split("|")[0])
    if vs is None or url in seen:
        return None
    compose = vs.get("compose") or {}
    codes: list[str] = []
    for inc in compose.get("include", []):
        if inc.get("filter"):
            return None
        for imported in inc.get("valueSet", []):
            sub = expand(imported, valuesets, codesystems, seen | {url})
            if sub is None:
                return None
            codes += sub
        if inc.get("concept"):
            codes += [c["code"] for c in inc["concept"]]
        elif inc.get("system"):
            cs = codesystems.get(inc["system"])
            if cs is None or cs.get("content") != "complete":
                return None
            codes += _codes_of(cs.get("concept", []))
    excluded = {c["code"] for exc in compose.get("exclude", []) for c in exc.get("concept", [])}
    if compose.get("exclude") and any(not exc.get("concept") for exc in compose["exclude"]):
        return None
    return sorted({c for c in codes if c not in excluded}) or None


def type_code(element: dict, type_entry: dict, resource_names: set[str]) -> str:
    code = type_entry["code"]
    if not code.startswith("http://hl7.org/fhirpath/System."):
        return code
    # Resource.id is of type id in the R4 specification; the snapshot writes it as System.String.
    base = element["path"].split(".")[0]
    if element["path"].count(".") == 1 and element["path"].endswith(".id") and base in resource_names:
        return "id"
    for ext in type_entry.get("extension", []):
        if ext["url"] == FHIR_TYPE:
            return ext.get("valueUrl") or ext.get("valueUri") or ext.get("valueString")
    return "string"


def generate(folder: Path) -> dict:
    sds, valuesets, codesystems = load_package(folder)
    base = [sd for sd in sds if sd.get("derivation") == "specialization" or sd["id"] in (
        "Element", "BackboneElement", "Resource", "DomainResource")]
    base = [sd for sd in base if sd["kind"] != "logical"]
    resource_names = {sd["id"] for sd in base if sd["kind"] == "resource"}
    primitives: dict[str, list[str]] = {}
    types: dict[str, dict[str, list]] = {}
    choices: dict[str, dict[str, int]] = {}
    used_valuesets: dict[str, list[str]] = {}
    unexpanded: set[str] = set()
    for sd in sorted(base, key=lambda s: s["id"]):
        name = sd["id"]
        elements = sd["snapshot"]["element"]
        if sd["kind"] == "primitive-type":
            value = next(e for e in elements if e["path"] == f"{name}.value")
            regex = next((x["valueString"] for t in value.get("type", []) for x in t.get("extension", [])
                          if x["url"] == REGEX), None)
            primitives[name] = [JSON_KIND.get(name, "string"), regex or ""]
        for el in elements[1:]:
            path = el["path"]
            parent, _, last = path.rpartition(".")
            if sd["kind"] == "primitive-type" and last == "value":
                continue  # the JSON value itself, checked by the primitive's rule
            table = types.setdefault(parent, {})
            maximum = el["max"]
            many = 1 if maximum == "*" or (maximum.isdigit() and int(maximum) > 1) else 0
            if maximum == "0":
                continue  # prohibited (not in the base specialisations, kept for safety)
            binding = el.get("binding") or {}
            vs_url = ""
            if binding.get("strength") == "required" and binding.get("valueSet"):
                url = binding["valueSet"].split("|")[0]
                expansion = expand(url, valuesets, codesystems)
                if expansion is None:
                    unexpanded.add(url)
                else:
                    vs_url = url
                    used_valuesets[url] = expansion
            if "contentReference" in el:
                table[last] = [el["contentReference"].lstrip("#"), many, el["min"], "", ""]
                continue
            el_types = el.get("type", [])
            nested = any(t["code"] in ("BackboneElement", "Element") for t in el_types) and any(
                e["path"].startswith(path + ".") for e in elements)
            if last.endswith("[x]"):
                group = last[:-3]
                choices.setdefault(parent, {})[group] = el["min"]
                for t in el_types:
                    code = type_code(el, t, resource_names)
                    json_name = group + code[0].upper() + code[1:]
                    is_code = code == "code"
                    table[json_name] = [code, many, 0, vs_url if is_code else "", group]
                continue
            code = path if nested else type_code(el, el_types[0], resource_names)
            table[last] = [code, many, el["min"], vs_url if code == "code" else "", ""]
    return {
        "fhirVersion": "4.0.1",
        "source": "hl7.fhir.r4.examples 4.0.1: StructureDefinition, ValueSet and CodeSystem resources",
        "generator": "tools/gen_fhir_r4_structure.py",
        "resources": sorted(resource_names - {"Resource", "DomainResource"}),
        "primitives": primitives,
        "types": types,
        "choices": choices,
        "valuesets": dict(sorted(used_valuesets.items())),
        "unexpanded": sorted(unexpanded),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=PACKAGE, help="folder of hl7.fhir.r4.examples")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.package.is_dir():
        print(f"{args.package} not found: run `npm ci` in tools/fhir-validator first", file=sys.stderr)
        return 1
    data = generate(args.package)
    args.out.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(data['resources'])} resource types, {len(data['types'])} type tables, "
          f"{len(data['valuesets'])} value sets ({len(data['unexpanded'])} required bindings left unexpanded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
