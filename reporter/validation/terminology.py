"""Layer 3: terminology. MedDRA (form, one version per case, existence when a MedDRA release is
configured), LOINC (form and check digit), UCUM units, ISO 3166 countries and ISO 639-2 languages,
and the ICH E2B(R3) code lists (every code sent under an ICH OID must be in its list)."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from reporter import config
from reporter.fhir.read import as_list
from reporter.tables import code_lists, ext, load_yaml, system, system_uris
from reporter.validation.meddra import meddra_dictionary
from reporter.validation.report import Issue
from reporter.validation.ucum import is_valid_ucum
from reporter.validation.walk import BundleWalk, walk_bundle

MEDDRA_CODE = re.compile(r"^\d{8}$")
MEDDRA_VERSION = re.compile(r"^(\d{1,2})(\.[01])?$")
LOINC_CODE = re.compile(r"^(\d{1,7})-(\d)$")
# the keys of the objects this layer looks at: codings, extensions, addresses and what holds them
_SYSTEM, _URL, _COUNTRY, _ADDRESS, _UNIT = (frozenset({key}) for key in ("system", "url", "country", "address",
                                                                           "unit"))
COUNTRY_EXTENSIONS = ("reaction_country", "country_obtained", "registration_country")


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit over the part before the hyphen."""
    digits = [int(c) for c in reversed(number)]
    total = 0
    for i, d in enumerate(digits):
        if i % 2 == 0:
            d *= 2
            total += d // 10 + d % 10
        else:
            total += d
    return (10 - total % 10) % 10


@lru_cache(maxsize=4096)  # a store's tests name the same few hundred LOINC codes again and again
def loinc_problem(code: str) -> str | None:
    m = LOINC_CODE.match(code)
    if not m:
        return f"{code!r} is not a LOINC code (digits, a hyphen and a check digit, e.g. 1742-6)"
    expected = loinc_check_digit(m.group(1))
    if int(m.group(2)) != expected:
        return f"LOINC {code} has a wrong check digit (expected {m.group(1)}-{expected})"
    return None


@cache
def _iso() -> tuple[frozenset[str], frozenset[str]]:
    """(ISO 3166-1 country codes and EU: the keys of the country-name table, ISO 639-2 language codes)."""
    countries = load_yaml("countries.yaml")["countries"]
    return frozenset(str(code) for code in countries), frozenset(load_yaml("iso.yaml")["languages"].split())


@cache
def _ich_lists() -> dict[str, set[str]]:
    lists: dict[str, set[str]] = {}
    for table in code_lists().values():
        if table.oid:
            lists.setdefault(f"urn:oid:{table.oid}", set()).update(
                e.e2b for e in table.codes.values() if e.e2b is not None)
    return lists


