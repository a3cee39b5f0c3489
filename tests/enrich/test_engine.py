"""The enricher engine with in-process fakes: state mirroring, rebuilds, DLQ, pass-through."""

from __future__ import annotations

import orjson

from ribflow.enrich.codec import META_KEY
from ribflow.rib import AFI_IP
from ribflow.schemas import validate
from tests.enrich.fakes import Harness
from tests.rib.builders import Stream, attrs, flow, flows_message

R1, R2 = "127.0.0.3", "127.0.0.5"


def _feed(h: Harness) -> None:
    s1, s2 = Stream(R1), Stream(R2)
    h.bgp(R1, s1.session("up"))
    h.bgp(R1, s1.update(["203.0.113.0/24", "10.0.0.0/8"], attrs=attrs(65010, 65020, med=5)))
    h.bgp(R1, s1.update(["10.1.0.0/16"], next_hop="192.0.2.9", attrs=attrs(65030)))
    h.bgp(R1, s1.update(["2001:db8::/32"], next_hop="2001:db8::1", attrs=attrs(65050)))
    h.bgp(R1, s1.update(["192.0.2.0/24"], next_hop="10.9.0.1", attrs=attrs(1), path_id=1))
    h.bgp(R1, s1.update(["192.0.2.0/24"], next_hop="10.9.0.2", attrs=attrs(2), path_id=2))
    h.bgp(R2, s2.update(["0.0.0.0/0"], attrs=attrs(64999)))


def _flows() -> list[dict[str, object]]:
    return [
        flow("10.1.2.3", "203.0.113.7"),
        flow("10.2.2.2", "10.1.0.1"),
        flow("2001:db8::5", "2001:db9::1", proto=17),
        flow("198.18.0.1", "192.0.2.1", bgp_next_hop="10.9.0.1"),
        flow("198.18.0.1", "192.0.2.1", bgp_next_hop="10.9.0.2"),
    ]


def test_state_mirrors_the_rib() -> None:
    h = Harness()
    _feed(h)
    routes = h.stored_routes(R1)
    assert ("", AFI_IP, 10 << 24, 8, 0) in routes
    assert ("", AFI_IP, (192 << 24) | (2 << 8), 24, 2) in routes
    assert len(routes) == len(h.enricher.routers[R1].rib) == 6
    rib = h.enricher.routers[R1].rib
    assert all(routes[("", r.afi, r.network, r.length, r.path_id)] == r.attrs.key
               for r in rib.routes())  # fmt: skip
    meta = orjson.loads(h.store[R1.encode() + b"|" + META_KEY])
    assert meta["seq"] == 6 and meta["session"] == "up"
    # bgp-rib: one record per change, schema-valid, keyed router|prefix|path-id
    table = h.out.sent_to("bgp-rib")
    assert b"127.0.0.3|192.0.2.0/24|2" in [k for k, _ in table]
    for key, value in table:
        assert value is not None
        record = orjson.loads(value)
        validate("bgp-rib.v1", record)
        assert key == f"{record['router']}|{record['prefix']}|{record['path_id']}".encode()


def test_withdraw_and_flush_delete_state_and_write_tombstones() -> None:
    h = Harness()
    s = Stream(R1)
    h.bgp(R1, s.update(["10.0.0.0/8", "11.0.0.0/8"], attrs=attrs(1)))
    h.bgp(R1, s.update(withdraw=["10.0.0.0/8"]))
    assert list(h.stored_routes(R1)) == [("", AFI_IP, 11 << 24, 8, 0)]
    h.bgp(R1, s.session("down"))
    assert [k for k in h.store if k != R1.encode() + b"|" + META_KEY] == []
    tombstones = [k for k, v in h.out.sent_to("bgp-rib") if v is None]
    assert tombstones == [b"127.0.0.3|10.0.0.0/8|0", b"127.0.0.3|11.0.0.0/8|0"]


def test_rebuild_from_state_enriches_identically() -> None:
    h = Harness()
    _feed(h)
    msg = flows_message(R1, "127.0.0.1", _flows())
    h.flows(R1, msg)
    before = h.out.values("flows-enriched")
    # a new process: nothing in memory, only the store
    fresh = Harness()
    fresh.store = dict(h.store)
    loaded = fresh.enricher.load_partition(0, object(), fresh.scan())
    assert loaded == 7
    assert fresh.enricher.routers[R1].meta.seq == 6
    fresh.flows(R1, msg)
    assert fresh.out.values("flows-enriched") == before
    assert len(fresh.enricher.pool) == len(h.enricher.pool)
    # and BGP processing continues where it was (the next seq is not a duplicate)
    s = Stream(R1, seq=6)
    fresh.bgp(R1, s.update(withdraw=["203.0.113.0/24"]))
    assert len(fresh.enricher.routers[R1].rib) == 5


def test_add_path_uses_the_flows_bgp_next_hop() -> None:
    h = Harness()
    _feed(h)
    h.flows(R1, flows_message(R1, "127.0.0.1", _flows()))
    out = h.out.values("flows-enriched")
    assert [o["as_path"] for o in out[3:]] == ["1", "2"]
    assert [o["peer_ip_dst"] for o in out[3:]] == ["10.9.0.1", "10.9.0.2"]
    assert out[1]["net_dst"] == "10.1.0.0" and out[1]["mask_dst"] == 16
    assert out[1]["net_src"] == "10.0.0.0" and out[1]["mask_src"] == 8
    assert out[2]["net_src"] == "2001:db8::" and out[2]["ip_proto"] == "udp"
    assert out[2]["as_dst"] == 0 and out[2]["net_dst"] == "::"  # 2001:db9::/32 is unrouted
    assert out[2]["as_src"] == 65050


