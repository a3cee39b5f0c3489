"""Applying bgp-updates events: announce/withdraw, ADD-PATH, session flush, epochs, re-learning."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ribflow.rib import (
    AFI_IP,
    AFI_IP6,
    AttrPool,
    BadEvent,
    RouterMeta,
    RouterRib,
    RouterState,
    apply_event,
    parse_address,
    parse_event,
    parse_prefix,
)
from ribflow.rib.apply import ApplyResult
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.events import Nlri
from ribflow.schemas import validate
from tests.rib.builders import Stream, attrs


class RecordingSink:
    def __init__(self) -> None:
        self.sets: list[tuple[str, int]] = []
        self.deletes: list[tuple[str, int]] = []
        self.metas = 0

    def routes_set(
        self, router: RouterState, rd: str, attrs: RouteAttrs, paths: list[Nlri]
    ) -> None:
        from ribflow.rib import format_prefix

        for afi, network, length, path_id in paths:
            self.sets.append((format_prefix(afi, network, length), path_id))

    def route_deleted(
        self, router: RouterState, afi: int, network: int, length: int, path_id: int
    ) -> None:
        from ribflow.rib import format_prefix

        self.deletes.append((format_prefix(afi, network, length), path_id))

    def meta_changed(self, router: RouterState) -> None:
        self.metas += 1


class Harness:
    def __init__(self, router: str = "127.0.0.3") -> None:
        self.pool = AttrPool()
        self.state = RouterState(RouterMeta(router), RouterRib(self.pool))
        self.sink = RecordingSink()

    def apply(self, msg: dict[str, Any]) -> ApplyResult:
        validate("bgp-updates.v1", msg)
        return apply_event(self.state, parse_event(msg), self.pool, self.sink)

    def as_path_of(self, address: str, next_hop: str | None = None) -> str | None:
        afi, value = parse_address(address)
        found = self.state.rib.lookup(afi, value, next_hop)
        return found[1].as_path_str if found else None


def test_announce_withdraw_and_identical_reannouncement() -> None:
    h, s = Harness(), Stream("127.0.0.3")
    r = h.apply(s.update(["203.0.113.0/24", "198.51.100.0/24"], attrs=attrs(65010, 65020)))
    assert r.announced == 2
    assert h.as_path_of("203.0.113.9") == "65010 65020"
    r = h.apply(s.update(["203.0.113.0/24"], attrs=attrs(65010, 65020)))
    assert r.announced == 0  # same attributes: nothing changes, nothing written
    r = h.apply(s.update(["203.0.113.0/24"], attrs=attrs(65030)))
    assert r.announced == 1 and h.as_path_of("203.0.113.9") == "65030"
    r = h.apply(s.update(withdraw=["203.0.113.0/24"]))
    assert r.withdrawn == 1 and h.as_path_of("203.0.113.9") is None
    assert h.sink.deletes == [("203.0.113.0/24", 0)]
    assert len(h.state.rib) == 1
    # attribute sets no longer used are forgotten
    assert len(h.pool) == 1


def test_withdraw_applies_before_announce_in_one_update() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.0.0.0/8"], attrs=attrs(1)))
    h.apply(s.update(["10.0.0.0/8"], attrs=attrs(2), withdraw=["10.0.0.0/8"]))
    assert h.as_path_of("10.1.2.3") == "2"


def test_add_path_selects_by_next_hop_else_best() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["192.0.2.0/24"], next_hop="10.0.0.1", attrs=attrs(1, 2, 3), path_id=1))
    h.apply(
        s.update(
            ["192.0.2.0/24"], next_hop="10.0.0.2", attrs=attrs(4, 5, local_pref=200), path_id=2
        )
    )
    h.apply(s.update(["192.0.2.0/24"], next_hop="10.0.0.3", attrs=attrs(6), path_id=3))
    assert len(h.state.rib) == 3 and h.state.rib.prefixes == 1
    # the flow's BGP next hop picks the path
    assert h.as_path_of("192.0.2.7", "10.0.0.1") == "1 2 3"
    assert h.as_path_of("192.0.2.7", "10.0.0.3") == "6"
    # no next hop, or one that matches no path: best = highest local-pref
    assert h.as_path_of("192.0.2.7") == "4 5"
    assert h.as_path_of("192.0.2.7", "10.9.9.9") == "4 5"
    # withdraw the best: next best is the shortest path among local-pref 100
    h.apply(s.update(withdraw=["192.0.2.0/24"], path_id=2))
    assert h.as_path_of("192.0.2.7") == "6"
    h.apply(s.update(withdraw=["192.0.2.0/24"], path_id=3))
    h.apply(s.update(withdraw=["192.0.2.0/24"], path_id=1))
    assert h.as_path_of("192.0.2.7") is None and len(h.state.rib) == 0


def test_add_path_next_hop_found_on_a_shorter_prefix() -> None:
    """As pmacct walks its tree: the longest prefix that has a path via the flow's BGP next hop
    gives that path; none has one: the longest match's best path."""
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["192.0.2.0/24"], next_hop="10.0.0.1", attrs=attrs(1), path_id=1))
    h.apply(s.update(["192.0.2.0/24"], next_hop="10.0.0.2", attrs=attrs(2, local_pref=200),
                     path_id=2))  # fmt: skip
    h.apply(s.update(["192.0.2.128/25"], next_hop="10.0.0.3", attrs=attrs(3), path_id=1))
    h.apply(s.update(["192.0.2.192/26"], next_hop="10.0.0.4", attrs=attrs(4), path_id=1))
    h.apply(s.update(["2001:db8::/32"], next_hop="2001:db8::1", attrs=attrs(6), path_id=1))
    h.apply(s.update(["2001:db8:1::/48"], next_hop="2001:db8::2", attrs=attrs(7), path_id=1))

    def route(address: str, next_hop: str | None) -> tuple[int, str] | None:
        afi, value = parse_address(address)
        found = h.state.rib.lookup(afi, value, next_hop)
        return (found[0], found[1].as_path_str) if found else None

    assert route("192.0.2.200", "10.0.0.4") == (26, "4")
    assert route("192.0.2.200", "10.0.0.3") == (25, "3")
    assert route("192.0.2.200", "10.0.0.1") == (24, "1")  # not the /26's path via 10.0.0.4
    assert route("192.0.2.200", "10.0.0.2") == (24, "2")
    assert route("192.0.2.100", "10.0.0.3") == (24, "2")  # the /25 does not cover it: best
    for unknown in ("10.9.9.9", "0.0.0.0", "", None):  # no prefix has it: the /26's best
        assert route("192.0.2.200", unknown) == (26, "4")
    assert route("2001:db8:1::9", "2001:db8:0::1") == (32, "6")  # any spelling
    assert route("2001:db8:1::9", "::") == (48, "7")

    def recount() -> dict[str, int]:
        return dict(Counter(r.attrs.next_hop for r in h.state.rib.routes()))

    # the table's next hops (a next hop nobody has skips the walk) follow every change
    assert h.state.rib.next_hops == recount() and h.state.rib.next_hops["10.0.0.1"] == 1
    h.apply(s.update(withdraw=["192.0.2.0/24"], path_id=1))
    assert "10.0.0.1" not in h.state.rib.next_hops
    assert route("192.0.2.200", "10.0.0.1") == (26, "4")  # nobody's now
    h.apply(s.update(["192.0.2.0/24"], next_hop="10.0.0.5", attrs=attrs(2), path_id=2))
    assert route("192.0.2.200", "10.0.0.5") == (24, "2")
    assert h.state.rib.next_hops == recount() and "10.0.0.2" not in h.state.rib.next_hops
    h.apply(s.session("down"))
    assert h.state.rib.next_hops == {} == recount()


