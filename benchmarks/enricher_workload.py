"""The enricher benchmark's workloads (bench_enricher.py): a table as bgp-updates messages and
flows v1 messages of 25 records whose addresses fall in it, for the synthetic, RIS and lab tables.

The importing script puts the repository root on sys.path.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ribflow.mrt.tables import read_rib
from tests.fixtures.synth import SynthTable

REPO = Path(__file__).resolve().parents[1]
BENCH_PMACCT = REPO / "benchmarks" / "pmacct"
LAB_GEN = REPO / "tests" / "data" / "enrich" / "gen_mrt.py"
RIS = REPO / "tests" / "data" / "rib" / "bview.20020722.2337.gz"
ROUTER = "127.0.0.3"
GOBGPD, NFACCTD, SENDER, COLLECTOR = "127.0.42.45", "127.0.42.46", "127.0.42.47", "127.0.42.48"
T0 = int(time.time() * 1000) - 7_200_000  # recent: old records fall to retention


@dataclass
class Workload:
    name: str
    bgp: list[tuple[str, bytes]]
    flows: list[tuple[str, bytes]]  # (router key, flows v1 message of 25 records)
    paths: int
    n_flows: int
    extra: dict[str, Any] = field(default_factory=dict)


def _batches(router: str, exporter: str, records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [
        (
            router,
            orjson.dumps(
                {"v": 1, "router": router, "exporter": exporter, "records": records[i : i + 25]}
            ),
        )
        for i in range(0, len(records), 25)
    ]


def synthetic_workload(routes: int, flows: int) -> Workload:
    table = SynthTable(routes)
    bgp = [(ROUTER, orjson.dumps(m)) for m in table.updates(ROUTER)]
    records = table.flow_records(flows, exporter=ROUTER)
    return Workload(f"synthetic {routes:,}", bgp, _batches(ROUTER, ROUTER, records),
                    len(table.routes), len(records))  # fmt: skip


def _updates_from_entries(entries: Iterator[Any], router_of: Any) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    seqs: dict[str, int] = {}
    pending: dict[str, list[Any]] = {}

    def emit(router: str) -> None:
        _, nh, attrs, prefixes = pending.pop(router)
        seqs[router] = seqs.get(router, 0) + 1
        family = "ipv6 unicast" if ":" in prefixes[0] else "ipv4 unicast"
        msg = {"v": 1, "type": "update", "router": router, "peer": router, "time_ms": T0,
               "epoch": 1, "seq": seqs[router], "attrs": attrs, "withdraw": [],
               "announce": [{"family": family, "next_hop": nh,
                             "nlri": [{"prefix": p} for p in prefixes]}]}  # fmt: skip
        out.append((router, orjson.dumps(msg)))

    for e in entries:
        router = router_of(e)
        sig = orjson.dumps(e.attrs, option=orjson.OPT_SORT_KEYS) + (e.next_hop or "").encode()
        sig += b"6" if ":" in e.prefix else b"4"
        cur = pending.get(router)
        if cur is not None and (cur[0] != sig or len(cur[3]) >= 200):
            emit(router)
            cur = None
        if cur is None:
            pending[router] = [sig, e.next_hop, e.attrs, [e.prefix]]
        else:
            cur[3].append(e.prefix)
    for router in list(pending):
        emit(router)
    return out


def ris_workload(flows: int) -> Workload:
    entries = list(read_rib(RIS))
    bgp = _updates_from_entries(iter(entries), lambda e: e.peer)
    main_peer = "193.203.0.1"
    rnd = random.Random(3)
    v4 = [e.prefix for e in entries if e.peer == main_peer and ":" not in e.prefix]
    records = []
    for i in range(flows):
        pair = []
        for _ in range(2):
            net, _, length = rnd.choice(v4).partition("/")
            base = int.from_bytes(bytes(int(x) for x in net.split(".")), "big")
            host = base | rnd.getrandbits(32 - int(length)) if int(length) < 32 else base
            pair.append(".".join(str(b) for b in host.to_bytes(4, "big")))
        records.append({"exporter": main_peer, "version": 9, "time_received_ms": T0,
                        "src_addr": pair[0], "dst_addr": pair[1], "src_port": 1024 + i % 60000,
                        "dst_port": 443, "proto": 6, "tcp_flags": 27, "packets": 1,
                        "bytes": 100, "sampling_rate": 1})  # fmt: skip
    return Workload("RIPE RIS rrc05 2002 (36 routers)", bgp,
                    _batches(main_peer, main_peer, records), len(entries), flows)  # fmt: skip


def _pool_packets(pool: Path) -> list[bytes]:
    data = pool.read_bytes()
    assert data.startswith(b"AFPOOL1\n")
    (count,) = struct.unpack_from("!I", data, 8)
    pos, out = 12, []
    for _ in range(count):
        (length,) = struct.unpack_from("!H", data, pos)
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return out


def _write_pcap(packets: list[bytes], path: Path, src: str, dst: str, dport: int) -> None:
    s, d = bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split("."))
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 228))
        for i, payload in enumerate(packets):
            udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, s, d)
            f.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, i % 1000, len(ip) + len(udp),
                                len(ip) + len(udp)) + ip + udp)  # fmt: skip


def lab_workload(flows: int, work: Path) -> Workload:
    mrt = work / "rib-100k.mrt"
    subprocess.run([sys.executable, str(LAB_GEN), str(mrt), "100000", "20000"], check=True,
                   capture_output=True)  # fmt: skip
    seen: dict[str, Any] = {}
    for e in read_rib(mrt):
        seen[e.prefix] = e  # the generator repeats its tail (gobgp workaround): keep one each
    bgp = _updates_from_entries(iter(seen.values()), lambda e: GOBGPD)
    pool = work / "pool.bin"
    subprocess.run([sys.executable, str(BENCH_PMACCT / "flowgen.py"), "pool", str(pool),
                    "--flows", str(flows)], check=True, capture_output=True)  # fmt: skip
    packets = _pool_packets(pool)
    pcap = work / "pool.pcap"
    _write_pcap(packets, pcap, SENDER, NFACCTD, 2100)  # the template packet comes first
    c0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ribflow", "decode", "-q", str(pcap)],
                          capture_output=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    decode_wall = time.perf_counter() - c0
    records = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    wl = Workload("lab gen_mrt 100k v4 + 20k v6 (bench-pmacct's table)", bgp,
                  _batches(GOBGPD, SENDER, records), len(seen), len(records))  # fmt: skip
    wl.extra.update(mrt=mrt, pool=pool, pcap=pcap, decode_wall=decode_wall)
    return wl


def decode_cpu_per_flow(pcap: Path, n: int) -> float:
    """CPU seconds per flow of ``ribflow decode`` on the same packets (children's CPU)."""
    before = os.times()
    subprocess.run([sys.executable, "-m", "ribflow", "decode", "-q", str(pcap)],
                   stdout=subprocess.DEVNULL, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    after = os.times()
    return ((after.children_user - before.children_user)
            + (after.children_system - before.children_system)) / n  # fmt: skip
