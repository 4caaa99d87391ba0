"""Wide sweep of the E2B round-trip property (outside CI): many seeds, many mutation kinds.

For each seed and kind, `count` candidate variants of the shared examples and our own inputs
(tests/e2b/inputs/) are drawn with tests/e2b/mutations.py; the XSD-valid ones are imported, exported and
compared fact by fact. Prints the figures (tried, valid, failures) per kind and groups the failures by
their first differing E2B element, saving each failing variant under --out for replay.

Run: PYTHONPATH=. REPORTER_E2B_SCHEMA_DIR=../shared/e2b/schema \
     python bench/e2b_mutation_sweep.py --seeds 8-40 --count 30 [--kinds delete,add] [--out /tmp/sweep]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from lxml import etree

from reporter.e2b import xsd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2b import mutations

REPO = Path(__file__).resolve().parents[1]


def _sources(shared: Path) -> dict[str, bytes]:
    files = [p for p in (shared / "e2b" / "examples").glob("*/*.xml") if "negative" not in p.parts]
    files += sorted((REPO / "tests" / "e2b" / "inputs").glob("*.xml"))
    return {p.name: p.read_bytes() for p in sorted(files)}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out += list(range(int(low), int(high or low) + 1))
    return out


def _signature(failure: str) -> str:
    """A failure class: the kind of failure and the first E2B element named in its table."""
    if not failure.startswith(("not imported", "export not", "crash")):
        rows = [line for line in failure.splitlines()[3:] if line.strip()]
        first = rows[0].split()[0] if rows else "?"
        return f"difference at {first}"
    return re.sub(r"\d+", "N", failure.split("\n")[0])[:120]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="8-40")
    ap.add_argument("--count", type=int, default=30, help="candidates per seed and kind")
    ap.add_argument("--kinds", default=",".join(mutations.KINDS))
    ap.add_argument("--out", default="/tmp/e2b-sweep")
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    args = ap.parse_args()
    schema = Path(os.environ.get("REPORTER_E2B_SCHEMA_DIR") or Path(args.shared) / "e2b" / "schema")
    os.environ["REPORTER_E2B_SCHEMA_DIR"] = str(schema)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = _sources(Path(args.shared))
    kinds = tuple(args.kinds.split(","))
    tried: Counter[str] = Counter()
    valid: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    classes: dict[str, list[str]] = defaultdict(list)
    start = time.perf_counter()
    for seed in _seeds(args.seeds):
        for kind in kinds:
            for i, variant in enumerate(mutations.variants(sources, seed * 1000 + kinds.index(kind),
                                                           args.count, (kind,))):
                tried[kind] += 1
                outcome = xsd.validate(etree.fromstring(variant.xml), schema)
                if outcome is None or not outcome[0]:
                    continue
                valid[kind] += 1
                result = mutations.round_trip(variant, str(schema))
                if result.failure:
                    failed[kind] += 1
                    saved = out / f"s{seed}-{kind}-{i}-{variant.source}"
                    saved.write_bytes(variant.xml)
                    classes[_signature(result.failure)].append(
                        f"{saved.name}: {variant.what}\n{result.failure}")
    elapsed = time.perf_counter() - start
    print(f"{'kind':<12} {'tried':>6} {'valid':>6} {'failed':>6}")
    for kind in kinds:
        print(f"{kind:<12} {tried[kind]:>6} {valid[kind]:>6} {failed[kind]:>6}")
    print(f"{'all':<12} {sum(tried.values()):>6} {sum(valid.values()):>6} {sum(failed.values()):>6}"
          f"   ({elapsed:.0f} s, {sum(valid.values()) / max(elapsed, 1e-9):.1f} valid variants/s)")
    for signature, items in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        print(f"\n== {len(items)} x {signature}\n{items[0]}")


if __name__ == "__main__":
    main()
