"""Whatever arrives on stdin, the parser returns schema-valid events or raises BadLine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ribflow.bgp.errors import BadLine
from ribflow.bgp.parser import EventBuilder
from ribflow.schemas import validate

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp"
# ExaBGP's own output, except what it writes as invalid JSON (the Prefix-SID line, test_vpn.py)
REAL = [
    orjson.loads(x)
    for f in sorted(DATA.glob("*.jsonl"))
    for x in f.read_bytes().splitlines()
    if b"%d" not in x
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def mutate(obj: Any, path: list[str | int], value: Any) -> Any:
    """Replace the value at ``path`` (clamped to what exists) with ``value``."""
    if not path or not isinstance(obj, (dict, list)) or not obj:
        return value
    if isinstance(obj, dict):
        key = list(obj)[hash(path[0]) % len(obj)]
        return {**obj, key: mutate(obj[key], path[1:], value)}
    i = hash(path[0]) % len(obj)
    return [*obj[:i], mutate(obj[i], path[1:], value), *obj[i + 1 :]]


def check(builder: EventBuilder, raw: bytes) -> None:
    try:
        events = builder.feed(raw)
    except BadLine as exc:
        assert exc.reason
        return
    for keys, event in events:
        assert keys
        validate("bgp-updates.v1", event)
        orjson.dumps(event)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(REAL),
    st.lists(st.text(max_size=8) | st.integers(0, 9), max_size=6),
    json_values,
)
def test_mutated_real_lines(base: Any, path: list[str | int], value: Any) -> None:
    check(EventBuilder(epoch_ms=1), orjson.dumps(mutate(base, path, value)))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(raw: bytes) -> None:
    check(EventBuilder(epoch_ms=1), raw)
