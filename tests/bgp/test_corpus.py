"""Every line of the real ExaBGP captures -> the events written by hand, field by field.

The expected events were read off the JSON lines (tests/data/bgp/README.md) and are written in
tests/bgp/corpus_lab.py and tests/bgp/corpus_consolidate.py (builders in tests/bgp/corpus.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ribflow.bgp.parser import EventBuilder
from ribflow.schemas import validate
from tests.bgp.corpus import EPOCH
from tests.bgp.corpus_consolidate import CONSOLIDATE
from tests.bgp.corpus_lab import BIRD, SAMPLES

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp"

CORPORA = [
    ("exabgp-samples.jsonl", SAMPLES),
    ("exabgp-samples-bird.jsonl", BIRD),
    ("exabgp-consolidate-gobgp.jsonl", CONSOLIDATE),
]


@pytest.mark.parametrize(("name", "expected"), CORPORA, ids=[c[0] for c in CORPORA])
def test_every_line_gives_the_hand_written_events(
    name: str, expected: list[list[dict[str, Any]]]
) -> None:
    lines = (DATA / name).read_bytes().splitlines()
    assert len(lines) == len(expected), "one expectation per line"
    builder = EventBuilder(epoch_ms=EPOCH)
    for number, (line, want) in enumerate(zip(lines, expected, strict=True), 1):
        got = builder.feed(line)
        events = [event for _, event in got]
        assert len(events) == len(want), f"line {number}: {len(events)} events, want {len(want)}"
        for event, wanted in zip(events, want, strict=True):
            for field in sorted(set(event) | set(wanted)):
                assert event.get(field, "<absent>") == wanted.get(field, "<absent>"), (
                    f"{name} line {number} field {field!r}"
                )
        for keys, event in got:
            assert keys == (event["router"].encode(),)
            validate("bgp-updates.v1", event)


def test_without_the_raw_bytes_confederations_stay_as_exabgp_labels_them() -> None:
    """BGP_WIRE_ASPATH=false: the parsed JSON is taken as is (ExaBGP's confed label bug shows)."""
    lines = (DATA / "exabgp-consolidate-gobgp.jsonl").read_bytes().splitlines()
    builder = EventBuilder(epoch_ms=EPOCH, wire_aspath=False)
    events = [e for line in lines for _, e in builder.feed(line)]
    confed = next(
        e
        for e in events
        if e["type"] == "update" and e["announce"] and e["announce"][0]["next_hop"] == "192.0.2.7"
    )
    assert [s["type"] for s in confed["attrs"]["as_path"]] == [
        "as-sequence",
        "as-sequence",
        "as-sequence",
        "as-set",
    ]


def test_router_id_key_mode_keys_by_the_id_from_the_open() -> None:
    lines = (DATA / "exabgp-samples-bird.jsonl").read_bytes().splitlines()
    builder = EventBuilder(epoch_ms=EPOCH, key_mode="router-id")
    got = [kv for line in lines for kv in builder.feed(line)]
    # before the OPEN the only name for the router is its address
    assert got[0][1]["router"] == "127.0.0.5" and got[0][0] == (b"127.0.0.5",)
    assert {e["router"] for _, e in got[1:]} == {"10.0.0.5"}
    assert all(k == (b"10.0.0.5",) for k, _ in got[1:])
    assert [e["seq"] for _, e in got[1:]] == list(range(len(got) - 1))
