"""The README is checked like code: its two commands come first, and it names every setting and command."""

from __future__ import annotations

import re

from reporter import config
from reporter.cli import main
from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_two_commands_come_first():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)
    assert blocks[:2] == ['pip install . && reporter demo', 'pip install ".[test]" && python -m pytest -q']


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m pytest -q" in ci and 'pip install -q ".[test]"' in ci


def test_every_setting_is_documented():
    for env, default, _ in config.describe():
        row = next((line for line in README.splitlines() if line.startswith(f"| `{env}`")), None)
        assert row, f"{env} is missing from the README's configuration table"
        assert (default or "(none)") in row, f"{env}: the README gives another default than {default!r}"


def test_every_command_is_documented():
    for name in main.commands:
        assert f"`reporter {name}" in README, f"`reporter {name}` is missing from the README"
