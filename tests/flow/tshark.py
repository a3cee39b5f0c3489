"""Expected flow records from tshark, the independent decoder our tests compare against.

From the records tshark decoded (``tests/flow/tshark_pdml.py``: which bytes are which field, the
header clock, options data such as sampling and boot time) we build the records ribflow should
emit, using only what tshark decoded. Conversions are the documented ones of schemas/flows.v1.json
(epoch ms, sampling rate >= 1, "0.0.0.0" for an absent address, the reverse half of a biflow with
src/dst swapped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.flow.tshark_pdml import Field, TsFlow, domain_id, flows, run_pdml

# record key -> tshark field names, best first (mirrors the IANA priority of the mapping)
INT_FIELDS: dict[str, tuple[str, ...]] = {
    "src_port": ("cflow.srcport",),
    "dst_port": ("cflow.dstport",),
    "proto": ("cflow.protocol",),
    "tos": ("cflow.tos",),
    "tcp_flags": ("cflow.tcpflags",),
    "in_if": ("cflow.inputint", "cflow.ingress_physical_interface"),
    "out_if": ("cflow.outputint", "cflow.egress_physical_interface"),
    "vlan": ("cflow.vlanid", "cflow.dot1q_vlan_id"),
    "src_as": ("cflow.srcas",),
    "dst_as": ("cflow.dstas",),
    "packets": (
        "cflow.packets",
        "cflow.permanent_packets",
        "cflow.post_packets",
        "cflow.initiator_packets",
    ),
    "bytes": (
        "cflow.octets",
        "cflow.permanent_octets",
        "cflow.post_octets",
        "cflow.initiator_octets",
    ),
}
ADDR_FIELDS: dict[str, tuple[str, str]] = {
    "src_addr": ("cflow.srcaddr", "cflow.srcaddrv6"),
    "dst_addr": ("cflow.dstaddr", "cflow.dstaddrv6"),
    "next_hop": ("cflow.nexthop", "cflow.nexthopv6"),
    "bgp_next_hop": ("cflow.bgpnexthop", "cflow.bgpnexthopv6"),
}
MASK_FIELDS = {
    "src_mask": ("cflow.srcmask", "cflow.srcmaskv6"),
    "dst_mask": ("cflow.dstmask", "cflow.dstmaskv6"),
}
COMPARED = (
    "src_addr",
    "dst_addr",
    "src_port",
    "dst_port",
    "proto",
    "tos",
    "tcp_flags",
    "in_if",
    "out_if",
    "vlan",
    "next_hop",
    "bgp_next_hop",
    "src_as",
    "dst_as",
    "src_mask",
    "dst_mask",
    "packets",
    "bytes",
    "start_ms",
    "end_ms",
    "sampling_rate",
    "direction",
    "flow_type",
    "version",
    "domain",
    "exporter",
)
_MAX = {"src_port": 0xFFFF, "dst_port": 0xFFFF, "vlan": 4095, "src_mask": 128, "dst_mask": 128}



_ABS = re.compile(r"^(\w{3}) +(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? UTC$")


def abs_ms(show: str) -> int:
    """Epoch ms of tshark's absolute time text, e.g. 'Dec 25, 2016 12:58:33.345000000 UTC'."""
    m = _ABS.match(show.strip())
    if not m:
        raise ValueError(f"unexpected tshark time {show!r}")
    mon, day, year, hh, mm, ss, frac = m.groups()
    dt = datetime.strptime(f"{mon} {day} {year} {hh}:{mm}:{ss}", "%b %d %Y %H:%M:%S")
    ms = int(dt.replace(tzinfo=UTC).timestamp()) * 1000
    return ms + (int((frac or "0").ljust(9, "0")[:3]))


def secs_ms(show: str) -> int:
    return int(Decimal(show.split()[0]) * 1000)


