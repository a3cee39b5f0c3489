"""pmacct's bgp_table_dump records (dump_init, dump, dump_close), as nfacctd 1.7 writes them.

Encoding options and timestamps are shared with the flow records (:mod:`ribflow.enrich.pmacct`).
"""

from __future__ import annotations

from typing import Any

from ribflow.enrich.pmacct import FormatOptions, Timestamps
from ribflow.rib.prefix import format_prefix
from ribflow.rib.table import Route


class DumpFormatter:
    """pmacct's bgp_table_dump records (space-separated paths and communities)."""

    __slots__ = ("period", "timestamp", "writer_id")

    def __init__(self, period: int, options: FormatOptions) -> None:
        self.period = period
        self.writer_id = options.writer_id
        self.timestamp = Timestamps(options.timestamps_since_epoch, options.timestamps_usec)

    def init(self, peer: str, seq: int, now_ms: int) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp(now_ms),
            "peer_ip_src": peer,
            "event_type": "dump_init",
            "dump_period": self.period,
            "seq": seq,
            "writer_id": self.writer_id,
        }

    def route(self, peer: str, seq: int, now_ms: int, route: Route) -> dict[str, Any]:
        a = route.attrs
        out: dict[str, Any] = {
            "seq": seq,
            "timestamp": self.timestamp(now_ms),
            "peer_ip_src": peer,
            "event_type": "dump",
            "afi": route.afi,
            "safi": 1,
            "ip_prefix": format_prefix(route.afi, route.network, route.length),
        }
        if route.rd:  # an L3VPN route (pmacct: SAFI 128 and the RD)
            out["safi"] = 128
            out["rd"] = route.rd
        if route.path_id:
            out["as_path_id"] = route.path_id
        out["bgp_nexthop"] = a.next_hop
        out["as_path"] = a.as_path_str
        if a.comms_str:
            out["comms"] = a.comms_str
        if a.ecomms_str:
            out["ecomms"] = a.ecomms_str
        if a.lcomms_str:
            out["lcomms"] = a.lcomms_str
        out["origin"] = a.origin_code
        if a.local_pref is not None:
            out["local_pref"] = a.local_pref
        if a.med is not None:
            out["med"] = a.med
        out["writer_id"] = self.writer_id
        return out

    def close(self, peer: str, seq: int, now_ms: int, entries: int) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp(now_ms),
            "peer_ip_src": peer,
            "event_type": "dump_close",
            "entries": entries,
            "tables": 1,
            "seq": seq,
            "writer_id": self.writer_id,
        }
