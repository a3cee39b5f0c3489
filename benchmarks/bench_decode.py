"""Decode-only speed of ribflow's flow decoders vs the PyPI `netflow` package, same packets.

    .venv/bin/python benchmarks/bench_decode.py [--seconds 3] [--packets 2000]

For each pool (benchmarks/flowpool.py: NetFlow v5, v9 and IPFIX with softflowd's template and a
router-like one; sFlow from the lab capture when ribflow.flow.sflow is there) both decoders get
the template/options packets once, then decode the data packets in a loop for --seconds of CPU
time, single thread. Prints records per CPU-second for each, the ratio, and ribflow's
decode + orjson-serialise rate (the publish path minus Kafka). Needs `pip install netflow==0.12.2`
(the 'bench' extra); without it the `netflow` column says n/a.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flowpool import Pool, all_pools
from results import Figure, write_result

from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.pcap import iter_datagrams

LAB_SFLOW = Path(__file__).resolve().parents[1] / "tests/data/sflow/lab-flows-sflow.pcap"


def rate(fn: Callable[[bytes], int], packets: list[bytes], seconds: float) -> float:
    """Records per CPU-second of ``fn`` (returns the records of one packet)."""
    for p in packets[:50]:  # warm-up
        fn(p)
    n = 0
    c0 = time.process_time()
    while True:
        for p in packets:
            n += fn(p)
        spent = time.process_time() - c0
        if spent >= seconds:
            return n / spent


def ribflow_fns(pool: Pool) -> tuple[Callable[[bytes], int], Callable[[bytes], int]]:
    d = Dispatcher()
    for p in pool.setup:
        d.decode(p, "192.0.2.1", 1_790_000_000_000)
    first = d.decode(pool.data[0], "192.0.2.1", 1_790_000_000_000).records
    assert len(first) == pool.records_per_packet or pool.version == 5005, (pool.name, len(first))
    dumps = orjson.dumps

    def decode(p: bytes) -> int:
        return len(d.decode(p, "192.0.2.1", 1_790_000_000_000).records)

    def decode_json(p: bytes) -> int:
        recs = d.decode(p, "192.0.2.1", 1_790_000_000_000).records
        dumps({"v": 1, "router": "192.0.2.1", "exporter": "192.0.2.1", "records": recs})
        return len(recs)

    return decode, decode_json


def netflow_fn(pool: Pool) -> Callable[[bytes], int] | None:
    try:
        import netflow
        from netflow.ipfix import IPFIXExportPacket
        from netflow.v5 import V5ExportPacket
        from netflow.v9 import V9ExportPacket
    except ImportError:
        return None
    templates: dict[str, dict[int, object]] = {"netflow": {}, "ipfix": {}}
    for p in pool.setup:
        netflow.parse_packet(p, templates)
    if pool.version == 5:
        return lambda p: len(V5ExportPacket(p).flows)
    if pool.version == 9:
        t9 = templates["netflow"]
        n = len(V9ExportPacket(pool.data[0], t9).flows)
        assert n == pool.records_per_packet, (pool.name, n)
        return lambda p: len(V9ExportPacket(p, t9).flows)
    if pool.version == 10:
        t10 = templates["ipfix"]
        n = len(IPFIXExportPacket(pool.data[0], t10).flows)
        assert n == pool.records_per_packet, (pool.name, n)
        return lambda p: len(IPFIXExportPacket(p, t10).flows)
    return None


def sflow_pool() -> Pool | None:
    try:
        import ribflow.flow.sflow  # noqa: F401
    except ImportError:
        return None
    path = LAB_SFLOW
    if not path.exists():
        return None
    data = [dg.payload for dg in iter_datagrams(path)]
    d = Dispatcher()
    n = sum(len(d.decode(p, "192.0.2.1", 0).records) for p in data)
    return Pool("sflow5 (lab pcap)", 5005, [], data * 20, max(1, round(n / len(data))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per measurement")
    ap.add_argument("--packets", type=int, default=2000, help="data packets per pool")
    ap.add_argument("--no-write", dest="write", action="store_false",
                    help="do not write benchmarks/results/decode.json")  # fmt: skip
    args = ap.parse_args(argv)
    pools = all_pools(args.packets)
    sf = sflow_pool()
    if sf:
        pools.append(sf)
    print(
        f"{'pool':<18} {'rec/pkt':>7} {'ribflow rec/cpu-s':>18} {'+orjson':>10} "
        f"{'netflow 0.12.2':>15} {'ratio':>7}"
    )
    figures: list[Figure] = []
    for pool in pools:
        ours, ours_json = ribflow_fns(pool)
        r_ours = rate(ours, pool.data, args.seconds)
        r_json = rate(ours_json, pool.data, args.seconds)
        theirs = netflow_fn(pool)
        r_theirs = rate(theirs, pool.data, args.seconds) if theirs else None
        ratio = f"{r_ours / r_theirs:6.1f}x" if r_theirs else "    n/a"
        their_txt = f"{r_theirs:15,.0f}" if r_theirs else f"{'n/a':>15}"
        print(
            f"{pool.name:<18} {pool.records_per_packet:>7} {r_ours:18,.0f} {r_json:10,.0f} "
            f"{their_txt} {ratio}",
            flush=True,
        )
        ref = "PyPI netflow 0.12.2" if r_theirs else None
        figures.append(
            Figure(f"decode only, {pool.name}", "records/CPU-s", round(r_ours), ref,
                   round(r_theirs) if r_theirs else None)
        )  # fmt: skip
        figures.append(Figure(f"decode + orjson, {pool.name}", "records/CPU-s", round(r_json)))
    if args.write:
        notes = f"{args.seconds:g} CPU-s per measurement, {args.packets} data packets per pool"
        print(f"# wrote {write_result('decode', figures, notes=notes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