class Expectations:
    """Turns tshark's flows into the records ribflow should produce, keeping options state."""

    def __init__(self) -> None:
        self.rates: dict[tuple[str, int, int], dict[int | None, int]] = {}
        self.sysinit: dict[tuple[str, int, int], int] = {}

    def records(self, ts_flows: list[TsFlow]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for fl in ts_flows:
            if fl.undecoded:
                continue
            version = fl.header["cflow.version"].int
            key = (fl.exporter, version, domain_id(fl.header))
            if fl.options:
                self._learn(key, fl)
                continue
            out += self._data(fl, version, key)
        return out

    @staticmethod
    def _rate(values: dict[str, int]) -> int | None:
        for name in ("cflow.sampling_interval", "cflow.sampler_random_interval"):
            if values.get(name):
                return values[name]
        i, s = (
            values.get("cflow.sampling_packet_interval"),
            values.get("cflow.sampling_packet_space"),
        )
        if i and s is not None:
            return (i + s) // i
        n, p = values.get("cflow.sampling_size"), values.get("cflow.sampling_population")
        if n and p and p >= n:
            return p // n
        return None

    @staticmethod
    def _sampler(values: dict[str, int]) -> int | None:
        for name in ("cflow.sampler_id", "cflow.selector_id"):
            if name in values:
                return values[name]
        return None

    def _learn(self, key: tuple[str, int, int], fl: TsFlow) -> None:
        values: dict[str, int] = {}
        for f in fl.fields:
            if f.name.startswith("cflow.scope") or f.reverse or f.name in values:
                continue
            if f.name == "cflow.sys_init_time":
                self.sysinit[key] = abs_ms(f.show)
                continue
            if f.value and len(f.value) <= 16:
                values[f.name] = f.int
        rate = self._rate(values)
        if rate:
            self.rates.setdefault(key, {})[self._sampler(values)] = rate

    def _data(self, fl: TsFlow, version: int, key: tuple[str, int, int]) -> list[dict[str, Any]]:
        h = fl.header
        rec: dict[str, Any] = {
            "exporter": fl.exporter,
            "version": version,
            "domain": None if version == 5 else key[2],
            "_frame_ms": fl.frame_ms,
            "_export_ms": _export_ms(h, version),
        }
        for k, names in ADDR_FIELDS.items():
            v4 = fl.first(names[0])
            v6 = fl.first(names[1])
            if v4 and v6:
                rec[k] = v6.show if v4.show == "0.0.0.0" and v6.show != "::" else v4.show
            elif v4 or v6:
                rec[k] = (v4 or v6).show  # type: ignore[union-attr]
            else:
                rec[k] = "0.0.0.0" if k in ("src_addr", "dst_addr") else None
        for k, int_names in INT_FIELDS.items():
            got = next((f for n in int_names if (f := fl.first(n)) is not None), None)
            v = got.int if got else (0 if k in ("packets", "bytes") else None)
            rec[k] = v if v is None or v <= _MAX.get(k, v) else None
        for k, mask_names in MASK_FIELDS.items():
            got = next((f for n in mask_names if (f := fl.first(n)) is not None and f.int), None)
            if got is None:
                got = next((f for n in mask_names if (f := fl.first(n)) is not None), None)
            rec[k] = got.int if got and got.int <= 128 else None
        d = fl.first("cflow.direction")
        rec["direction"] = None if d is None else {0: "ingress", 1: "egress"}.get(d.int)
        rec["start_ms"], rec["end_ms"] = self._times(fl, version, key, reverse=False)
        values = {
            f.name: f.int for f in fl.fields if f.value and len(f.value) <= 16 and not f.reverse
        }
        if version == 5:
            rate = h["cflow.samplerate"].int or 1
        else:
            dom = self.rates.get(key, {})
            inline = self._rate(values)
            sampler = self._sampler(values)
            default = dom.get(None, 1)
            rate = inline or (dom.get(sampler, default) if sampler is not None else default)
        rec["sampling_rate"] = rate
        rec["flow_type"] = None
        if version == 10 and any(
            f.reverse
            and f.name
            in (
                "cflow.packets",
                "cflow.octets",
                "cflow.permanent_packets",
                "cflow.permanent_octets",
            )
            for f in fl.fields
        ):
            return self._biflow(fl, rec, key)
        return [rec]

    def _times(
        self, fl: TsFlow, version: int, key: tuple[str, int, int], reverse: bool
    ) -> tuple[int | None, int | None]:
        h = fl.header
        out: list[int | None] = []
        for abs_name, rel_name in (
            ("cflow.abstimestart", "cflow.timestart"),
            ("cflow.abstimeend", "cflow.timeend"),
        ):
            a = fl.first(abs_name, reverse)
            r = fl.first(rel_name, reverse)
            if a is not None and a.value == "00000000":
                # tshark 4.0 quirk: a FIRST/LAST_SWITCHED (uptime-relative) of exactly 0 is shown
                # as the absolute time 1970-01-01 00:00:00; it is relative 0 seconds.
                r = Field(rel_name, "0", a.value, a.reverse)
                a = None
            if a is not None:
                out.append(abs_ms(a.show))
            elif r is not None and version in (5, 9):
                export = _export_ms(h, version)
                out.append(export - secs_ms(h["cflow.sysuptime"].show) + secs_ms(r.show))
            elif r is not None:
                init = self.sysinit.get(key)
                out.append(None if init is None else init + secs_ms(r.show))
            else:
                out.append(None)
        return out[0], out[1]

    def _biflow(
        self, fl: TsFlow, fwd: dict[str, Any], key: tuple[str, int, int]
    ) -> list[dict[str, Any]]:
        fwd["flow_type"] = "biflow-forward"
        rev = dict(fwd)
        rp = fl.first("cflow.packets", True) or fl.first("cflow.permanent_packets", True)
        rb = fl.first("cflow.octets", True) or fl.first("cflow.permanent_octets", True)
        tos, flags, vlan = (
            fl.first("cflow.tos", True),
            fl.first("cflow.tcpflags", True),
            fl.first("cflow.vlanid", True),
        )
        start, end = self._times(fl, 10, key, reverse=True)
        rev.update(
            src_addr=fwd["dst_addr"],
            dst_addr=fwd["src_addr"],
            src_port=fwd["dst_port"],
            dst_port=fwd["src_port"],
            src_as=fwd["dst_as"],
            dst_as=fwd["src_as"],
            src_mask=fwd["dst_mask"],
            dst_mask=fwd["src_mask"],
            in_if=fwd["out_if"],
            out_if=fwd["in_if"],
            next_hop=None,
            bgp_next_hop=None,
            direction=None,
            packets=rp.int if rp else 0,
            bytes=rb.int if rb else 0,
            tos=tos.int if tos else fwd["tos"],
            tcp_flags=flags.int if flags else None,
            vlan=vlan.int if vlan and vlan.int <= 4095 else fwd["vlan"],
            start_ms=start if start is not None else fwd["start_ms"],
            end_ms=end if end is not None else fwd["end_ms"],
            flow_type="biflow-reverse",
        )
        return [fwd, rev] if rev["packets"] or rev["bytes"] else [fwd]


def _export_ms(h: dict[str, Field], version: int) -> int:
    if version == 10:
        return h["cflow.exporttime"].int * 1000
    ms = h["cflow.unix_secs"].int * 1000
    if version == 5:
        ms += h["cflow.unix_nsecs"].int // 1_000_000
    return ms


@dataclass
class TsharkView:
    records: list[dict[str, Any]]
    undecoded_sets: int  # data sets tshark had no template for
    reserved_sets: int  # sets with a reserved id (neither template nor data)


def tshark_view(
    path: str | Path, cflow_ports: tuple[int, ...] = (2055,), versions: tuple[int, ...] = (5, 9, 10)
) -> TsharkView:
    """tshark's view of a capture as ribflow records (see ``project`` for the compared keys)."""
    ts = [
        f
        for f in flows(run_pdml(path, cflow_ports))
        if f.header.get("cflow.version") and f.header["cflow.version"].int in versions
    ]
    return TsharkView(
        Expectations().records(ts),
        sum(f.undecoded and f.set_id >= 256 for f in ts),
        sum(f.undecoded and f.set_id < 256 for f in ts),
    )


def expected_records(
    path: str | Path, cflow_ports: tuple[int, ...] = (2055,), versions: tuple[int, ...] = (5, 9, 10)
) -> list[dict[str, Any]]:
    return tshark_view(path, cflow_ports, versions).records


def unwrap_uptime(rec: dict[str, Any]) -> None:
    """Correct tshark's missing 32-bit sysUpTime wrap (a v5/v9 time > 24.8 days in the future).

    tshark 4.0 computes header time - uptime + first switched without the wrap: a flow that
    started before the exporter's uptime wrapped (or, with softflowd -r, before the uptime's
    zero) lands 49.7 days in the future.
    """
    for k in ("start_ms", "end_ms"):
        if rec[k] is not None and rec[k] - rec["_export_ms"] > 2**31:
            rec[k] -= 2**32


def project(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec.get(k) for k in COMPARED}
