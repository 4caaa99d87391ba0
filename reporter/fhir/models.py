"""The only module that imports fhir.resources, and only its R4B models (wire-identical to R4 for every
resource this project uses; the package's default models are R5 and must not be used)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def _validate(resource: dict[str, Any], root: str) -> list[tuple[str, str]]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [(f"{root}.resourceType", "missing or not a string")]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return [(f"{root}.resourceType", f"{resource_type!r} is not an R4 resource type")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [(_fhirpath(root, err["loc"]), err["msg"].removeprefix("Value error, "))
                for err in exc.errors(include_url=False)]
    except (TypeError, ValueError, AttributeError) as exc:  # the models raise plain errors on some bad input
        return [(root, str(exc))]
    return []


def structure_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Parse a resource with the R4B models; a Bundle's entries are parsed one by one (faster than the
    Bundle as a whole, and each problem is located at its entry).

    Returns (FHIRPath-like location, message) for every structural problem: unknown or misspelt
    elements, wrong types, malformed dates/codes, missing required elements."""
    if resource.get("resourceType") != "Bundle" or not isinstance(resource.get("entry"), list):
        return _validate(resource, str(resource.get("resourceType", "Resource")))
    shell = {**resource, "entry": []}
    problems = []
    for i, entry in enumerate(resource["entry"]):
        if isinstance(entry, dict):
            shell["entry"].append({k: v for k, v in entry.items() if k != "resource"})
            if isinstance(entry.get("resource"), dict):
                rtype = entry["resource"].get("resourceType", "?")
                problems += _validate(entry["resource"], f"Bundle.entry[{i}].resource.ofType({rtype})")
        else:
            shell["entry"].append(entry)
    return _validate(shell, "Bundle") + problems


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{str(part).removesuffix('__ext')}"
    return path


# --- FHIR XML (service) ---------------------------------------------------------------------------------
# fhir_core's XML writer looks up each element's FHIR type by importing its model class by name, for every
# element of every resource (half the time of a Bundle's XML). The answer depends only on the field, which
# never changes: remember it. (A Bundle page in XML went from ~1 s to a fraction of that per Bundle.)
def _cache_type_lookup() -> None:
    from functools import lru_cache

    from fhir_core import xml_utils

    if not hasattr(xml_utils.get_fhir_type_name, "cache_info"):
        xml_utils.get_fhir_type_name = lru_cache(maxsize=8192)(xml_utils.get_fhir_type_name)


_cache_type_lookup()

# The FHIR XML form of a resource, through the R4B models, which know each element's order, cardinality
# and primitive type (what a JSON<->XML conversion needs and plain JSON does not carry).

def to_xml(resource: dict[str, Any]) -> bytes:
    """FHIR XML of a valid resource (raises ValueError for an invalid one)."""
    model = _model_class(resource.get("resourceType"))
    try:
        text = model.model_validate(resource).model_dump_xml(xml_declaration=True)
    except ValidationError as exc:
        raise ValueError(f"cannot render invalid {resource.get('resourceType')} as XML: {exc}") from exc
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _keep_number_text(data, resource)


def _keep_number_text(data: bytes, resource: dict[str, Any]) -> bytes:
    """Write numbers as the JSON had them: the models' XML writer goes through float (20 -> "20.0",
    1e21 -> "1e+21"), which changes a FHIR decimal's precision."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser=parser)

    def number_text(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return str(value) if isinstance(value, int) else repr(value)

    def walk(element: Any, obj: Any) -> None:
        if not isinstance(obj, dict):
            return
        seen: dict[str, int] = {}
        for child in element:
            if not isinstance(child.tag, str) or etree.QName(child).namespace != "http://hl7.org/fhir":
                continue
            name = etree.QName(child).localname
            position = seen.get(name, 0)
            seen[name] = position + 1
            value, underscore = obj.get(name), obj.get(f"_{name}")
            if isinstance(value, list):
                value = value[position] if position < len(value) else None
            if isinstance(underscore, list):
                underscore = underscore[position] if position < len(underscore) else None
            if child.get("value") is not None:
                text_value = number_text(value)
                if text_value is not None:
                    child.set("value", text_value)
                walk(child, underscore)
            elif name in ("resource", "contained") and len(child) and isinstance(value, dict):
                walk(child[0], value)
            else:
                walk(child, value if value is not None else underscore)

    walk(root, resource)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def from_xml(data: bytes) -> dict[str, Any]:
    """A resource from FHIR XML, as a JSON dict. Raises ValueError with the problem.

    The document is parsed with entities, DTDs and network access off; a DOCTYPE is refused."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             dtd_validation=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"malformed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise ValueError("XML with a DOCTYPE is refused")
    if etree.QName(root).namespace != "http://hl7.org/fhir":
        raise ValueError(f"root element {root.tag!r} is not in the FHIR namespace http://hl7.org/fhir")
    from reporter import limits

    limits.check_xml_tree(root, "body")  # before the models' conversion, which costs per attribute
    model = _model_class(etree.QName(root).localname)
    try:
        parsed = model.model_validate_xml(etree.tostring(root), xmlparser=parser)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = _fhirpath(etree.QName(root).localname, first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from exc
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a valid FHIR R4 {etree.QName(root).localname}: {exc}") from exc
    import json

    return json.loads(parsed.model_dump_json(exclude_none=True, by_alias=True))


def _model_class(resource_type: object):
    if not isinstance(resource_type, str):
        raise ValueError("missing resourceType")
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError) as exc:
        raise ValueError(f"{resource_type!r} is not an R4 resource type") from exc
