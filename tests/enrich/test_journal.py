"""The RIB's journal in state: packed records, compaction, the old per-path layout."""

from __future__ import annotations

from ribflow.enrich.codec import route_key
from ribflow.enrich.journal import SLACK, RecordWriter, parse_journal_key, read_record
from ribflow.rib import AFI_IP, AFI_IP6
from tests.enrich.fakes import Harness
from tests.rib.builders import Stream, attrs

R1 = "127.0.0.3"


def _journal_keys(h: Harness, router: str) -> list[bytes]:
    prefix = router.encode() + b"|"
    keys = [k for k in h.store if k.startswith(prefix)]
    return [k for k in keys if parse_journal_key(k[len(prefix) :]) is not None]


def _rebuilt(h: Harness) -> Harness:
    fresh = Harness()
    fresh.store = dict(h.store)
    fresh.enricher.load_partition(0, object(), fresh.scan())
    return fresh


def _routes(h: Harness, router: str) -> dict[tuple[str, int, int, int, int], bytes]:
    state = h.enricher.routers[router]
    return {
        (r.rd, r.afi, r.network, r.length, r.path_id): r.attrs.key
        for table in state.tables()
        for r in table.routes()
    }


def test_a_record_round_trips_groups_in_order() -> None:
    w = RecordWriter()
    w.add("", b'{"a":1}', AFI_IP, 10 << 24, 8, 0)
    w.add("", b'{"a":1}', AFI_IP6, 0x20010DB8 << 96, 32, 3)
    w.add("", b"", AFI_IP, 11 << 24, 8, 0)
    w.add("0:1:2", b'{"a":1}', AFI_IP, 12 << 24, 8, 0)
    value = w.value()
    assert value is not None and w.entries == 4
    got = [(rd, a, afi, list(e)) for rd, a, afi, _, e in read_record(value)]
    assert got == [
        ("", b'{"a":1}', AFI_IP, [(8, 10 << 24, 0)]),
        ("", b'{"a":1}', AFI_IP6, [(32, (0x20010DB8 << 96).to_bytes(16, "big"), 3)]),
        ("", b"", AFI_IP, [(8, 11 << 24, 0)]),
        ("0:1:2", b'{"a":1}', AFI_IP, [(8, 12 << 24, 0)]),
    ]
    assert RecordWriter().value() is None


def test_one_record_per_message_and_churn_keeps_the_journal_bounded() -> None:
    h = Harness()
    s = Stream(R1)
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(2000)]
    h.bgp(R1, s.update(prefixes, attrs=attrs(1)))
    assert len(_journal_keys(h, R1)) == 1  # 2000 paths, one record
    for version in range(2, 40):  # every path re-announced again and again
        h.bgp(R1, s.update(prefixes[:1000], attrs=attrs(version)))
        h.bgp(R1, s.update(withdraw=prefixes[1500:1600]))
        h.bgp(R1, s.update(prefixes[1500:1600], attrs=attrs(version)))
    written = sum(len(h.store[k]) for k in _journal_keys(h, R1))
    assert h.enricher.journals[R1].entries <= 2 * 2000 + SLACK
    assert written < 3 * 2000 * 9 + SLACK * 9 + 10_000  # about the size of the table
    assert h.stored_routes(R1) == _routes(h, R1)
    fresh = _rebuilt(h)
    assert _routes(fresh, R1) == _routes(h, R1)
    assert fresh.enricher.journals[R1].keys == sorted(h.enricher.journals[R1].keys)


def test_compacted_records_stay_small_when_every_path_has_its_own_attributes() -> None:
    h = Harness()
    s = Stream(R1)
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(6000)]
    for i in range(0, 6000, 200):  # every path its own set: a MED per prefix, long communities
        for j, prefix in enumerate(prefixes[i : i + 200]):
            comms = [f"65000:{k}" for k in range(40)]
            h.bgp(R1, s.update([prefix], attrs=attrs(1, 2, 3, med=i + j, communities=comms)))
    h.bgp(R1, s.update(withdraw=prefixes[:5000]))  # 7000 entries for 1000 paths: compacted
    sizes = [len(h.store[k]) for k in _journal_keys(h, R1)]
    assert h.enricher.journals[R1].entries == 1000 and max(sizes) < (256 << 10) + 4096
    assert h.stored_routes(R1) == _routes(h, R1)


def test_session_down_deletes_the_journal() -> None:
    h = Harness()
    s = Stream(R1)
    h.bgp(R1, s.update(["10.0.0.0/8"], attrs=attrs(1)))
    h.bgp(R1, s.session("down"))
    assert _journal_keys(h, R1) == []
    h.bgp(R1, s.update(["11.0.0.0/8"], attrs=attrs(2)))
    fresh = _rebuilt(h)
    assert list(_routes(fresh, R1)) == [("", AFI_IP, 11 << 24, 8, 0)]
    # the counter goes on after a rebuild: new records sort after the old ones
    fresh.bgp(R1, Stream(R1, seq=10).update(["12.0.0.0/8"], attrs=attrs(3)))
    assert len(_routes(_rebuilt(fresh), R1)) == 2


def test_the_old_per_path_layout_is_read_and_replaced_by_the_next_message() -> None:
    h = Harness()
    s = Stream(R1)
    h.bgp(R1, s.update(["10.0.0.0/8"], attrs=attrs(1)))
    old = Harness()  # a store written by the previous release: one key per path
    attrs_key = h.enricher.routers[R1].rib.get(AFI_IP, 10 << 24, 8, 0)
    assert attrs_key is not None
    old.store = {k: v for k, v in h.store.items() if parse_journal_key(k.split(b"|")[1]) is None}
    old.store[R1.encode() + b"|" + route_key(AFI_IP, 10 << 24, 8, 0)] = attrs_key.key
    old.enricher.load_partition(0, object(), old.scan())
    assert list(_routes(old, R1)) == [("", AFI_IP, 10 << 24, 8, 0)]
    old.bgp(R1, Stream(R1, seq=5).update(["11.0.0.0/8"], attrs=attrs(2)))
    assert R1.encode() + b"|" + route_key(AFI_IP, 10 << 24, 8, 0) not in old.store
    assert set(old.stored_routes(R1)) == {
        ("", AFI_IP, 10 << 24, 8, 0),
        ("", AFI_IP, 11 << 24, 8, 0),
    }


def test_a_damaged_record_is_skipped_and_counted() -> None:
    h = Harness()
    s = Stream(R1)
    h.bgp(R1, s.update(["10.0.0.0/8"], attrs=attrs(1)))
    h.bgp(R1, s.update(["11.0.0.0/8"], attrs=attrs(2)))
    first = sorted(_journal_keys(h, R1))[0]
    h.store[first] = h.store[first][:-3]  # truncated
    fresh = _rebuilt(h)
    assert list(_routes(fresh, R1)) == [("", AFI_IP, 11 << 24, 8, 0)]
