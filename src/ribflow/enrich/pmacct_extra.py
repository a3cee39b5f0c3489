"""pmacct keys of the flow fields only some exporters send (tunnel, MPLS, L2, VRF, SRv6).

A flow record from a template without those elements has exactly the base keys
(``ribflow.flow.record.RECORD_KEYS``) and is rendered by the formatter's fast path alone; a
record with other keys (:func:`has_extras`) also gets the keys below, after pmacct's base
keys. Names and encodings are nfacctd's (plugin_cmn_json.c):

==========================  ==============================================================
key                         value
==========================  ==============================================================
tag, tag2                   integers (the collector's pre_tag_map)
label                       text, or ``{"k1": "v1"}`` with pre_tag_label_encode_as_map
mac_src, mac_dst            ``aa:bb:cc:dd:ee:ff``
vlan                        integer: pmacct's ``vlan`` primitive (the record's ``vlan_pmacct``:
                            ingress or egress VLAN by direction, as nfacctd/sfacctd choose)
vlan_in, vlan_out           integers (written when the exporter sent a post-VLAN)
etype                       hexadecimal string (``800``, ``86dd``)
mpls_vpn_rd                 ``0:ASN:N``, ``1:IP:N``, ``2:ASN4:N`` (``vrfid:N``: VRF without RD)
mpls_vpn_rd_origin          ``flow`` (or the record's own ``mpls_vpn_rd_origin``, e.g. ``map``)
vrf_name, ingress_vrf_name,
egress_vrf_name             text
iface_name_in/_out          text (interface names from the exporter's options)
fwd_status                  decimal string, or pmacct's RFC 7270 text with
                            fwd_status_encode_as_string
mpls_label_stack            labels joined by ``_``, or ``["0-16000", "1-17000"]`` with
                            mpls_label_stack_encode_as_array
mpls_label_top, _bottom,
mpls_stack_depth            integers
tunnel_ip_src/_dst          addresses of the outer header
tunnel_ip_proto             pmacct's protocol name
tunnel_port_src/_dst        integers
srv6_seg_ipv6_list          ``["0-fc00::1", "1-fc00::2"]``
==========================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from ribflow.flow.record import RECORD_KEYS

BASE_LEN: Final = len(RECORD_KEYS)
BASE_KEYS: Final = frozenset(RECORD_KEYS)


def has_extras(rec: dict[str, Any]) -> bool:
    """Whether ``rec`` may carry keys beyond the base record (the formatter then renders them).

    A decoder's record has exactly the base keys: one length test. Any other record (a subset
    of the keys, or more) is checked key by key. (A record of the base length whose keys are not
    the base keys is taken as a base record: no decoder writes one.)
    """
    return len(rec) != BASE_LEN and not BASE_KEYS.issuperset(rec)

# RFC 7270 forwardingStatus reason codes as pmacct names them (fwd_status_encode_as_string).
_FWD_REASONS: Final = {
    64: "FORWARDED Unknown", 65: "FORWARDED Fragmented", 66: "FORWARDED Not Fragmented",
    128: "DROPPED Unknown", 129: "DROPPED ACL deny", 130: "DROPPED ACL drop",
    131: "DROPPED Unroutable", 132: "DROPPED Adjacency",
    133: "DROPPED Fragmentation and DF set", 134: "DROPPED Bad header checksum",
    135: "DROPPED Bad total Length", 136: "DROPPED Bad header length", 137: "DROPPED bad TTL",
    138: "DROPPED Policer", 139: "DROPPED WRED", 140: "DROPPED RPF", 141: "DROPPED For us",
    142: "DROPPED Bad output interface", 143: "DROPPED Hardware", 192: "CONSUMED Unknown",
    193: "CONSUMED Punt Adjacency", 194: "CONSUMED Incomplete Adjacency",
    195: "CONSUMED For us",
}  # fmt: skip
_FWD_CLASSES: Final = ("UNKNOWN", "FORWARDED", "DROPPED", "CONSUMED")


def fwd_status_text(status: int) -> str:
    """pmacct's string form of an RFC 7270 forwarding status."""
    if not 0 <= status <= 255:
        return "RFC-7270 Misinterpreted"
    return _FWD_REASONS.get(status) or f"{_FWD_CLASSES[status >> 6]} Unclassified"


