"""The hand-broken corpus (tests/broken_corpus.py) through the API's validator and through the independent
validators (tools/fhir-validator: HL7's R4 JSON Schema and FHIR.js). Prints how many of the broken resources
each rejects, and the cases each one misses. Needs `cd tools/fhir-validator && npm ci` for the second half.
Usage: python bench/broken_corpus.py"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VALIDATOR = ROOT / "tools" / "fhir-validator"


def main() -> None:
    from reporter.web.checks import has_errors, validate_resource
    from tests.broken_corpus import corpus

    cases = corpus()
    ours = [c.name for c in cases if not has_errors(validate_resource(c.resource))]
    print(f"broken resources: {len(cases)}")
    print(f"rejected by the API's validator: {len(cases) - len(ours)}")
    for name in ours:
        print(f"  missed: {name}")
    node = shutil.which("node")
    if not node or not (VALIDATOR / "node_modules").is_dir():
        print("independent validators: not installed (cd tools/fhir-validator && npm ci)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, case in enumerate(cases):
            path = Path(tmp) / f"{i:03}.json"
            path.write_text(json.dumps(case.resource), encoding="utf-8")
            files.append(path)
        proc = subprocess.run([node, str(VALIDATOR / "validate.js"), *map(str, files)], capture_output=True,
                              text=True, timeout=600, check=False)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    by_validator = {"hl7-json-schema": 0, "fhir.js": 0}
    either = 0
    missed = []
    for case, result in zip(cases, results, strict=True):
        seen = {e["validator"] for e in result["errors"]}
        for name in by_validator:
            by_validator[name] += name in seen
        either += bool(seen)
        if not seen:
            missed.append(case.name)
    for name, count in by_validator.items():
        print(f"rejected by {name}: {count}")
    print(f"rejected by either independent validator: {either}")
    for name in missed:
        print(f"  both miss: {name}")


if __name__ == "__main__":
    main()
