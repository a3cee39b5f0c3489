"""Compile a data template into a fast Python function that turns a data set into records.

Why code generation: a template is fixed for minutes to days while thousands of records per
second follow it. Turning it once into straight-line Python — one precompiled ``struct.Struct``
whose pad bytes skip every element we do not use, tuple unpacking into locals, and one dict
literal per record — costs about a microsecond per record, where a per-field interpreter costs
several. Variable-length templates (RFC 7011 §7) get a generated sequential walker that feeds the
same dict literal.

The generated source contains only our own identifiers and integers taken from validated template
fields, never bytes from the packet. Compiled codecs are cached by (version, fields), so a million
exporters with softflowd's template share one function and a template flood cannot grow memory
without bound.

Signature of the generated function (all positional)::

    decode(buf, out, exporter, domain, recv, tex, anchor, uptime, sysinit, rates, rate) -> bool

``buf`` holds whole records only for fixed-length templates; the walker of a variable-length
template stops at the first record that does not fit and returns False (truncated record).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ribflow.flow import ies
from ribflow.flow.codegen_extra import EXTRA_GLOBALS, INNER_IES, extra_exprs, layers
from ribflow.flow.codegen_native import native_codec
from ribflow.flow.codegen_source import body_source, dict_source, fixed_source, var_source
from ribflow.flow.record import NO_ADDRESS, ZERO_V4, ip4, ip6, ntp_ms
from ribflow.flow.types import FlowRecord

# (element id, length in the template, enterprise number or 0)
FieldSpec = tuple[int, int, int]
DecodeFn = Callable[..., bool]

_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_ZERO_V6 = bytes(16)
_CACHE_SIZE = 2048


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


_GLOBALS: dict[str, Any] = {
    "_g_ip4": ip4, "_g_ip6": ip6, "_g_ntp": ntp_ms, "_g_int": _int, "_g_Z4": ZERO_V4,
    "_g_Z6": _ZERO_V6, **EXTRA_GLOBALS,
}
@dataclass(slots=True)
class Codec:
    """A compiled data template."""

    size: int  # record length, 0 for a variable-length template
    min_size: int  # shortest possible record (== size when fixed)
    decode: DecodeFn
    biflow: bool
    source: str = field(repr=False)
    vrf: bool = False  # records carry VRF ids: the exporter's VRF table completes them
    native: Any = None  # ribflow_lpm.DataCodec: the same records as JSON (codegen_native)


@dataclass(slots=True)
class _Used:
    """An element the record needs: its position, length and local variable name."""

    index: int
    length: int
    name: str
    raw: bool  # kept as bytes (addresses) rather than read as an unsigned integer

    @property
    def native(self) -> bool:
        """Read by struct as an integer (1, 2, 4, 8 bytes); other lengths go through _int."""
        return not self.raw and self.length in _STRUCT_CODES

    @property
    def code(self) -> str:
        return _STRUCT_CODES[self.length] if self.native else f"{self.length}s"


class _Plan:
    """Works out which elements feed which record key, and the expressions that compute them."""

    def __init__(self, version: int, fields: tuple[FieldSpec, ...]) -> None:
        self.version = version
        self.fields = fields
        self.first: dict[tuple[int, int], int] = {}
        self.last: dict[tuple[int, int], int] = {}
        for i, (ie, _length, pen) in enumerate(fields):
            self.first.setdefault((pen, ie), i)
            self.last[(pen, ie)] = i
        self.used: dict[int, _Used] = {}
        # A template that repeats the IP header elements describes several protocol layers
        # (outer and inner header of a tunnel): the record's header fields are the inner
        # (last) occurrences, as pmacct reads them; codegen_extra adds the outer as tunnel_*.
        self.layers = layers(fields)
        self.prefer_last = INNER_IES if len(self.layers) > 1 else frozenset()

    def index(self, ie: int, pen: int = 0) -> int | None:
        """Position of the element that feeds the record (the inner one in a tunnel)."""
        if pen == 0 and ie in self.prefer_last:
            return self.last.get((pen, ie))
        return self.first.get((pen, ie))

    def at(self, i: int, raw: bool) -> _Used | None:
        """The element at position ``i`` (fixed length, or variable length when ``raw``)."""
        length = self.fields[i][1]
        if length == 0 or (length == ies.VARLEN and not raw):
            return None
        u = self.used.get(i)
        if u is None:
            u = self.used[i] = _Used(i, length, f"f{i}", raw)
        return u if u.raw == raw else None

    # -- element access -------------------------------------------------------------------
    def _field(
        self, ie: int, pen: int = 0, lengths: tuple[int, ...] = (), raw: bool = False
    ) -> _Used | None:
        i = self.index(ie, pen)
        if i is None:
            return None
        length = self.fields[i][1]
        if length == 0 or length == ies.VARLEN or (lengths and length not in lengths):
            return None
        return self.at(i, raw)

    def num(self, ie: int, pen: int = 0, max_len: int = 8) -> tuple[str, int] | None:
        """Expression of an unsigned integer element and its length, or None if absent."""
        i = self.index(ie, pen)
        if i is None:
            return None
        length = self.fields[i][1]
        if not 0 < length <= max_len:
            return None
        u = self._field(ie, pen)
        if u is None:
            return None
        return (u.name if u.native else f"_int({u.name})"), length

    def has(self, ie: int, pen: int = 0) -> bool:
        i = self.index(ie, pen)
        return i is not None and self.fields[i][1] not in (0, ies.VARLEN)

    # -- record keys ----------------------------------------------------------------------
    def checked(self, key: str, ie_list: tuple[int, ...], pen: int = 0) -> str:
        limit = ies.MAX_VALUE.get(key)
        for ie in ie_list:
            got = self.num(ie, pen)
            if got is None:
                continue
            expr, length = got
            if limit is None or (1 << (8 * length)) - 1 <= limit:
                return expr
            return f"({expr} if {expr} <= {limit} else None)"
        return "None"

    def address(self, key: str, pen: int = 0) -> str:
        v4_ie, v6_ie = ies.ADDRESS_SOURCES[key]
        a = self._field(v4_ie, pen, (4,), raw=True)
        b = self._field(v6_ie, pen, (16,), raw=True)
        if a and b:
            return f"(_ip6({b.name}) if {a.name} == _Z4 and {b.name} != _Z6 else _ip4({a.name}))"
        if a:
            return f"_ip4({a.name})"
        if b:
            return f"_ip6({b.name})"
        return repr(NO_ADDRESS) if key in ("src_addr", "dst_addr") else "None"

    def mask(self, key: str) -> str:
        v4_ie, v6_ie = ies.MASK_SOURCES[key]
        exprs = [got[0] for got in (self.num(v4_ie, max_len=1), self.num(v6_ie, max_len=1))
                 if got is not None]
        if not exprs:
            return "None"
        expr = exprs[0] if len(exprs) == 1 else f"({exprs[0]} or {exprs[1]})"
        return f"({expr} if {expr} <= 128 else None)"

    def first_num(self, ie_list: tuple[int, ...], pen: int = 0, default: str = "0") -> str:
        for ie in ie_list:
            got = self.num(ie, pen)
            if got is not None:
                return got[0]
        return default

    def direction(self) -> str:
        got = self.num(ies.DIRECTION, max_len=1)
        if got is None:
            return "None"
        v = got[0]
        return f"('ingress' if {v} == 0 else 'egress' if {v} == 1 else None)"

    def time(self, which: str, pen: int = 0) -> str:
        """Start or end time in epoch ms, from the best time element the template has."""
        start = which == "start"
        ms = self.num(ies.START_MS if start else ies.END_MS, pen)
        if ms:
            return ms[0]
        sec = self.num(ies.START_SEC if start else ies.END_SEC, pen)
        if sec:
            return f"({sec[0]} * 1000)"
        for ie in (ies.START_US, ies.START_NS) if start else (ies.END_US, ies.END_NS):
            ntp = self.num(ie, pen)
            if ntp and ntp[1] == 8:
                return f"_ntp({ntp[0]})"
        rel = self.num(ies.FIRST_SWITCHED if start else ies.LAST_SWITCHED, pen, max_len=4)
        if rel:
            v = rel[0]
            if self.version == 9:
                # record.uptime_to_epoch, inlined (base = anchor - uptime, late = uptime + 2**31)
                return f"(base + {v} - (0x100000000 if {v} > late else 0))"
            init = self.num(ies.SYSTEM_INIT_MS)
            if init:
                return f"({init[0]} + {v})"
            return f"(sysinit + {v} if sysinit is not None else None)"
        delta = self.num(ies.START_DELTA_US if start else ies.END_DELTA_US, pen, max_len=4)
        if delta:
            return f"(anchor - {delta[0]} // 1000)"
        return "None"

    def sampling(self) -> str:
        for ie in (ies.SAMPLING_INTERVAL, ies.SAMPLER_RANDOM_INTERVAL):
            got = self.num(ie)
            if got:
                return f"({got[0]} or rate)"
        interval, space = self.num(ies.SAMPLING_PACKET_INTERVAL), self.num(
            ies.SAMPLING_PACKET_SPACE
        )
        if interval and space:
            i, s = interval[0], space[0]
            return f"(({i} + {s}) // {i} if {i} else rate)"
        size, population = self.num(ies.SAMPLING_SIZE), self.num(ies.SAMPLING_POPULATION)
        if size and population:
            n, p = size[0], population[0]
            return f"({p} // {n} if {n} and {p} >= {n} else rate)"
        for ie in (ies.SAMPLER_ID, ies.SELECTOR_ID):
            got = self.num(ie)
            if got:
                return f"rates.get({got[0]}, rate)"
        return "rate"

    def is_biflow(self) -> bool:
        rev = ies.REVERSE_PEN
        return self.version == 10 and any(
            self.has(ie, rev)
            for ie in (ies.PACKET_DELTA, ies.OCTET_DELTA, ies.PACKET_TOTAL, ies.OCTET_TOTAL)
        )


def _record_exprs(plan: _Plan, biflow: bool) -> tuple[dict[str, str], list[str], str | None]:
    """Forward record expressions, shared local assignments, reverse record (biflow) source."""
    fwd: dict[str, str] = {
        "exporter": "exporter", "version": str(plan.version), "domain": "domain",
        "time_received_ms": "recv", "time_export_ms": "tex",
        "start_ms": plan.time("start"), "end_ms": plan.time("end"),
        "src_addr": plan.address("src_addr"), "dst_addr": plan.address("dst_addr"),
        "src_port": plan.checked("src_port", ies.SOURCES["src_port"]),
        "dst_port": plan.checked("dst_port", ies.SOURCES["dst_port"]),
        "proto": plan.checked("proto", ies.SOURCES["proto"]),
        "tos": plan.checked("tos", ies.SOURCES["tos"]),
        "tcp_flags": plan.checked("tcp_flags", ies.SOURCES["tcp_flags"]),
        "in_if": plan.checked("in_if", ies.SOURCES["in_if"]),
        "out_if": plan.checked("out_if", ies.SOURCES["out_if"]),
        "vlan": plan.checked("vlan", ies.SOURCES["vlan"]),
        "next_hop": plan.address("next_hop"), "bgp_next_hop": plan.address("bgp_next_hop"),
        "src_as": plan.checked("src_as", ies.SOURCES["src_as"]),
        "dst_as": plan.checked("dst_as", ies.SOURCES["dst_as"]),
        "src_mask": plan.mask("src_mask"), "dst_mask": plan.mask("dst_mask"),
        "packets": plan.first_num(ies.SOURCES["packets"]),
        "bytes": plan.first_num(ies.SOURCES["bytes"]),
        "sampling_rate": plan.sampling(), "direction": plan.direction(),
        "flow_type": "'biflow-forward'" if biflow else "None",
    }
    extra, pre = extra_exprs(plan)  # keys only templates with those elements have
    fwd.update(extra)
    if not biflow:
        return fwd, pre, None
    rev_pen = ies.REVERSE_PEN
    # Values both halves need are computed once into locals.
    for key in ("start_ms", "end_ms", "src_addr", "dst_addr", "src_port", "dst_port", "src_as",
                "dst_as", "src_mask", "dst_mask", "in_if", "out_if", "tos", "vlan",
                "sampling_rate", "proto"):
        pre.append(f"v_{key} = {fwd[key]}")
        fwd[key] = f"v_{key}"
    rp = plan.first_num((ies.PACKET_DELTA, ies.PACKET_TOTAL), rev_pen)
    rb = plan.first_num((ies.OCTET_DELTA, ies.OCTET_TOTAL), rev_pen)
    pre += [f"r_packets = {rp}", f"r_bytes = {rb}"]
    r_start, r_end = plan.time("start", rev_pen), plan.time("end", rev_pen)
    r_tos = plan.checked("tos", (ies.TOS,), rev_pen)
    r_vlan = plan.checked("vlan", (ies.VLAN_ID,), rev_pen)
    rev: dict[str, str] = dict(fwd)
    rev.update(
        start_ms=r_start if r_start != "None" else "v_start_ms",
        end_ms=r_end if r_end != "None" else "v_end_ms",
        src_addr="v_dst_addr", dst_addr="v_src_addr",
        src_port="v_dst_port", dst_port="v_src_port",
        src_as="v_dst_as", dst_as="v_src_as", src_mask="v_dst_mask", dst_mask="v_src_mask",
        in_if="v_out_if", out_if="v_in_if",
        tos=r_tos if r_tos != "None" else "v_tos",
        vlan=r_vlan if r_vlan != "None" else "v_vlan",
        tcp_flags=plan.checked("tcp_flags", (ies.TCP_FLAGS,), rev_pen),
        next_hop="None", bgp_next_hop="None", direction="None",
        packets="r_packets", bytes="r_bytes", flow_type="'biflow-reverse'",
    )
    # the reverse half's own ends of the extra keys (as in_if/out_if above)
    for a, b in (("mac_src", "mac_dst"), ("tunnel_ip_src", "tunnel_ip_dst"),
                 ("tunnel_port_src", "tunnel_port_dst"), ("ingress_vrf_id", "egress_vrf_id")):
        if a in fwd or b in fwd:
            rev[a], rev[b] = fwd.get(b, "None"), fwd.get(a, "None")
    return fwd, pre, dict_source(rev)


def compile_template(version: int, fields: tuple[FieldSpec, ...]) -> Codec:
    """Compile a data template of NetFlow ``version`` (9 or 10) into a Codec."""
    plan = _Plan(version, fields)
    biflow = plan.is_biflow()
    fwd, pre, rev = _record_exprs(plan, biflow)
    variable = any(length == ies.VARLEN for _ie, length, _pen in fields)
    namespace: dict[str, Any] = dict(_GLOBALS)
    if variable:
        min_size = sum(1 if ln == ies.VARLEN else ln for _ie, ln, _pen in fields)
        source = var_source(plan, body_source(fwd, pre, rev, "        "), min_size)
        size = 0
    else:
        source_text, fmt = fixed_source(plan, body_source(fwd, pre, rev, "        "))
        st = struct.Struct(fmt)
        namespace["_iter"] = st.iter_unpack
        source, size = source_text, st.size
        min_size = size
    exec(compile(source, f"<template v{version} {len(fields)} fields>", "exec"), namespace)
    vrf = plan.has(ies.INGRESS_VRF_ID) or plan.has(ies.EGRESS_VRF_ID)
    native = None if variable else native_codec(version, fields, _Plan(version, fields))
    return Codec(size, min_size, namespace["decode"], biflow, source, vrf, native)


_cache: OrderedDict[tuple[int, tuple[FieldSpec, ...]], Codec] = OrderedDict()


def codec_for(version: int, fields: tuple[FieldSpec, ...]) -> Codec:
    """The compiled codec of a template, from a bounded LRU cache shared by all exporters."""
    key = (version, fields)
    codec = _cache.get(key)
    if codec is not None:
        _cache.move_to_end(key)
        return codec
    codec = compile_template(version, fields)
    _cache[key] = codec
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return codec


def decode_records(
    codec: Codec, body: bytes, exporter: str, domain: int, recv: int, tex: int | None,
    anchor: int, uptime: int, sysinit: int | None, rates: dict[int, int], rate: int,
) -> tuple[list[FlowRecord], bool]:
    """All records of a data set body (padding ignored); the flag is False if one was cut."""
    out: list[FlowRecord] = []
    if codec.size:
        whole = len(body) - len(body) % codec.size
        ok = codec.decode(
            body[:whole] if whole != len(body) else body,
            out, exporter, domain, recv, tex, anchor, uptime, sysinit, rates, rate,
        )
    else:
        ok = codec.decode(body, out, exporter, domain, recv, tex, anchor, uptime, sysinit,
                          rates, rate)
    return out, ok
