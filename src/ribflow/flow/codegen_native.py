"""The compiled twin of a generated decoder: a fixed-length template's records straight to JSON.

``ribflow_lpm.DataCodec`` (rust/ribflow-lpm/src/collect.rs) runs a small program per record: one
op per record key, in the record's key order, each with the JSON text before its value and the
offsets of the elements it reads. This module writes that program from the same template
analysis the generated Python uses (``codegen._Plan``: which element feeds which key, lengths,
limits, the time and sampling choices), so the compiled records are byte for byte what
``orjson.dumps`` writes of the Python ones (tests/flow/test_native_codec.py checks it).

The compiled codec covers the base record of fixed-length templates (every key of
``record.RECORD_KEYS``). Templates with variable-length elements, biflows (RFC 5103) or the
extra keys of ``codegen_extra`` (tunnels, MPLS, VRF, MAC...) have none: their sets are decoded
in Python. :data:`V5` is the NetFlow v5 record's program.

The compiled path is used when the ``ribflow_lpm`` module is installed and the pure-Python
implementation is not forced (``RIBFLOW_PURE_LPM``, :mod:`ribflow.rib.lpm`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ribflow.flow import ies
from ribflow.flow.codegen_extra import extra_exprs
from ribflow.rib import lpm

if TYPE_CHECKING:
    from ribflow.flow.codegen import FieldSpec, _Plan

# Op kinds, as in collect_ops.rs.
CONST, EXPORTER, DOMAIN, RECV, TEX, UINT, ADDR4, ADDR6, ADDR46, MASK, DIRECTION = range(11)
TIME_RAW, TIME_SEC, TIME_NTP, TIME_V9REL, TIME_INIT, TIME_SYSINIT, TIME_DELTA = range(11, 18)
SAMP_INTERVAL, SAMP_PACKET, SAMP_POPULATION, SAMP_SAMPLER, RATE = range(18, 23)
MAC, RD, PM16, VLAN_PM, MPLS_STACK, MPLS_TOP, MPLS_BOTTOM, MPLS_DEPTH, SRV6 = range(23, 32)

Op = tuple[bytes, int, list[int]]
Value = tuple[int, ...]  # kind, arguments
_NULL: Final = (CONST, -1)
_ABSENT: Final = -1


def available() -> bool:
    """True when compiled codecs are to be used (module installed, pure Python not forced)."""
    return lpm.COMPILED is not None and not lpm.pure_forced()


class _Ops:
    """Record key -> op, from a template's plan."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        fields = plan.fields
        self.offsets: list[int] = []
        off = 0
        for _ie, length, _pen in fields:
            self.offsets.append(off)
            off += length
        self.size = off

    def num(self, ie: int, pen: int = 0, max_len: int = 8) -> tuple[int, int] | None:
        """(offset, length) of an unsigned integer element, as ``_Plan.num`` chooses it."""
        i = self.plan.index(ie, pen)
        if i is None:
            return None
        length = self.plan.fields[i][1]
        if not 0 < length <= max_len:
            return None
        return self.offsets[i], length

    def raw(self, ie: int, length: int) -> int | None:
        i = self.plan.index(ie)
        if i is None or self.plan.fields[i][1] != length:
            return None
        return self.offsets[i]

    def checked(self, key: str, ie_list: tuple[int, ...]) -> Value:
        limit = ies.MAX_VALUE.get(key, -1)
        for ie in ie_list:
            got = self.num(ie)
            if got is not None:
                return UINT, got[0], got[1], limit, 0
        return _NULL

    def first_num(self, ie_list: tuple[int, ...]) -> Value | bytes:
        for ie in ie_list:
            got = self.num(ie)
            if got is not None:
                return UINT, got[0], got[1], -1, 0
        return b"0"

    def address(self, key: str) -> Value | bytes:
        v4_ie, v6_ie = ies.ADDRESS_SOURCES[key]
        a, b = self.raw(v4_ie, 4), self.raw(v6_ie, 16)
        if a is not None and b is not None:
            return ADDR46, a, b, 0, 0
        if a is not None:
            return ADDR4, a, 0, 0, 0
        if b is not None:
            return ADDR6, b, 0, 0, 0
        return b'"0.0.0.0"' if key in ("src_addr", "dst_addr") else b"null"

    def mask(self, key: str) -> Value:
        v4_ie, v6_ie = ies.MASK_SOURCES[key]
        a, b = self.num(v4_ie, max_len=1), self.num(v6_ie, max_len=1)
        if a is None and b is None:
            return _NULL
        return MASK, a[0] if a else _ABSENT, b[0] if b else _ABSENT, 0, 0

    def direction(self) -> Value:
        got = self.num(ies.DIRECTION, max_len=1)
        return _NULL if got is None else (DIRECTION, got[0], 0, 0, 0)

    def time(self, which: str) -> Value:
        start = which == "start"
        got = self.num(ies.START_MS if start else ies.END_MS)
        if got:
            return TIME_RAW, *got, 0, 0
        got = self.num(ies.START_SEC if start else ies.END_SEC)
        if got:
            return TIME_SEC, *got, 0, 0
        for ie in (ies.START_US, ies.START_NS) if start else (ies.END_US, ies.END_NS):
            got = self.num(ie)
            if got and got[1] == 8:
                return TIME_NTP, got[0], 8, 0, 0
        rel = self.num(ies.FIRST_SWITCHED if start else ies.LAST_SWITCHED, max_len=4)
        if rel:
            if self.plan.version == 9:
                return TIME_V9REL, *rel, 0, 0
            init = self.num(ies.SYSTEM_INIT_MS)
            if init:
                return TIME_INIT, *rel, *init
            return TIME_SYSINIT, *rel, 0, 0
        delta = self.num(ies.START_DELTA_US if start else ies.END_DELTA_US, max_len=4)
        if delta:
            return TIME_DELTA, *delta, 0, 0
        return _NULL

    def sampling(self) -> Value:
        for ie in (ies.SAMPLING_INTERVAL, ies.SAMPLER_RANDOM_INTERVAL):
            got = self.num(ie)
            if got:
                return SAMP_INTERVAL, *got, 0, 0
        interval, space = (
            self.num(ies.SAMPLING_PACKET_INTERVAL),
            self.num(ies.SAMPLING_PACKET_SPACE),
        )
        if interval and space:
            return SAMP_PACKET, *interval, *space
        size, population = self.num(ies.SAMPLING_SIZE), self.num(ies.SAMPLING_POPULATION)
        if size and population:
            return SAMP_POPULATION, *size, *population
        for ie in (ies.SAMPLER_ID, ies.SELECTOR_ID):
            got = self.num(ie)
            if got:
                return SAMP_SAMPLER, *got, 0, 0
        return RATE, 0, 0, 0, 0

    # -- the extra keys (codegen_extra) ------------------------------------------------------
    def first_raw(self, choices: tuple[int, ...], length: int, pen: int = 0) -> int | None:
        """Offset of the first occurrence of the first of ``choices`` that has ``length`` (any
        length when 0), as ``codegen_extra._raw`` picks it."""
        for ie in choices:
            i = self.plan.first.get((pen, ie))
            if i is not None and (not length or self.plan.fields[i][1] == length):
                return self.offsets[i]
        return None

    def vlan_pmacct(self) -> Value:
        """nfacctd's vlan (codegen_extra._pmacct_vlan)."""
        vlans: dict[int, tuple[int, int] | None] = {
            ie: self.num(ie)
            for ie in (ies.VLAN_ID, ies.POST_VLAN_ID, ies.DOT1Q_VLAN_ID, ies.POST_DOT1Q_VLAN_ID)
        }
        present = [v for v in vlans.values() if v is not None]
        direction = self.num(ies.DIRECTION)
        if direction is None:
            return PM16, *present[0]
        ingress = vlans[ies.VLAN_ID] or vlans[ies.DOT1Q_VLAN_ID] or (0, 0)
        egress = vlans[ies.POST_VLAN_ID] or vlans[ies.POST_DOT1Q_VLAN_ID] or (0, 0)
        return VLAN_PM, direction[0], *ingress, *egress

    def extras(self) -> list[tuple[str, Value | bytes]] | None:
        """Ops of the extra keys the template has, in ``extra_exprs`` order; None when one of
        them is left to Python (tunnels, VRF ids and names)."""
        keys, _pre = extra_exprs(self.plan)
        labels: list[int] = []
        for k, ie in enumerate(ies.MPLS_LABELS):
            got = self.num(ie, max_len=3)
            if got is not None and got[1] == 3:
                labels += [k, got[0]]
        ops: dict[str, Value | bytes] = {
            "mpls_label_stack": (MPLS_STACK, *labels), "mpls_label_top": (MPLS_TOP, *labels),
            "mpls_label_bottom": (MPLS_BOTTOM, *labels), "mpls_stack_depth": (MPLS_DEPTH, *labels),
        }  # fmt: skip
        out: list[tuple[str, Value | bytes]] = []
        for key in keys:
            spec: Value | bytes | None = ops.get(key)
            if key == "mpls_vpn_rd":
                spec = (RD, self.first_raw((ies.MPLS_VPN_RD,), 8) or 0)
            elif key == "fwd_status":
                got = self.num(ies.FORWARDING_STATUS, max_len=4)
                spec = (UINT, *got, 255) if got else None
            elif key in ("mac_src", "mac_dst"):
                choices = (ies.SRC_MAC, ies.POST_SRC_MAC) if key == "mac_src" else (
                    ies.DST_MAC, ies.POST_DST_MAC)  # fmt: skip
                spec = (MAC, self.first_raw(choices, 6) or 0)
            elif key == "etype":
                got = self.num(ies.ETHERNET_TYPE, max_len=2)
                spec = (UINT, *got, -1) if got else None
            elif key == "vlan_out":
                spec = self.checked("vlan", (ies.POST_VLAN_ID, ies.POST_DOT1Q_VLAN_ID))
            elif key == "vlan_pmacct":
                spec = self.vlan_pmacct()
            elif key == "srv6_seg_ipv6_list":
                off = self.first_raw((ies.SRH_SEGMENT_LIST,), 0)
                choice = (ies.SRH_SEGMENT_LIST, 0)
                if off is None:
                    off = self.first_raw((ies.HUAWEI_SRV6_SEGMENT_LIST,), 0, ies.HUAWEI_PEN)
                    choice = (ies.HUAWEI_SRV6_SEGMENT_LIST, ies.HUAWEI_PEN)
                i = self.plan.first[(choice[1], choice[0])]
                spec = (SRV6, off or 0, self.plan.fields[i][1])
            if spec is None:
                return None
            out.append((key, spec))
        return out


