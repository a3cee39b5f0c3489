"""Pools of realistic NetFlow v5, v9 and IPFIX export packets for the decoder benchmarks.

Two template shapes: softflowd's (taken from the lab capture, 16 fields, 42 B/record: what the
pmacct anchor benchmark used) and a router-like one (24 fields, 65 B/record: AS numbers, masks,
next hops, sampler id, direction — what a Cisco/Juniper edge router exports). Records are drawn
from a seeded RNG: random hosts in 100k /24s from 11.0.0.0, random ports, TCP/UDP mix,
packets=1 so that sum(packets) counts flows.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

from ribflow.flow.pcap import iter_datagrams

LAB_V9 = Path(__file__).resolve().parents[1] / "tests" / "data" / "flows" / "lab" / "flows-v9.pcap"
NOW_S = 1_790_000_000

# (IE, length): a router-like IPv4 template
ROUTER_FIELDS: list[tuple[int, int]] = [
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (5, 1),
    (6, 1),
    (10, 4),
    (14, 4),
    (16, 4),
    (17, 4),
    (9, 1),
    (13, 1),
    (15, 4),
    (18, 4),
    (1, 8),
    (2, 8),
    (48, 1),
    (61, 1),
    (89, 1),
]
V9_TIMES = [(22, 4), (21, 4)]
IPFIX_TIMES = [(152, 8), (153, 8)]


@dataclass
class Pool:
    """A template packet (or none for v5) and data packets using it."""

    name: str
    version: int
    setup: list[bytes]
    data: list[bytes]
    records_per_packet: int

    @property
    def records(self) -> int:
        return len(self.data) * self.records_per_packet


def softflowd_template() -> tuple[int, list[tuple[int, int]]]:
    """softflowd's first IPv4 data template, read from the lab capture."""
    for dg in iter_datagrams(LAB_V9):
        p = dg.payload
        off = 20
        while off + 4 <= len(p):
            sid, slen = struct.unpack_from("!HH", p, off)
            if sid == 0:
                tid, count = struct.unpack_from("!HH", p, off + 4)
                fields = [struct.unpack_from("!HH", p, off + 8 + 4 * i) for i in range(count)]
                if (8, 4) in fields:
                    return tid, fields
            off += max(slen, 4)
    raise SystemExit("no IPv4 template in " + str(LAB_V9))


def _value(ie: int, rnd: random.Random, proto: int, t0: int) -> int:
    r = rnd.random
    if ie in (8, 12):
        return 0x0B000000 + (int(r() * 100_000) << 8) + 1 + int(r() * 254)
    if ie in (15, 18):
        return 0x0A000001 + int(r() * 8)
    return {
        7: 1024 + int(r() * 64_000),
        11: (80, 443, 53, 22, 8080)[int(r() * 5)],
        4: proto,
        6: 0x1B if proto == 6 else 0,
        10: 1 + int(r() * 48),
        14: 1 + int(r() * 48),
        16: 64_500 + int(r() * 1000),
        17: 1 + int(r() * 400_000),
        9: 24,
        13: 24,
        1: 40 + int(r() * 1460),
        2: 1,
        48: 1,
        61: 0,
        89: 64,
        60: 4,
        136: 2,
        22: t0 - int(r() * 60_000),
        21: t0,
        152: NOW_S * 1000 - int(r() * 60_000),
        153: NOW_S * 1000,
    }.get(ie, 0)


def _records(fields: list[tuple[int, int]], n: int, rnd: random.Random) -> bytes:
    st = struct.Struct("!" + "".join({1: "B", 2: "H", 4: "I", 8: "Q"}[ln] for _, ln in fields))
    out = []
    for _ in range(n):
        proto = 6 if rnd.random() < 0.6 else 17
        out.append(st.pack(*(_value(ie, rnd, proto, 3_600_000) for ie, _ in fields)))
    return b"".join(out)


