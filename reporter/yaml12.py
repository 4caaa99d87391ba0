"""A safe YAML loader with YAML 1.2 scalars, for case files and for mappings/.

PyYAML follows YAML 1.1, where `no` (Norway, or the answer) is False and 2023-04-05 becomes a date.
Here only true/false are booleans and dates stay text, checked later at their own precision."""

from __future__ import annotations

import re
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (ten times faster); the pure-Python one otherwise.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Yaml12Loader(_BASE):  # type: ignore[misc, valid-type]
    pass


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
