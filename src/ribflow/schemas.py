"""Versioned JSON Schemas of every topic (files in the repository's schemas/ folder)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

__all__ = ["SCHEMA_DIR", "ValidationError", "schema_names", "validate", "validator"]


def _schema_dir() -> Path:
    env = os.environ.get("RIBFLOW_SCHEMA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "schemas"


SCHEMA_DIR = _schema_dir()


def schema_names() -> list[str]:
    """Names such as ``bgp-updates.v1`` for every schemas/*.json file."""
    return sorted(p.name.removesuffix(".json") for p in SCHEMA_DIR.glob("*.json"))


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """The validator of schema ``name`` (``topic.vN``; a bare topic name takes its newest)."""
    path = SCHEMA_DIR / f"{name}.json"
    if not path.exists():
        versions = sorted(SCHEMA_DIR.glob(f"{name}.v*.json"))
        if not versions:
            raise KeyError(f"no schema {name!r} in {SCHEMA_DIR}")
        path = versions[-1]
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(name: str, message: Any) -> None:
    """Raise ``ValidationError`` (the most relevant one) unless ``message`` fits schema ``name``."""
    v = validator(name)
    errors = sorted(v.iter_errors(message), key=lambda e: e.path)
    if errors:
        raise errors[0]
