"""One worldwide case (C.1.8.1) reported by several senders, each report a case of its own (its C.1.1): the
store indexes their worldwide id and the other case ids they list (C.1.9.1.r.2), and the API searches them;
on SQLite and PostgreSQL, and on a store made before migration 0011."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from reporter.casefile import parse_case
from reporter.fhir.build import build_bundle
from reporter.store import CaseStore, migrate
from reporter.store.repository import Criteria
from reporter.store.schema import ResourceIndex, ResourceToken
from tests.helpers import load_example, mutated

WORLDWIDE = "GB-EXAMPLEPHARMA-2023-000101"
WORLDWIDE_SYSTEM = "urn:oid:2.16.840.1.113883.3.989.2.1.3.2"


def _report(case_id: str, sender: str, *, worldwide: str | None = WORLDWIDE,
            others: tuple[str, ...] = ()) -> dict:
    """Case data of the example case as `sender` reports it: its own C.1.1, the worldwide id given."""
    data = mutated(load_example())
    data["case_id"] = case_id
    data["sender"]["organization"] = sender
    data["sender"]["id"] = sender.upper().replace(" ", "")
    if worldwide:
        data["report"]["worldwide_id"] = worldwide
    data["report"]["other_case_ids"] = [{"source": "a partner", "id": other} for other in others]
    return data


def _bundle(data: dict) -> dict:
    return build_bundle(parse_case(json.dumps(data)))


MAH = _report(WORLDWIDE, "Example Pharma")  # the first sender: its C.1.1 is the worldwide id
REGULATOR = _report("DE-BFARM-2023-77", "BfArM")
PARTNER = _report("US-PARTNER-9", "Partner Inc", worldwide="US-PARTNER-9", others=("DE-BFARM-2023-77",))


def _store_all(store: CaseStore, *cases: dict) -> dict[str, str]:
    return {data["case_id"]: store.save(_bundle(data), author="test", reason="test").case_id for data in cases}


def _found(store: CaseStore, resource_type: str, param: str, *values: tuple[str | None, str]) -> list[str]:
    page = store.search(resource_type, Criteria(tokens=[(param, list(values))]))
    return sorted(r.case_id for r in page.resources)


def test_a_store_made_before_0011_finds_its_cases_by_worldwide_id_after_it(store: CaseStore) -> None:
    ids = _store_all(store, MAH, REGULATOR, PARTNER)
    follow = _report("DE-BFARM-2023-77", "BfArM")
    follow["report"]["most_recent"] = "2023-10-02"
    store.save(_bundle(follow), author="test", reason="follow-up")
    both = sorted([ids[WORLDWIDE], ids["DE-BFARM-2023-77"]])
    migrate.downgrade(store.engine, "0010_age_range")  # a store as 0010 left it: no such tokens
    assert _found(store, "Bundle", "case-identifier", (None, WORLDWIDE)) == []
    migrate.upgrade(store.engine)
    assert _found(store, "Bundle", "case-identifier", (None, WORLDWIDE)) == both
    assert _found(store, "Composition", "case-identifier", (WORLDWIDE_SYSTEM, WORLDWIDE)) == both
    assert _found(store, "Bundle", "other-case-identifier", (None, "DE-BFARM-2023-77")) == [ids["US-PARTNER-9"]]
    with store.read_session() as session:  # every version's Bundle and Composition, once each
        counted = session.execute(select(ResourceIndex.version, func.count()).join(
            ResourceToken, ResourceToken.index_id == ResourceIndex.id).where(
            ResourceIndex.case_id == ids["DE-BFARM-2023-77"], ResourceToken.param == "case-identifier")
            .group_by(ResourceIndex.version).order_by(ResourceIndex.version)).all()
    assert [tuple(c) for c in counted] == [(1, 2), (2, 2)]


def test_the_api_finds_the_bundles_of_a_worldwide_case(served) -> None:
    ids = _store_all(served.store, MAH, REGULATOR, PARTNER)
    s = served.session(served.read_token)

    def found(query: str) -> list[str]:
        r = s.get(f"{served.base}/{query}", headers={"Accept": "application/fhir+json"}, timeout=60)
        assert r.status_code == 200, r.text
        return sorted(e["resource"]["id"] for e in r.json().get("entry") or [])

    both = sorted([ids[WORLDWIDE], ids["DE-BFARM-2023-77"]])
    assert found(f"Bundle?case-identifier={WORLDWIDE}") == both
    assert found(f"Bundle?case-identifier={WORLDWIDE_SYSTEM}|{WORLDWIDE}") == both
    assert found(f"Bundle?case-identifier=urn:oid:1.2.3|{WORLDWIDE}") == []
    assert found(f"Bundle?case-identifier={WORLDWIDE},US-PARTNER-9") == sorted([*both, ids["US-PARTNER-9"]])
    assert found("Bundle?other-case-identifier=DE-BFARM-2023-77") == [ids["US-PARTNER-9"]]
    compositions = found(f"Composition?case-identifier={WORLDWIDE}")
    assert len(compositions) == 2
    # the standard identifier parameter stays C.1.1 (Composition.identifier), as R4 defines it
    assert found("Composition?identifier=DE-BFARM-2023-77") != [] and found(
        f"Bundle?identifier={WORLDWIDE}") == []
    statement = s.get(f"{served.base}/metadata", headers={"Accept": "application/fhir+json"}, timeout=60).json()
    bundle_params = {p["name"]: p for r in statement["rest"][0]["resource"] if r["type"] == "Bundle"
                     for p in r["searchParam"]}
    assert bundle_params["case-identifier"]["type"] == "token"
    assert bundle_params["case-identifier"]["definition"].endswith("/SearchParameter/Bundle-case-identifier")
    assert "C.1.8.1" in bundle_params["case-identifier"]["documentation"]


def test_a_search_path_naming_no_known_extension_is_refused_on_load() -> None:
    from reporter.store import searchparams

    table = searchparams.search_table().model_dump()
    table["resources"]["Bundle"]["case-identifier"]["paths"] = ("extension:no_such_extension.valueIdentifier",)
    with pytest.raises(ValueError, match="no_such_extension names no extension"):
        searchparams.SearchTable.model_validate(table)


def test_the_case_list_links_the_reports_of_one_worldwide_case(served) -> None:
    from tests.service.test_pages_http import _is_page, _login, _site

    ids = _store_all(served.store, MAH, REGULATOR, PARTNER)
    s = _login(served)

    def page(**params) -> str:
        return _is_page(s.get(f"{_site(served)}/cases", params=params, timeout=60), 200)

    listed = page()
    link = f'href="/cases?worldwide={WORLDWIDE}"'
    assert listed.count(link) == 2 and f"worldwide case {WORLDWIDE}: 2 reports</a>" in listed
    assert "worldwide=US-PARTNER-9" not in listed  # a worldwide case of one report links nowhere
    rows = re.findall(r'<th scope="row"><a href="/cases/([^"]+)">', page(worldwide=WORLDWIDE))
    assert sorted(rows) == sorted([ids[WORLDWIDE], ids["DE-BFARM-2023-77"]])


def test_a_failed_write_leaves_no_worldwide_tokens(store: CaseStore) -> None:
    """The tokens are written in the version's transaction: a transaction that fails keeps none of them."""
    from reporter.errors import ReporterError
    from reporter.store.repository import Write

    broken = _bundle(REGULATOR)
    broken["entry"][0]["resource"]["identifier"] = {}  # no C.1.1: refused
    with pytest.raises(ReporterError):
        store.write_all([Write(_bundle(MAH), author="test"), Write(broken, author="test")])
    assert _found(store, "Bundle", "case-identifier", (None, WORLDWIDE)) == []
    assert _found(store, "Composition", "case-identifier", (None, WORLDWIDE)) == []
