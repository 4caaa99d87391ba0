"""The case-file YAML loader checks and builds in one pass over libyaml's events: for any text it gives what
PyYAML's own loader (with the YAML 1.2 scalars) gives, and refuses aliases and deep nesting where the event
stream has them."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reporter import yaml12
from reporter.errors import InputError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["no", "yes", "2023-04-05", "0x1F", "1_000", "~", "=",
                                                           "<<", ".inf", "True", "07", "0", "00", "+5",
                                                           "1:30", "\u0663", "12345678901234567890"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=6) | st.integers(0, 9),
                                                                        inner, max_size=4)), max_leaves=25)


def _reference(text: str):
    """PyYAML's loader after the old separate event check."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml12.Yaml12Loader):
        if isinstance(event, yaml.AliasEvent):
            return ("refused", "aliases")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > 64:
                return ("refused", "nested deeper")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return ("ok", yaml.load(text, Loader=yaml12.Yaml12Loader))


def _onepass(text: str):
    try:
        return ("ok", yaml12.load(text, "t.yaml"))
    except InputError as exc:
        return ("refused", "aliases" if "aliases" in str(exc) else "nested deeper")


def _outcome(fn, text: str):
    try:
        return fn(text)
    except yaml.YAMLError as exc:
        return ("yaml error", str(exc))


@settings(max_examples=300, deadline=None)
@given(values, st.booleans(), st.integers(0, 400), st.sampled_from(["", "&a ", "*a", "!!str ", "- ", ": ", "[", "{",
                                                                       "<<: ", "? ", "\n  ", "'", "#"]))
def test_same_result_as_pyyaml_for_any_text(value, flow: bool, cut: int, insert: str) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    for candidate in (text, text[:cut] + insert + text[cut:]):
        assert repr(_outcome(_onepass, candidate)) == repr(_outcome(_reference, candidate))


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: " + "[" * 70 + "]" * 70 + "\n", "--- 1\n--- 2\n", "",
                                  "<<: {a: 1}\nb: 2\n", "? [1, 2]\n: x\n", "a: !!str 12\n"])
def test_unusual_documents(text: str) -> None:
    assert repr(_outcome(_onepass, text)) == repr(_outcome(_reference, text))


def _marks(loader: type, text: str):
    """Every node's start line and column, in document order, or the error's kind."""
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        return ("yaml error", type(exc).__name__)
    found: list[tuple[str, int, int]] = []

    def walk(node: yaml.Node) -> None:
        found.append((node.id, node.start_mark.line, node.start_mark.column))
        children = node.value if isinstance(node, yaml.CollectionNode) else []
        for child in children:
            for part in child if isinstance(child, tuple) else (child,):
                walk(part)

    if root is not None:
        walk(root)
    return ("ok", found)


@settings(max_examples=300, deadline=None)
@given(values, st.booleans(), st.integers(0, 400), st.sampled_from(["", "\r\n", "\u0085", "\u2028", "\t", "# x\n",
                                                                       "'a\nb'", '"a\\\nb"', "|\n  x\n", ">\n  y\n"]))
def test_line_marks_are_pyyamls(value, flow: bool, cut: int, insert: str) -> None:
    """Case-file problems name lines from libyaml's composer (twelve times faster): the same lines and
    columns as PyYAML's pure-Python composer for any text, line breaks of every kind included."""
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    for candidate in (text, text[:cut] + insert + text[cut:]):
        fast, slow = _marks(yaml12.Yaml12Composer, candidate), _marks(yaml.SafeLoader, candidate)
        if fast[0] == slow[0] == "ok":  # the two parsers differ on a few odd texts (a tab inside a plain word)
            assert fast == slow


tricky = st.sampled_from(["0o17", "0O17", "1e5", "1.5e5", "1.5e+5", "-.5", "+.5", ".5", "1.", "017", "1_000", "0b101",
                          "+5", "-0", ".inf", "-.inf", ".NaN", ".nan", "0x1F", "0x1f_ff", "1:30", "190:20:30",
                          "yes", "No", "on", "OFF", "y", "~", "Null", "NULL", "", " lead", "trail ", "a: b", "- x",
                          "#x", "'q'", '"dq"', "multi\nline", "tab\tin", "\u0085", "\u2028", "é", "\U0001f600",
                          "2023-04-05T10:00:00Z", "12345678901234567890", "9223372036854775808", "1e400",
                          "=", "<<", "&a", "*a", "!x", "? k", "%YAML", "---", "...", "\r", "x\r\ny", "0.1", "100"])
fast_values = st.recursive(st.one_of(scalars, tricky),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=6) | tricky | st.integers(0, 9),
                                                                   inner, max_size=4)), max_leaves=25)


@settings(max_examples=500, deadline=None)
@given(fast_values, st.booleans(), st.sampled_from([None, '"', "'"]), st.integers(0, 400),
       st.sampled_from(["", " ", "\n", "\r\n", "-", ".", "e5", "0o", "1", ":", "'", '"']))
def test_the_fast_path_answers_as_pyyaml(value, flow: bool, style, cut: int, insert: str) -> None:
    """ryaml reads the texts yaml12._fast_load hands it as PyYAML's loader with the YAML 1.2 scalars does;
    every other text goes down the event path (compared with PyYAML above)."""
    text = yaml.safe_dump(value, default_flow_style=flow, default_style=style, allow_unicode=True)
    for candidate in (text, text[:cut] + insert + text[cut:]):
        fast = yaml12._fast_load(candidate, 64)
        if fast is not yaml12._NOT_FAST:
            assert repr(("ok", fast)) == repr(_outcome(_reference, candidate)), candidate


@pytest.mark.skipif(yaml12._ryaml is None, reason="ryaml has no wheel for this platform (not installed)")
def test_the_fast_path_reads_the_demo_cases() -> None:
    """The gate is not so wide that case files never take the fast path (it would still be correct)."""
    from pathlib import Path

    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        text = path.read_text(encoding="utf-8")
        assert yaml12._fast_load(text, 64) is not yaml12._NOT_FAST
        assert yaml12._fast_load(text, 64) == yaml.load(text, Loader=yaml12.Yaml12Loader)


def _slow_by_the_rules(text: str) -> bool:
    """The fast path's screen written as its rules read, one search each (yaml12._slow_text is the quick one)."""
    import re

    return bool(any(char in text for char in yaml12._SLOW_CHARS) or re.search("0[oOxXbB]", text)
                or any(part in text for part in ("\n---", "\n...", "-.", "+."))
                or text.startswith(("---", "...")) or re.search("[0-9.][eE][-+]?[0-9]", text)
                or ("\r" in text and text.count("\r") != text.count("\r\n")))


screen_parts = st.sampled_from(["0", "1", ".", "e", "E", "-", "+", "o", "x", "B", "\n", "\r", "\t", "&", "*", "!",
                                "?", "%", "<", " ", "a", "é", "\x85", "\u2028", "\ufeff", "\x7f", "\x00", "---",
                                "...", "1e5", "0x", "\n---", "-.", "😀"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(screen_parts | st.text(max_size=3), max_size=40))
def test_the_fast_paths_screen_is_its_rules(parts: list[str]) -> None:
    text = "".join(parts)
    assert yaml12._slow_text(text) == _slow_by_the_rules(text), repr(text)
