"""EventBuilder on hand-made ExaBGP lines: bad input, unknown families, keys, synthetic events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ribflow.bgp.errors import BadLine
from ribflow.bgp.keys import RouterKeys
from ribflow.bgp.neighbors import NeighborSpec
from ribflow.bgp.parser import EventBuilder
from ribflow.schemas import validate

NEIGHBOR = {
    "address": {"local": "127.0.0.20", "peer": "192.0.2.1"},
    "asn": {"local": 65001, "peer": 65002},
    "router-id": "10.0.0.20",
}


def line(kind: str, **neighbor: Any) -> bytes:
    msg: dict[str, Any] = {"exabgp": "5.0.0", "time": 1700000000.25, "type": kind}
    msg["neighbor"] = {**NEIGHBOR, **neighbor}
    return orjson.dumps(msg)


def upd(update: dict[str, Any], **extra: Any) -> bytes:
    return line("update", direction="receive", message={"update": update}, **extra)


def events(builder: EventBuilder, raw: bytes) -> list[dict[str, Any]]:
    out = [e for _, e in builder.feed(raw)]
    for e in out:
        validate("bgp-updates.v1", e)
    return out


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid-json"),
        (b"\xff\xfe garbage", "invalid-json"),
        (b"[1, 2]", "not-an-object"),
        (b'"text"', "not-an-object"),
        (b'{"type": "teleport", "neighbor": {}}', "unknown-message"),
        (b'{"exabgp": "5.0.0"}', "unknown-message"),
        (b'{"type": "update"}', "malformed"),
        (b'{"type": "state", "neighbor": {"address": {"peer": "192.0.2.1"}}}', "malformed"),
        (
            b'{"type": "update", "neighbor": {"address": {"peer": "192.0.2.1"}, "message": 5}}',
            "malformed",
        ),
        (b'{"type": "notification", "notification": "reboot"}', "unknown-notification"),
    ],
)
def test_bad_lines_raise_badline_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadLine) as err:
        EventBuilder(epoch_ms=1).feed(raw)
    assert err.value.reason == reason


def test_unknown_state_and_unknown_update_shapes() -> None:
    b = EventBuilder(epoch_ms=1)
    with pytest.raises(BadLine) as err:
        b.feed(line("state", state="idle-ish"))
    assert err.value.reason == "unknown-state"
    with pytest.raises(BadLine) as err:
        b.feed(line("update", direction="receive", message={"operational": {}}))
    assert err.value.reason == "unknown-update"


def test_a_bad_line_does_not_disturb_the_next_good_one() -> None:
    b = EventBuilder(epoch_ms=1)
    assert events(b, line("state", state="up"))[0]["seq"] == 0
    with pytest.raises(BadLine):
        b.feed(b'{"type": "update", "neighbor": {"address": {"peer": "192.0.2.1"}}}')
    ev = events(b, upd({"withdraw": {"ipv4 unicast": [{"nlri": "10.0.0.0/8"}]}}))[0]
    assert ev["seq"] == 1 and ev["withdraw"][0]["nlri"] == [{"prefix": "10.0.0.0/8", "path_id": 0}]


@pytest.mark.parametrize("kind", ["keepalive", "negotiated", "fsm", "signal", "operational"])
def test_known_but_empty_types_are_counted_not_dead_lettered(kind: str) -> None:
    b = EventBuilder(epoch_ms=1)
    assert b.feed(line(kind)) == []
    assert b.stats[f"ignored:{kind}"] == 1


def test_api_acknowledgements_are_tolerated() -> None:
    b = EventBuilder(epoch_ms=1)
    assert b.feed(b"done") == [] and b.feed(b"error\r") == []
    assert b.stats["ignored:ack"] == 2


def test_sent_messages_are_not_events() -> None:
    b = EventBuilder(epoch_ms=1)
    assert (
        b.feed(
            line(
                "update",
                direction="send",
                message={"update": {"withdraw": {"ipv4 unicast": ["10.0.0.0/8"]}}},
            )
        )
        == []
    )
    assert b.feed(line("open", direction="send", open={"router_id": "10.9.9.9"})) == []
    assert b.peers.get("192.0.2.1").router_id is None
    assert (b.stats["ignored:update-sent"], b.stats["ignored:open-sent"]) == (1, 1)


def test_compact_nlri_null_next_hop_and_several_groups() -> None:
    b = EventBuilder(epoch_ms=1)
    ev = events(
        b,
        upd(
            {
                "attribute": {"origin": "igp"},
                "announce": {
                    "ipv4 unicast": {
                        "192.0.2.9": ["10.1.0.0/16", "10.2.0.0/16"],
                        "null": [{"nlri": "10.3.0.0/16"}],
                    },
                    "ipv6 unicast": {
                        "2001:db8::9": [{"nlri": "2001:db8:9::/48", "path-information": "0.0.1.0"}]
                    },
                },
                "withdraw": {
                    "ipv4 unicast": [{"nlri": "10.4.0.0/16", "path-information": "1.0.0.0"}]
                },
            }
        ),
    )
    # the announce came first, so the bridge said the (pre-existing) session is up
    assert [e["type"] for e in ev] == ["session", "update"]
    assert ev[0]["state"] == "up" and ev[0]["reason"] == "bridge-restart"
    u = ev[1]
    assert u["announce"] == [
        {
            "family": "ipv4 unicast",
            "next_hop": "192.0.2.9",
            "nlri": [
                {"prefix": "10.1.0.0/16", "path_id": 0},
                {"prefix": "10.2.0.0/16", "path_id": 0},
            ],
        },
        {
            "family": "ipv4 unicast",
            "next_hop": None,
            "nlri": [{"prefix": "10.3.0.0/16", "path_id": 0}],
        },
        {
            "family": "ipv6 unicast",
            "next_hop": "2001:db8::9",
            "nlri": [{"prefix": "2001:db8:9::/48", "path_id": 256}],
        },
    ]
    assert u["withdraw"] == [
        {"family": "ipv4 unicast", "nlri": [{"prefix": "10.4.0.0/16", "path_id": 16777216}]}
    ]
    assert b.stats["nlri:announce"] == 4 and b.stats["nlri:withdraw"] == 1


def test_unknown_families_travel_raw_and_vpn_nlri_carry_rd_and_labels() -> None:
    b = EventBuilder(epoch_ms=1)
    b.feed(line("state", state="up"))
    vpn = {"rd": "65001:1", "label": [[100]], "nlri": "10.9.0.0/16"}
    flow = {"destination-ipv4": ["10.0.0.0/8"], "string": "flow destination-ipv4 10.0.0.0/8"}
    weird = {"x": 1}
    ev = events(
        b,
        upd(
            {
                "attribute": {"origin": "igp"},
                "announce": {
                    "ipv4 mpls-vpn": {"192.0.2.1": [vpn]},
                    "ipv4 flow": {"null": [flow, weird]},
                },
                "withdraw": {"l2vpn evpn": [7]},
            }
        ),
    )[0]
    (vpn_n,) = ev["announce"][0]["nlri"]
    assert vpn_n == {"prefix": "10.9.0.0/16", "path_id": 0, "rd": "0:65001:1", "labels": [100]}
    assert b.stats["rd-type-guessed"] == 1  # no raw bytes: 65001:1 could be type 0 or 2
    flow_n, weird_n = ev["announce"][1]["nlri"]
    assert flow_n["prefix"] == "flow destination-ipv4 10.0.0.0/8" and flow_n["raw"] == flow
    assert weird_n["prefix"] == '{"x":1}' and weird_n["raw"] == weird
    assert ev["withdraw"] == [
        {"family": "l2vpn evpn", "nlri": [{"prefix": "7", "path_id": 0, "raw": {"value": 7}}]}
    ]


def test_update_with_nothing_to_announce_or_withdraw_is_ignored() -> None:
    b = EventBuilder(epoch_ms=1)
    assert b.feed(upd({"attribute": {"origin": "igp"}})) == []
    assert b.stats["ignored:empty-update"] == 1


def test_shards_fan_out_every_event_to_every_shard_key() -> None:
    b = EventBuilder(epoch_ms=1, keys=RouterKeys(default_shards=1, hot={"192.0.2.1": 3}))
    keyed = b.feed(line("state", state="up"))
    assert keyed[0][0] == (b"192.0.2.1/0", b"192.0.2.1/1", b"192.0.2.1/2")
    assert keyed[0][1]["router"] == "192.0.2.1"  # the value names the router without shard


def test_start_says_down_for_each_configured_neighbor_and_snapshot_asks_refresh() -> None:
    b = EventBuilder(epoch_ms=42, clock=lambda: 1700000001.0)
    specs = [
        NeighborSpec.model_validate({"address": "192.0.2.1", "shards": 2}),
        NeighborSpec.model_validate({"address": "192.0.2.2", "router_id": "10.0.0.2"}),
    ]
    start = b.start(specs)
    assert [
        (k, e["router"], e["state"], e["reason"], e["time_ms"], e["epoch"], e["seq"])
        for k, e in start
    ] == [
        (
            (b"192.0.2.1/0", b"192.0.2.1/1"),
            "192.0.2.1",
            "down",
            "bridge-restart",
            1700000001000,
            42,
            0,
        ),
        ((b"192.0.2.2",), "192.0.2.2", "down", "bridge-restart", 1700000001000, 42, 0),
    ]
    # 192.0.2.2 comes up in this epoch: fresh session, no refresh needed
    b.feed(line("state", state="up", address={"local": "127.0.0.20", "peer": "192.0.2.2"}))
    snapshot = [
        {
            "state": "up",
            "peer": {"address": "192.0.2.1", "as": 65002, "id": "10.0.0.1"},
            "local": {"address": "127.0.0.20", "as": 65001},
            "families": ["ipv4 unicast"],
        },
        {
            "state": "up",
            "peer": {"address": "192.0.2.2", "as": 65001, "id": "10.0.0.2"},
            "families": ["ipv4 unicast"],
        },
        {
            "state": "down",
            "peer": {"address": "192.0.2.3", "as": 65003, "id": None},
            "families": [],
        },
    ]
    ev = events(b, orjson.dumps(snapshot))
    assert [(e["router"], e["state"], e["reason"], e["router_id"], e["seq"]) for e in ev] == [
        ("192.0.2.1", "up", "bridge-restart", "10.0.0.1", 1),
    ]
    assert b.refresh_wanted == [("192.0.2.1", ["ipv4 unicast"])]
    # asked once per epoch
    b.refresh_wanted.clear()
    assert b.feed(orjson.dumps(snapshot)) == [] and b.refresh_wanted == []


def test_exabgp_shutdown_says_down_for_every_live_session() -> None:
    b = EventBuilder(epoch_ms=1)
    b.feed(line("state", state="up"))
    b.feed(line("state", state="connected", address={"local": "127.0.0.20", "peer": "192.0.2.2"}))
    b.feed(line("state", state="down", address={"local": "127.0.0.20", "peer": "192.0.2.3"}))
    ev = events(
        b,
        b'{"exabgp": "5.0.0", "time": 1700000009.0, "type": "notification", '
        b'"notification": "shutdown"}',
    )
    assert [(e["router"], e["state"], e["reason"], e["time_ms"]) for e in ev] == [
        ("192.0.2.1", "down", "exabgp-shutdown", 1700000009000),
        ("192.0.2.2", "down", "exabgp-shutdown", 1700000009000),
    ]
    assert b.shutdown_seen


def test_refresh_messages_and_time_fallback() -> None:
    b = EventBuilder(epoch_ms=1, clock=lambda: 1700000002.5)
    raw = orjson.loads(
        line(
            "refresh",
            direction="receive",
            **{"route-refresh": {"afi": "ipv4", "safi": "unicast", "subtype": "begin"}},
        )
    )
    del raw["time"]
    ev = events(b, orjson.dumps(raw))
    assert [(e["type"], e.get("family"), e.get("subtype"), e["time_ms"]) for e in ev] == [
        ("session", None, None, 1700000002500),
        ("refresh", "ipv4 unicast", "begin", 1700000002500),
    ]


def test_down_clears_the_session_so_routes_after_a_reconnect_are_fresh() -> None:
    b = EventBuilder(epoch_ms=1)
    b.feed(line("state", state="up"))
    b.feed(line("state", state="down", reason="hold timer expired"))
    # a route without an 'up' first: this epoch never saw the session come back, so say it
    ev = events(b, upd({"withdraw": {"ipv4 unicast": ["10.0.0.0/8"]}}))
    assert [e["type"] for e in ev] == ["session", "update"]
