"""The stored cases of one worldwide case: other senders' reports with the same C.1.8.1 worldwide unique case
id, or that list each other's ids among their other case ids (C.1.9.1.r.2).

Each sender's report is a case of its own (a case is its C.1.1); these lookups tell an importer which other
cases hold the same patient's story. They read the search tokens `case-identifier` and `other-case-identifier`
of current Bundles (mappings/fhir_search.yaml, migration 0011).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select

from reporter.fhir.read import BundleIndex, ext_value, extensions
from reporter.limits import limit
from reporter.store.repository import CaseStore, case_id_for, case_key
from reporter.store.schema import Case, ResourceIndex, ResourceToken

WORLDWIDE_PARAM, OTHERS_PARAM = "case-identifier", "other-case-identifier"  # mappings/fhir_search.yaml


@dataclass(frozen=True)
class RelatedCase:
    case_id: str
    case_key: str  # its C.1.1
    sender: str | None  # C.3 sender organisation (else its id), as its current version names it
    why: str  # how it relates: same worldwide case, or which id one lists of the other
    nullified: bool = False

    def note(self) -> str:
        sender = f" from sender {self.sender}" if self.sender else ""
        gone = ", nullified" if self.nullified else ""
        return f"also held as case {self.case_key}{sender} (Bundle/{self.case_id}{gone}): {self.why}"


@dataclass(frozen=True)
class _Ids:
    report: str  # C.1.1
    worldwide: str | None  # C.1.8.1
    others: tuple[str, ...]  # C.1.9.1.r.2

    @classmethod
    def of(cls, bundle: dict) -> _Ids:
        """The ids of a Bundle the store holds or takes (check_bundle: a Composition with a C.1.1 first); an
        identifier that is not an Identifier with a string value is no id."""
        comp = bundle["entry"][0]["resource"]
        worldwide = worldwide_id(bundle)
        others = (_value(e.get("valueIdentifier")) for e in extensions(comp, "previous_case_identifier"))
        return cls(case_key(bundle)[1], worldwide, tuple(dict.fromkeys(o for o in others if o)))

    def own(self) -> set[str]:
        return {i for i in (self.report, self.worldwide) if i}


def worldwide_id(bundle: dict) -> str | None:
    """The C.1.8.1 worldwide unique case id of a stored Bundle, if it gives one."""
    return _value(ext_value(bundle["entry"][0]["resource"], "case_identifier"))


def _value(identifier: object) -> str | None:
    value = identifier.get("value") if isinstance(identifier, dict) else None
    return value if isinstance(value, str) and value else None


def _has_token(param: str, codes: list[str]):
    return exists(select(ResourceToken.id).where(ResourceToken.index_id == ResourceIndex.id,
                                                 ResourceToken.param == param, ResourceToken.code.in_(codes)))


def related_cases(store: CaseStore, bundle: dict) -> tuple[list[RelatedCase], int]:
    """The stored cases, other than the bundle's own (its C.1.1), of its worldwide case: (the first
    limits.yaml related_cases_named of them, in C.1.1 order, and how many there are in all)."""
    mine = _Ids.of(bundle)
    own_case = case_id_for(*case_key(bundle))
    listed = sorted(mine.others)
    ri = ResourceIndex
    options = [_has_token(OTHERS_PARAM, sorted(mine.own()))] if mine.own() else []
    if mine.worldwide:
        options.append(_has_token(WORLDWIDE_PARAM, [mine.worldwide]))
    if listed:
        options += [Case.case_key.in_(listed), _has_token(WORLDWIDE_PARAM, listed)]
    if not options:
        return [], 0
    where = [ri.resource_type == "Bundle", ri.is_current.is_(True), ri.case_id != own_case, or_(*options)]
    query = select(ri.resource, Case).join(Case, Case.id == ri.case_id).where(*where)
    with store.read_session() as session:
        total = session.scalar(select(func.count()).select_from(ri).join(Case, Case.id == ri.case_id)
                               .where(*where)) or 0
        rows = session.execute(query.order_by(Case.case_key, Case.id).limit(limit("related_cases_named"))).all()
    return [_related(resource, case, mine) for resource, case in rows], total


def _related(stored: dict, case: Case, mine: _Ids) -> RelatedCase:
    theirs = _Ids.of(stored)
    if mine.worldwide and theirs.worldwide == mine.worldwide:
        why = f"the same worldwide case {mine.worldwide} (C.1.8.1)"
    elif mine.own() & set(theirs.others):
        why = f"it lists {sorted(mine.own() & set(theirs.others))[0]} among its other case ids (C.1.9.1.r.2)"
    else:
        named = sorted(theirs.own() & set(mine.others))
        why = f"this report lists {named[0] if named else case.case_key} among its other case ids (C.1.9.1.r.2)"
    return RelatedCase(case.id, case.case_key, _sender(stored), why, case.status == "nullified")


def _sender(bundle: dict) -> str | None:
    """The C.3 sender of a stored Bundle: its Composition custodian's name, else the sender id."""
    comp = bundle["entry"][0]["resource"]
    org = BundleIndex(bundle).resolve(comp.get("custodian"))
    if not isinstance(org, dict):
        return None
    name = org.get("name")
    ident = next((i.get("value") for i in org.get("identifier") or [] if isinstance(i, dict)), None)
    return name if isinstance(name, str) and name else ident if isinstance(ident, str) else None
