"""The repo's real captures through nfacctd / sfacctd (Debian's pmacct 1.7.7) and through
ribflow, field by field, for every flow key both write.

softflowd's NetFlow v5, v9 and IPFIX exports of the lab's traffic (tests/data/flows/lab) and
pmacct sfprobe's sFlow of the same traffic (tests/data/sflow) are replayed to the daemons, each
capture from its own address. pmacct aggregates on the listed primitives; our records, rendered
by the enricher, are aggregated on the same keys, and both sides' keys with their flows, packets
and bytes must be the same. BGP-derived keys (AS numbers, masks and networks from the RIB) are
compared with a real BGP session in tests/enrich/test_pmacct_parity.py, not here.

``tcp_flags`` is not a key in pmacct but ORed over the flows of a key, so it is compared that
way. Explained differences, applied to pmacct's side and asserted as such:

* ``sampling_rate``: nfacctd/sfacctd print 0 ("unknown") for an export without sampling
  information; flows.v1 has no unknown rate (such a flow is unsampled, 1), so we print 1;
* sFlow's "unknown" interface (ifIndex 0x3FFFFFFF): sfacctd prints the raw 1073741823;
  flows.v1 has no ifIndex for it (None) and the enricher prints 0;
* timestamp_start/end of NetFlow v5/v9 (uptime-relative times): nfacctd takes the header's
  unix_secs minus the whole seconds of (sysUptime - first/last switched), dropping the
  milliseconds, so it is up to 1 s later than the exact time we compute (and print truncated
  to the second); they are compared per key as "pmacct's is 0 or 1 s later" (earliest start,
  latest end of the key). Its ``.000000`` (printed even with ``timestamps_secs: true``) is cut;
* softflowd's IPFIX gives times as flowStart/EndSysUpTime (IE 22/21) with the boot time
  (systemInitTimeMilliseconds, IE 160) in options data: nfacctd 1.7.7 reads IE 160 only from
  the flow record itself, so it prints the export time as start and no end (0); we take the
  boot time from the options (as RFC 7011 exporters send it) and give the real times;
* ``flows``: pmacct writes it only with its ``flows`` primitive, so it is not compared.

Keys one side does not write are not compared: nfacctd prints ``timestamp_arrival`` (its own
clock, not the capture's), sfacctd has no timestamp_start/end/export primitive, and softflowd
sends no VLAN, MAC or ethertype, so ribflow leaves those keys out where pmacct prints zeros.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from ribflow.rib.prefix import parse_address
from tests.flow.netflow_support import DATA, LAB
from tests.flow.pmacct_oracle import pmacct_records

pytestmark = pytest.mark.integration

IPFIX_EXPORTER = "127.0.46.22"
NETFLOW = {"127.0.46.20": LAB / "flows-v5.pcap", "127.0.46.21": LAB / "flows-v9.pcap",
           IPFIX_EXPORTER: LAB / "flows-ipfix.pcap"}  # fmt: skip
SFLOW = {"127.0.46.23": DATA.parent / "sflow" / "lab-flows-sflow.pcap"}
# pmacct primitive -> its JSON key (also the enricher's)
FLOW_KEYS = {
    "peer_src_ip": "peer_ip_src", "in_iface": "iface_in", "out_iface": "iface_out",
    "src_host": "ip_src", "dst_host": "ip_dst", "src_port": "port_src", "dst_port": "port_dst",
    "tcpflags": "tcp_flags", "proto": "ip_proto", "tos": "tos", "sampling_rate": "sampling_rate",
    "export_proto_version": "export_proto_version",
}  # fmt: skip
TIME_KEYS = {"timestamp_start": "timestamp_start", "timestamp_end": "timestamp_end",
             "timestamp_export": "timestamp_export"}  # fmt: skip
UPTIME_TIMES = ("timestamp_start", "timestamp_end")  # compared with their 1 s rounding
SETTINGS = ("timestamps_secs: true", "timestamps_utc: true")
SFLOW_UNKNOWN_IF = 0x3FFFFFFF
Key = tuple[Any, ...]


def _datagrams(captures: dict[str, Path]) -> list[tuple[str, bytes, int]]:
    return [(exporter, dg.payload, dg.ts_ms) for exporter, path in captures.items()
            for dg in iter_datagrams(path)]  # fmt: skip


def ours(datagrams: list[tuple[str, bytes, int]], keys: list[str]) -> dict[Key, list[int]]:
    """Our records rendered by the enricher, by key: [flows, packets, bytes, tcp_flags OR]."""
    decoders: dict[str, Dispatcher] = {}
    fmt = FlowFormatter(FormatOptions())
    sums: dict[Key, list[int]] = {}
    for exporter, payload, ts_ms in datagrams:
        d = decoders.setdefault(exporter, Dispatcher())
        try:
            records = d.decode(payload, exporter, ts_ms).records
        except FlowDecodeError:
            continue
        for rec in records:
            _add(sums, fmt.record(rec, parse_address(rec["dst_addr"])[0], None, None), keys)
    return sums


def _secs(r: dict[str, Any], key: str, keys: list[str]) -> int:
    """Epoch seconds of an uptime-relative time (0 when the comparison has no times)."""
    if "timestamp_export" not in keys or r[key].startswith("0000"):  # sFlow; no time
        return 0
    when = datetime.strptime(r[key], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(when.timestamp())


def _add(sums: dict[Key, list[int]], r: dict[str, Any], keys: list[str]) -> None:
    """Packets, bytes, tcp_flags (ORed), earliest start and latest end (epoch s) per key."""
    start, end = _secs(r, "timestamp_start", keys), _secs(r, "timestamp_end", keys)
    acc = sums.setdefault(tuple(r[k] for k in keys), [0, 0, 0, start, end])
    acc[0] += r["packets"]
    acc[1] += r["bytes"]
    acc[2] |= int(r["tcp_flags"])
    acc[3], acc[4] = min(acc[3], start), max(acc[4], end)


def theirs(records: list[dict[str, Any]], keys: list[str]) -> tuple[dict[Key, list[int]], int]:
    """pmacct's records by key, the explained differences applied; and how many had them."""
    sums: dict[Key, list[int]] = {}
    explained = 0
    for r in records:
        if r["sampling_rate"] == 0:
            r["sampling_rate"], explained = 1, explained + 1
        for k in ("iface_in", "iface_out"):
            if r[k] == SFLOW_UNKNOWN_IF:
                r[k], explained = 0, explained + 1
        for k in TIME_KEYS:
            if k in r and r[k].endswith(".000000"):
                r[k] = r[k][: -len(".000000")]
        _add(sums, r, keys)
    return sums, explained


