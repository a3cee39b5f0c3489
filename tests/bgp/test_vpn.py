"""L3VPN, labelled unicast, RFC 8950 next hops and ExaBGP's broken Prefix-SID JSON in the bridge.

The corpus (tests/data/bgp/exabgp-vpn-gobgp.jsonl) is ExaBGP 5.0.15's real output of a real gobgpd
session; the expected values below are the routes given to gobgp (see the README there), and the
RD types are those gobgp itself reports (``gobgp global rib -a vpnv4 -j``: rd.type).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.bgp.errors import BadLine
from ribflow.bgp.exabgp_config import render_neighbor
from ribflow.bgp.metrics import ATTR_DROPPED, RD_GUESSED, REPAIRED, BridgeMetrics
from ribflow.bgp.neighbors import NeighborSpec
from ribflow.bgp.parser import EventBuilder
from ribflow.bgp.rd import RdReader
from ribflow.bgp.repair import drop_bad_attributes, repair_prefix_sid
from ribflow.bgp.settings import BridgeSettings
from ribflow.schemas import validate

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bgp" / "exabgp-vpn-gobgp.jsonl"
RR = {"origin": "incomplete", "local_pref": 100, "originator_id": "10.0.4.21"}


def lines() -> list[bytes]:
    return CORPUS.read_bytes().splitlines()


def updates(builder: EventBuilder, raw: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for line in raw:
        for _, event in builder.feed(line):
            validate("bgp-updates.v1", event)
            if event["type"] == "update":
                out.append(dict(event))
    return out


def vpn(prefix: str, rd: str, labels: list[int]) -> dict[str, Any]:
    return {"prefix": prefix, "path_id": 0, "rd": rd, "labels": labels}


def test_the_corpus_routes_arrive_with_their_rd_labels_and_next_hops() -> None:
    b = EventBuilder(epoch_ms=1)
    got = [(u["announce"], u["withdraw"]) for u in updates(b, lines())]
    unicast = [{"prefix": "10.1.0.0/24", "path_id": 0}]
    expected = [
        # RFC 8950: an IPv4 route with an IPv6 next hop
        ([{"family": "ipv4 unicast", "next_hop": "2001:db8::1", "nlri": unicast}], []),
        # VPNv4 with an IPv6 next hop, and the same prefix in a second VRF
        (
            [
                {
                    "family": "ipv4 mpls-vpn",
                    "next_hop": "2001:db8::2",
                    "nlri": [vpn("10.2.0.0/24", "0:65001:10", [100])],
                }
            ],
            [],
        ),
        (
            [
                {
                    "family": "ipv4 mpls-vpn",
                    "next_hop": "192.0.2.20",
                    "nlri": [vpn("10.2.0.0/24", "0:65001:20", [200])],
                }
            ],
            [],
        ),
        (
            [
                {
                    "family": "ipv6 mpls-vpn",
                    "next_hop": "2001:db8::3",
                    "nlri": [vpn("2001:db8:a::/48", "1:1.2.3.4:7", [300])],
                }
            ],
            [],
        ),
        # the Prefix-SID route (attributes checked below)
        (
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.40",
                    "nlri": [{"prefix": "10.40.0.0/24", "path_id": 0}],
                }
            ],
            [],
        ),
        # labelled unicast: unicast plus the label stack
        (
            [
                {
                    "family": "ipv4 nlri-mpls",
                    "next_hop": "192.0.2.33",
                    "nlri": [{"prefix": "10.3.0.0/24", "path_id": 0, "labels": [16, 17]}],
                }
            ],
            [],
        ),
        (
            [
                {
                    "family": "ipv6 nlri-mpls",
                    "next_hop": "2001:db8::33",
                    "nlri": [{"prefix": "2001:db8:3::/48", "path_id": 0, "labels": [18]}],
                }
            ],
            [],
        ),
        # gobgp's CLI turns rd 4200000000:7 into type 0 65535:7 (gobgp -j says so too)
        (
            [
                {
                    "family": "ipv4 mpls-vpn",
                    "next_hop": "192.0.2.44",
                    "nlri": [vpn("10.4.0.0/24", "0:65535:7", [400])],
                }
            ],
            [],
        ),
        (
            [
                {
                    "family": "ipv4 mpls-vpn",
                    "next_hop": "192.0.2.45",
                    "nlri": [vpn("10.4.0.0/24", "0:65001:70000", [401])],
                }
            ],
            [],
        ),
        (
            [],
            [
                {
                    "family": "ipv4 nlri-mpls",
                    "nlri": [{"prefix": "10.3.0.0/24", "path_id": 0, "labels": [16, 17]}],
                }
            ],
        ),
        (
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.55",
                    "nlri": [{"prefix": "10.5.0.0/24", "path_id": 0}],
                }
            ],
            [],
        ),
        # type 2 with both numbers < 65536 ('0.100:7' to gobgp): ExaBGP writes '100:7', the
        # type comes from the raw bytes
        (
            [
                {
                    "family": "ipv4 mpls-vpn",
                    "next_hop": "192.0.2.66",
                    "nlri": [vpn("10.6.0.0/24", "2:100:7", [600])],
                }
            ],
            [],
        ),
        (
            [
                {
                    "family": "ipv4 mpls-vpn",
                    "next_hop": "192.0.2.77",
                    "nlri": [vpn("10.7.0.0/24", "2:4200000000:7", [700])],
                }
            ],
            [],
        ),
        (
            [],
            [{"family": "ipv4 mpls-vpn", "nlri": [vpn("10.2.0.0/24", "0:65001:20", [200])]}],
        ),
    ]
    assert got == expected
    assert b.stats["rd-type-guessed"] == 0  # every ambiguous RD was settled by the raw bytes
    assert b.stats["nlri:vpn"] == 8 and b.stats["nlri:labelled"] == 3


def test_route_targets_travel_as_extended_communities() -> None:
    b = EventBuilder(epoch_ms=1)
    events = updates(b, lines())
    assert events[1]["attrs"] == {
        **RR,
        "cluster_list": ["10.0.4.21"],
        "ext_communities": ["target:65001:10"],
    }


def test_prefix_sid_line_is_invalid_json_and_is_repaired_from_the_raw_update() -> None:
    (line,) = [x for x in lines() if b"bgp-prefix-sid" in x]
    assert b'"endpoint_behavior": %d' in line  # ExaBGP 5.0.15's bug, as captured
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
    b = EventBuilder(epoch_ms=1)
    (event,) = updates(b, [line])
    # what was given to gobgpd: SID fc00:0:1:e000::, End.DT4 (19), the SID structure
    assert event["attrs"] == {
        "origin": "igp",
        "local_pref": 100,
        "originator_id": "10.0.4.21",
        "cluster_list": ["10.0.4.21"],
        "raw": {
            "bgp-prefix-sid": {
                "l3-service": [
                    {
                        "sid": "fc00:0:1:e000::",
                        "flags": 0,
                        "endpoint_behavior": 19,
                        "structure": {
                            "locator-block-length": 32,
                            "locator-node-length": 16,
                            "function-length": 16,
                            "argument-length": 0,
                            "transposition-length": 16,
                            "transposition-offset": 64,
                        },
                    }
                ]
            }
        },
    }
    assert event["announce"][0]["nlri"] == [{"prefix": "10.40.0.0/24", "path_id": 0}]
    assert b.stats["repaired:prefix-sid"] == 1
    before = REPAIRED.labels(fault="prefix-sid")._value.get()
    BridgeMetrics().publish(b.stats)
    assert REPAIRED.labels(fault="prefix-sid")._value.get() == before + 1


def test_prefix_sid_without_the_raw_update_keeps_the_route_with_null_sid() -> None:
    (line,) = [x for x in lines() if b"bgp-prefix-sid" in x]
    msg = line.replace(b'"body": "', b'"nobody": "')
    fixed = repair_prefix_sid(msg)
    assert fixed is not None
    sid = orjson.loads(fixed)["neighbor"]["message"]["update"]["attribute"]["bgp-prefix-sid"]
    assert sid["l3-service"][0]["sid"] is None and sid["l3-service"][0]["endpoint_behavior"] is None
    assert repair_prefix_sid(lines()[4]) is None  # a good line has nothing to repair


def test_an_attribute_exabgp_cannot_render_costs_that_attribute_not_the_routes() -> None:
    good = lines()[4]  # the VPNv4 route of RD 65001:10
    assert b'"extended-community"' in good
    broken = good.replace(
        b'"local-preference": 100,', b'"local-preference": 100, "odd": {"x": %q},'
    )
    b = EventBuilder(epoch_ms=1)
    (event,) = updates(b, [broken])
    assert event["announce"][0]["nlri"] == [vpn("10.2.0.0/24", "0:65001:10", [100])]
    assert event["attrs"]["local_pref"] == 100
    assert event["attrs"]["ext_communities"] == ["target:65001:10"]
    assert "odd" not in event["attrs"].get("raw", {})
    assert b.stats["attr-dropped:odd"] == 1
    before = ATTR_DROPPED.labels(name="odd")._value.get()
    BridgeMetrics().publish(b.stats)
    assert ATTR_DROPPED.labels(name="odd")._value.get() == before + 1


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "update", "neighbor": {"message": {"update": {"attribute": {"a": %d',  # unclosed
        b'{"type": "update", %d, "neighbor": {}}',  # broken outside the attributes
        b'{"type": "update", "attribute": {"a": 1}}}',  # nothing to drop, still not JSON
    ],
)
def test_what_cannot_be_repaired_is_still_a_bad_line(raw: bytes) -> None:
    assert drop_bad_attributes(raw) is None
    with pytest.raises(BadLine) as info:
        EventBuilder(epoch_ms=1).feed(raw)
    assert info.value.reason == "invalid-json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("65001:70000", "0:65001:70000"),
        ("4200000000:7", "2:4200000000:7"),
        ("192.0.2.1:7", "1:192.0.2.1:7"),
    ],
)
def test_rd_text_forms_that_need_no_raw_bytes(text: str, expected: str) -> None:
    reader = RdReader(None)
    assert reader.pmacct(text) == expected and reader.guessed == 0


def test_an_ambiguous_rd_without_raw_bytes_is_type_0_and_counted() -> None:
    reader = RdReader(None)
    assert reader.pmacct("65001:10") == "0:65001:10" and reader.guessed == 1


@pytest.mark.parametrize("text", ["x:1", "1.2.3.4:70000", "70000:70000", "65001", "1:2:3:x"])
def test_bad_rd_texts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        RdReader(None).pmacct(text)


def test_without_the_raw_update_an_ambiguous_rd_is_counted() -> None:
    line = lines()[4].replace(b'"body": "', b'"nobody": "')
    b = EventBuilder(epoch_ms=1)
    (event,) = updates(b, [line])
    assert event["announce"][0]["nlri"][0]["rd"] == "0:65001:10"
    before = RD_GUESSED._value.get()
    BridgeMetrics().publish(b.stats)
    assert RD_GUESSED._value.get() == before + 1


def test_a_bad_rd_keeps_the_nlri_raw() -> None:
    line = lines()[4].replace(b'"rd": "65001:10"', b'"rd": "nonsense"')
    (event,) = updates(EventBuilder(epoch_ms=1), [line])
    (nlri,) = event["announce"][0]["nlri"]
    assert nlri["raw"] == {"label": [[100]], "rd": "nonsense"} and "rd" not in nlri


# ---------------------------------------------------------------- RFC 8950 in the ExaBGP config
def block(spec: dict[str, Any], **env: Any) -> str:
    s = BridgeSettings(BGP_LOCAL_ADDRESS="127.0.4.20", BGP_ROUTER_ID="10.0.4.20", **env)
    return render_neighbor(s, NeighborSpec.model_validate({"address": "192.0.2.1", **spec}))


def test_extended_next_hop_is_negotiated_by_default_for_every_ipv4_family() -> None:
    conf = block({"families": ["ipv4 unicast", "ipv4 mpls-vpn", "ipv6 unicast"]})
    assert "nexthop true;" in conf
    assert "ipv4 unicast ipv6;" in conf and "ipv4 mpls-vpn ipv6;" in conf
    # ExaBGP 5.0.15 ignores an entry whose IPv6 family is not negotiated: it is added
    families = conf.split("family {")[1].split("}")[0].split()
    assert families == [
        "ipv4", "unicast;", "ipv4", "mpls-vpn;", "ipv6", "unicast;", "ipv6", "mpls-vpn;"
    ]  # fmt: skip


def test_extended_next_hop_per_neighbour_and_globally_off() -> None:
    off = block({"extended_next_hop": False})
    assert "nexthop false;" in off and "nexthop {" not in off
    assert "nexthop false;" in block({}, BGP_EXTENDED_NEXT_HOP="false")
    on = block({"extended_next_hop": True}, BGP_EXTENDED_NEXT_HOP="false")
    assert "nexthop true;" in on and "ipv4 unicast ipv6;" in on
    # nothing IPv4 to extend: no capability
    assert "nexthop false;" in block({"families": ["ipv6 unicast"]})