def program(keys: list[tuple[str, Value | bytes]]) -> list[Op]:
    """Ops of a record whose keys, in order, are given as an op or a literal JSON value."""
    ops: list[Op] = []
    for n, (key, spec) in enumerate(keys):
        prefix = ("{" if n == 0 else ",").encode() + b'"' + key.encode() + b'":'
        if isinstance(spec, bytes):
            ops.append((prefix + spec, CONST, []))
        elif spec == _NULL:
            ops.append((prefix + b"null", CONST, []))
        else:
            ops.append((prefix, spec[0], list(spec[1:])))
    return ops


def native_codec(version: int, fields: tuple[FieldSpec, ...], plan: _Plan) -> Any | None:
    """The compiled codec of a template ``plan`` (fresh, unused), or None when not covered."""
    if lpm.COMPILED is None or any(ln in (0, ies.VARLEN) for _ie, ln, _pen in fields):
        return None
    if plan.is_biflow():
        return None
    o = _Ops(plan)
    extra = o.extras()
    if extra is None:
        return None
    keys: list[tuple[str, Value | bytes]] = [
        ("exporter", (EXPORTER, 0, 0, 0, 0)), ("version", str(version).encode()),
        ("domain", (DOMAIN, 0, 0, 0, 0)), ("time_received_ms", (RECV, 0, 0, 0, 0)),
        ("time_export_ms", (TEX, 0, 0, 0, 0)),
        ("start_ms", o.time("start")), ("end_ms", o.time("end")),
        ("src_addr", o.address("src_addr")), ("dst_addr", o.address("dst_addr")),
        ("src_port", o.checked("src_port", ies.SOURCES["src_port"])),
        ("dst_port", o.checked("dst_port", ies.SOURCES["dst_port"])),
        ("proto", o.checked("proto", ies.SOURCES["proto"])),
        ("tos", o.checked("tos", ies.SOURCES["tos"])),
        ("tcp_flags", o.checked("tcp_flags", ies.SOURCES["tcp_flags"])),
        ("in_if", o.checked("in_if", ies.SOURCES["in_if"])),
        ("out_if", o.checked("out_if", ies.SOURCES["out_if"])),
        ("vlan", o.checked("vlan", ies.SOURCES["vlan"])),
        ("next_hop", o.address("next_hop")), ("bgp_next_hop", o.address("bgp_next_hop")),
        ("src_as", o.checked("src_as", ies.SOURCES["src_as"])),
        ("dst_as", o.checked("dst_as", ies.SOURCES["dst_as"])),
        ("src_mask", o.mask("src_mask")), ("dst_mask", o.mask("dst_mask")),
        ("packets", o.first_num(ies.SOURCES["packets"])),
        ("bytes", o.first_num(ies.SOURCES["bytes"])),
        ("sampling_rate", o.sampling()), ("direction", o.direction()),
        ("flow_type", b"null"),
        *extra,
    ]  # fmt: skip
    try:
        return lpm.COMPILED.DataCodec(o.size, program(keys))
    except ValueError:  # a program the compiled side refuses (a bug of ours): Python decodes
        return None


