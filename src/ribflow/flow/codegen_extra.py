"""Record keys beyond the base record, for templates that carry them (what ISP routers send).

A template without these elements gives the base record only (schemas/flows.v1.json); one with
them adds the keys below, with pmacct's names and meanings (nfacctd's NetFlow/IPFIX handlers):

* tunnels (pmacct's ``tunnel_*`` primitives): a template whose IP header elements come twice
  (sourceIPv6Address before sourceIPv4Address, as Huawei and IOS XR export SRv6 / IP-in-IPv6)
  describes an outer and an inner header. When the outer (first) protocolIdentifier says IPv4
  or IPv6 is inside (4 or 41) the record is the inner header (addresses, protocol, ports: the
  last occurrences) and the outer one goes to ``tunnel_ip_src``/``tunnel_ip_dst``/
  ``tunnel_ip_proto`` (and ``tunnel_port_src``/``_dst`` when the ports come twice too);
* ``mpls_label_stack`` (labels, top first, up to the bottom of stack, pmacct's rules for
  explicit null), ``mpls_label_top``, ``mpls_label_bottom``, ``mpls_stack_depth``;
* ``mpls_vpn_rd`` (IE 90, pmacct's text ``0:ASN:N``, ``1:IP:N``, ``2:ASN4:N``),
  ``ingress_vrf_id``/``egress_vrf_id`` (IE 234/235), ``vrf_name`` (IE 236 in the record);
* ``fwd_status`` (IE 89), ``mac_src``/``mac_dst`` (IE 56 or 81 / 80 or 57), ``etype``
  (IE 256), ``vlan_out`` (IE 59 or 254), ``srv6_seg_ipv6_list`` (IE 497, or Huawei's 2011/505);
* ``vlan_pmacct``: the VLAN nfacctd's ``vlan`` primitive takes (NF_vlan_handler, pmacct 1.7.7 to
  1.7.9): with a flowDirection (IE 61) ingress takes IE 58, else 243, egress IE 59, else 254
  (0 when the direction's element is missing or the direction is neither); without IE 61 the
  first of 58, 59, 243, 254 the template has. Like pmacct it reads the element's first two
  bytes (a one-byte element is the high byte) and tests presence, not value.

Generated code only calls the helpers below (``EXTRA_GLOBALS``) on bytes and integers of the
record; a malformed value gives None for its key, never an exception.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Final

from ribflow.flow import ies

if TYPE_CHECKING:
    from ribflow.flow.codegen import _Plan

_V4, _V6 = ies.SRC_V4, ies.SRC_V6
# Header elements read from the inner (last) occurrence when a template has several layers.
INNER_IES: Final = frozenset(
    {
        ies.SRC_V4,
        ies.DST_V4,
        ies.SRC_V6,
        ies.DST_V6,
        ies.PROTOCOL,
        ies.TOS,
        ies.TCP_FLAGS,
        ies.SRC_PORT,
        ies.DST_PORT,
        ies.UDP_SRC_PORT,
        ies.UDP_DST_PORT,
        ies.TCP_SRC_PORT,
        ies.TCP_DST_PORT,
    }
)
# Outer protocols that announce an inner IP header (IPv4-in-IP, IPv6), as pmacct tests them.
TUNNEL_PROTOS: Final = (4, 41)


def layers(fields: tuple[tuple[int, int, int], ...]) -> list[int]:
    """The IP layers of a template: its sourceIPv4/IPv6Address elements in order (pmacct)."""
    return [ie for ie, _ln, pen in fields if pen == 0 and ie in (_V4, _V6)]


def mac_text(raw: bytes) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` of a 6-byte MAC address."""
    return ":".join(f"{b:02x}" for b in raw) if len(raw) == 6 else None


def rd_text(raw: bytes) -> str | None:
    """pmacct's text of an 8-byte route distinguisher (RFC 4364); None if zero or unknown."""
    if len(raw) != 8 or not any(raw):
        return None
    kind = int.from_bytes(raw[:2], "big")
    if kind == 0:
        return f"0:{int.from_bytes(raw[2:4], 'big')}:{int.from_bytes(raw[4:], 'big')}"
    if kind == 1:
        return f"1:{socket.inet_ntoa(raw[2:6])}:{int.from_bytes(raw[6:], 'big')}"
    if kind == 2:
        return f"2:{int.from_bytes(raw[2:6], 'big')}:{int.from_bytes(raw[6:], 'big')}"
    return None


