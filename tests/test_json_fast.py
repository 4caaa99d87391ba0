"""orjson on the API's hot path (stored JSON in, responses out) gives what the standard library gives, and what
orjson refuses (integers past 64 bits, NaN, non-string keys) still goes through the standard library."""

from __future__ import annotations

import json

from reporter.store.repository import json_loads
from reporter.web.negotiation import json_bytes


def _standard(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_responses_are_the_standard_compact_utf8_json() -> None:
    value = {"resourceType": "Bundle", "text": "é \u2028 <b> \"q\"", "n": [1, 2.5, -0.1, True, None],
             "nested": {"a": []}}
    assert json_bytes(value) == _standard(value)


def test_what_orjson_refuses_is_written_by_the_standard_library() -> None:
    huge = {"value": 2 ** 70, 1: "non-string key"}
    assert json_bytes(huge) == _standard(huge)


def test_stored_json_is_read_alike_and_nan_or_huge_integers_still_read() -> None:
    text = json.dumps({"a": "é", "b": [1, 2.5], "c": {"d": None}})
    assert json_loads(text) == json.loads(text)
    assert json_loads('{"v": 1180591620717411303424}') == {"v": 2 ** 70}
    nan = json_loads('{"v": NaN}')["v"]
    assert nan != nan