def test_add_path_next_hop_on_a_less_specific_prefix() -> None:
    """A flow whose BGP next hop is a path of a covering prefix, not of its longest match, gets
    that prefix and path (pmacct's choice), in the enricher's own output."""
    h = Harness()
    _feed(h)
    s = Stream(R1, seq=6)
    h.bgp(R1, s.update(["192.0.2.128/25"], next_hop="10.9.0.3", attrs=attrs(3), path_id=1))
    flows = [
        flow("198.18.0.1", "192.0.2.129", bgp_next_hop="10.9.0.2"),
        flow("198.18.0.1", "192.0.2.129", bgp_next_hop="10.9.0.3"),
        flow("198.18.0.1", "192.0.2.129", bgp_next_hop="10.9.0.99"),
    ]
    h.flows(R1, flows_message(R1, "127.0.0.1", flows))
    out = h.out.values("flows-enriched")
    got = [(o["as_path"], o["peer_ip_dst"], o["net_dst"], o["mask_dst"]) for o in out]
    assert got == [
        ("2", "10.9.0.2", "192.0.2.0", 24),
        ("3", "10.9.0.3", "192.0.2.128", 25),
        ("3", "10.9.0.3", "192.0.2.128", 25),  # a next hop no prefix has: the longest match
    ]


def test_default_route_router() -> None:
    h = Harness()
    _feed(h)
    h.flows(R2, flows_message(R2, "127.0.0.9", [flow("8.8.8.8", "1.1.1.1", exporter="127.0.0.9")]))
    (o,) = h.out.values("flows-enriched")
    assert (o["as_dst"], o["as_src"], o["mask_dst"], o["net_dst"]) == (64999, 64999, 0, "0.0.0.0")
    assert o["peer_ip_src"] == "127.0.0.9"


def test_router_without_rib_passes_through_unenriched_and_counted() -> None:
    h = Harness()
    counted = _sample("ribflow_enricher_flows_total", {"result": "no_rib"})
    n = h.flows("10.99.0.1", flows_message("10.99.0.1", "10.99.0.1", _flows()))
    assert n == 5
    out = h.out.values("flows-enriched")
    assert all(o["as_dst"] == 0 and o["as_path"] == "" for o in out)
    h.enricher.publish_counts()  # (the app's tick)
    assert _sample("ribflow_enricher_flows_total", {"result": "no_rib"}) == counted + 5


def test_batch_option_writes_ndjson() -> None:
    h = Harness(batch=True)
    _feed(h)
    h.flows(R1, flows_message(R1, "127.0.0.1", _flows()))
    ((key, value),) = h.out.sent_to("flows-enriched")
    assert key == R1.encode()
    lines = value.split(b"\n") if value else []
    assert len(lines) == 5 and all(orjson.loads(line)["event_type"] == "purge" for line in lines)


def test_garbage_goes_to_the_dead_letter_topics_and_processing_continues() -> None:
    h = Harness()
    before = _sample("ribflow_bad_input_total", {"component": "enricher", "reason": "bad_json"})
    h.bgp(R1, b"\x00\xffnot json")
    h.bgp(R1, {"v": 1, "type": "update"})
    h.flows(R1, b"{{{")
    h.flows(R1, {"v": 1, "records": "nope"})
    good = flow("10.0.0.1", "10.0.0.2")
    h.flows(R1, flows_message(R1, "127.0.0.1", [{"src_addr": "x"}, good]))
    h.send(h.enricher.on_bgp(0, None, b"{}", None, None))  # type: ignore[arg-type]
    _feed(h)
    assert len(h.enricher.routers[R1].rib) == 6
    bgp_dlq = h.out.values("bgp-updates-dlq")
    flows_dlq = h.out.values("flows-dlq")
    for env in bgp_dlq + flows_dlq:
        validate("dlq.v1", env)
    assert [e["reason"] for e in bgp_dlq] == ["bad_json", "bad_message", "bad_key"]
    assert [e["reason"] for e in flows_dlq] == ["bad_json", "bad_message", "bad_record"]
    assert len(h.out.values("flows-enriched")) == 1  # the good record of the mixed batch
    after = _sample("ribflow_bad_input_total", {"component": "enricher", "reason": "bad_json"})
    assert after == before + 2


def test_drop_partition_forgets_its_routers() -> None:
    h = Harness()
    _feed(h)
    h.enricher.load_partition(1, object(), [])
    assert set(h.enricher.routers) == {R1, R2}
    h.enricher.drop_partition(0)
    assert h.enricher.routers == {}
    assert len(h.enricher.pool) == 0


def test_dumps_are_periodic_per_router() -> None:
    now = [1000.0]
    h = Harness(dump_interval=60)
    h.enricher._clock = lambda: now[0]
    _feed(h)
    assert h.send(h.enricher.dump_due()) == 0
    now[0] += 61
    assert h.send(h.enricher.dump_due()) == 7  # 6 paths of R1 + the default route of R2
    dumps = h.out.values("bgp-rib-dump")
    for d in dumps:
        validate("bgp-rib-dump.v1", d)
    assert [d["event_type"] for d in dumps].count("dump_init") == 2
    assert any(d.get("as_path_id") == 2 for d in dumps)
    assert h.send(h.enricher.dump_due()) == 0


def test_v6_lookup_in_a_v4_only_rib_misses_cleanly() -> None:
    h = Harness()
    s = Stream(R1)
    h.bgp(R1, s.update(["10.0.0.0/8"], attrs=attrs(1)))
    h.flows(R1, flows_message(R1, "127.0.0.1", [flow("2001:db8::1", "2001:db8::2")]))
    (o,) = h.out.values("flows-enriched")
    assert o["as_dst"] == 0 and o["peer_ip_dst"] == "::" and o["net_src"] == "::"


def _sample(name: str, labels: dict[str, str]) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0
