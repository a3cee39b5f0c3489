"""pmacct's aggregation primitives: the names operators write in ``aggregate:`` and their keys.

Each :class:`Primitive` maps a pmacct primitive name (``src_host``) to the key pmacct writes in
its JSON output (``ip_src``) and to the key(s) read from a flows-enriched record. flows-enriched
uses pmacct's own output keys (ribflow.enrich.pmacct), so both are normally the same key.

:data:`REGISTRY` is in the order pmacct's JSON writer emits the keys (plugin_cmn_json.c,
``compose_json``), so an aggregated record has pmacct's key order whatever order the operator
listed the primitives in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ribflow.aggregate.errors import AggregateConfigError
from ribflow.protocols import PROTO_TEXT

__all__ = [
    "PSEUDO_PRIMITIVES",
    "REGISTRY",
    "UNSUPPORTED",
    "Kind",
    "Primitive",
    "parse_aggregate",
    "primitive",
]

#: How a primitive's value is normalised and what it defaults to when a record lacks it:
#: int -> 0, str -> "" (pmacct prints an unset address as ""), path (as_path/communities:
#: "_"-joined string or array) -> "", flags (tcp_flags, decimal string) -> "0",
#: proto (name such as "tcp") -> "0" (pmacct's text of protocol 0), time (timestamps) -> "".
Kind = Literal["int", "str", "path", "flags", "proto", "time"]

_DEFAULTS: dict[str, object] = {
    "int": 0,
    "str": "",
    "path": "",
    "flags": "0",
    "proto": PROTO_TEXT[0],
    "time": "",
}


@dataclass(frozen=True, slots=True)
class Primitive:
    """One pmacct aggregation primitive."""

    name: str
    """The pmacct primitive name, as written in ``aggregate:`` (``src_host``)."""
    output_key: str
    """The key pmacct writes in its JSON records (``ip_src``)."""
    kind: Kind
    record_keys: tuple[str, ...] = ()
    """Keys read from a flows-enriched record, first present wins (default: ``output_key``)."""

    @property
    def source_keys(self) -> tuple[str, ...]:
        return self.record_keys or (self.output_key,)

    @property
    def default(self) -> object:
        """The value pmacct prints when the flow does not carry this primitive."""
        return _DEFAULTS[self.kind]


def _p(name: str, output_key: str, kind: Kind, *record_keys: str) -> Primitive:
    return Primitive(name, output_key, kind, tuple(record_keys))


#: Every supported primitive, in pmacct's JSON output order.
REGISTRY: tuple[Primitive, ...] = (
    _p("tag", "tag", "int"),
    _p("tag2", "tag2", "int"),
    _p("label", "label", "str"),
    _p("class", "class", "str"),
    _p("src_mac", "mac_src", "str"),
    _p("dst_mac", "mac_dst", "str"),
    _p("vlan", "vlan", "int"),
    _p("in_vlan", "vlan_in", "int"),
    _p("out_vlan", "vlan_out", "int"),
    _p("in_cvlan", "cvlan_in", "int"),
    _p("out_cvlan", "cvlan_out", "int"),
    _p("cos", "cos", "int"),
    _p("etype", "etype", "str"),
    _p("src_as", "as_src", "int"),
    _p("dst_as", "as_dst", "int"),
    _p("std_comm", "comms", "path"),
    _p("ext_comm", "ecomms", "path"),
    _p("lrg_comm", "lcomms", "path"),
    _p("as_path", "as_path", "path"),
    _p("local_pref", "local_pref", "int"),
    _p("med", "med", "int"),
    _p("dst_roa", "roa_dst", "str"),
    _p("peer_src_as", "peer_as_src", "int"),
    _p("peer_dst_as", "peer_as_dst", "int"),
    _p("peer_src_ip", "peer_ip_src", "str"),
    _p("peer_dst_ip", "peer_ip_dst", "str"),
    _p("src_std_comm", "comms_src", "path"),
    _p("src_ext_comm", "ecomms_src", "path"),
    _p("src_lrg_comm", "lcomms_src", "path"),
    _p("src_as_path", "as_path_src", "path"),
    _p("src_local_pref", "local_pref_src", "int"),
    _p("src_med", "med_src", "int"),
    _p("src_roa", "roa_src", "str"),
    _p("in_iface", "iface_in", "int"),
    _p("out_iface", "iface_out", "int"),
    _p("mpls_vpn_rd", "mpls_vpn_rd", "str"),
    _p("mpls_pw_id", "mpls_pw_id", "int"),
    _p("src_host", "ip_src", "str"),
    _p("src_net", "net_src", "str"),
    _p("dst_host", "ip_dst", "str"),
    _p("dst_net", "net_dst", "str"),
    _p("src_mask", "mask_src", "int"),
    _p("dst_mask", "mask_dst", "int"),
    _p("src_port", "port_src", "int"),
    _p("dst_port", "port_dst", "int"),
    _p("tcpflags", "tcp_flags", "flags"),
    _p("fwd_status", "fwd_status", "str"),
    _p("mpls_label_stack", "mpls_label_stack", "str"),
    _p("srv6_seg_ipv6_list", "srv6_seg_ipv6_list", "path"),
    _p("proto", "ip_proto", "proto"),
    _p("tos", "tos", "int"),
    _p("flow_label", "flow_label", "int"),
    _p("sampling_rate", "sampling_rate", "int"),
    _p("sampling_direction", "sampling_direction", "str"),
    _p("post_nat_src_host", "post_nat_ip_src", "str"),
    _p("post_nat_dst_host", "post_nat_ip_dst", "str"),
    _p("post_nat_src_port", "post_nat_port_src", "int"),
    _p("post_nat_dst_port", "post_nat_port_dst", "int"),
    _p("nat_event", "nat_event", "int"),
    _p("fw_event", "fw_event", "int"),
    _p("mpls_label_top", "mpls_label_top", "int"),
    _p("mpls_label_bottom", "mpls_label_bottom", "int"),
    _p("mpls_stack_depth", "mpls_stack_depth", "int"),
    _p("tunnel_src_mac", "tunnel_mac_src", "str"),
    _p("tunnel_dst_mac", "tunnel_mac_dst", "str"),
    _p("tunnel_src_host", "tunnel_ip_src", "str"),
    _p("tunnel_dst_host", "tunnel_ip_dst", "str"),
    _p("tunnel_proto", "tunnel_ip_proto", "proto"),
    _p("tunnel_tos", "tunnel_tos", "int"),
    _p("tunnel_flow_label", "tunnel_flow_label", "int"),
    _p("tunnel_src_port", "tunnel_port_src", "int"),
    _p("tunnel_dst_port", "tunnel_port_dst", "int"),
    _p("tunnel_tcpflags", "tunnel_tcp_flags", "flags"),
    _p("vxlan", "vxlan", "int"),
    _p("vrf_name", "vrf_name", "str"),
    _p("ingress_vrf_name", "ingress_vrf_name", "str"),
    _p("egress_vrf_name", "egress_vrf_name", "str"),
    _p("in_iface_name", "iface_name_in", "str"),
    _p("out_iface_name", "iface_name_out", "str"),
    _p("timestamp_start", "timestamp_start", "time"),
    _p("timestamp_end", "timestamp_end", "time"),
    _p("timestamp_arrival", "timestamp_arrival", "time"),
    _p("export_proto_seqno", "export_proto_seqno", "int"),
    _p("export_proto_version", "export_proto_version", "int"),
    _p("export_proto_sysid", "export_proto_sysid", "int"),
    _p("timestamp_export", "timestamp_export", "time"),
)

_BY_NAME: dict[str, Primitive] = {p.name: p for p in REGISTRY}
_ORDER: dict[str, int] = {p.name: i for i, p in enumerate(REGISTRY)}

#: Names pmacct accepts that add no key: ``flows`` (the flow counter, always written here) and
#: ``none`` (one total per time bin).
PSEUDO_PRIMITIVES: dict[str, str] = {
    "flows": "the flows counter (always written by ribflow)",
    "none": "no key: one total per time bin",
}

#: pmacct primitives ribflow refuses, with the reason shown to the operator.
UNSUPPORTED: dict[str, str] = {
    **{
        name: "pmacct's sum_* primitives count every flow twice (once per direction); "
        "aggregate on the src_/dst_ primitives instead"
        for name in ("sum", "sum_host", "sum_net", "sum_as", "sum_port", "sum_mac")
    },
    "class_frame": "nDPI classification is not carried by flows-enriched",
}

_SPLIT = re.compile(r"[\s,]+")


def primitive(name: str) -> Primitive:
    """The primitive called ``name``; raises :class:`AggregateConfigError` if unknown."""
    found = _BY_NAME.get(name)
    if found is None:
        raise AggregateConfigError(_unknown_message(name))
    return found


def _unknown_message(name: str) -> str:
    if name in UNSUPPORTED:
        return f"aggregation primitive {name!r} is not supported: {UNSUPPORTED[name]}"
    known = sorted([*_BY_NAME, *PSEUDO_PRIMITIVES])
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"unknown aggregation primitive {name!r} (did you mean {', '.join(close)}?)"
    return (
        f"unknown aggregation primitive {name!r}; pmacct primitive names are expected "
        f"(known: {', '.join(known)})"
    )


def parse_aggregate(spec: str | Iterable[str]) -> tuple[Primitive, ...]:
    """Parse an ``aggregate:`` list (``"src_host, dst_host,proto"``) into primitives.

    Names are case-insensitive and may be separated by commas and/or spaces, as pmacct
    accepts them. Duplicates collapse. The result is in pmacct's output order. Unknown or
    unsupported names raise :class:`AggregateConfigError` naming every bad entry.
    """
    names = _SPLIT.split(spec.strip()) if isinstance(spec, str) else [s.strip() for s in spec]
    names = [n.lower() for n in names if n]
    if not names:
        raise AggregateConfigError(
            "the aggregate list is empty: give pmacct primitives (e.g. 'src_host, dst_host') "
            "or 'none' for one total per time bin"
        )
    bad = [n for n in names if n not in _BY_NAME and n not in PSEUDO_PRIMITIVES]
    if bad:
        raise AggregateConfigError("; ".join(_unknown_message(n) for n in dict.fromkeys(bad)))
    chosen = {n for n in names if n in _BY_NAME}
    return tuple(sorted((_BY_NAME[n] for n in chosen), key=lambda p: _ORDER[p.name]))
