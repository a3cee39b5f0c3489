"""NetFlow v9 / IPFIX templates, one test each, on packets built field by field from the RFCs.

Templates per exporter and domain, data that comes before its template, refresh and withdrawal,
persistence across a restart, limits, and the packet framing around them.
"""

from __future__ import annotations

import struct

import pytest

from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pending import PendingLimits
from ribflow.flow.state import DecoderState
from ribflow.flow.templates import TemplateLimits
from tests.flow.netflow_support import (
    EXP,
    IPFIX_FIELDS,
    NOW_MS,
    V9_FIELDS,
    data_set,
    decode,
    ipfix_packet,
    ipfix_rec,
    ipfix_template_set,
    ipfix_withdrawal_set,
    v9_options_template_set,
    v9_packet,
    v9_rec,
    v9_template_set,
)


# -- templates per exporter and domain ----------------------------------------------------
def test_template_per_source_id_and_exporter() -> None:
    d = Dispatcher()
    other = [(12, 4), (8, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4)]
    decode(d, v9_packet(v9_template_set(256, V9_FIELDS), source_id=1))
    decode(d, v9_packet(v9_template_set(256, other), source_id=2))
    decode(d, v9_packet(v9_template_set(256, other)), exporter="2001:db8::7")
    a = decode(d, v9_packet(data_set(256, v9_rec()), source_id=1)).records[0]
    b = decode(d, v9_packet(data_set(256, v9_rec()), source_id=2)).records[0]
    c = decode(d, v9_packet(data_set(256, v9_rec()), source_id=1), exporter="2001:db8::7")
    assert (a["src_addr"], a["domain"]) == ("10.0.0.1", 1)
    assert (b["src_addr"], b["domain"]) == ("10.0.0.2", 2)
    assert c.records == [] and len(d.state.pending) == 1  # that exporter has no template 256/1


# -- data before its template -----------------------------------------------------------------
def test_data_before_template_in_the_same_packet() -> None:
    d = Dispatcher()
    pkt = v9_packet(
        data_set(256, v9_rec(sport=1)),
        v9_template_set(256, V9_FIELDS),
        data_set(256, v9_rec(sport=2)),
    )
    recs = decode(d, pkt).records
    assert [r["src_port"] for r in recs] == [1, 2]
    assert d.errors == {}