def label_map(label: str) -> dict[str, str]:
    """pmacct's pre_tag_label_encode_as_map: ``k1%v1,k2%v2`` -> ``{"k1": "v1", "k2": "v2"}``.

    Like pmacct, the text is cut at every ``,`` and ``%`` and the pieces are paired in order
    (an odd last piece is dropped).
    """
    tokens = [t for t in label.replace("%", ",").split(",") if t]
    return dict(zip(tokens[0::2], tokens[1::2], strict=False))


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"not an integer: {value!r}")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"not a string: {value!r}")
    return value


def extras(
    rec: dict[str, Any],
    proto_text: tuple[str, ...],
    fwd_as_string: bool = False,
    stack_as_array: bool = False,
    label_as_map: bool = False,
) -> list[tuple[str, Any]]:
    """The pmacct (key, value) pairs of the extra fields ``rec`` carries, in output order."""
    out: list[tuple[str, Any]] = []
    add = out.append
    g = rec.get
    for key in ("tag", "tag2"):
        if g(key) is not None:
            add((key, _int(rec[key])))
    if g("label") is not None:
        label = _str(rec["label"])
        add(("label", label_map(label) if label_as_map else label))
    for key in ("mac_src", "mac_dst"):
        if g(key) is not None:
            add((key, _str(rec[key])))
    if g("vlan_pmacct") is not None:
        add(("vlan", _int(rec["vlan_pmacct"])))
    if g("vlan_out") is not None:
        add(("vlan_in", _int(g("vlan") or 0)))
        add(("vlan_out", _int(rec["vlan_out"])))
    if g("etype") is not None:
        add(("etype", f"{_int(rec['etype']):x}"))
    if g("mpls_vpn_rd") is not None:
        add(("mpls_vpn_rd", _str(rec["mpls_vpn_rd"])))
        add(("mpls_vpn_rd_origin", _str(g("mpls_vpn_rd_origin") or "flow")))
    for key in ("vrf_name", "ingress_vrf_name", "egress_vrf_name", "iface_name_in",
                "iface_name_out"):  # fmt: skip
        if g(key) is not None:
            add((key, _str(rec[key])))
    if g("fwd_status") is not None:
        status = _int(rec["fwd_status"])
        add(("fwd_status", fwd_status_text(status) if fwd_as_string else str(status)))
    stack = g("mpls_label_stack")
    if stack is not None:
        labels = [_int(v) for v in stack]
        add(("mpls_label_stack", [f"{i}-{v}" for i, v in enumerate(labels)] if stack_as_array
             else "_".join(map(str, labels))))  # fmt: skip
    for key in ("mpls_label_top", "mpls_label_bottom", "mpls_stack_depth"):
        if g(key) is not None:
            add((key, _int(rec[key])))
    for key in ("tunnel_ip_src", "tunnel_ip_dst"):
        if g(key) is not None:
            add((key, _str(rec[key])))
    if g("tunnel_ip_proto") is not None:
        proto = _int(rec["tunnel_ip_proto"])
        if not 0 <= proto < 256:
            raise ValueError(f"tunnel_ip_proto {proto}")
        add(("tunnel_ip_proto", proto_text[proto]))
    for key in ("tunnel_port_src", "tunnel_port_dst"):
        if g(key) is not None:
            add((key, _int(rec[key])))
    seg = g("srv6_seg_ipv6_list")
    if seg is not None:
        add(("srv6_seg_ipv6_list", [f"{i}-{_str(a)}" for i, a in enumerate(seg)]))
    return out


def extras_json(
    rec: dict[str, Any],
    proto_text: tuple[str, ...],
    fwd_as_string: bool,
    stack_as_array: bool,
    label_as_map: bool = False,
    dumps: Callable[[Any], bytes] = orjson.dumps,
) -> str:
    """:func:`extras` as JSON members, each preceded by a comma (``""`` when none)."""
    pairs = extras(rec, proto_text, fwd_as_string, stack_as_array, label_as_map)
    return "".join(f',"{k}":{dumps(v).decode()}' for k, v in pairs)
