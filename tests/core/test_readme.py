"""The README is the operator's contract: its commands are CI's, every setting has a line."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import ribflow
from ribflow.settings import AppSettings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def all_settings_classes() -> list[type[AppSettings]]:
    for mod in pkgutil.walk_packages(ribflow.__path__, "ribflow."):
        if mod.name.endswith("__main__"):
            continue
        importlib.import_module(mod.name)
    found: list[type[AppSettings]] = []
    todo: list[type[AppSettings]] = [AppSettings]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_setting_has_a_readme_line() -> None:
    missing = []
    for cls in all_settings_classes():
        for name, field in cls.model_fields.items():
            env = field.alias or name.upper()
            if f"`{env}`" not in README:
                missing.append(f"{cls.__name__}.{name} ({env})")
    assert not missing, "settings without a README line: " + ", ".join(sorted(set(missing)))


def test_readme_commands_are_what_ci_runs() -> None:
    block = re.search(r"## On a fresh machine\s+```sh\n(.*?)```", README, re.S)
    assert block, "README lacks the fresh-machine commands"
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands == ["./dev.sh lab", "./dev.sh test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec ./dev.sh test" in ci
