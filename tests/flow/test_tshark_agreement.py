"""Field-by-field agreement with tshark on every NetFlow v5/v9 and IPFIX capture we have.

For each capture tshark (run here, now) decodes the export packets and ``tests/flow/tshark.py``
turns its tree into the records ribflow should emit; ribflow decodes the same file. Same record
count, addresses, ports, counters, timestamps, sampling rates — and the same number of data sets
left undecoded for want of a template. Where tshark is wrong or silent, ``KNOWN`` says so with the
reason and what is compared instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ribflow.flow.pcap import Datagram, iter_datagrams
from tests.flow.netflow_support import DATA, LAB, LOGSTASH, decode_capture, record_errors
from tests.flow.pcapwriter import write_pcap
from tests.flow.tshark import project, tshark_view, unwrap_uptime

pytestmark = pytest.mark.integration

Adjust = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Known:
    """How a capture deviates from plain agreement, and why."""

    how: str  # "prefix" | "silent" | "reorder" | "split" | "adjust"
    reason: str
    adjust: Adjust | None = None
    fields: tuple[str, ...] = field(default=())


def _arrival_anchor(rec: dict[str, Any]) -> None:
    for k in ("start_ms", "end_ms"):
        if rec[k] is not None:
            rec[k] += rec["_frame_ms"] - rec["_export_ms"]


def _v5_masks(rec: dict[str, Any]) -> None:
    for k in ("src_mask", "dst_mask"):
        if rec[k] is not None and rec[k] > 32:
            rec[k] = None


KNOWN: dict[str, Known] = {
    "ipfix.pcap": Known(
        "split",
        "the datagram holds three IPFIX messages back to back (484 + 64 + 240 bytes); tshark "
        "reads the 2nd and 3rd message headers as two sets with the reserved id 10; compared "
        "with tshark on the same messages sent one per datagram",
    ),
    "netflow_9_h3c.pcap": Known(
        "prefix",
        "tshark 4.0 reads IE 43 (IPV4_ROUTER_SC, 2 bytes here) as an IPv4 address, flags the "
        "packet malformed and stops after the first of 16 records: the first record is compared",
    ),
    "netflow_9_invalid_01.pcap": Known(
        "silent",
        "its options template FlowSet is 22 bytes (not a multiple of 4): tshark stops decoding "
        "the packet there and shows no data; ribflow goes on (options data: sampling 100, then "
        "2 flow records)",
    ),
    "ipfix_netscaler_with_variable_length_fields.pcap": Known(
        "reorder",
        "the data sets arrive one packet before their templates (the Juniper-MX pattern): tshark "
        "cannot decode them, ribflow holds them until the templates come; compared with tshark "
        "on the same packets reordered templates-first",
    ),
    "netflow_5_valid_01.pcap": Known(
        "adjust",
        "tshark ignores the 32-bit sysUpTime wrap (first switched 0xFFFFFFFF at uptime 3381 ms) "
        "and puts the start 49.7 days in the future; ribflow unwraps it (3.382 s before export)",
        unwrap_uptime,
        ("start_ms", "end_ms"),
    ),
    "netflow_9_nprobe_dpi_l7.pcap": Known(
        "adjust",
        "the exporter clock is unset (unix_secs = 502): ribflow anchors uptime-relative times at "
        "the arrival time, tshark at the header's 1970 time",
        _arrival_anchor,
        ("start_ms", "end_ms"),
    ),
    "netflow_5_invalid_02.pcap": Known(
        "adjust",
        "two records carry IPv4 prefix lengths 86 and 124: tshark shows them, ribflow drops "
        "impossible v5 masks (> 32) to null",
        _v5_masks,
        ("src_mask", "dst_mask"),
    ),
}

CAPTURES: list[tuple[Path, tuple[int, ...]]] = [
    (LAB / "flows-v5.pcap", (9997,)),
    (LAB / "flows-v9.pcap", (9995,)),
    (LAB / "flows-ipfix.pcap", (9996,)),
    *[(p, (2055,)) for p in sorted(LOGSTASH.glob("*.pcap"))],
    (DATA / "ndpi" / "netflowv9.pcap", (2057,)),
    (DATA / "ndpi" / "netflow-fritz.pcap", (2055,)),
    # NetFlow v5 packets mixed into an sFlow stream on port 6343 (only the v5 ones compared)
    (DATA / "tcpdump" / "sflow_multiple_counter_30_pdus.pcap", (6343,)),
]


def _ids(c: tuple[Path, tuple[int, ...]]) -> str:
    return c[0].name


def _templates_first(src: Path, dst: Path) -> None:
    """The capture's packets with those carrying templates moved to the front (stable)."""
    pkts = list(iter_datagrams(src))

    def has_template(p: Datagram) -> bool:
        data, off = p.payload, 20 if p.payload[1] == 9 else 16
        while off + 4 <= len(data):
            sid, ln = int.from_bytes(data[off : off + 2]), int.from_bytes(data[off + 2 : off + 4])
            if sid in (0, 1, 2, 3):
                return True
            if ln < 4:
                break
            off += ln
        return False

    write_pcap(dst, [p for p in pkts if has_template(p)] + [p for p in pkts if not has_template(p)])


