"""The per-flow hot loop (ribflow.enrich.flows) against the plain path it replaces.

The reference side is deliberately the slow, generic code: ``parse_address``,
``RouterRib.lookup`` (ADD-PATH choice included) and ``FlowFormatter.record`` encoded by orjson.
Every record, good or malformed, must come out byte for byte the same, or be rejected with the
same exception, under every formatting option. (What the generic path itself writes is checked
against nfacctd in test_pmacct_format.py and test_pmacct_parity.py.)
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ribflow.enrich.flows import RECORD_ERRORS, enrich_records
from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.prefix import BITS, parse_address
from ribflow.rib.table import RouterRib
from tests.enrich.fakes import Harness
from tests.fixtures.synth import SynthTable
from tests.rib.builders import Stream, attrs

ROUTER = "127.0.0.3"
T = 1_700_000_000_000


def _rib() -> RouterRib:
    h = Harness()
    s = Stream(ROUTER)
    table = SynthTable(3000)
    for msg in table.updates(ROUTER, time_ms=T):
        msg.update(epoch=s.epoch, seq=s.seq + 1)
        s.seq += 1
        h.bgp(ROUTER, msg)
    for pid, nh, lp in ((1, "10.0.0.1", 100), (2, "10.0.0.2", 200), (3, "2001:db8::1", 50)):
        a = attrs(65001, 64500 + pid, local_pref=lp)
        h.bgp(ROUTER, s.update(["203.0.113.0/24"], next_hop=nh, attrs=a, path_id=pid))
    # a more specific with one path of its own: a next hop of the /24 only gets the /24
    more = attrs(65001, 64599)
    h.bgp(ROUTER, s.update(["203.0.113.128/25"], next_hop="10.0.0.4", attrs=more, path_id=4))
    return h.enricher.routers[ROUTER].rib


def _reference(rec: Any, rib: RouterRib, fmt: FlowFormatter) -> bytes:
    dst_afi, dst = parse_address(rec["dst_addr"])
    src_afi, src = parse_address(rec["src_addr"])
    matches: list[tuple[int, int, RouteAttrs] | None] = []
    for afi, addr, nh in ((dst_afi, dst, rec.get("bgp_next_hop")), (src_afi, src, None)):
        found = rib.lookup(afi, addr, nh)
        if found is None:
            matches.append(None)
        else:
            shift = BITS[afi] - found[0]
            matches.append(((addr >> shift) << shift, found[0], found[1]))
    return orjson.dumps(fmt.record(rec, dst_afi, matches[1], matches[0]))


class _Rejects:
    def __init__(self) -> None:
        self.types: list[type[Exception]] = []

    def __call__(self, rec: Any, exc: Exception) -> None:
        self.types.append(type(exc))


def _records() -> list[Any]:
    table = SynthTable(3000)
    good: list[Any] = table.flow_records(400, exporter=ROUTER, time_ms=T)
    base = {"exporter": ROUTER, "src_addr": "203.0.113.9", "dst_addr": "203.0.113.7",
            "packets": 1, "bytes": 2}  # fmt: skip
    odd: list[Any] = [
        {**base, "bgp_next_hop": "10.0.0.1"},  # not the best path: chosen by next hop
        {**base, "bgp_next_hop": "10.0.0.9"},
        {**base, "bgp_next_hop": "010.0.0.1"},
        {**base, "dst_addr": "203.0.113.200", "bgp_next_hop": "10.0.0.1"},  # the /24's path
        {**base, "dst_addr": "203.0.113.200", "bgp_next_hop": "10.0.0.4"},  # the /25's
        {**base, "dst_addr": "203.0.113.200", "bgp_next_hop": "10.0.0.9"},  # nobody's
        {**base, "dst_addr": "203.0.113.200", "bgp_next_hop": "0.0.0.0"},
        {**base, "src_addr": "2001:db8::5", "dst_addr": "2a00::1"},
        {**base, "dst_addr": "::1"},
        {**base, "exporter": 'we"ird\\'},
        {**base, "time_received_ms": 0, "time_export_ms": None, "end_ms": T + 123},
        {**base, "proto": 300},
        {**base, "packets": "1"},
        {**base, "start_ms": [1]},
        {**base, "in_if": "a"},
        {**base, "version": [1]},
        {**base, "src_addr": "1.2.3.4x"},
        {**base, "src_addr": 5},
        {**base, "dst_addr": None},
        {k: v for k, v in base.items() if k != "bytes"},
        {k: v for k, v in base.items() if k != "exporter"},
        "not a record",
        None,
        # fields of tunnel/MPLS/VRF/L2/SRv6 exports (pmacct_extra), well and badly typed
        {**good[0], "mac_src": "00:11:22:33:44:55", "mac_dst": "66:77:88:99:aa:bb",
         "vlan_out": 7, "etype": 0x86DD, "mpls_vpn_rd": "1:192.0.2.1:7", "vrf_name": 'we"ird',
         "iface_name_in": "Hu0/0/0/1", "fwd_status": 130, "mpls_label_stack": [16000, 17000],
         "mpls_label_top": 16000, "mpls_label_bottom": 17000, "mpls_stack_depth": 2,
         "tunnel_ip_src": "2001:db8::1", "tunnel_ip_dst": "2001:db8::2", "tunnel_ip_proto": 41,
         "tunnel_port_src": 1, "srv6_seg_ipv6_list": ["fc00::1", "fc00::2"]},
        {**good[1], "mpls_vpn_rd": "vrfid:5", "mpls_vpn_rd_origin": "map"},
        {**good[2], "tag": 7, "label": "k1%v1,k2%v2"},
        {**good[3], "tag2": 1 << 63, "label": "plain"},
        {**base, "tag": "7"},
        {**base, "label": 5},
        {**base, "etype": "800"},
        {**base, "tunnel_ip_proto": 300},
        {**base, "mpls_label_stack": ["16000"]},
        {**base, "srv6_seg_ipv6_list": [1]},
        {**base, "fwd_status": None, "mac_src": 5},
    ]
    records = good + odd
    random.Random(5).shuffle(records)
    return records


@pytest.mark.parametrize(
    "options",
    [
        FormatOptions(writer_id="w/1"),
        FormatOptions(
            writer_id='w"%s/2', as_path_as_array=True, comms_as_array=True, timestamps_usec=True
        ),
        FormatOptions(writer_id="w/3", timestamps_since_epoch=True,
                      fwd_status_encode_as_string=True, mpls_label_stack_encode_as_array=True),
        FormatOptions(writer_id="w/4", fields=("as_dst", "net_src", "peer_ip_dst")),
        FormatOptions(writer_id="w/5", pre_tag_label_encode_as_map=True),
    ],
)
def test_hot_loop_writes_what_the_generic_path_writes(options: FormatOptions) -> None:
    rib = _rib()
    fast_fmt, ref_fmt = FlowFormatter(options), FlowFormatter(options)
    type_checked = []  # rejected only by the text path, which type-checks integers
    src_total = dst_total = 0
    for rec in _records():
        rejected = _Rejects()
        outputs, src_hits, dst_hits = enrich_records([rec], rib, fast_fmt, rejected)
        src_total += src_hits
        dst_total += dst_hits
        try:
            expected = _reference(rec, rib, ref_fmt)
        except RECORD_ERRORS as exc:
            assert (outputs, rejected.types) == ([], [type(exc)]), rec
            continue
        if outputs:
            assert outputs == [expected], rec
        else:
            type_checked.append(rec)
    odd = sorted(
        (str(r["packets"]), str(r.get("in_if")), str(r.get("proto"))) for r in type_checked
    )
    mistyped = [("1", "None", "300"), ("1", "None", "None"), ("1", "a", "None")]
    assert odd == ([] if options.fields else mistyped)
    assert 300 < src_total < 420 and 300 < dst_total < 420


def test_without_a_rib_every_record_is_written_unenriched() -> None:
    fmt = FlowFormatter(FormatOptions(writer_id="w/1"))
    records = SynthTable(100).flow_records(30, exporter=ROUTER, time_ms=T)
    outputs, src_hits, dst_hits = enrich_records(records, None, fmt, lambda r, e: None)
    assert (len(outputs), src_hits, dst_hits) == (30, 0, 0)
    assert all(orjson.loads(o)["as_dst"] == 0 and orjson.loads(o)["mask_src"] == 0
               for o in outputs)  # fmt: skip
