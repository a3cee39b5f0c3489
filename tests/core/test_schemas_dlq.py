from __future__ import annotations

import json

import orjson
import pytest

from ribflow.dlq import DeadLetters, dead_letter_envelope
from ribflow.schemas import SCHEMA_DIR, ValidationError, schema_names, validate, validator
from tests.fixtures.producer import FakeProducer


def test_every_schema_is_valid_json_schema() -> None:
    names = schema_names()
    assert {"dlq.v1", "bgp-updates.v1", "flows.v1"} <= set(names)
    for name in names:
        doc = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
        assert doc.get("$id", "").endswith(f"{name}.json"), name
        validator(name)  # raises SchemaError when the schema itself is broken


def test_dead_letter_envelope_validates_and_keeps_raw_bytes() -> None:
    prod = FakeProducer()
    DeadLetters(prod, "flows-dlq", "collector").send(
        b"\xff\x00garbage", "unknown-version", source_key="127.0.0.1"
    )
    topic, value, key, _ = prod.sent[0]
    env = orjson.loads(value)
    validate("dlq", env)
    assert topic == "flows-dlq" and key == b"127.0.0.1"
    assert env["raw"] is None and env["raw_b64"] == "/wBnYXJiYWdl"
    text = dead_letter_envelope("{not json", "bad-json", "bridge")
    validate("dlq.v1", text)
    assert text["raw"] == "{not json"


@pytest.mark.parametrize(
    "broken",
    [
        {"v": 1, "time_ms": 1, "component": "x", "reason": "r"},  # no raw_b64
        {"v": 2, "time_ms": 1, "component": "x", "reason": "r", "raw_b64": ""},
        {"v": 1, "time_ms": -5, "component": "x", "reason": "r", "raw_b64": ""},
        {"v": 1, "time_ms": 1, "component": "x", "reason": "", "raw_b64": "", "extra": 1},
    ],
)
def test_broken_envelopes_are_rejected(broken: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        validate("dlq.v1", broken)


def test_contract_examples() -> None:
    update = {
        "v": 1,
        "type": "update",
        "router": "127.0.0.3",
        "peer": "127.0.0.3",
        "time_ms": 1,
        "epoch": 1,
        "seq": 0,
        "attrs": {
            "origin": "igp",
            "as_path": [{"type": "as-sequence", "asns": [65010, 4200000001]}],
            "communities": ["65001:1"],
        },
        "announce": [
            {
                "family": "ipv4 unicast",
                "next_hop": "192.0.2.1",
                "nlri": [{"prefix": "203.0.113.0/24", "path_id": 0}],
            }
        ],
        "withdraw": [],
    }
    validate("bgp-updates", update)
    with pytest.raises(ValidationError):
        validate("bgp-updates", {**update, "attrs": {"communities": ["not-a-community"]}})
    with pytest.raises(ValidationError):
        validate("bgp-updates", {k: v for k, v in update.items() if k != "announce"})
    session = {
        "v": 1,
        "type": "session",
        "router": "r",
        "peer": "r",
        "time_ms": 1,
        "epoch": 1,
        "seq": 1,
        "state": "sideways",
    }
    with pytest.raises(ValidationError):
        validate("bgp-updates", session)