def test_add_path_next_hop_spelling_does_not_matter() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["2001:db8::/32"], next_hop="2001:db8::1", attrs=attrs(1), path_id=1))
    h.apply(s.update(["2001:db8::/32"], next_hop="2001:db8::2", attrs=attrs(2), path_id=2))
    assert h.as_path_of("2001:db8::99", "2001:0db8:0000::2") == "2"


def test_path_id_zero_and_non_zero_coexist() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.0.0.0/8"], attrs=attrs(1)))
    h.apply(s.update(["10.0.0.0/8"], next_hop="192.0.2.9", attrs=attrs(9), path_id=7))
    assert len(h.state.rib) == 2
    assert h.as_path_of("10.0.0.1", "192.0.2.9") == "9"
    h.apply(s.update(withdraw=["10.0.0.0/8"], path_id=7))
    assert h.as_path_of("10.0.0.1", "192.0.2.9") == "1"


def test_session_down_flushes_at_once_and_relearning_works() -> None:
    h, s = Harness(), Stream("127.0.0.3")
    h.apply(s.session("up"))
    h.apply(s.update(["203.0.113.0/24", "10.20.0.0/16"], attrs=attrs(65010)))
    h.apply(s.update(["2001:db8:100::/48"], next_hop="2001:db8::1", attrs=attrs(65050)))
    h.apply(s.eor("ipv4 unicast"))
    h.apply(s.eor("ipv6 unicast"))
    assert h.state.meta.synced == ["ipv4 unicast", "ipv6 unicast"]
    r = h.apply(s.session("down", reason="hold timer expired"))
    assert r.flushed == 3 and len(h.state.rib) == 0
    assert h.as_path_of("203.0.113.1") is None  # no stale route after the session loss
    assert h.state.meta.synced == [] and h.state.meta.session == "down"
    assert sorted(h.sink.deletes) == [
        ("10.20.0.0/16", 0),
        ("2001:db8:100::/48", 0),
        ("203.0.113.0/24", 0),
    ]
    # the flap: session back up, table re-learnt, possibly different
    h.apply(s.session("up"))
    h.apply(s.update(["203.0.113.0/24"], attrs=attrs(65099)))
    h.apply(s.eor())
    assert h.as_path_of("203.0.113.1") == "65099"
    assert h.as_path_of("10.20.1.1") is None
    assert len(h.pool) == 1


