"""A safe YAML loader with YAML 1.2 scalars, for case files and for mappings/.

PyYAML follows YAML 1.1, where `no` (Norway, or the answer) is False and 2023-04-05 becomes a date.
Here only true/false are booleans and dates stay text, checked later at their own precision."""

from __future__ import annotations

import re
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (ten times faster); the pure-Python one otherwise.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_PLAIN_TAGS: dict[str, str] = {}  # plain scalar text -> resolved tag (keys and codes repeat across files)
_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class Yaml12Loader(_BASE):  # type: ignore[misc, valid-type]
    """libyaml parses; construction of plain str/map/seq nodes takes a direct path instead of PyYAML's
    generic state machine (three times faster on case files). Other tags, merge keys and non-scalar keys
    go through PyYAML's own constructor, so results and errors are the same."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return plain_tag(value)
        return super().resolve(kind, value, implicit)

    def construct_document(self, node: yaml.Node) -> Any:
        made: dict[int, Any] = {}

        def build(n: yaml.Node) -> Any:
            tag = n.tag
            if tag == _STR and n.__class__ is yaml.ScalarNode:
                return n.value
            done = made.get(id(n))
            if done is not None:
                return done
            if tag == _MAP and n.__class__ is yaml.MappingNode and all(
                    k.__class__ is yaml.ScalarNode and k.tag != "tag:yaml.org,2002:merge" for k, _ in n.value):
                out: dict[Any, Any] = {}
                made[id(n)] = out
                for k, v in n.value:
                    out[build(k)] = build(v)
                return out
            if tag == _SEQ and n.__class__ is yaml.SequenceNode:
                items: list[Any] = []
                made[id(n)] = items
                items.extend(build(c) for c in n.value)
                return items
            value = self.construct_object(n, deep=True)
            made[id(n)] = value
            return value

        data = build(node)
        self.constructed_objects, self.recursive_objects, self.state_generators = {}, {}, []
        self.deep_construct = False
        return data


class Yaml12Composer(_BASE):  # type: ignore[misc, valid-type]
    """Loader for compose(): node marks (line numbers) for error messages. libyaml's composer gives the
    same marks as PyYAML's pure-Python one (tests/test_yaml_onepass.py compares them) twelve times faster."""


for _loader in (Yaml12Loader, Yaml12Composer):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers
                if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


_RYAML_PLAIN: dict[str, bool] = {}


def _quoted_for_ryaml(text: str) -> bool:
    """Whether ryaml gives a string with this text only when it is quoted (it reads the text written plain
    as a number, boolean or null): then the source quoted it, and our loader reads a quoted text as the
    same string."""
    found = _RYAML_PLAIN.get(text)
    if found is None:
        try:
            found = _ryaml.loads(text).__class__ is not str  # type: ignore[union-attr]
        except Exception:  # whatever it refuses is not a plain number
            found = False
        if len(_RYAML_PLAIN) < 100_000:
            _RYAML_PLAIN[text] = found
    return found


class _PlainResolver(yaml.resolver.Resolver):
    """What a plain scalar's text resolves to under Yaml12Loader's rules, without a parser."""


_PlainResolver.yaml_implicit_resolvers = Yaml12Loader.yaml_implicit_resolvers
_RESOLVER = _PlainResolver()


def plain_tag(text: str) -> str:
    """The tag a plain (unquoted) scalar with this text resolves to, cached (keys and codes repeat)."""
    tag = _PLAIN_TAGS.get(text)
    if tag is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
        if len(_PLAIN_TAGS) < 100_000:
            _PLAIN_TAGS[text] = tag
    return tag


def load(text: str, source: str = "<input>") -> Any:
    """Parse YAML 1.2-style; aliases and nesting past the limit are refused (InputError) before anything is
    built: a 9-line alias bomb would otherwise expand to gigabytes.

    One pass over libyaml's events checks them and builds the plain documents case files are (one document
    of maps, lists and plain scalars). Anything else (tags, anchors, merge keys, non-scalar keys, several or
    no documents) is checked to the end and then loaded by PyYAML's own loader, for the same result."""
    from reporter.limits import InputError, yaml_depth

    max_depth = yaml_depth()
    fast = _fast_load(text, max_depth)
    if fast is not _NOT_FAST:
        return fast
    loader = Yaml12Loader(text)
    try:
        data, plain = _events(loader, max_depth, source, InputError)
    finally:
        loader.dispose()
    return data if plain else yaml.load(text, Loader=Yaml12Loader)