def text(raw: bytes) -> str | None:
    """A string element (VRF or interface name): UTF-8 up to the first NUL; None if empty."""
    value = raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return value or None


def srv6_list(raw: bytes) -> list[str] | None:
    """The IPv6 addresses of a segment list section (a multiple of 16 bytes)."""
    if not raw or len(raw) % 16:
        return None
    return [socket.inet_ntop(socket.AF_INET6, raw[i : i + 16]) for i in range(0, len(raw), 16)]


def mpls(entries: tuple[tuple[int, int], ...]) -> tuple[list[int], int, int, int]:
    """(stack, top, bottom, depth) of label stack entries ``(element id, 3-byte value)``.

    The stack follows pmacct's NF_mpls_label_stack_handler: labels top first, ending at the one
    with the bottom-of-stack bit; a zero label ends it too, except an explicit null on top,
    which counts when it is the bottom or a label follows. Top, bottom and depth follow
    nfacctd 1.7's handlers: the top entry's label, the first label with the bottom bit, and the
    number of entries up to it (0 when no bottom bit and the last label is 0).
    """
    values = dict(entries)
    stack: list[int] = []
    for ie in ies.MPLS_LABELS:
        v = values.get(ie)
        if v is None:
            continue
        label = v >> 4
        if label:
            stack.append(label)
            if v & 1:
                break
        elif ie == ies.MPLS_LABELS[0]:
            if v & 1:
                stack.append(0)
                break
            nxt = values.get(ie + 1)
            if nxt is not None and nxt >> 4:
                stack.append(0)
        else:
            break
    top = values[ies.MPLS_LABELS[0]] >> 4 if ies.MPLS_LABELS[0] in values else 0
    bottom = depth = last = 0
    bos = False
    for ie in ies.MPLS_LABELS:
        v = values.get(ie)
        if v is None:
            continue
        depth += 1
        last = v >> 4
        if v & 1:
            bottom, bos = last, True
            break
    return stack, top, bottom, depth if (last or bos) else 0


EXTRA_GLOBALS: Final[dict[str, Any]] = {
    "_g_mac": mac_text, "_g_rd": rd_text, "_g_text": text, "_g_srv6": srv6_list,
    "_g_mpls": mpls,
}  # fmt: skip


def _raw(plan: _Plan, ie: int, pen: int = 0, length: int = 0) -> str | None:
    """Local name of an element kept as bytes (any length, or exactly ``length``)."""
    i = plan.first.get((pen, ie))
    if i is None or (length and plan.fields[i][1] != length):
        return None
    u = plan.at(i, raw=True)
    return u.name if u is not None else None


def _first_raw(plan: _Plan, choices: tuple[int, ...], length: int) -> str | None:
    for ie in choices:
        name = _raw(plan, ie, length=length)
        if name is not None:
            return name
    return None


def _tunnel(plan: _Plan, out: dict[str, str]) -> None:
    """tunnel_* keys from the outer (first) header of an IPv6-outer, multi-layer template."""
    if len(plan.layers) < 2 or plan.layers[0] != _V6:
        return
    first_proto = plan.first.get((0, ies.PROTOCOL))
    if first_proto is None or plan.fields[first_proto][1] != 1:
        return
    proto = plan.at(first_proto, raw=False)
    if proto is None:
        return
    cond = f"{proto.name} in {TUNNEL_PROTOS!r}"
    for key, ie in (("tunnel_ip_src", ies.SRC_V6), ("tunnel_ip_dst", ies.DST_V6)):
        name = _raw(plan, ie, length=16)
        out[key] = f"(_ip6({name}) if {cond} else None)" if name else "None"
    out["tunnel_ip_proto"] = f"({proto.name} if {cond} else None)"
    for key, ie in (("tunnel_port_src", ies.SRC_PORT), ("tunnel_port_dst", ies.DST_PORT)):
        first, last = plan.first.get((0, ie)), plan.last.get((0, ie))
        if first is None or first == last or plan.fields[first][1] != 2:
            continue
        port = plan.at(first, raw=False)
        if port is not None:
            out[key] = f"({port.name} if {cond} else None)"