def v9_pool(
    name: str, tid: int, fields: list[tuple[int, int]], packets: int, recs: int, seed: int = 1
) -> Pool:
    rnd = random.Random(seed)
    head = struct.Struct("!HHIIII")
    tbody = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
    tpl = head.pack(9, 1, 3_600_000, NOW_S, 0, 0) + struct.pack("!HH", 0, 4 + len(tbody)) + tbody
    setup = [tpl]
    if any(ie == 48 for ie, _ in fields):  # sampler 1 = 1 in 1000 (options data)
        opt = struct.pack("!HHH", 256, 4, 8) + struct.pack("!HHHHHH", 1, 4, 48, 1, 50, 4)
        opt += b"\0" * ((-len(opt)) % 4)
        rec = struct.pack("!IBI", 0, 1, 1000)
        rec += b"\0" * ((-len(rec)) % 4)
        setup.append(
            head.pack(9, 2, 3_600_000, NOW_S, 1, 0)
            + struct.pack("!HH", 1, 4 + len(opt))
            + opt
            + struct.pack("!HH", 256, 4 + len(rec))
            + rec
        )
    data = []
    for i in range(packets):
        body = _records(fields, recs, rnd)
        pad = (-(4 + len(body))) % 4
        data.append(
            head.pack(9, recs, 3_600_000, NOW_S, 2 + i, 0)
            + struct.pack("!HH", tid, 4 + len(body) + pad)
            + body
            + b"\0" * pad
        )
    return Pool(name, 9, setup, data, recs)


def ipfix_pool(
    name: str, tid: int, fields: list[tuple[int, int]], packets: int, recs: int, seed: int = 2
) -> Pool:
    rnd = random.Random(seed)
    head = struct.Struct("!HHIII")

    def msg(seq: int, sets: bytes) -> bytes:
        return head.pack(10, 16 + len(sets), NOW_S, seq, 0) + sets

    tbody = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
    setup = [msg(0, struct.pack("!HH", 2, 4 + len(tbody)) + tbody)]
    if any(ie == 160 for ie, _ in fields) or any(ie == 22 for ie, _ in fields):
        # boot time for flowStart/EndSysUpTime, as softflowd announces it
        opt = struct.pack("!HHH", 256, 2, 1) + struct.pack("!HHHH", 144, 4, 160, 8)
        rec = struct.pack("!IQ", 1, (NOW_S - 3600) * 1000)
        setup.append(
            msg(
                1,
                struct.pack("!HH", 3, 4 + len(opt))
                + opt
                + struct.pack("!HH", 256, 4 + len(rec))
                + rec,
            )
        )
    data = []
    for i in range(packets):
        body = _records(fields, recs, rnd)
        data.append(msg(2 + i, struct.pack("!HH", tid, 4 + len(body)) + body))
    return Pool(name, 10, setup, data, recs)


def v5_pool(packets: int, recs: int = 30, seed: int = 3) -> Pool:
    rnd = random.Random(seed)
    data = []
    for i in range(packets):
        body = b""
        for _ in range(recs):
            proto = 6 if rnd.random() < 0.6 else 17
            v = {
                ie: _value(ie, rnd, proto, 3_600_000)
                for ie in (8, 12, 15, 10, 14, 1, 22, 21, 7, 11, 6, 5, 16, 17, 9, 13)
            }
            body += struct.pack(
                "!IIIHHIIIIHHxBBBHHBB2x",
                v[8],
                v[12],
                v[15],
                v[10],
                v[14],
                1,
                v[1],
                v[22],
                v[21],
                v[7],
                v[11],
                v[6],
                proto,
                0,
                v[16] & 0xFFFF,
                v[17] & 0xFFFF,
                v[9],
                v[13],
            )
        head = struct.pack("!HHIIIIBBH", 5, recs, 3_600_000, NOW_S, 0, i * recs, 0, 0, 0)
        data.append(head + body)
    return Pool("v5", 5, [], data, recs)


def all_pools(packets: int = 2000) -> list[Pool]:
    tid, sfd = softflowd_template()
    return [
        v5_pool(packets),
        v9_pool("v9 softflowd", tid, sfd, packets, 25),
        v9_pool("v9 router", 300, ROUTER_FIELDS + V9_TIMES, packets, 20),
        ipfix_pool("ipfix softflowd", tid, [f for f in sfd], packets, 25),
        ipfix_pool("ipfix router", 300, ROUTER_FIELDS + IPFIX_TIMES, packets, 20),
    ]
