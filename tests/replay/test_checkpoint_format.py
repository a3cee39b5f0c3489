"""Checkpoint messages: a RIB written in chunks loads back into an identical RIB."""

from __future__ import annotations

import orjson
import pytest

from ribflow.replay import checkpoint as cp
from ribflow.replay.ribs import NO_STATE, make_enricher
from ribflow.schemas import validate
from tests.replay.fakes import config
from tests.rib.builders import Stream, attrs

R = "127.0.0.3"


def _loaded_rib() -> object:
    enricher = make_enricher(config())
    s = Stream(R)
    msgs = [s.session("up")]
    for i in range(25):
        a = attrs(65010, 65000 + i % 4, communities=[f"65010:{i % 3}"], med=i % 2 or None)
        msgs.append(s.update([f"10.{i}.0.0/16", f"10.{i}.1.0/24"], attrs=a))
    msgs.append(s.update(["2001:db8::/32"], next_hop="2001:db8::1", attrs=attrs(65020)))
    msgs.append(s.update(["192.0.2.0/24"], attrs=attrs(65030), path_id=7))
    # L3VPN: the same prefix in two VRFs, one via an IPv6 next hop (RFC 8950)
    msgs.append(s.update(["10.0.0.0/16"], "2001:db8::9", attrs(65040), rd="0:65001:10"))
    msgs.append(s.update(["10.0.0.0/16"], attrs=attrs(65041), rd="2:4200000000:7"))
    msgs.append(s.eor())
    for m in msgs:
        enricher.on_bgp(0, R.encode(), orjson.dumps(m), NO_STATE, m["time_ms"])
    return enricher


def _snapshot(enricher: object) -> list[tuple[str, int, int, int, int, bytes]]:
    state = enricher.routers[R]  # type: ignore[attr-defined]
    return sorted(
        (r.rd, r.afi, r.network, r.length, r.path_id, r.attrs.key)
        for table in state.tables()
        for r in table.routes(True)
    )


def test_round_trip_through_chunks() -> None:
    source = _loaded_rib()
    header = cp.Header(partition=2, cut_ms=1_700_000_100_000, bgp_offset=42, from_start=True)
    state = source.routers[R]  # type: ignore[attr-defined]
    raw = [cp.begin_message(header, "bgp-updates")]
    raw += list(cp.router_messages(header, R, state, complete=True, chunk=7))
    raw.append(cp.end_message(header, len(raw) + 1, 1, state.paths()))
    objs = [cp.parse(r) for r in raw]
    for obj in objs:
        validate("bgp-rib-checkpoints.v1", obj)
    assert [o["type"] for o in objs][:2] == ["begin", "routes"] and objs[-1]["type"] == "end"
    assert len(objs) == 2 + -(-state.paths() // 7)
    assert len(state.vrfs) == 2 and {r[0] for r in _snapshot(source)} >= {"0:65001:10"}
    assert cp.header_of(objs[0]) == header
    assert objs[-1]["messages"] == len(raw)

    target = make_enricher(config())
    items = [item for o in objs if o["type"] == "routes" for item in cp.items(o)]
    target.load_partition(2, object(), items)
    assert _snapshot(target) == _snapshot(source)
    assert target.routers[R].meta.to_json() == state.meta.to_json()
    assert cp.completeness(objs) == {R: True}


def test_router_with_empty_rib_keeps_its_metadata() -> None:
    enricher = make_enricher(config())
    s = Stream(R)
    down = s.session("down")
    enricher.on_bgp(0, R.encode(), orjson.dumps(down), NO_STATE, down["time_ms"])
    header = cp.Header(0, 5, 1, False)
    msgs = list(cp.router_messages(header, R, enricher.routers[R], False, 100))
    assert len(msgs) == 1
    obj = cp.parse(msgs[0])
    assert obj["routes"] == [] and obj["meta"]["session"] == "down"


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'{"v":2,"type":"begin"}', b'{"v":1,"type":"x","partition":0,'
     b'"cut_ms":1}', b'{"v":1,"type":"begin","cut_ms":1}', None],
)  # fmt: skip
def test_foreign_messages_are_rejected(raw: bytes | None) -> None:
    with pytest.raises(cp.BadCheckpoint):
        cp.parse(raw)


def test_bad_route_row_is_rejected() -> None:
    obj = {"v": 1, "type": "routes", "partition": 0, "cut_ms": 1, "router": R,
           "meta": {}, "attrs": ["{}"], "routes": [["not-a-prefix", 0, 0]]}  # fmt: skip
    with pytest.raises(cp.BadCheckpoint):
        list(cp.items(obj))
