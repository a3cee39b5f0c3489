"""A RIB per (router, RD): L3VPN routes in the table of their RD, the global table beside them;
sessions, epochs and flushes apply to all of a router's tables; RFC 8950 next hops stored."""

from __future__ import annotations

from typing import Any

from ribflow.rib import (
    AttrPool,
    RouterMeta,
    RouterRib,
    RouterState,
    apply_event,
    format_prefix,
    parse_address,
    parse_event,
)
from ribflow.rib.apply import ApplyResult
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.events import Nlri
from ribflow.schemas import validate
from tests.rib.builders import Stream, attrs

RD_A, RD_B = "0:65001:10", "0:65001:20"


class Sink:
    def __init__(self) -> None:
        self.sets: list[tuple[str, str]] = []
        self.deletes: list[tuple[str, str]] = []

    def routes_set(
        self, router: RouterState, rd: str, attrs: RouteAttrs, paths: list[Nlri]
    ) -> None:
        for afi, network, length, _ in paths:
            self.sets.append((rd, format_prefix(afi, network, length)))

    def route_deleted(
        self, router: RouterState, afi: int, network: int, length: int, path_id: int, rd: str = ""
    ) -> None:
        self.deletes.append((rd, format_prefix(afi, network, length)))

    def meta_changed(self, router: RouterState) -> None:
        pass


class Harness:
    def __init__(self) -> None:
        self.pool = AttrPool()
        self.state = RouterState(RouterMeta("r1"), RouterRib(self.pool))
        self.sink = Sink()

    def apply(self, msg: dict[str, Any]) -> ApplyResult:
        validate("bgp-updates.v1", msg)
        return apply_event(self.state, parse_event(msg), self.pool, self.sink)

    def lookup(self, rd: str, address: str) -> tuple[str, str] | None:
        table = self.state.table(rd)
        if table is None:
            return None
        afi, value = parse_address(address)
        found = table.lookup(afi, value)
        return (found[1].as_path_str, found[1].next_hop) if found else None


def test_overlapping_prefixes_live_in_their_own_tables() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.2.0.0/24"], "192.0.2.1", attrs(65010)))  # global
    h.apply(s.update(["10.2.0.0/24"], "2001:db8::2", attrs(65011), rd=RD_A))  # RFC 8950
    h.apply(s.update(["10.2.0.0/24"], "192.0.2.20", attrs(65012), rd=RD_B))
    h.apply(s.update(["2001:db8:a::/48"], "2001:db8::3", attrs(65013), rd=RD_A))
    assert h.lookup("", "10.2.0.9") == ("65010", "192.0.2.1")
    assert h.lookup(RD_A, "10.2.0.9") == ("65011", "2001:db8::2")
    assert h.lookup(RD_B, "10.2.0.9") == ("65012", "192.0.2.20")
    assert h.lookup(RD_A, "2001:db8:a::1") == ("65013", "2001:db8::3")
    assert h.lookup("0:65001:99", "10.2.0.9") is None
    assert sorted(h.sink.sets) == [
        ("", "10.2.0.0/24"),
        (RD_A, "10.2.0.0/24"),
        (RD_A, "2001:db8:a::/48"),
        (RD_B, "10.2.0.0/24"),
    ]
    assert h.state.paths() == 4 and len(h.state.rib) == 1
    # routes() of a VRF carry its RD (dumps, persistence)
    assert {r.rd for r in h.state.vrfs[RD_A].routes()} == {RD_A}


def test_withdraw_reaches_only_its_rd_and_an_empty_vrf_goes_away() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.2.0.0/24"], "192.0.2.1", attrs(65011), rd=RD_A))
    h.apply(s.update(["10.2.0.0/24"], "192.0.2.2", attrs(65012), rd=RD_B))
    r = h.apply(s.update(withdraw=["10.2.0.0/24"], rd=RD_A))
    assert r.withdrawn == 1 and h.sink.deletes == [(RD_A, "10.2.0.0/24")]
    assert h.lookup(RD_A, "10.2.0.9") is None
    assert h.lookup(RD_B, "10.2.0.9") == ("65012", "192.0.2.2")
    assert list(h.state.vrfs) == [RD_B]
    # withdrawing from an RD the router never announced changes nothing
    assert h.apply(s.update(withdraw=["10.2.0.0/24"], rd="0:1:1")).withdrawn == 0


def test_session_down_and_a_new_epoch_flush_every_table() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.1.0.0/24"], "192.0.2.1", attrs(65010)))
    h.apply(s.update(["10.2.0.0/24"], "192.0.2.1", attrs(65011), rd=RD_A))
    r = h.apply(s.session("down", "hold timer"))
    assert r.flushed == 2
    assert sorted(h.sink.deletes) == [("", "10.1.0.0/24"), (RD_A, "10.2.0.0/24")]
    assert h.state.vrfs == {} and h.state.paths() == 0
    h.apply(s.update(["10.2.0.0/24"], "192.0.2.1", attrs(65011), rd=RD_B))
    s2 = Stream("r1", epoch=s.epoch + 1)
    r = h.apply(s2.update(["10.3.0.0/24"], "192.0.2.1", attrs(65012)))
    assert r.new_epoch and r.flushed == 1 and h.lookup(RD_B, "10.2.0.9") is None


def test_a_vpn_nlri_without_an_rd_is_an_error_the_rest_applies() -> None:
    h, s = Harness(), Stream("r1")
    msg = s.update(["10.2.0.0/24", "10.3.0.0/24"], "192.0.2.1", attrs(65011), rd=RD_A)
    del msg["announce"][0]["nlri"][1]["rd"]
    event = parse_event(msg)
    r = apply_event(h.state, event, h.pool, h.sink)
    assert r.announced == 1 and r.errors and r.errors[0].startswith("bad_rd:")
    assert h.lookup(RD_A, "10.2.0.1") is not None
    for bad in ("nonsense", "0:70000:1", "1:1.2.3.4:70000", "0:1:1" + "1" * 300, 7):
        msg = s.update(["10.4.0.0/24"], "192.0.2.1", attrs(65011), rd=RD_A)
        msg["announce"][0]["nlri"][0]["rd"] = bad
        r = apply_event(h.state, parse_event(msg), h.pool, h.sink)
        assert r.announced == 0 and r.errors[0].startswith("bad_rd:"), bad


def test_labelled_unicast_goes_into_the_global_table() -> None:
    h, s = Harness(), Stream("r1")
    msg = s.update(["10.3.0.0/24"], "192.0.2.33", attrs(65010), family="ipv4 nlri-mpls")
    msg["announce"][0]["nlri"][0]["labels"] = [16, 17]
    assert h.apply(msg).announced == 1
    assert h.lookup("", "10.3.0.1") == ("65010", "192.0.2.33")
