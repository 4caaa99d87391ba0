"""The case form's look-ups: `/lookup/<kind>?q=words` answers JSON {items: [{code, label...}], note?} for the
page's script (reporter/lookup.py does the searching), and the datalists the form carries so that the
look-ups also work without the script. Session-authenticated like the other pages; a request without a
session gets 401 JSON (not the login page: the caller is a script)."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.datastructures import MultiDict

from reporter import lookup
from reporter.web.pages import bp
from reporter.web.roles import can
from reporter.web.session import current_account

MAX_QUERY = 100


@bp.get("/lookup/<kind>", endpoint="lookup")
def lookup_json(kind: str):
    account = current_account()
    if account is None:
        return jsonify({"error": "not logged in"}), 401
    if not can("view"):
        return jsonify({"error": f"your role ({account.role}) may not view cases"}), 403
    search = lookup.KINDS.get(kind)
    if search is None:
        return jsonify({"error": f"no look-up {kind!r}", "kinds": sorted(lookup.KINDS)}), 404
    words = request.args.get("q", "").strip()[:MAX_QUERY]
    answer = search(words) if len(words) >= 2 else {"items": []}
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


def datalists(values: MultiDict) -> dict[str, list[tuple[str, str]]]:
    """The choices the form offers without a round trip: lab tests, units, routes, and the ids of the case's
    own drugs and reactions (for relative times and the drug-reaction assessments)."""
    from reporter.tables import routes

    tests = lookup.lab_tests()
    ids = {"drug-id": [], "reaction-id": []}
    for key, value in values.items(multi=True):
        for prefix, name in (("drugs[", "drug-id"), ("reactions[", "reaction-id")):
            if key.startswith(prefix) and key.endswith("].id") and key.count("[") == 1 and value.strip():
                ids[name].append((value.strip(), ""))
    return {
        "loinc": [(t["code"], t["label"]) for t in tests],
        "lab-name": list(dict.fromkeys((t["label"], t["code"]) for t in tests)),
        "ucum": [(lookup.shown_unit(u["code"]), u["label"]) for u in lookup.common_units()],
        "route": [(key, row.get("display", "")) for key, row in routes().items()],
        **ids,
    }


def meddra_note() -> str | None:
    """Said at the top of the form when there is no MedDRA release to look terms up in."""
    from reporter.meddra.hierarchy import hierarchy

    return None if hierarchy() is not None else lookup.meddra("")["note"]
