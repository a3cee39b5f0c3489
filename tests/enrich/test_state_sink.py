"""The bgp-rib records of applied bgp-updates: written in the order of the RIB's changes, some
thousands per call of the output (``produce_keyed``)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import orjson

from tests.enrich.fakes import Harness
from tests.fixtures.producer import FakeProducer
from tests.rib.builders import NOW_MS, Stream, attrs

R1 = "127.0.0.3"


def _prefixes(n: int, second: int) -> list[str]:
    return [str(IPv4Network(((10 << 24) | (second << 16) | (i << 2), 30))) for i in range(n)]


def _messages() -> list[dict[str, Any]]:
    s = Stream(R1)
    first, second = _prefixes(5000, 1), _prefixes(300, 2)
    out = [s.session("up"), s.update(first, attrs=attrs(65001)), s.update(second, attrs=attrs(2))]
    out.append(s.update(withdraw=first[:10]))
    again = Stream(R1, epoch=NOW_MS + 1, time_ms=s.time_ms)  # the bridge restarted: a flush,
    out.append(again.update(first[5:4500], attrs=attrs(65003)))  # then a new table
    return out


def _run(out: FakeProducer) -> Harness:
    h = Harness()
    h.out = out
    for msg in _messages():
        h.bgp(R1, msg)
    return h


def test_records_go_out_some_thousands_a_call_each_with_the_message_time() -> None:
    h = _run(FakeProducer(capacity=1 << 62))
    calls = h.out.runs
    assert {topic for topic, _, _ in calls} == {"bgp-rib"}
    sizes = [n for _, n, _ in calls]
    assert sum(sizes) == len(h.out.sent_to("bgp-rib"))
    # a call takes what is held once 4096 are (the flush's 5300 tombstones go in two calls),
    # or one announcement group more (the 5000 prefixes of one message)
    assert 4096 in sizes and max(sizes) <= 4096 + 5000
    assert all(ts is not None for _, _, ts in calls)


def test_the_last_record_of_each_key_is_the_rib_after_a_flush_and_reannouncement() -> None:
    h = _run(FakeProducer(capacity=1 << 62))
    last: dict[bytes, bytes | None] = {}
    for key, value in h.out.sent_to("bgp-rib"):
        assert key is not None
        last[key] = value
    rib = h.enricher.routers[R1].rib
    live = {f"{R1}|{IPv4Network((r.network, r.length))}|{r.path_id}".encode(): r
            for r in rib.routes()}  # fmt: skip
    assert len(live) == 4495
    assert {k for k, v in last.items() if v is not None} == set(live)
    for key, route in live.items():
        value = last[key]
        assert value is not None
        assert orjson.loads(value)["attrs"]["as_path"] == orjson.loads(route.attrs.key)["as_path"]
    # the flush's tombstones went before the new table's records of the same keys
    gone = {k for k, v in last.items() if v is None}
    assert len(gone) == 5000 + 300 - 4495
