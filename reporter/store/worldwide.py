"""The stored cases of one worldwide case: other senders' reports with the same C.1.8.1 worldwide unique case
id, or that list each other's ids among their other case ids (C.1.9.1.r.2).

Each sender's report is a case of its own (a case is its C.1.1); these lookups tell an importer which other
cases hold the same patient's story. They read the search tokens `case-identifier` and `other-case-identifier`
of current Bundles (mappings/fhir_search.yaml, migration 0011).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from reporter.fhir.read import BundleIndex, ext_value, extensions
from reporter.limits import limit
from reporter.store.repository import CaseStore, case_id_for, case_key
from reporter.store.schema import Case, CaseVersion, ResourceIndex, ResourceToken

WORLDWIDE_PARAM, OTHERS_PARAM = "case-identifier", "other-case-identifier"  # mappings/fhir_search.yaml


@dataclass(frozen=True)
class RelatedCase:
    case_id: str
    case_key: str  # its C.1.1
    sender: str | None  # C.3 sender organisation (else its id), as its current version names it
    why: str  # how it relates: same worldwide case, or which id one lists of the other
    nullified: bool = False
    same_worldwide: bool = False  # it has the same C.1.8.1 (rather than listing, or being listed by, an id)

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


def _token(param: str, codes: list[str], resource_type: str | None = None):
    match = and_(ResourceToken.param == param, ResourceToken.code.in_(codes))
    return and_(match, ResourceIndex.resource_type == resource_type) if resource_type else match


def _matching_cases(mine: _Ids):
    """The ids of the cases whose current version shares an id with `mine`, found from the token index
    (ix_token_lookup: parameter and code), never by reading every case; None when `mine` names no id."""
    ri, own, listed = ResourceIndex, sorted(mine.own()), sorted(mine.others)
    options = [_token(OTHERS_PARAM, own)] if own else []  # theirs list mine
    if mine.worldwide:
        options.append(_token(WORLDWIDE_PARAM, [mine.worldwide]))
    if listed:  # mine lists their C.1.8.1 or their C.1.1
        options += [_token(WORLDWIDE_PARAM, listed), _token("identifier", listed, "Composition")]
    if not options:
        return None
    return select(ri.case_id).join(ResourceToken, ResourceToken.index_id == ri.id).where(
        ri.is_current.is_(True), or_(*options))


def related_cases(store: CaseStore, bundle: dict) -> tuple[list[RelatedCase], int]:
    """The stored cases, other than the bundle's own (its C.1.1), of its worldwide case: (the first
    limits.yaml related_cases_named of them, in C.1.1 order, and how many there are in all)."""
    mine = _Ids.of(bundle)
    cases = _matching_cases(mine)
    if cases is None:
        return [], 0
    where = [Case.id.in_(cases), Case.id != case_id_for(*case_key(bundle))]  # by primary key, as few as found
    current = and_(CaseVersion.case_id == Case.id, CaseVersion.version == Case.current_version)
    with store.read_session() as session:
        total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
        rows = session.execute(select(CaseVersion.bundle, Case).join(Case, current).where(*where)
                               .order_by(Case.case_key, Case.id).limit(limit("related_cases_named"))).all()
    return [_related(resource, case, mine) for resource, case in rows], total


def _related(stored: dict, case: Case, mine: _Ids) -> RelatedCase:
    theirs = _Ids.of(stored)
    same = bool(mine.worldwide) and theirs.worldwide == mine.worldwide
    if same:
        why = f"the same worldwide case {mine.worldwide} (C.1.8.1)"
    elif mine.own() & set(theirs.others):
        why = f"it lists {sorted(mine.own() & set(theirs.others))[0]} among its other case ids (C.1.9.1.r.2)"
    else:
        named = sorted(theirs.own() & set(mine.others))
        why = f"this report lists {named[0] if named else case.case_key} among its other case ids (C.1.9.1.r.2)"
    return RelatedCase(case.id, case.case_key, _sender(stored), why, case.status == "nullified", same)


def _sender(bundle: dict) -> str | None:
    """The C.3 sender of a stored Bundle: its Composition custodian's name, else the sender id."""
    comp = bundle["entry"][0]["resource"]
    org = BundleIndex(bundle).resolve(comp.get("custodian"))
    if not isinstance(org, dict):
        return None
    name = org.get("name")
    ident = next((i.get("value") for i in org.get("identifier") or [] if isinstance(i, dict)), None)
    return name if isinstance(name, str) and name else ident if isinstance(ident, str) else None