_VLAN_IES: Final = (ies.VLAN_ID, ies.POST_VLAN_ID, ies.DOT1Q_VLAN_ID, ies.POST_DOT1Q_VLAN_ID)


def _pm16(plan: _Plan, ie: int) -> str | None:
    """An element as pmacct's ``memcpy(&u16, .., MIN(len, 2)); ntohs()`` reads it."""
    got = plan.num(ie)
    if got is None:
        return None
    expr, length = got
    if length == 1:
        return f"({expr} << 8)"
    return expr if length == 2 else f"({expr} >> {8 * (length - 2)})"


def _pmacct_vlan(plan: _Plan) -> str | None:
    """Expression of nfacctd's ``vlan`` primitive (see the module doc), None without VLANs."""
    vlans = {ie: _pm16(plan, ie) for ie in _VLAN_IES}
    present = [v for v in vlans.values() if v is not None]
    if not present:
        return None
    direction = plan.num(ies.DIRECTION)
    if direction is None:
        return present[0]  # _VLAN_IES is pmacct's order: 58, 59, 243, 254
    d_expr, d_len = direction
    first_byte = d_expr if d_len == 1 else f"({d_expr} >> {8 * (d_len - 1)})"
    ingress = vlans[ies.VLAN_ID] or vlans[ies.DOT1Q_VLAN_ID] or "0"
    egress = vlans[ies.POST_VLAN_ID] or vlans[ies.POST_DOT1Q_VLAN_ID] or "0"
    return f"({ingress} if {first_byte} == 0 else {egress} if {first_byte} == 1 else 0)"


def extra_exprs(plan: _Plan) -> tuple[dict[str, str], list[str]]:
    """Record key -> expression for the extra elements of ``plan``; local assignments first."""
    out: dict[str, str] = {}
    pre: list[str] = []
    _tunnel(plan, out)
    labels = [(ie, plan.num(ie, max_len=3)) for ie in ies.MPLS_LABELS]
    entries = [f"({ie}, {got[0]})" for ie, got in labels if got is not None and got[1] == 3]
    if entries:
        pre.append(f"m_st, m_top, m_bot, m_dep = _g_mpls(({', '.join(entries)},))")
        out.update(mpls_label_stack="m_st", mpls_label_top="m_top", mpls_label_bottom="m_bot",
                   mpls_stack_depth="m_dep")  # fmt: skip
    rd = _raw(plan, ies.MPLS_VPN_RD, length=8)
    if rd:
        out["mpls_vpn_rd"] = f"_g_rd({rd})"
    for key, ie in (("ingress_vrf_id", ies.INGRESS_VRF_ID), ("egress_vrf_id", ies.EGRESS_VRF_ID)):
        got = plan.num(ie, max_len=4)
        if got is not None:
            out[key] = got[0]
    name = _raw(plan, ies.VRF_NAME)
    if name:
        out["vrf_name"] = f"_g_text({name})"
    got = plan.num(ies.FORWARDING_STATUS, max_len=4)
    if got is not None:
        out["fwd_status"] = f"({got[0]} if {got[0]} <= 255 else None)"
    for key, choices in (("mac_src", (ies.SRC_MAC, ies.POST_SRC_MAC)),
                         ("mac_dst", (ies.DST_MAC, ies.POST_DST_MAC))):  # fmt: skip
        mac = _first_raw(plan, choices, 6)
        if mac:
            out[key] = f"_g_mac({mac})"
    got = plan.num(ies.ETHERNET_TYPE, max_len=2)
    if got is not None:
        out["etype"] = got[0]
    vlan_out = plan.checked("vlan", (ies.POST_VLAN_ID, ies.POST_DOT1Q_VLAN_ID))
    if vlan_out != "None":
        out["vlan_out"] = vlan_out
    vlan = _pmacct_vlan(plan)
    if vlan is not None:
        out["vlan_pmacct"] = vlan
    seg = _raw(plan, ies.SRH_SEGMENT_LIST) or _raw(
        plan, ies.HUAWEI_SRV6_SEGMENT_LIST, ies.HUAWEI_PEN
    )
    if seg:
        out["srv6_seg_ipv6_list"] = f"_g_srv6({seg})"
    return out, pre
