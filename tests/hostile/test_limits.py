"""Each hostile input from the reliability review is refused cleanly, with its location, by the library and the
CLI (no traceback, nothing built). Timings of the same inputs are printed by bench/attacks.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from reporter import limits, yaml12
from reporter.casefile.parse import load_data
from reporter.cli import main
from reporter.e2b import schemacheck, xmlsafe
from reporter.e2b.importer import import_file, import_loaded
from reporter.errors import InputError
from reporter.fhir.models import from_xml
from reporter.store.fhirdates import parse_range
from tests.hostile import attacks


def _cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def test_deep_json_is_refused_not_recursed() -> None:
    for text in (attacks.deep_json(1000), attacks.deep_json(100_000)):
        with pytest.raises(InputError, match="nested deeper than 64 levels"):
            limits.parse_json(text)
    limits.parse_json(attacks.deep_json(60))  # real documents nest far less, and pass


def _depth(value: object) -> int:
    """Nesting of a JSON value counted the plain way: a container is one level more than its deepest child."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=2), inner, max_size=3),
                     max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.integers(min_value=1, max_value=8))
def test_the_depth_bound_refuses_exactly_what_nests_past_it(value: object, bound: int) -> None:
    refused = False
    try:
        limits.check_depth(value, bound)
    except InputError:
        refused = True
    assert refused == (_depth(value) > bound)


def test_the_depth_bound_holds_at_and_past_its_edge() -> None:
    nested: object = "leaf"
    for level in range(1, 80):
        nested = [nested] if level % 2 else {"k": nested}
        if level <= 64:
            limits.check_depth(nested)
        else:
            with pytest.raises(InputError, match="nested deeper than 64 levels"):
                limits.check_depth(nested)
    limits.check_depth("a string is no level")
    with pytest.raises(InputError):  # a bound past Python's recursion limit still refuses, without a traceback
        limits.check_depth(_deep_list(5000), 100_000)


