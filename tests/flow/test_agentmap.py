"""The agent map: pmacct's bgp_agent_map format, router-id resolution, and the live follower."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from ribflow.agentmap import AgentMap, AgentMapError, RouterResolver, parse_agent_map
from ribflow.flow.peer_follower import PeerFollower, wait_for_peer

# the lab's bgp_agent.map (made in our own loopback lab; see tests/data/enrich/README.md)
LAB_MAP = Path(__file__).resolve().parents[1] / "data" / "enrich" / "bgp_agent.map"
LAB_MAP_TEXT = LAB_MAP.read_text()


def test_parses_the_lab_file() -> None:
    entries = parse_agent_map(LAB_MAP_TEXT)
    assert [(e.bgp_ip, str(e.exporters), e.line) for e in entries] == [
        ("10.0.0.3", "127.0.0.1/32", 3)
    ]


def test_lookup_exact_then_longest_prefix(tmp_path: Path) -> None:
    f = tmp_path / "agent.map"
    f.write_text(
        "! comment\n\n"
        "ip=10.1.0.0/16 bgp_ip=192.0.2.1\n"
        "bgp_ip=192.0.2.2 ip=10.1.2.0/24\n"
        "bgp_ip=192.0.2.3   ip=10.1.2.3\n"
        "bgp_ip=2001:db8::1 ip=2001:db8:ff::/48\n"
    )
    m = AgentMap.load(f)
    assert m.lookup("10.1.2.3") == "192.0.2.3"
    assert m.lookup("10.1.2.4") == "192.0.2.2"
    assert m.lookup("10.1.9.9") == "192.0.2.1"
    assert m.lookup("2001:db8:ff::7") == "2001:db8::1"
    assert m.lookup("10.2.0.1") is None
    assert m.lookup("not an address") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bgp_ip=10.0.0.3\n", "ip= is missing"),
        ("ip=127.0.0.1\n", "bgp_ip= is missing"),
        ("bgp_ip=10.0.0.3 ip=127.0.0.1 ip=127.0.0.2\n", "ip given twice"),
        ("bgp_ip=10.0.0.300 ip=127.0.0.1\n", "not an IP address"),
        ("bgp_ip=10.0.0.3 ip=127.0.0.1/8\n", "not an address or prefix"),
        ("bgp_ip=10.0.0.3 ip=router1\n", "not an address or prefix"),
        ("bgp_ip=10.0.0.3 ip=127.0.0.1 bgp_port=179\n", "not supported"),
        ("bgp_ip=10.0.0.3 ip=127.0.0.1 colour=red\n", "unknown key"),
        ("bgp_ip 10.0.0.3 ip=127.0.0.1\n", "expected key=value"),
        ("bgp_ip=10.0.0.3 ip=127.0.0.1\nbgp_ip=10.0.0.4 ip=127.0.0.1\n", "already mapped"),
    ],
)
def test_broken_files_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(AgentMapError, match=message) as err:
        parse_agent_map("! header\n" + text, "agent.map")
    assert "agent.map:" in str(err.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(AgentMapError, match="cannot read"):
        AgentMap.load(tmp_path / "missing.map")
    (tmp_path / "bin.map").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(AgentMapError, match="cannot read"):
        AgentMap.load(tmp_path / "bin.map")


def test_resolution_order() -> None:
    m = AgentMap(parse_agent_map("bgp_ip=10.0.0.3 ip=127.0.0.1\nbgp_ip=127.0.0.9 ip=127.0.0.5\n"))
    r = RouterResolver(m, fallback=None)
    # router-id not learnt yet: the map's value as written
    assert r.router_for("127.0.0.1") == "10.0.0.3"
    # unmapped, unknown: the exporter itself
    assert r.router_for("192.0.2.1") == "192.0.2.1"
    assert r.observe("127.0.0.3", "10.0.0.3") is True
    assert r.observe("127.0.0.3", "10.0.0.3") is False
    assert r.router_for("127.0.0.1") == "127.0.0.3"  # cache dropped on change
    # an exporter that is itself a router-id or a peer
    assert r.router_for("10.0.0.3") == "127.0.0.3"
    r.observe("192.0.2.1")
    assert r.router_for("192.0.2.1") == "192.0.2.1"
    # a bgp_ip that is a peer address is used as is
    r.observe("127.0.0.9", "10.9.9.9")
    assert r.router_for("127.0.0.5") == "127.0.0.9"
    # the router-id moves to another session (e.g. the router reconnected from another address)
    r.observe("127.0.0.33", "10.0.0.3")
    assert r.router_for("127.0.0.1") == "127.0.0.33"


def test_fallback_only_for_unknown_exporters() -> None:
    r = RouterResolver(AgentMap(parse_agent_map("bgp_ip=10.0.0.3 ip=127.0.0.1")), "127.0.0.3")
    r.observe("127.0.0.8", "10.0.0.8")
    assert r.router_for("198.51.100.1") == "127.0.0.3"
    assert r.router_for("127.0.0.8") == "127.0.0.8"
    assert r.router_for("10.0.0.8") == "127.0.0.8"
    assert r.router_for("127.0.0.1") == "10.0.0.3"


def test_follower_handles_events_and_garbage() -> None:
    r = RouterResolver()
    f = PeerFollower("unused:1", "bgp-updates", r)
    f.handle(b"not json")
    f.handle(b"[1, 2]")
    f.handle(orjson.dumps({"type": "session", "state": "connected", "peer": "127.0.0.3",
                           "router_id": "10.0.0.3"}))  # fmt: skip
    assert r.peer_for_router_id("10.0.0.3") is None  # only 'up' vouches for a router-id
    f.handle(orjson.dumps({"type": "session", "state": "up", "peer": "127.0.0.3",
                           "router_id": "10.0.0.3"}))  # fmt: skip
    assert r.peer_for_router_id("10.0.0.3") == "127.0.0.3"


@pytest.mark.integration
def test_follower_learns_router_ids_from_kafka(kafka_broker: str, topic_factory) -> None:  # type: ignore[no-untyped-def]
    topic = topic_factory("bgp-updates", partitions=2)
    producer = Producer({"bootstrap.servers": kafka_broker})
    base = {"v": 1, "router": "127.0.0.3", "peer": "127.0.0.3", "time_ms": 1, "epoch": 1}
    producer.produce(topic, orjson.dumps({**base, "type": "session", "state": "up", "seq": 0,
                                          "router_id": "10.0.0.3"}), key=b"127.0.0.3")  # fmt: skip
    producer.flush(30)
    resolver = RouterResolver(AgentMap(parse_agent_map(LAB_MAP_TEXT)))
    follower = PeerFollower(kafka_broker, topic, resolver)
    follower.start()
    try:
        assert wait_for_peer(resolver, "10.0.0.3", timeout=60) == "127.0.0.3"
        assert resolver.router_for("127.0.0.1") == "127.0.0.3"
        # a later event, while running, is picked up too
        moved = {**base, "peer": "127.0.0.13", "router": "127.0.0.13", "type": "session",
                 "state": "up", "seq": 0, "router_id": "10.0.0.3"}  # fmt: skip
        producer.produce(topic, orjson.dumps(moved), key=b"127.0.0.13")
        producer.flush(30)
        end = time.monotonic() + 60
        while resolver.router_for("127.0.0.1") != "127.0.0.13" and time.monotonic() < end:
            time.sleep(0.05)
        assert resolver.router_for("127.0.0.1") == "127.0.0.13"
    finally:
        follower.stop()
    assert not follower.is_alive()


def test_router_id_key_mode() -> None:
    m = AgentMap(parse_agent_map("bgp_ip=127.0.0.3 ip=127.0.0.1\nbgp_ip=10.0.0.5 ip=127.0.0.2\n"))
    r = RouterResolver(m, key_mode="router-id")
    assert r.router_for("127.0.0.1") == "127.0.0.3"  # router-id not known yet
    r.observe("127.0.0.3", "10.0.0.3")
    assert r.router_for("127.0.0.1") == "10.0.0.3"
    assert r.router_for("127.0.0.2") == "10.0.0.5"
    with pytest.raises(ValueError):
        RouterResolver(m, key_mode="asn")
