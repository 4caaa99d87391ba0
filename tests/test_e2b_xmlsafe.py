"""Hardened XML loading: entity bombs, external entities, DTDs, size limit, malformed XML, wrong root."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporter.e2b import xmlsafe
from reporter.errors import InputError

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"><id extension="&lol9;"/></MCCI_IN200100UV01>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"><id extension="&xxe;"/></MCCI_IN200100UV01>
"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>
<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"/>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, XXE_PARAMETER], ids=["bomb", "xxe", "param-entity"])
def test_dtd_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(InputError, match="DTDs and entities are refused") as info:
        xmlsafe.parse_bytes(data, "evil.xml")
    assert info.value.location == "evil.xml:2"


def test_doctype_in_utf16_is_refused_too() -> None:
    data = XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    with pytest.raises(InputError, match="DOCTYPE"):
        xmlsafe.parse_bytes(data.encode("utf-16"), "evil16.xml")


def test_malformed_xml_names_the_line() -> None:
    with pytest.raises(InputError, match="malformed XML") as info:
        xmlsafe.parse_bytes(b"<a xmlns='urn:hl7-org:v3'>\n<b>\n</a>", "broken.xml")
    assert info.value.location == "broken.xml:3"


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<a>" + b"x" * 2000 + b"</a>")
    monkeypatch.setenv("REPORTER_MAX_UPLOAD_BYTES", "1000")
    with pytest.raises(InputError, match="over the 1000-byte limit"):
        xmlsafe.load(big)
    with pytest.raises(InputError, match="over the 1000-byte limit"):
        xmlsafe.parse_bytes(big.read_bytes())


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        xmlsafe.load("/nonexistent/batch.xml")


def test_wrong_root() -> None:
    loaded = xmlsafe.parse_bytes(b"<html><body/></html>", "page.html")
    with pytest.raises(InputError, match="root element is html, expected MCCI_IN200100UV01") as info:
        xmlsafe.expect_root(loaded, "MCCI_IN200100UV01")
    assert info.value.location == "page.html:1"


def test_plain_xml_loads() -> None:
    data = b'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"><!-- c --><id/></MCCI_IN200100UV01>'
    loaded = xmlsafe.parse_bytes(data)
    assert xmlsafe.expect_root(loaded, "MCCI_IN200100UV01") == "MCCI_IN200100UV01"
