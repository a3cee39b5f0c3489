"""The README is the operator's contract: its commands are CI's, every setting has a line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ribflow.settings_doc import render, settings_classes, update

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_every_setting_has_a_readme_line() -> None:
    missing = []
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            env = field.alias or name.upper()
            if f"| `{env}` |" not in README:
                missing.append(f"{cls.__name__}.{name} ({env})")
    assert not missing, "settings without a README line: " + ", ".join(sorted(set(missing)))


def test_settings_block_is_current() -> None:
    assert update(README) == README, "run: python -m ribflow.settings_doc --write README.md"
    assert render() in README


@pytest.mark.parametrize("app", ["bgp-bridge", "collector", "enricher"])
def test_an_app_readme_shows_its_settings_as_generated(app: str) -> None:
    text = (REPO / "apps" / app / "README.md").read_text()
    assert "<!-- settings:begin " in text, f"apps/{app}/README.md has no settings block"
    assert update(text) == text, f"run: python -m ribflow.settings_doc --write apps/{app}/README.md"


def test_readme_commands_are_what_ci_runs() -> None:
    block = re.search(r"## On a fresh machine\s+```sh\n(.*?)```", README, re.S)
    assert block, "README lacks the fresh-machine commands"
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands == ["./dev.sh lab", "./dev.sh test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec ./dev.sh test" in ci
