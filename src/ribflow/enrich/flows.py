"""The per-flow hot loop: parse a batch's addresses, longest-prefix match them, render records.

One ``flows`` message carries the records of one export packet (~25), and a busy enricher sees
millions per minute, so this loop is written for speed (measured in
benchmarks/bench_enricher.py): addresses are parsed inline with ``inet_pton``, the router's
two prefix tables are bound once per batch, the common single-path entry is used as is (only
ADD-PATH entries go through :func:`~ribflow.rib.table.pick_route`), and matches are handed to
:meth:`FlowFormatter.flow_json` as plain values instead of tuples. Behaviour, including which
exception a malformed record raises, is that of :func:`ribflow.rib.prefix.parse_address`
followed by :meth:`RouterRib.lookup`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from ribflow.enrich.pmacct import FlowFormatter
from ribflow.enrich.rdmap import RdMapFollower
from ribflow.rib.apply import RouterState
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.prefix import AFI_IP, AFI_IP6
from ribflow.rib.table import RouterRib, pick_path, pick_route

RD = "mpls_vpn_rd"  # a flow record's L3VPN route distinguisher (pmacct's text form)
RD_ORIGIN = "mpls_vpn_rd_origin"  # where it came from: "flow" (the record's own) or "map"

# What a malformed record raises while being parsed, matched or rendered (OverflowError: a
# routed IPv6 source with an IPv4 destination, whose network does not fit the record's family).
RECORD_ERRORS = (
    KeyError, TypeError, ValueError, OSError, AttributeError, IndexError, OverflowError,
)  # fmt: skip

_inet_pton = socket.inet_pton
_from_bytes = int.from_bytes
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def enrich_records(
    records: list[Any],
    rib: RouterRib | None,
    fmt: FlowFormatter,
    on_bad: Callable[[Any, Exception], None],
) -> tuple[list[bytes], int, int]:
    """Render every good record of a batch; returns ``(outputs, source hits, dest hits)``.

    A record that cannot be rendered goes to ``on_bad`` with its exception and is skipped.
    ``rib`` None (no routes for the router) renders every record unenriched.
    """
    flow_json = fmt.flow_json
    outputs: list[bytes] = []
    append = outputs.append
    src_hits = dst_hits = 0
    if rib is not None:
        v4, v6 = rib.v4.lookup, rib.v6.lookup
    for rec in records:
        try:
            text = rec["dst_addr"]
            if ":" in text:
                d_afi, d_bits, dst = AFI_IP6, 128, _from_bytes(_inet_pton(_AF_INET6, text), "big")
            else:
                d_afi, d_bits, dst = AFI_IP, 32, _from_bytes(_inet_pton(_AF_INET, text), "big")
            text = rec["src_addr"]
            if ":" in text:
                s_v4, s_bits, src = False, 128, _from_bytes(_inet_pton(_AF_INET6, text), "big")
            else:
                s_v4, s_bits, src = True, 32, _from_bytes(_inet_pton(_AF_INET, text), "big")
            s_attrs = d_attrs = None
            s_net = s_len = d_net = d_len = 0
            if rib is not None:
                found = (v4 if d_afi == AFI_IP else v6)(dst)
                if found is not None:
                    d_len, entry = found
                    if isinstance(entry, RouteAttrs):
                        d_attrs = entry
                    else:
                        d_len, d_attrs = pick_route(
                            rib.v4 if d_afi == AFI_IP else rib.v6,
                            d_bits, dst, d_len, entry, rec.get("bgp_next_hop"), rib.next_hops,
                        )  # fmt: skip
                    shift = d_bits - d_len
                    d_net = (dst >> shift) << shift
                found = (v4 if s_v4 else v6)(src)
                if found is not None:
                    s_len, entry = found
                    s_attrs = entry if isinstance(entry, RouteAttrs) else pick_path(entry, None)
                    shift = s_bits - s_len
                    s_net = (src >> shift) << shift
            append(flow_json(rec, d_afi, s_net, s_len, s_attrs, d_net, d_len, d_attrs))
        except RECORD_ERRORS as exc:
            on_bad(rec, exc)
            continue
        src_hits += s_attrs is not None
        dst_hits += d_attrs is not None
    return outputs, src_hits, dst_hits


def enrich_by_rd(
    records: list[Any],
    rs: RouterState | None,
    rd_map: RdMapFollower | None,
    fmt: FlowFormatter,
    bad: Callable[[Any, Exception], None],
) -> tuple[list[bytes], int, int, int]:
    """Records looked up in the table of their RD: the record's own (``mpls_vpn_rd``),
    else the flow_to_rd_map's (then set on the record, so the output carries it), else the
    global table. Runs of records with the same RD go through the hot loop together, in
    order. Returns (outputs, source hits, destination hits, records with a table)."""
    outputs: list[bytes] = []
    src_hits = dst_hits = enriched = 0
    start = 0
    run_rd: str | None = None
    rds: list[str] = []
    for rec in records:
        rd = rec.get(RD) if type(rec) is dict else None
        if not rd and rd_map is not None and type(rec) is dict:
            rd = rd_map.lookup(rec)
            if rd:
                rec[RD] = rd
                rec[RD_ORIGIN] = "map"
        rds.append(rd if isinstance(rd, str) else "")
    for i in range(len(records) + 1):
        rd = rds[i] if i < len(records) else None
        if i and rd == run_rd:
            continue
        if i:
            table = rs.table(run_rd or "") if rs is not None else None
            rib = table if table is not None and len(table) else None
            out, s, d = enrich_records(records[start:i], rib, fmt, bad)
            outputs += out
            src_hits, dst_hits = src_hits + s, dst_hits + d
            enriched += len(out) if rib is not None else 0
        start, run_rd = i, rd
    return outputs, src_hits, dst_hits, enriched