def test_new_bridge_epoch_flushes_routes_the_old_one_taught() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.0.0.0/8", "11.0.0.0/8"], attrs=attrs(1)))
    s.restart(new_epoch=s.epoch + 60_000)
    r = h.apply(s.update(["10.0.0.0/8"], attrs=attrs(1)))
    assert r.new_epoch and r.flushed == 2 and r.announced == 1
    assert h.as_path_of("11.1.1.1") is None and h.as_path_of("10.1.1.1") == "1"


def test_duplicates_and_stale_epochs_are_skipped_and_gaps_counted() -> None:
    h, s = Harness(), Stream("r1")
    first = s.update(["10.0.0.0/8"], attrs=attrs(1))
    h.apply(first)
    again = h.apply(first)  # at-least-once redelivery
    assert again.skipped == "duplicate"
    s.seq += 3  # three messages lost upstream
    r = h.apply(s.update(["11.0.0.0/8"], attrs=attrs(2)))
    assert r.seq_gap == 3
    old = Stream("r1", epoch=s.epoch - 1)
    assert h.apply(old.update(withdraw=["10.0.0.0/8"])).skipped == "stale_epoch"
    assert h.as_path_of("10.0.0.1") == "1"


def test_bad_nlri_is_reported_and_the_good_ones_apply() -> None:
    h, s = Harness(), Stream("r1")
    msg = s.update(["10.0.0.0/8", "300.1.2.0/24", "11.0.0.0/8", "2001:db8::/32"], attrs=attrs(1))
    msg["announce"][0]["family"] = "ipv4 unicast"
    event = parse_event(msg)
    result = apply_event(h.state, event, h.pool, h.sink)
    assert result.announced == 2
    assert [e.split(":")[0] for e in result.errors] == ["bad_prefix", "family_mismatch"]


def test_unknown_families_are_skipped_not_fatal() -> None:
    h, s = Harness(), Stream("r1")
    msg = s.update(["10.0.0.0/8"], attrs=attrs(1))
    msg["announce"].append(
        {"family": "ipv4 flow", "next_hop": "1.1.1.1", "nlri": [{"prefix": "flow x"}]}
    )
    event = parse_event(msg)
    assert getattr(event, "skipped_families", None) == ["ipv4 flow"]
    assert apply_event(h.state, event, h.pool, h.sink).announced == 1


def test_host_bits_are_cleared() -> None:
    (afi, network, length), masked = parse_prefix("10.1.2.3/8")
    assert (afi, network, length, masked) == (AFI_IP, 10 << 24, 8, True)
    (afi, network, length), masked = parse_prefix("2001:db8::1/32")
    assert afi == AFI_IP6 and masked and length == 32


@pytest.mark.parametrize(
    "msg",
    [
        {},
        {"v": 2, "type": "update"},
        {"v": 1, "type": "nonsense", "router": "r", "time_ms": 1, "epoch": 1, "seq": 1},
        {"v": 1, "type": "update", "router": "", "time_ms": 1, "epoch": 1, "seq": 1},
        {"v": 1, "type": "update", "router": "r", "time_ms": -1, "epoch": 1, "seq": 1},
        {"v": 1, "type": "update", "router": "r", "time_ms": 1, "epoch": 1, "seq": 1,
         "attrs": [], "announce": [], "withdraw": []},
        {"v": 1, "type": "session", "router": "r", "time_ms": 1, "epoch": 1, "seq": 1,
         "state": "sideways"},
        [1, 2, 3],
    ],
)  # fmt: skip
def test_malformed_messages_raise_bad_event(msg: Any) -> None:
    with pytest.raises(BadEvent):
        parse_event(msg)


def test_bad_attributes_reject_the_announcements_but_keep_the_withdrawals() -> None:
    h, s = Harness(), Stream("r1")
    h.apply(s.update(["10.0.0.0/8"], attrs=attrs(1)))
    msg = s.update(["11.0.0.0/8"], attrs={"as_path": [{"type": "as-sequence", "asns": ["x"]}]})
    msg["withdraw"] = [{"family": "ipv4 unicast", "nlri": [{"prefix": "10.0.0.0/8"}]}]
    result = apply_event(h.state, parse_event(msg), h.pool, h.sink)
    assert result.withdrawn == 1 and result.announced == 0
    assert result.errors and result.errors[0].startswith("bad_attrs")
    assert len(h.state.rib) == 0