def _compare(kind: str, captures: dict[str, Path], primitives: dict[str, str], tmp: Path) -> int:
    datagrams = _datagrams(captures)
    keys = [k for k in primitives.values() if k not in ("tcp_flags", *UPTIME_TIMES)]
    mine = ours(datagrams, keys)
    got = pmacct_records(kind, tmp, [(e, p) for e, p, _t in datagrams],
                         ", ".join(primitives), len(mine), SETTINGS)  # fmt: skip
    pm, explained = theirs(got, keys)
    assert explained  # softflowd: no sampling rate; sfprobe: no ifIndex
    differing = {}
    for key in sorted(set(mine) ^ set(pm), key=str):
        other = pm if key in mine else mine
        near = max(other, key=lambda k: sum(a == b for a, b in zip(k, key, strict=True)))
        differing[key] = [(keys[i], a, b) for i, (a, b) in enumerate(zip(key, near, strict=True))
                          if a != b]  # fmt: skip
    assert not differing, list(differing.items())[:6]
    # packets, bytes, flags equal; pmacct's start and end 0 or 1 s later (IPFIX: see above)
    wrong = {k: (v, pm[k]) for k, v in mine.items() if pm[k][:3] != v[:3]
             or not all(0 <= pm[k][i] - v[i] <= 1 for i in (3, 4))}  # fmt: skip
    if "timestamp_export" in keys:
        export_at = keys.index("timestamp_export")
        ipfix = {k: pm_v for k, (_v, pm_v) in wrong.items() if k[0] == IPFIX_EXPORTER}
        assert ipfix, "softflowd's IPFIX times: nfacctd 1.7.7 gets them wrong (above)"
        for k, (start, end) in ((k, v[3:]) for k, v in ipfix.items()):
            assert (start, end) == (_secs({"t": k[export_at]}, "t", keys), 0), k
            del wrong[k]
    assert not wrong, list(wrong.items())[:6]
    return len(mine)


def test_softflowd_captures_agree_with_nfacctd(tmp_path: Path) -> None:
    n = _compare("nfacctd", NETFLOW, {**FLOW_KEYS, **TIME_KEYS}, tmp_path)
    assert n > 60  # the lab's traffic from the three exports


def test_sflow_capture_agrees_with_sfacctd(tmp_path: Path) -> None:
    n = _compare("sfacctd", SFLOW, FLOW_KEYS, tmp_path)
    assert n > 20  # the 24 flows of the lab traffic sfprobe sampled
