"""The API's validator ($validate, one behaviour for every resource) over HL7's official R4 examples.

Prints how many examples are rejected (false positives: the examples are valid R4) and why, by message.
Needs the npm package: `cd tools/fhir-r4-examples && npm ci`. Usage: python bench/r4_examples.py [--show N]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "tools" / "fhir-r4-examples" / "node_modules" / "hl7.fhir.r4.examples"
# The package also holds the specification's own conformance resources; the examples are the rest.
CONFORMANCE = {"StructureDefinition", "SearchParameter", "ValueSet", "CodeSystem", "ConceptMap",
               "OperationDefinition", "CompartmentDefinition", "CapabilityStatement", "NamingSystem",
               "ImplementationGuide", "StructureMap", "GraphDefinition", "MessageDefinition"}

# Examples that are not valid R4 themselves (checked by hand against the R4 definitions): rejecting them is right.
INVALID_EXAMPLES = {
    "Questionnaire-qs1.json": "item.item.linkId is 1..1 in R4 and missing",
    "ig-r4.json": "ImplementationGuide.name and .status are 1..1 in R4 and missing (the package's own IG)",
    "Bundle-dataelements.json": "bdl-7: fullUrls repeat with the same meta (e.g. de-Quantity.value twice)",
    # references to a type the element does not allow by the R4 StructureDefinition (its targetProfile)
    "DeviceMetric-example.json": "parent is Reference(Device), the example points at DeviceDefinition/dc102",
    "DeviceUseStatement-example.json": "reasonReference does not allow Procedure (Procedure/example)",
    "MedicationRequest-medrx0301.json": "dispenseRequest.performer is Reference(Organization), not Practitioner",
    "Observation-clinical-gender.json": "performer does not allow Encounter (Encounter/example)",
}


def example_files(include_conformance: bool = False) -> list[Path]:
    files = sorted(p for p in EXAMPLES.glob("*.json") if p.name != "package.json" and not p.name.startswith("."))
    if include_conformance:
        return files
    return [p for p in files if p.name.split("-", 1)[0] not in CONFORMANCE]


def rejections(files: list[Path]) -> tuple[int, list[tuple[str, list[dict]]]]:
    from reporter.web.checks import has_errors, validate_resource

    rejected = []
    for path in files:
        resource = json.loads(path.read_text(encoding="utf-8"))
        report = validate_resource(resource)
        if has_errors(report):
            rejected.append((path.name, [i for i in report["issue"] if i["severity"] in ("error", "fatal")]))
    return len(files), rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show", type=int, default=20, help="rejected examples to list")
    parser.add_argument("--all", action="store_true", help="include the conformance resources")
    args = parser.parse_args()
    if not EXAMPLES.is_dir():
        sys.exit(f"{EXAMPLES} missing: cd tools/fhir-r4-examples && npm ci")
    started = time.perf_counter()
    total, rejected = rejections(example_files(args.all))
    elapsed = time.perf_counter() - started
    print(f"official R4 examples validated: {total} in {elapsed:.1f}s ({1000 * elapsed / total:.1f} ms each)")
    wrong = [name for name, _ in rejected if name not in INVALID_EXAMPLES]
    print(f"rejected: {len(rejected)}, of them examples that are not valid R4 themselves: "
          f"{len(rejected) - len(wrong)}; false positives: {len(wrong)}")
    reasons = collections.Counter()
    for _name, issues in rejected:
        for i in issues:
            text = (i.get("details") or {}).get("text") or i.get("diagnostics") or ""
            reasons[text[:90]] += 1
    for reason, count in reasons.most_common(args.show):
        print(f"  {count:5}  {reason}")
    for name, issues in rejected[:args.show]:
        first = issues[0]
        print(f"  {name}: {first.get('expression', [''])[0]}: {(first.get('details') or {}).get('text')}")


if __name__ == "__main__":
    main()
