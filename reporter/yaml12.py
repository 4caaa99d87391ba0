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
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_TAGS) < 100_000:
                    _PLAIN_TAGS[value] = tag
            return tag
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


class Yaml12Composer(yaml.SafeLoader):
    """Pure-Python loader for compose(): node marks (line numbers) for error messages."""


for _loader in (Yaml12Loader, Yaml12Composer):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers
                if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


def load(text: str, source: str = "<input>") -> Any:
    """Parse YAML 1.2-style; aliases and nesting past the limit are refused (InputError) before anything is
    built: a 9-line alias bomb would otherwise expand to gigabytes."""
    from reporter.limits import check_yaml_events

    check_yaml_events(text, Yaml12Loader, source)
    return yaml.load(text, Loader=Yaml12Loader)


def compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=Yaml12Composer)