_INT = "tag:yaml.org,2002:int"
_SIMPLE = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"}


def _events(loader: Yaml12Loader, max_depth: int, source: str, error: type[Exception]) -> tuple[Any, bool]:
    """(the document, True) when it is plain; (None, False) when PyYAML's loader must build it. Raises
    `error` for an alias or nesting past max_depth, wherever it comes."""
    stack: list[Any] = []  # open collections; for a map, [dict, pending key or _NO_KEY]
    keys: list[Any] = []
    result: Any = None
    plain, documents, depth = True, 0, 0
    scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end, alias_event = yaml.MappingEndEvent, yaml.SequenceEndEvent, yaml.AliasEvent
    resolve, constructors, known_tags = loader.resolve, loader.yaml_constructors, _PLAIN_TAGS
    next_event = loader.get_event  # None after the stream's end
    while (event := next_event()) is not None:
        cls = event.__class__
        if cls is scalar_event:
            if not plain:
                continue
            if event.anchor is not None or event.tag not in (None, "!"):
                plain = False
                continue
            implicit = event.implicit
            tag = known_tags.get(event.value) if implicit[0] else None  # resolve()'s cache, without the call
            if tag is None:
                tag = resolve(yaml.ScalarNode, event.value, implicit)
            if tag == _STR:
                value: Any = event.value
            elif tag == _INT and (text := event.value).isdecimal() and text.isascii() and (
                    text[0] != "0" or text == "0"):  # plain decimal (a leading 0 is YAML 1.1 octal: PyYAML's)
                value = int(text)
            elif tag in _SIMPLE:
                value = constructors[tag](loader, yaml.ScalarNode(tag, event.value))
            else:
                plain = False
                continue
        elif cls is mapping_start or cls is sequence_start:
            depth += 1
            if depth > max_depth:
                raise error(f"YAML nested deeper than {max_depth} levels", location=_where(event, source))
            if not plain:
                continue
            if event.anchor is not None or event.tag not in (None, "!"):
                plain = False
                continue
            stack.append({} if cls is mapping_start else [])
            keys.append(_NO_KEY)
            continue
        elif cls is mapping_end or cls is sequence_end:
            depth -= 1
            if not plain:
                continue
            value = stack.pop()
            keys.pop()
        elif cls is alias_event:
            raise error("YAML aliases (*name) are not accepted in case files", location=_where(event, source),
                        hint="write the value out where it is needed")
        else:
            if cls is yaml.DocumentStartEvent:
                documents += 1
            continue
        # a finished value: the root, an item, a key or a key's value
        if not stack:
            result = value
        elif stack[-1].__class__ is list:
            stack[-1].append(value)
        elif keys[-1] is _NO_KEY:
            if isinstance(value, (dict, list)):
                plain = False  # a map or list as a key: PyYAML's constructor says what it makes of it
            keys[-1] = value
        else:
            stack[-1][keys[-1]] = value
            keys[-1] = _NO_KEY
    return result, plain and documents == 1


_NO_KEY = object()
_NOT_FAST = object()

# The fast path: ryaml (a YAML 1.2 parser in Rust that builds the Python objects itself, about three times
# quicker than libyaml's events through PyYAML) for the texts where its answer is provably ours. A text goes
# to it only without what it reads differently or what we refuse: anchors, aliases, tags, merge keys, complex
# keys, directives and document markers, tabs and control characters, line breaks other than LF and CRLF,
# and numbers YAML 1.1 and 1.2 may read apart (0o17, 0x1F, 1e5, -.5). Its result is then walked: nesting past
# the limit, or a string that our loader would not read as a string if it were written plain while ryaml
# would (1:30, 017, 1_000: YAML 1.1 numbers; whether it was quoted cannot be told), sends the text down the
# event path, which answers (or refuses, with the line) as before. "10019717" as a string passes: ryaml
# reads it plain as a number, so the source quoted it. What ryaml refuses (a duplicate key, an integer past
# 64 bits) goes down the event path too. tests/test_yaml_onepass.py compares the paths on generated texts.
# < for <<; the controls are C0 but LF and CR, DEL, C1, the Unicode line and paragraph separators and the BOM
_SLOW_CHARS = "&*!?%<\t" + "".join(map(chr, [*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20), *range(0x7f, 0xa0)])) + \
    "\u2028\u2029\ufeff"