def _v5_codec() -> Any | None:
    """NetFlow v5's 48-byte record (netflow5._RECORD), compiled."""
    if lpm.COMPILED is None:
        return None
    u = UINT
    keys: list[tuple[str, Value | bytes]] = [
        ("exporter", (EXPORTER, 0, 0, 0, 0)), ("version", b"5"), ("domain", b"null"),
        ("time_received_ms", (RECV, 0, 0, 0, 0)), ("time_export_ms", (TEX, 0, 0, 0, 0)),
        ("start_ms", (TIME_V9REL, 24, 4, 0, 0)), ("end_ms", (TIME_V9REL, 28, 4, 0, 0)),
        ("src_addr", (ADDR4, 0, 0, 0, 0)), ("dst_addr", (ADDR4, 4, 0, 0, 0)),
        ("src_port", (u, 32, 2, -1, 0)), ("dst_port", (u, 34, 2, -1, 0)),
        ("proto", (u, 38, 1, -1, 0)), ("tos", (u, 39, 1, -1, 0)),
        ("tcp_flags", (u, 37, 1, -1, 0)), ("in_if", (u, 12, 2, -1, 0)),
        ("out_if", (u, 14, 2, -1, 0)), ("vlan", b"null"), ("next_hop", (ADDR4, 8, 0, 0, 0)),
        ("bgp_next_hop", b"null"), ("src_as", (u, 40, 2, -1, 0)), ("dst_as", (u, 42, 2, -1, 0)),
        ("src_mask", (u, 44, 1, 32, 0)), ("dst_mask", (u, 45, 1, 32, 0)),
        ("packets", (u, 16, 4, -1, 0)), ("bytes", (u, 20, 4, -1, 0)),
        ("sampling_rate", (RATE, 0, 0, 0, 0)), ("direction", b"null"), ("flow_type", b"null"),
    ]  # fmt: skip
    return lpm.COMPILED.DataCodec(48, program(keys))


#: The compiled NetFlow v5 record, or None without the compiled module.
V5: Final = _v5_codec()