def _one_message_per_datagram(src: Path, dst: Path) -> None:
    """The capture with IPFIX messages that share a datagram split into one datagram each."""
    out: list[Datagram] = []
    for d in iter_datagrams(src):
        data, off = d.payload, 0
        while len(data) - off >= 16 and data[off : off + 2] == b"\x00\x0a":
            length = int.from_bytes(data[off + 2 : off + 4])
            out.append(replace(d, payload=data[off : off + length]))
            off += max(length, 16)
    write_pcap(dst, out)


def test_tshark_is_installed() -> None:
    assert shutil.which("tshark"), "tshark (Debian package tshark) is needed by these tests"


def test_every_capture_is_covered() -> None:
    covered = {c[0].name for c in CAPTURES}
    assert {p.name for p in LOGSTASH.glob("*.pcap")} <= covered
    assert set(KNOWN) <= covered


@pytest.mark.parametrize("capture", CAPTURES, ids=_ids)
def test_agrees_with_tshark(capture: tuple[Path, tuple[int, ...]], tmp_path: Path) -> None:
    path, ports = capture
    known = KNOWN.get(path.name)
    ours, dispatcher = decode_capture(path)
    for rec in ours:
        assert record_errors(rec) == [], rec

    reference = path
    if known and known.how == "reorder":
        reference = tmp_path / "templates-first.pcap"
        _templates_first(path, reference)
    elif known and known.how == "split":
        reference = tmp_path / "one-message-per-datagram.pcap"
        _one_message_per_datagram(path, reference)
    view = tshark_view(reference, ports)
    theirs = view.records
    for rec in theirs:
        if known and known.adjust:
            known.adjust(rec)

    if known and known.how == "silent":
        assert theirs == [], "tshark decodes this capture now: drop the KNOWN entry"
        assert ours, "ribflow should decode what tshark gives up on"
        return
    if known and known.how == "prefix":
        assert 0 < len(theirs) < len(ours), "tshark decodes it fully now: drop the KNOWN entry"
        ours = ours[: len(theirs)]
    else:
        assert len(ours) == len(theirs)
        assert dispatcher.errors.get("missing-template", 0) == view.undecoded_sets
        assert dispatcher.errors.get("reserved-set-id", 0) == view.reserved_sets
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        got, want = project(a), project(b)
        assert got == want, (i, {k: (got[k], want[k]) for k in got if got[k] != want[k]})


def test_known_deviations_still_deviate() -> None:
    """An 'adjust' entry must still be needed: without it, tshark and ribflow differ."""
    for name, known in KNOWN.items():
        if known.how != "adjust":
            continue
        path = next(c for c in CAPTURES if c[0].name == name)
        ours, _ = decode_capture(path[0])
        theirs = tshark_view(path[0], path[1]).records
        differ = [
            k for a, b in zip(ours, theirs, strict=True) for k in known.fields if a[k] != b[k]
        ]
        assert differ, f"{name}: tshark and ribflow agree now, drop the KNOWN entry"


def test_ipfix_over_ipv6_transport(tmp_path: Path) -> None:
    """The lab's IPFIX export re-sent from an IPv6 exporter: same records, exporter in v6 form."""
    pcap = tmp_path / "ipfix-over-ipv6.pcap"
    write_pcap(pcap, [
        Datagram(d.ts_ms, "2001:db8:ff::1", d.sport, "2001:db8:ff::2", d.dport, d.payload)
        for d in iter_datagrams(LAB / "flows-ipfix.pcap")
    ])
    ours, dispatcher = decode_capture(pcap)
    theirs = tshark_view(pcap, (9996,)).records
    assert len(ours) == len(theirs) == 24
    assert {r["exporter"] for r in ours} == {"2001:db8:ff::1"}
    assert [project(r) for r in ours] == [project(r) for r in theirs]
    assert dispatcher.errors == {}