_SLOW_WIDE = "".join(char for char in _SLOW_CHARS if ord(char) > 0x7f)  # looked for only in non-ASCII texts
_EXPONENT = re.compile(rb"[0-9.][eE][-+]?[0-9]")  # 1e5 is a number in YAML 1.2, text in 1.1 (which wants 1.0e+5)


def _classes(groups: dict[str, str]) -> bytes:
    """A bytes.translate table that writes each byte as the class letter of its group, other bytes as a space."""
    table = bytearray(b" " * 256)
    for letter, members in groups.items():
        for char in members:
            table[ord(char)] = ord(letter)
    return bytes(table)


# What the screen looks for, written in class letters so that each search is one search for a literal in the
# text's classes (a regex with classes over the text took several times longer; a literal regex finds two
# letters twice as fast as bytes.find): DE = a digit or point before an exponent mark (a candidate, matched
# exactly by _EXPONENT); 0x = 0o, 0x, 0b prefixes; S. = -. or +.; n... and nSSS = a document marker at a line
# start (nSSS a candidate for "\n---"); ! = a character the fast path leaves.
_NUMBER_CLASSES = _classes({"D": "0123456789.", "E": "eE"})
_TEXT_CLASSES = _classes({"0": "0", "x": "oOxXbB", "S": "-+", ".": ".", "n": "\n",
                          "!": "".join(char for char in _SLOW_CHARS if ord(char) < 0x80)})
_CANDIDATE_EXPONENT = re.compile(b"DE")
_SLOW_CLASSES = [re.compile(literal).search for literal in (rb"0x", rb"S\.", rb"n\.\.\.")]
_DOCUMENT_START = re.compile(rb"nSSS")


def _slow_text(text: str) -> bool:
    """Whether the text holds anything the fast path leaves to the event path: anchors, tags, controls...
    (_SLOW_CHARS), 0o/0x/0b numbers, -.5 or +.5, an exponent, a document marker, a lone CR."""
    data = text.encode("utf-8", "surrogatepass")
    if not text.isascii() and any(char in text for char in _SLOW_WIDE):
        return True
    for candidate in _CANDIDATE_EXPONENT.finditer(data.translate(_NUMBER_CLASSES)):
        if _EXPONENT.match(data, candidate.start()):
            return True
    classes = data.translate(_TEXT_CLASSES)
    return bool(b"!" in classes or any(search(classes) for search in _SLOW_CLASSES)
                or (_DOCUMENT_START.search(classes) and b"\n---" in data) or text.startswith(("---", "..."))
                or ("\r" in text and text.count("\r") != text.count("\r\n")))


try:
    import ryaml as _ryaml
except ImportError:  # no wheel for this platform: the event path serves every text
    _ryaml = None


def _fast_load(text: str, max_depth: int) -> Any:
    if _ryaml is None or _slow_text(text):
        return _NOT_FAST
    try:
        data = _ryaml.loads(text)
    except Exception:  # whatever ryaml refuses, the event path words (or reads)
        return _NOT_FAST
    return data if _plainly_ours(data, max_depth) else _NOT_FAST


def _plainly_ours(root: Any, max_depth: int) -> bool:
    """Whether every string of the result would be a string written plain too, and it nests at most
    max_depth collections deep."""
    known = _PLAIN_TAGS
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        items: Any
        if node.__class__ is dict:
            items = [*node, *node.values()]
        elif node.__class__ is list:
            items = node
        else:
            items = (node,)
            depth -= 1
        if depth > max_depth:
            return False
        for item in items:
            kind = item.__class__
            if kind is str:
                tag = known.get(item) or plain_tag(item)
                if tag != _STR and not _quoted_for_ryaml(item):
                    return False
            elif kind is dict or kind is list:
                stack.append((item, depth + 1))
    return True


def _where(event: yaml.Event, source: str) -> str:
    mark = event.start_mark
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source


def compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=Yaml12Composer)