def _deep_list(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def test_yaml_aliases_and_deep_yaml_are_refused_with_their_line() -> None:
    with pytest.raises(InputError, match="aliases") as info:
        yaml12.load(attacks.YAML_ALIAS_BOMB, "bomb.yaml")
    assert info.value.location == "bomb.yaml:2:8"
    with pytest.raises(InputError, match="deeper than 64"):
        yaml12.load("a: " + "[" * 70 + "]" * 70, "deep.yaml")
    assert yaml12.load("a: &x 1\nb: 2\n") == {"a": 1, "b": 2}  # an anchor alone is harmless


@pytest.mark.parametrize("command", ["validate", "fhir", "render"])
def test_cli_refuses_alias_bombs_and_deep_json(command: str, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(attacks.YAML_ALIAS_BOMB)
    deep = tmp_path / "deep.json"
    deep.write_text(attacks.deep_case_json(1000))
    big = tmp_path / "big.json"
    big.write_text('{"case_id": ' + "9" * 5000 + "}")
    for path, message in ((bomb, "aliases"), (deep, "nested deeper"), (big, "invalid JSON")):
        result = _cli(command, str(path))
        assert result.exit_code in (1, 2) and message in result.output, result.output


def test_control_characters_are_refused_with_their_location() -> None:
    assert limits.forbidden_text({"a": [{"b": "ok"}, {"c": "x\x00y"}]}, "Bundle") == ("Bundle.a[1].c", "\x00")
    assert limits.forbidden_text({"a": "tab\tCR\rLF\n ✓"}, "Bundle") is None
    with pytest.raises(InputError, match="U\\+0001") as info:
        load_data('{"case_id": "A\\u0001B"}', "case.json")
    assert info.value.location == "case.json.case_id"


def test_dates_at_the_ends_of_the_calendar() -> None:
    start, end = parse_range("9999")
    assert start.year == 9999 and end.year == 9999 and end.month == 12
    assert parse_range("9999-12-31")[1] > parse_range("9999-12-31")[0]
    with pytest.raises(ValueError, match="out of range"):
        parse_range("0001-01-01T00:00:00+14:00")


def test_fhir_xml_with_many_attributes_or_elements_is_refused_before_conversion() -> None:
    with pytest.raises(InputError, match="64000 attributes"):
        from_xml(attacks.fhir_xml_attributes(64_000))
    with pytest.raises(InputError, match="more than 200000 XML elements"):
        from_xml(attacks.fhir_xml_elements(250_000))


def test_an_e2b_batch_has_room_for_the_receivers_largest_batch_and_no_more(shared_dir: Path) -> None:
    """A batch at FDA's and EMA's 20 MB limit holds 200,000-270,000 elements of the FDA examples' kind (75-100
    bytes an element, indented or not): more than FHIR XML's bound, so E2B batches have their own
    (e2b_xml_elements, room for 40 bytes an element). Past it the refusal says how to proceed."""
    source = attacks.e2b_source(shared_dir)
    bound = limits.limit("e2b_xml_elements")
    assert bound >= 20_000_000 // 40 > limits.limit("xml_elements")  # at 40 bytes an element, as the examples
    assert len(source) / len(xmlsafe.parse_bytes(source, "one.xml").root.xpath("//*")) > 40
    xmlsafe.parse_bytes(attacks.e2b_many_elements(source, 300_000), "many.xml")
    with pytest.raises(InputError, match=f"more than {bound} XML elements") as info:
        xmlsafe.parse_bytes(attacks.e2b_many_elements(source, bound), "bomb.xml")
    assert info.value.location.startswith("bomb.xml:") and "e2b_xml_elements" in info.value.hint


def test_e2b_element_with_200k_attributes_is_refused_with_its_line(shared_dir: Path) -> None:
    data = attacks.e2b_one_element_attributes(attacks.e2b_source(shared_dir))
    with pytest.raises(InputError, match="200000 attributes") as info:
        xmlsafe.parse_bytes(data, "big.xml")
    assert info.value.location.startswith("big.xml:")


def test_xsd_problems_are_counted_once_per_kind(e2b_schema_dir: Path, shared_dir: Path) -> None:
    loaded = xmlsafe.parse_bytes(attacks.e2b_many_errors(attacks.e2b_source(shared_dir)), "errors.xml")
    problems = schemacheck.validate(loaded, e2b_schema_dir)
    assert 0 < len(problems) <= limits.limit("schema_problems") + 1
    assert any("more like this" in p.message for p in problems)
    assert len({(p.path, p.message) for p in problems}) == len(problems)


@pytest.mark.parametrize("with_schema", [True, False])
def test_foreign_namespace_elements_are_reported_not_crashed_on(
        with_schema: bool, shared_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not with_schema:
        monkeypatch.delenv("REPORTER_E2B_SCHEMA_DIR", raising=False)
    path = tmp_path / "xinclude.xml"
    path.write_bytes(attacks.e2b_xinclude(attacks.e2b_source(shared_dir)))
    result = import_file(path)
    assert result.reports  # read, not crashed on; XInclude is never processed
    assert "root:x:0:0" not in str([r.bundle for r in result.reports])  # kept as text at most, never followed
    cli = _cli("import", str(path))
    assert cli.exit_code in (0, 1, 2)


def test_import_of_a_header_element_after_a_message(shared_dir: Path) -> None:
    """Found by the fuzzer: a batch-header element after a message made the importer look up a key
    the message's nodes do not have (KeyError)."""
    from lxml import etree

    data = attacks.e2b_source(shared_dir)
    root = etree.fromstring(data)
    first, message = root[0], root.find("{urn:hl7-org:v3}PORR_IN049016UV")
    root.append(etree.fromstring(etree.tostring(first)))
    assert message is not None
    import_loaded(xmlsafe.parse_bytes(etree.tostring(root), "moved.xml"))


def test_fuzz_seed_2492_with_xsd_imports_cleanly(e2b_schema_dir: Path, shared_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by bench/fuzz.py (e2b-import+xsd): a block moved outside its report made the sender's position
    lookup fail (ValueError in read.reader.position_in)."""
    from tests.hostile import targets

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    assert targets.e2b_import(2492, str(shared_dir)) in ("ok", "refused")


def test_the_fast_text_check_never_passes_a_forbidden_character() -> None:
    """forbidden_text first asks orjson's output; for every code point, in a key, a value or a list item, that
    pre-check says "clean" only when the exact walk finds nothing (it may send clean text to the walk)."""
    for code in range(0x110000):
        char = chr(code)
        forbidden = limits._FORBIDDEN.search(char) is not None
        for data in ({"k": f"a{char}b"}, {char: "x"}, [[char]]):
            assert not (forbidden and limits._clean_by_json(data)), hex(code)
            assert (limits.forbidden_text(data, "B") is not None) == forbidden, hex(code)
    # escapes written as text (a backslash then "b", "f", "u0001") are not control characters
    assert limits._clean_by_json({"a": "C:\\bin\\f\\u0001"})
    assert limits.forbidden_text({"a": "C:\\bin\\f\\u0001"}, "B") is None
    assert limits.forbidden_text({"a": "C:\\\x01"}, "B") == ("B.a", "\x01")  # an escaped backslash, then one
    assert limits.forbidden_text({"a": 2**70, "b": ("x\x01",)}, "B") is None  # not JSON for orjson: the walk


def _walk_within(root, max_elements: int, max_attributes: int, max_depth: int) -> bool:
    """The limits as the exact walk of check_xml_tree reads them."""
    nodes = list(root.iter())
    if len(nodes) > max_elements or any(len(node.attrib) > max_attributes for node in nodes):
        return False
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return False
        stack.extend((child, depth + 1) for child in node)
    return True


def test_the_fast_xml_tree_check_decides_as_the_walk() -> None:
    """check_xml_tree first asks libxml2 whether a document is within the limits; on random trees with
    comments, processing instructions, text and tails around each limit it must say what the walk says
    (never pass a tree the walk refuses)."""
    import random

    from lxml import etree

    rng = random.Random(16)
    decided = {True: 0, False: 0}
    for _ in range(1500):
        root = etree.Element("r")
        elements = [root]
        for _ in range(rng.randint(0, 40)):
            parent, kind = rng.choice(elements), rng.random()
            if kind < 0.15:
                parent.append(etree.Comment("c"))
            elif kind < 0.2:
                parent.append(etree.ProcessingInstruction("pi", "x"))
            else:
                child = etree.SubElement(parent, "e", {f"a{k}": "v" for k in range(rng.randint(0, 4))})
                child.text, child.tail = rng.choice(("t", None)), rng.choice(("x", None, None))
                elements.append(child)
        doc = etree.fromstring(etree.tostring(root))
        bounds = rng.randint(1, 45), rng.randint(0, 4), rng.randint(1, 12)
        expected = _walk_within(doc, *bounds)
        assert limits._xml_tree_within(doc, *bounds) == expected, (etree.tostring(doc), bounds)
        decided[expected] += 1
    assert min(decided.values()) > 100
