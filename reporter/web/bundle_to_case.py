"""A stored Bundle that came without a case file (API write, E2B import) -> a case file for the form.

The way back goes through the E2B(R3) mapping the project already keeps in both directions: the Bundle
is exported as ICH E2B XML (unchecked: the form shows what is wrong) and read back with the E2B importer's
case reader. Facts E2B does not carry (LOINC, ATC, RxNorm) do not come back; the form says so."""

from __future__ import annotations

from reporter.casefile.model import CaseFile
from reporter.errors import E2BError


def bundle_to_case(bundle: dict) -> CaseFile:
    from reporter.e2b import to_case, xmlsafe
    from reporter.e2b.export import build_batch, serialize
    from reporter.e2b.xmlsafe import HL7

    batch, _profile = build_batch([bundle], receiver_name="ich")
    loaded = xmlsafe.parse_bytes(serialize(batch), "stored Bundle")
    message = loaded.root.find(f"{{{HL7}}}PORR_IN049016UV")
    if message is None:
        raise E2BError("the stored Bundle gave no E2B message to read back", location="Bundle")
    case, _reader, why = to_case.message_to_case(message)
    if case is None:
        raise E2BError(f"the stored Bundle cannot be turned into a case file: {why}", location="Bundle",
                       hint="edit it through the API (PUT Bundle) instead")
    return case
