"""Attribute normalisation: every known attribute, odd shapes kept raw, never an exception."""

from __future__ import annotations

from typing import Any

import pytest

from ribflow.bgp.attrs import apply_wire_types, normalise_attrs


def test_every_known_attribute() -> None:
    got = normalise_attrs(
        {
            "origin": "egp",
            "as-path": {
                "1": {"element": "as-set", "value": [65100, 4294967295]},
                "0": {"element": "as-sequence", "value": [65010, 4200000001]},
            },
            "med": 0,
            "local-preference": 4294967295,
            "community": [[65535, 65281], [0, 0]],
            "large-community": [[4200000001, 1, 2]],
            "extended-community": [
                {"value": 842127122628615, "string": "target:65001:7"},
                {"value": 0x8800000000000001, "string": ""},
            ],
            "originator-id": "10.0.0.3",
            "cluster-list": ["10.0.0.3", "10.0.0.4"],
            "aggregator": "4200000003:192.0.2.99",
            "atomic-aggregate": True,
        }
    )
    assert got == {
        "origin": "egp",
        "as_path": [
            {"type": "as-sequence", "asns": [65010, 4200000001]},
            {"type": "as-set", "asns": [65100, 4294967295]},
        ],
        "med": 0,
        "local_pref": 4294967295,
        "communities": ["65535:65281", "0:0"],
        "large_communities": ["4200000001:1:2"],
        "ext_communities": ["target:65001:7", "0x8800000000000001"],
        "originator_id": "10.0.0.3",
        "cluster_list": ["10.0.0.3", "10.0.0.4"],
        "aggregator": "4200000003:192.0.2.99",
        "atomic_aggregate": True,
    }


def test_aggregator_in_exabgps_object_form() -> None:
    assert normalise_attrs({"aggregator": {"asn": 65020, "speaker": "192.0.2.9"}}) == {
        "aggregator": "65020:192.0.2.9"
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("origin", "sideways"),
        ("med", "0x10"),
        ("med", -1),
        ("med", True),
        ("local-preference", 2**32),
        ("as-path", {"0": {"element": "as-wobble", "value": [1]}}),
        ("as-path", [1, 2]),
        ("community", [[1, 2, 3]]),
        ("large-community", [[1, 2]]),
        ("cluster-list", "10.0.0.1"),
        ("originator-id", 5),
        ("aggregator", "nonsense"),
        ("atomic-aggregate", "yes"),
    ],
)
def test_odd_shapes_are_kept_raw_and_reported(name: str, value: Any) -> None:
    bad: list[str] = []
    got = normalise_attrs(
        {name: value, "origin": "igp"} if name != "origin" else {name: value}, bad.append
    )
    assert got["raw"] == {name: value}
    assert bad == [name]


def test_unknown_attributes_are_raw_without_a_report() -> None:
    bad: list[str] = []
    got = normalise_attrs(
        {"attribute-0x63-0xE0": "0xdeadbeef", "aigp": "0x000000000000000a"}, bad.append
    )
    assert got == {"raw": {"attribute-0x63-0xE0": "0xdeadbeef", "aigp": "0x000000000000000a"}}
    assert bad == []


def test_wire_types_replace_only_when_the_segment_count_matches() -> None:
    attrs = normalise_attrs(
        {
            "as-path": {
                "0": {"element": "as-sequence", "value": [1, 2]},
                "1": {"element": "as-sequence", "value": [3]},
            }
        }
    )
    apply_wire_types(attrs, ["as-sequence"])
    assert [s["type"] for s in attrs["as_path"]] == ["as-sequence", "as-sequence"]
    apply_wire_types(attrs, None)
    apply_wire_types(attrs, ["confed-sequence", "as-sequence"])
    assert [s["type"] for s in attrs["as_path"]] == ["confed-sequence", "as-sequence"]
    empty = normalise_attrs({})
    apply_wire_types(empty, ["as-set"])
    assert empty == {}