def test_data_before_template_in_an_earlier_packet_keeps_its_context() -> None:
    d = Dispatcher()
    early = v9_packet(data_set(256, v9_rec(sport=1)), uptime=100_000, secs=NOW_MS // 1000)
    assert decode(d, early, at=NOW_MS).records == []
    late = v9_packet(v9_template_set(256, V9_FIELDS), uptime=160_000, secs=NOW_MS // 1000 + 60)
    recs = decode(d, late, at=NOW_MS + 30_000).records
    assert [r["src_port"] for r in recs] == [1]
    # times and arrival come from the packet the data came in, not the template's
    assert recs[0]["start_ms"] == NOW_MS - 10_000
    assert recs[0]["time_received_ms"] == NOW_MS
    assert d.errors == {}


def test_held_data_is_bounded_by_count_and_age() -> None:
    state = DecoderState(
        pending_limits=PendingLimits(max_sets=3, max_bytes=1 << 20, max_age_ms=10_000)
    )
    d = Dispatcher(state)
    for i in range(5):
        decode(d, v9_packet(data_set(256, v9_rec(sport=i))), at=NOW_MS + i)
    assert len(state.pending) == 3 and d.errors["missing-template"] == 2
    # an unrelated packet 11 s later expires the rest
    decode(d, v9_packet(v9_template_set(999, V9_FIELDS)), at=NOW_MS + 11_000)
    assert len(state.pending) == 0 and d.errors["missing-template"] == 5
    # the template coming now finds nothing to release
    assert decode(d, v9_packet(v9_template_set(256, V9_FIELDS)), at=NOW_MS + 12_000).records == []


def test_flush_counts_data_that_never_got_a_template() -> None:
    d = Dispatcher()
    decode(d, v9_packet(data_set(256, v9_rec()), data_set(257, v9_rec())))
    assert d.flush().errors == ["missing-template", "missing-template"]
    assert d.errors["missing-template"] == 2


# -- template refresh and withdrawal ------------------------------------------------------------
def test_template_refresh_with_a_new_layout() -> None:
    d = Dispatcher()
    decode(d, v9_packet(v9_template_set(256, V9_FIELDS)))
    d.drain_changes()
    decode(d, v9_packet(v9_template_set(256, V9_FIELDS)))
    assert d.drain_changes() == {}  # same definition: nothing to persist
    swapped = [(12, 4), (8, 4), *V9_FIELDS[2:]]
    r = decode(d, v9_packet(v9_template_set(256, swapped), data_set(256, v9_rec()))).records[0]
    assert (r["src_addr"], r["dst_addr"]) == ("10.0.0.2", "10.0.0.1")
    assert list(d.drain_changes()) == [f"tpl|{EXP}|9|0|256"]


def test_ipfix_withdrawal_of_one_and_of_all_templates() -> None:
    d = Dispatcher()
    decode(
        d,
        ipfix_packet(ipfix_template_set(256, IPFIX_FIELDS), ipfix_template_set(257, IPFIX_FIELDS)),
    )
    assert len(decode(d, ipfix_packet(data_set(256, ipfix_rec()))).records) == 1
    d.drain_changes()
    decode(d, ipfix_packet(ipfix_withdrawal_set(256)))
    assert d.drain_changes() == {f"tpl|{EXP}|10|0|256": None}  # a tombstone
    assert decode(d, ipfix_packet(data_set(256, ipfix_rec()))).records == []
    assert len(decode(d, ipfix_packet(data_set(257, ipfix_rec()))).records) == 1
    decode(d, ipfix_packet(ipfix_withdrawal_set(2)))  # template id 2: all data templates
    assert decode(d, ipfix_packet(data_set(257, ipfix_rec()))).records == []
    assert d.snapshot() == {}


# -- state persistence ----------------------------------------------------------------------------
def test_snapshot_restore_decodes_at_once_after_a_restart() -> None:
    d = Dispatcher()
    opts = v9_options_template_set(260, [(1, 4)], [(48, 1), (50, 4)])
    decode(
        d,
        v9_packet(
            opts,
            data_set(260, struct.pack("!IBI", 0, 1, 100)),
            v9_template_set(261, [*V9_FIELDS, (48, 1)]),
        ),
    )
    decode(d, ipfix_packet(ipfix_template_set(256, IPFIX_FIELDS)), exporter="2001:db8::1")
    saved = d.snapshot()
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in saved.items())
    assert f"tpl|{EXP}|9|0|261" in saved and "tpl|2001:db8::1|10|0|256" in saved

    fresh = Dispatcher()
    fresh.restore({**saved, "junk": b"x", "tpl|a|b|c|d": b"{", "tpl|1.2.3.4|9|0|300": b"{}"})
    assert fresh.drain_changes() == {}  # what was restored is already persisted
    r = decode(fresh, v9_packet(data_set(261, v9_rec() + b"\x01"))).records
    assert r[0]["sampling_rate"] == 100 and r[0]["src_addr"] == "10.0.0.1"
    r = decode(fresh, ipfix_packet(data_set(256, ipfix_rec())), exporter="2001:db8::1").records
    assert r[0]["exporter"] == "2001:db8::1" and len(r) == 1
    assert fresh.snapshot() == saved


def test_template_limit_per_exporter() -> None:
    d = Dispatcher(DecoderState(template_limits=TemplateLimits(per_exporter=2, total=10)))
    decode(d, v9_packet(*(v9_template_set(256 + i, V9_FIELDS) for i in range(3))))
    assert d.errors["template-limit"] == 1
    decode(d, v9_packet(v9_template_set(256, V9_FIELDS)), exporter="192.0.2.2")  # others fine
    assert d.errors["template-limit"] == 1


def test_several_ipfix_messages_in_one_datagram() -> None:
    d = Dispatcher()
    first = ipfix_packet(ipfix_template_set(256, IPFIX_FIELDS), seq=1)
    second = ipfix_packet(data_set(256, ipfix_rec() + ipfix_rec()), seq=2)
    assert len(decode(d, first + second).records) == 2


def test_header_errors_raise() -> None:
    d = Dispatcher()
    with pytest.raises(FlowDecodeError) as exc:
        d.decode(b"\x00\x09" + b"\0" * 10, EXP, NOW_MS)
    assert exc.value.reason == "truncated"
    with pytest.raises(FlowDecodeError) as exc:
        d.decode(struct.pack("!HHIII", 10, 8, 0, 0, 0), EXP, NOW_MS)
    assert exc.value.reason == "bad-length"


def test_restore_skips_unusable_templates() -> None:
    d = Dispatcher()
    zero = b'{"id":256,"v":9,"options":false,"scope":0,"fields":[[8,0,0],[12,0,0]]}'
    huge = b'{"id":257,"v":9,"options":false,"scope":0,"fields":[[8,70000,0]]}'
    wrong_id = b'{"id":300,"v":9,"options":false,"scope":0,"fields":[[8,4,0]]}'
    good = b'{"id":259,"v":9,"options":false,"scope":0,"fields":[[8,4,0],[12,4,0]]}'
    d.restore({f"tpl|{EXP}|9|0|256": zero, f"tpl|{EXP}|9|0|257": huge,
               f"tpl|{EXP}|9|0|258": wrong_id, f"tpl|{EXP}|9|0|259": good})
    assert list(d.snapshot()) == [f"tpl|{EXP}|9|0|259"]
    r = decode(d, v9_packet(data_set(259, b"\x01\x02\x03\x04\x05\x06\x07\x08"))).records
    assert (r[0]["src_addr"], r[0]["dst_addr"]) == ("1.2.3.4", "5.6.7.8")