def check_terminology(bundle: dict[str, Any], walk: BundleWalk | None = None) -> list[Issue]:
    """The objects holding a code system, an extension url or a country are looked at in three passes (each
    object's checks once); the issues come out in the walk's order, as one pass would give them."""
    found: list[tuple[int, int, Issue]] = []  # (node, pass, issue)
    meddra_uris, loinc_uri, ucum_uri = system_uris("meddra"), system("loinc"), system("ucum")
    countries, languages = _iso()
    ich_lists = _ich_lists()
    country_urls = {ext(k) for k in COUNTRY_EXTENSIONS}
    translation_url = ext("translation")
    dictionary = meddra_dictionary()
    expected_version = config.get("meddra_version")
    versions: dict[str, int] = {}  # release -> the node that first named it
    walk = walk if walk is not None else walk_bundle(bundle)
    at = walk.path  # a location is worked out only for a problem
    nodes = walk.nodes
    i = 0
    step = 0

    def error(code: str, where: str, message: str, hint: str, severity: str = "error") -> None:
        found.append((i, step, Issue(severity, code, where, message, hint, "terminology")))  # type: ignore[arg-type]

    for i in walk.holding(_SYSTEM):
        node = nodes[i]
        node_system = node.get("system")
        code = node.get("code")
        if isinstance(node_system, str) and node_system in meddra_uris:  # a damaged system is no MedDRA
            if not isinstance(code, str) or not MEDDRA_CODE.match(code):
                error("TERM-MEDDRA-CODE", f"{at(i)}.code", f"{code!r} is not a MedDRA code (8 digits)",
                      "use the MedDRA LLT code, e.g. 10019717")
            version = node.get("version")
            match = MEDDRA_VERSION.match(version) if isinstance(version, str) else None
            if not match:
                error("TERM-MEDDRA-VERSION", f"{at(i)}.version",
                      f"{version!r} is not a MedDRA version (e.g. 26.1)", "give the MedDRA release used")
            else:
                if not match.group(2):
                    error("TERM-MEDDRA-VERSION-FORM", f"{at(i)}.version",
                          f"MedDRA version {version!r} lacks its minor number", f"write {version}.0", "warning")
                # 15 and 15.0 name the same release; the one-version rule compares releases, not spellings.
                versions.setdefault(match.group(1) + (match.group(2) or ".0"), i)
                if expected_version and version != expected_version:
                    error("TERM-MEDDRA-VERSION", f"{at(i)}.version",
                          f"MedDRA {version} is not the configured version {expected_version}",
                          "recode the term in the current MedDRA release", "warning")
            if dictionary and isinstance(code, str) and MEDDRA_CODE.match(code):
                status = dictionary.status(code)
                if status == "missing":
                    error("TERM-MEDDRA-UNKNOWN", f"{at(i)}.code", f"MedDRA code {code} is not an LLT of "
                          f"the configured release", "look the term up in your MedDRA browser")
                elif status == "noncurrent":
                    error("TERM-MEDDRA-NONCURRENT", f"{at(i)}.code", f"MedDRA LLT {code} is not current",
                          "recode to a current LLT", "warning")
        elif node_system == loinc_uri and isinstance(code, str):
            if problem := loinc_problem(code):
                error("TERM-LOINC", f"{at(i)}.code", problem, "use the LOINC code from the lab's catalogue")
        elif node_system == ucum_uri and code is not None:
            if not isinstance(code, str) or not is_valid_ucum(code):
                error("TERM-UCUM", f"{at(i)}.code", f"{code!r} is not a UCUM unit",
                      "write units in UCUM: U/L, mg/kg/d, [IU]/L, ug (not mcg), h (not hr)")
        elif (isinstance(node_system, str) and node_system in ich_lists and isinstance(code, str)
              and code not in ich_lists[node_system]):
            error("TERM-ICH-CODE", f"{at(i)}.code", f"{code!r} is not in the ICH code list "
                  f"{node_system.removeprefix('urn:oid:')}", "use a code from the E2B(R3) list")
    step = 1
    for i in walk.holding(_URL):
        node = nodes[i]
        url = node["url"]
        if url.__class__ is not str:
            continue
        if url in country_urls and (node.get("valueCode") is not None or not node.get("extension")) and not (
                isinstance(node.get("valueCode"), str) and node["valueCode"] in countries):  # else: why it is absent
            error("TERM-COUNTRY", f"{at(i)}.valueCode", f"{node.get('valueCode')!r} is not an ISO 3166-1 "
                  "alpha-2 country code", "use two capital letters, e.g. GB, PT, US")
        elif url == translation_url:
            for sub in as_list(node.get("extension")):
                if isinstance(sub, dict) and sub.get("url") == "lang" and not (
                        isinstance(sub.get("valueCode"), str) and sub["valueCode"] in languages | {"und"}):
                    error("TERM-LANGUAGE", f"{at(i)}.extension", f"{sub.get('valueCode')!r} is not an "
                          "ISO 639-2 language code", "use three letters, e.g. por, fra, deu")
    step = 2
    # the objects of address lists (a Patient's, a Practitioner's, ...): a country elsewhere is not an address's
    addresses = {id(item) for j in walk.holding(_ADDRESS) if (items := nodes[j]["address"]).__class__ is list
                 for item in items}
    for i in walk.holding(_COUNTRY):
        node = nodes[i]
        if id(node) in addresses and not (isinstance(node["country"], str) and node["country"] in countries):
            error("TERM-COUNTRY", f"{at(i)}.country", f"{node['country']!r} is not an ISO 3166-1 "
                  "alpha-2 country code", "use two capital letters, e.g. GB, PT, US")
    step = 3
    for i in walk.holding(_UNIT):
        node = nodes[i]
        if (node.get("system") == ucum_uri and node.get("code") is not None) or "value" not in node:
            continue  # a UCUM code is checked above; a unit without a value is no quantity the readers send
        held = "code" if node.get("code") is not None else "unit"
        if isinstance(node[held], str) and not is_valid_ucum(node[held]):
            error("TERM-UCUM", f"{at(i)}.{held}", _not_ucum(node, held, ucum_uri), _ucum_hint(node[held], ucum_uri))
    issues = [issue for _, _, issue in sorted(found, key=lambda item: item[:2])] if len(found) > 1 else \
        [issue for _, _, issue in found]
    if len(versions) > 1:
        listed = ", ".join(sorted(versions))
        issues.append(Issue("error", "TERM-MEDDRA-ONE-VERSION", at(next(iter(versions.values()))),
                            f"the case mixes MedDRA versions {listed}; an ICSR uses one MedDRA version",
                            "recode every term in one MedDRA release", "terminology"))
    return issues


def _not_ucum(quantity: dict[str, Any], held: str, ucum_uri: str) -> str:
    """A quantity's unit that is no UCUM, in a Quantity without the UCUM system (a producer's `unit: IU/L`)."""
    said = quantity.get("system")
    where = f"its system is {said}" if isinstance(said, str) and said != ucum_uri else "it names no system"
    return (f"{quantity[held]!r} is not a UCUM unit ({where}): the case file, E2B and the report take a "
            f"quantity's {held} as its UCUM unit")


def _ucum_hint(unit: str, ucum_uri: str) -> str:
    from reporter.lookup import to_ucum

    found = to_ucum(unit)
    return (f"give the unit in UCUM with system {ucum_uri}" + (f" and code {found!r}" if found else "")
            + "; the unit as shown to people may stay in `unit`")
