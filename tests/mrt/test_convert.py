"""TABLE_DUMP v1 -> TABLE_DUMP_V2 conversion, checked against bgpdump's own decode of the input.

The reference is RIPE's bgpdump output shipped with its test data (``bgpdump -m`` of the 2002
RIS dump, 115,521 lines). The converted file is read back by the small TDv2 reader below, written
for this test only (it shares no code with ribflow.mrt).
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from pathlib import Path

import pytest

from ribflow.mrt.tables import convert

DATA = Path(__file__).resolve().parents[1] / "data" / "rib"  # RIPE-NCC/bgpdump test data
SRC = DATA / "bview.20020722.2337.gz"
EXPECT = DATA / "bview.20020722.2337.gz.bgp.gz"


def read_tdv2(path: Path) -> list[tuple[str, str, int, str, str]]:
    """(prefix, peer ip, peer as, as path text, next hop) per RIB entry, bgpdump-style text."""
    data = path.read_bytes()
    peers: list[tuple[str, int]] = []
    out = []
    pos = 0
    while pos < len(data):
        _, kind, sub, length = struct.unpack_from("!IHHI", data, pos)
        body = data[pos + 12 : pos + 12 + length]
        pos += 12 + length
        assert kind == 13
        if sub == 1:
            count = struct.unpack_from("!H", body, 6)[0]
            p = 8
            for _ in range(count):
                ptype = body[p]
                alen = 16 if ptype & 1 else 4
                ip = str(ipaddress.ip_address(body[p + 5 : p + 5 + alen]))
                asn = struct.unpack_from("!I" if ptype & 2 else "!H", body, p + 5 + alen)[0]
                peers.append((ip, asn))
                p += 5 + alen + (4 if ptype & 2 else 2)
            continue
        plen = body[4]
        nbytes = (plen + 7) // 8
        prefix = ipaddress.ip_network((body[5 : 5 + nbytes] + bytes(4 - nbytes), plen))
        p = 5 + nbytes
        (entries,) = struct.unpack_from("!H", body, p)
        p += 2
        for _ in range(entries):
            index, _, alen = struct.unpack_from("!HIH", body, p)
            attrs = body[p + 8 : p + 8 + alen]
            p += 8 + alen
            path, nh = "", ""
            a = 0
            while a < len(attrs):
                flags, code = attrs[a], attrs[a + 1]
                if flags & 0x10:
                    ln = struct.unpack_from("!H", attrs, a + 2)[0]
                    a += 4
                else:
                    ln = attrs[a + 2]
                    a += 3
                val = attrs[a : a + ln]
                a += ln
                if code == 2:
                    parts, v = [], 0
                    while v < len(val):
                        st, n = val[v], val[v + 1]
                        asns = struct.unpack_from(f"!{n}I", val, v + 2)
                        v += 2 + 4 * n
                        if st == 1:
                            parts.append("{" + ",".join(map(str, asns)) + "}")
                        else:
                            parts.extend(map(str, asns))
                    path = " ".join(parts)
                elif code == 3:
                    nh = str(ipaddress.IPv4Address(val))
            ip, asn = peers[index]
            out.append((str(prefix), ip, asn, path, nh))
    return out


def test_the_2002_ris_dump_converts_entry_for_entry(tmp_path: Path) -> None:
    if not SRC.exists():
        pytest.fail(f"test data missing: {SRC}")
    dst = tmp_path / "ris2002.mrt"
    stats = convert(SRC, dst)
    assert (stats.prefixes, stats.entries, stats.peers, stats.skipped) == (112988, 115521, 36, {})
    ours = read_tdv2(dst)
    with gzip.open(EXPECT, "rt") as f:
        ref = [line.rstrip("\n").split("|") for line in f]
    assert len(ours) == len(ref) == 115521
    want = sorted((r[5], r[3], int(r[4]), r[6], r[8]) for r in ref)
    assert sorted(ours) == want


def td1_record(prefix: str, peer: str, peer_as: int, attrs: bytes) -> bytes:
    net = ipaddress.IPv4Network(prefix)
    body = struct.pack("!HH", 0, 0) + net.network_address.packed + bytes([net.prefixlen, 1])
    body += struct.pack("!I", 1027381055) + ipaddress.IPv4Address(peer).packed
    body += struct.pack("!HH", peer_as, len(attrs)) + attrs
    return struct.pack("!IHHI", 1027381055, 12, 1, len(body)) + body


def test_padding_repeats_the_tail_and_as4_attributes_win(tmp_path: Path) -> None:
    origin = b"\x40\x01\x01\x00"
    nh = b"\x40\x03\x04" + bytes([192, 0, 2, 1])
    path2 = b"\x40\x02\x06\x02\x02" + struct.pack("!HH", 65010, 23456)  # AS_TRANS
    as4 = b"\xc0\x11\x0a\x02\x02" + struct.pack("!II", 65010, 4200000001)
    agg2 = b"\xc0\x07\x06" + struct.pack("!H", 23456) + bytes([192, 0, 2, 9])
    agg4 = b"\xc0\x12\x08" + struct.pack("!I", 4200000002) + bytes([192, 0, 2, 9])
    src = tmp_path / "td1.mrt"
    src.write_bytes(
        td1_record("10.1.0.0/16", "192.0.2.254", 65099, origin + path2 + nh)
        + td1_record("10.2.0.0/16", "192.0.2.254", 65099, origin + path2 + as4 + agg2 + agg4 + nh)
        + td1_record("10.2.0.0/16", "192.0.2.253", 65098, origin + path2 + nh)
        + b"\x00\x00"  # a truncated record at the end is ignored
    )
    dst = tmp_path / "td2.mrt"
    stats = convert(src, dst, pad=1)
    assert (stats.prefixes, stats.entries, stats.peers) == (2, 3, 2)
    got = read_tdv2(dst)
    assert got == [
        ("10.1.0.0/16", "192.0.2.254", 65099, "65010 23456", "192.0.2.1"),
        ("10.2.0.0/16", "192.0.2.254", 65099, "65010 4200000001", "192.0.2.1"),
        ("10.2.0.0/16", "192.0.2.253", 65098, "65010 23456", "192.0.2.1"),
        # pad=1: the last RIB record (both entries of 10.2.0.0/16) once more
        ("10.2.0.0/16", "192.0.2.254", 65099, "65010 4200000001", "192.0.2.1"),
        ("10.2.0.0/16", "192.0.2.253", 65098, "65010 23456", "192.0.2.1"),
    ]
    raw = dst.read_bytes()
    assert struct.pack("!I", 4200000002) + bytes([192, 0, 2, 9]) in raw  # AS4_AGGREGATOR won
