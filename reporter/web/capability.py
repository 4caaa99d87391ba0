"""The CapabilityStatement served at /fhir/metadata, built from what the API actually supports."""

from __future__ import annotations

import datetime as _dt
from importlib.metadata import PackageNotFoundError, version

from reporter.store.searchparams import SearchParam, params_of
from reporter.web.search import searchable, supported_params

_STARTED = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

_READ_ONLY = ("read", "vread", "history-instance", "history-type", "search-type")


def _software_version() -> str:
    try:
        return version("fhir-ae-reporter")
    except PackageNotFoundError:
        return "0.0.0+source"


def _search_param(name: str, param: SearchParam) -> dict:
    """One CapabilityStatement searchParam; this project's own say what they find (`documentation`)."""
    out = {"name": name, "definition": param.definition, "type": param.type}
    if param.documentation:
        out["documentation"] = param.documentation
    return out


def capability_statement(base: str) -> dict:
    resources = []
    for resource_type in searchable():
        writable = resource_type == "Bundle"
        interactions = [*_READ_ONLY, *(("create", "update") if writable else ())]
        resources.append({
            "type": resource_type,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update" if writable else "versioned",
            "readHistory": True,
            "updateCreate": False,
            "conditionalCreate": writable,  # If-None-Exist (reporter/web/conditional.py)
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "conditionalRead": "full-support",
            "searchInclude": [f"{resource_type}:{name}" for name, kind, _ in supported_params(resource_type)
                              if kind == "reference"] or None,
            "searchRevInclude": _revincludes(resource_type) or None,
            "searchParam": [_search_param(name, param) for name, param in params_of(resource_type).items()],
            "operation": [
                {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"},
                *([{"name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}]
                  if resource_type == "Patient" else []),
                *([{"name": "e2b", "definition": "http://fhir-ae-reporter.org/OperationDefinition/Bundle-e2b",
                    "documentation": "GET Bundle/<id>/$e2b?receiver=ich|fda|ema: the case as a checked "
                                     "ICH E2B(R3) batch (application/xml)"},
                   {"name": "pdf", "definition": "http://fhir-ae-reporter.org/OperationDefinition/Bundle-pdf",
                    "documentation": "GET Bundle/<id>/$pdf: the case as a CIOMS I form (application/pdf)"},
                   {"name": "html", "definition": "http://fhir-ae-reporter.org/OperationDefinition/Bundle-html",
                    "documentation": "GET Bundle/<id>/$html: the case report page with its validation panel "
                                     "(text/html; ?download for an attachment)"}] if writable else []),
            ],
        })
    resources.append({"type": "Binary", "interaction": [{"code": "read"}],
                      "documentation": "Received E2B(R3) files kept verbatim (Binary/<sha256>), named by the "
                                       "DocumentReference of each imported case version; the file's own bytes "
                                       "unless FHIR JSON or XML is asked for"})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _STARTED,  # an instance statement: it describes this server as started
        "kind": "instance",
        "software": {"name": "fhir-ae-reporter", "version": _software_version()},
        "implementation": {"description": "FHIR adverse-event reporter: ICSR case store", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", "xml"],
        "rest": [{
            "mode": "server",
            "documentation": "Search takes _include and _revinclude with the R4 :iterate modifier (applied to "
                             "the included resources too, at most 4 rounds and 1000 resources). History (instance, "
                             "type, system) pages with _count and a next link. Subscriptions: rest-hook channel; "
                             "criteria are searches as declared here; endpoints must be on the server's allow-list.",
            "security": {
                "cors": False,
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}],
                             "text": "SMART Backend Services (client credentials with a signed JWT)"}],
                "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                               "extension": [{"url": "token", "valueUri": _token_url(base)}]}],
                "description": "Bearer tokens (Authorization: Bearer <token>) with scopes read, write and "
                               "submit ($e2b, of versions a reviewer has approved on the case page); "
                               "create one with `reporter token create --scope read --scope write`, or get a "
                               "short-lived one as a SMART backend-services client (see "
                               ".well-known/smart-configuration; `reporter smart-client add`).",
            },
            "resource": [{k: v for k, v in r.items() if v is not None} for r in [*resources, *_server_kept()]],
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            "operation": [{"name": "tabulate",
                           "definition": "http://fhir-ae-reporter.org/OperationDefinition/tabulate",
                           "documentation": "GET $tabulate?by=FIELD&where=FIELD=VALUE: counts of stored cases "
                                            "with % of the known, Wilson 95% CI and latency, as Parameters"},
                          {"name": "disproportionality",
                           "definition": "http://fhir-ae-reporter.org/OperationDefinition/disproportionality",
                           "documentation": "GET $disproportionality?drug=&event=&level=pt|soc&min-cases=3: PRR, "
                                            "ROR and IC with the 2x2 table of each drug-event pair, as Parameters"},
                          {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                           "documentation": "Bulk Data export (async, NDJSON, _type and _since); "
                                            "Prefer: respond-async"}],
        }],
    }


def _revincludes(resource_type: str) -> list[str]:
    """Reference parameters of any type that may point at `resource_type`."""
    from reporter.store.searchparams import params_of

    return [f"{source}:{name}" for source in searchable() for name, p in params_of(source).items()
            if p.type == "reference" and (not p.targets or resource_type in p.targets)]


def _token_url(base: str) -> str:
    return base.removesuffix("/fhir") + "/auth/token"


def _server_kept() -> list[dict]:
    """Group (for Group-level export) and Subscription (rest-hook), kept by the server beside the cases."""
    common = {"interaction": [{"code": c} for c in ("read", "create", "update", "delete", "search-type")],
              "versioning": "versioned-update", "readHistory": False, "updateCreate": False,
              "conditionalCreate": False, "conditionalUpdate": False, "conditionalDelete": "not-supported"}
    id_param = {"name": "_id", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id", "type": "token"}
    return [
        {"type": "Group", **common, "searchParam": [id_param],
         "documentation": "A list of patients (type person, actual true, members Patient/<id> of this server) "
                          "for Group-level Bulk Data export",
         "operation": [{"name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}]},
        {"type": "Subscription", **common,
         "searchParam": [id_param, {"name": "status", "type": "token",
                                    "definition": "http://hl7.org/fhir/SearchParameter/Subscription-status"}],
         "documentation": "rest-hook channel; payload absent (empty POST) or application/fhir+json (PUT of the "
                          "resource to <endpoint>/<Type>/<id>)"},
    ]
