"""The flow collector's cost and capacity, with nfacctd (pmacct 1.7.7) side by side, one run.

    .venv/bin/python benchmarks/bench_collector.py [--broker 127.0.0.1:9092] [--seconds 10]
        [--rates 100000,150000,175000,200000,250000] [--skip-nfacctd] [--skip-live]
        [--workers 1,2] [--sources 8] [--skip-in-process]

1. decode + publish, in process: every pool (NetFlow v5, v9 and IPFIX from benchmarks/flowpool.py,
   sFlow v5 built here) goes through ``Collector.process`` with a real confluent-kafka producer to
   the real broker, until the producer has flushed. CPU = this process's user+system time
   (getrusage: librdkafka's threads included). Flows per CPU-second, one message per export
   packet vs 10 packets grouped per message (MESSAGE_MAX_PACKETS), and decode-only for scale.
   Each pool runs on both record paths (--impls): "pure" (the generated Python decoders, dict
   records, orjson; RIBFLOW_PURE_LPM=1) and "compiled" (ribflow_lpm's data-set codecs write the
   JSON); benchmarks/results/collector.json keeps the compiled figures next to the pure ones.
2. sustained UDP -> Kafka: `ribflow collector` (a subprocess, as deployed) and nfacctd get the
   same NetFlow v9 pool (softflowd's template, 25 records/packet, the pmacct anchor's shape)
   from a paced sender process at each rate for --seconds. nfacctd runs twice: with its Kafka
   plugin (JSON, one message per flow: its only Kafka mode; same broker) and with the print
   plugin writing JSON to a file (the anchor benchmark's set-up, no Kafka). Delivered flows are
   counted independently of the daemons' own metrics: Kafka end offsets (ribflow writes one
   message per packet, nfacctd one per flow) or the sum of "packets" in nfacctd's file (every
   pool record has packets=1). Kernel drops come from /proc/net/udp, CPU from a cgroup-v1
   cpuacct group (all threads and forked children) or /proc. Loss = 1 - delivered / sent.
   A daemon's sweep stops after its first step with more than 5% loss.
   --workers 1,2 runs `ribflow collector` once per COLLECTOR_WORKERS value (SO_REUSEPORT
   workers; "ribflow" is 1 worker, "ribflow-wN" N workers). The kernel spreads datagrams over
   workers by source address+port, so --sources K makes the sender one process with K exporter
   sockets (127.0.0.100.., each with its own template), round-robin; the per-worker split of
   packets (from the parent's /metrics) is printed per step. Use the same --sources for every
   daemon so that the runs compare.

The machine is shared (2 cores, the broker, other work): the load average is printed with the
results. Every process started here is stopped by pid; every topic created is deleted.

Parts: collector_inprocess.py (step 1) and collector_sustained.py (step 2's daemons and steps).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.collector_inprocess import (  # noqa: E402
    decode_only,
    decode_publish,
    record_impl,
    sflow_pool,
)
from benchmarks.collector_sustained import (  # noqa: E402
    log,
    nfacctd,
    ribflow_collector,
    run_step,
)
from benchmarks.flowpool import all_pools, softflowd_template, v9_pool  # noqa: E402
from benchmarks.pmacct.pacing import pace  # noqa: E402
from benchmarks.results import Figure, write_result  # noqa: E402
from ribflow.rib import lpm  # noqa: E402
from tests.fixtures.kafka import given_or_managed_broker  # noqa: E402

SENDER_IP = "127.0.0.1"
SOURCES_BASE = "127.0.0.{}"  # --sources K > 1: exporters 127.0.0.100-(100+K-1), K <= 10


# ------------------------------------------------------------------------- 2. sustained


def send_main(args: argparse.Namespace) -> None:
    """Sender process: the v9 pool at a fixed flow rate to --dst; one JSON line of results."""
    tid, fields = softflowd_template()
    pool = v9_pool("v9", tid, fields, args.pool_packets, 25, seed=11)
    host, port = args.dst.rsplit(":", 1)
    addr = (host, int(port))
    socks = []
    for k in range(args.sources):
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sk.bind((SENDER_IP if args.sources == 1 else SOURCES_BASE.format(100 + k), 0))
        socks.append(sk)
    bufs = [bytearray(p) for p in pool.data]
    tpl = bytearray(pool.setup[0])
    seq = args.start_seq
    struct.pack_into("!I", tpl, 12, seq)
    for sk in socks:  # every exporter socket announces its template first
        sk.sendto(tpl, addr)
    time.sleep(0.2)
    n_socks = len(socks)
    pps = args.rate / 25 if args.rate else 0
    sent = 0
    i = args.offset % len(bufs)
    c0, t0 = time.process_time(), time.perf_counter()
    tend = t0 + args.seconds
    while True:
        for _ in range(16):
            b = bufs[i]
            seq += 1
            struct.pack_into("!I", b, 12, seq)
            socks[sent % n_socks].sendto(b, addr)
            sent += 1
            i = (i + 1) % len(bufs)
            if sent % 200 == 0:
                seq += 1
                struct.pack_into("!I", tpl, 12, seq)
                socks[(sent // 200) % n_socks].sendto(tpl, addr)
        now = time.perf_counter()
        if now >= tend:
            break
        pace(sent, pps, t0, now)
    el = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "packets": sent,
                "flows": sent * 25,
                "seconds": el,
                "flows_per_s": sent * 25 / el,
                "sender_cpu_s": time.process_time() - c0,
                "next_seq": seq + 1,
                "next_offset": i,
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", default=os.environ.get("Quix__Broker__Address"),
                    help="a running broker; default: a managed one for this run")  # fmt: skip
    ap.add_argument("--kafka-host", default="127.0.0.1", help="address of the managed broker")
    ap.add_argument("--no-write", action="store_true", help="no benchmarks/results/collector.json")
    ap.add_argument("--impls", default="pure,compiled",
                    help="in-process record paths, side by side (pure, compiled)")  # fmt: skip
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rates", default="100000,150000,175000,200000,250000")
    ap.add_argument("--packets", type=int, default=2000, help="packets per in-process pool")
    ap.add_argument("--rounds", type=int, default=10, help="passes over each in-process pool")
    ap.add_argument("--pool-packets", type=int, default=20000, help="sender pool (x25 flows)")
    ap.add_argument("--skip-nfacctd", action="store_true")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-in-process", action="store_true")
    ap.add_argument("--workers", default="1", help="COLLECTOR_WORKERS values to run, e.g. 1,2")
    ap.add_argument("--sources", type=int, default=1, help="exporter sockets of the sender")
    ap.add_argument("--workdir", default="/tmp/ribflow-bench-collector")
    # sender mode (internal)
    ap.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dst", default="")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--start-seq", type=int, default=0)
    ap.add_argument("--offset", type=int, default=0)
    args = ap.parse_args()
    if args.send:
        send_main(args)
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with given_or_managed_broker(args.broker, args.kafka_host, workdir) as broker:
        args.broker = broker
        run(args, workdir)


def run(args: argparse.Namespace, workdir: Path) -> None:
    impls = [i for i in args.impls.split(",") if i == "pure" or lpm.COMPILED is not None]
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    pools = [*all_pools(args.packets), sflow_pool(args.packets)]
    rows = []
    for pool in [] if args.skip_in_process else pools:
        for impl in impls:
            log("in-process", pool.name, impl)
            with record_impl(impl):
                dec = decode_only(pool, args.rounds, impl)
                one = decode_publish(pool, args.broker, 1, args.rounds)
                ten = decode_publish(pool, args.broker, 10, args.rounds)
            rows.append((f"{pool.name} {impl}", pool.records_per_packet, dec, one, ten))
    steps: list[dict[str, Any]] = []
    if not args.skip_live:
        rates = [float(r) for r in args.rates.split(",")]
        daemons: list[tuple[str, Any]] = [
            (f"ribflow-w{n}", lambda b, w, n=n: ribflow_collector(b, w, n))
            for n in (int(x) for x in args.workers.split(","))
        ]
        if not args.skip_nfacctd:
            daemons.append(("nfacctd-kafka", lambda b, w: nfacctd(b, w, "kafka")))
            daemons.append(("nfacctd-file", lambda b, w: nfacctd(b, w, "file")))
        for name, factory in daemons:
            sub = workdir / name
            sub.mkdir(exist_ok=True)
            with factory(args.broker, sub) as d:
                state = {"seq": 1, "offset": 0}
                run_step(  # warm-up
                    d, args.broker, 50_000, 3, state, args.pool_packets, args.sources
                )
                for rate in rates:
                    log(name, "step", rate, "load", Path("/proc/loadavg").read_text().split()[0])
                    step = run_step(
                        d, args.broker, rate, args.seconds, state, args.pool_packets, args.sources
                    )
                    step["load1"] = Path("/proc/loadavg").read_text().split()[0]
                    log(json.dumps(step))
                    steps.append(step)
                    if step["loss_pct"] > 5:
                        break  # past its capacity: higher rates only lose more
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    report(rows, steps, load0, load1, args)
    if not args.no_write:
        write_figures(rows, load0, load1, args)


def write_figures(
    rows: list[Any], load0: list[str], load1: list[str], args: argparse.Namespace
) -> None:
    """benchmarks/results/collector.json: each pool's compiled record path next to the pure-
    Python one measured in the same run (in process, decode + publish to a real broker)."""
    by = {name: one[0] for name, _rpp, _dec, one, _ten in rows}
    figures = [
        Figure(
            f"collector in process, {name.removesuffix(' compiled')} pool, decode + publish to "
            f"Kafka, 1 message per export packet, compiled record path",
            "flows/CPU-s", round(value),
            "pure-Python record path (RIBFLOW_PURE_LPM=1), same run",
            round(by[name.replace(" compiled", " pure")]),
        )
        for name, value in by.items()
        if name.endswith(" compiled") and name.replace(" compiled", " pure") in by
        and not name.startswith("sflow")  # no compiled codec: both rows are the Python path
    ]  # fmt: skip
    if not figures:
        return
    notes = (
        f"{args.packets:,} packets per pool, {args.rounds} passes; CPU of this process "
        f"(librdkafka threads included); load average {'/'.join(load0)} at start, "
        f"{'/'.join(load1)} at end (a shared machine: the ratios are of one run)"
    )
    print("# wrote", write_result("collector", figures, notes=notes))


def report(
    rows: list[Any],
    steps: list[dict[str, Any]],
    load0: list[str],
    load1: list[str],
    args: argparse.Namespace,
) -> None:
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {' '.join(load0)} at start, "
        f"{' '.join(load1)} at end (shared with the broker and other work)"
    )
    print("\n1. in process, real Kafka (flows per CPU-second; CPU includes librdkafka threads)")
    print(
        f"  {'pool, record path':26s} {'rec/pkt':>7s} {'decode-only':>12s} {'decode+publish':>15s} "
        f"{'  (wall f/s)':>12s} {'10 pkts/msg':>12s} {'grouped/1':>9s} {'vs 170k':>8s}"
    )
    for name, rpp, dec, (one, one_wall), (ten, _w) in rows:
        print(
            f"  {name:26s} {rpp:7d} {dec:12,.0f} {one:15,.0f} {one_wall:12,.0f} {ten:12,.0f} "
            f"{ten / one:9.2f} {one / 170_000:8.2f}"
        )
    if not steps:
        return
    print(
        f"\n2. sustained UDP -> Kafka, NetFlow v9 (25 flows/packet), {args.seconds:.0f} s per step"
    )
    print(
        f"  {'daemon':14s} {'target/s':>9s} {'sent/s':>9s} {'delivered':>10s} {'loss%':>8s} "
        f"{'drops':>6s} {'cpu s':>6s} {'flows/CPU-s':>12s} {'load1':>6s}  packets per worker"
    )
    for s in steps:
        print(
            f"  {s['daemon']:14s} {s['target']:9,.0f} {s['sent_per_s']:9,.0f} {s['got']:10,d} "
            f"{s['loss_pct']:8.3f} {s['drops']:6d} {s['cpu_s']:6.2f} "
            f"{s['flows_per_cpu_s']:12,.0f} {s.get('load1', ''):>6s}  {s.get('split', '')}"
        )
    best: dict[str, float] = {}
    cost: dict[str, list[float]] = {}
    for s in steps:
        if s["loss_pct"] < 0.1:
            best[s["daemon"]] = max(best.get(s["daemon"], 0.0), s["sent_per_s"])
            cost.setdefault(s["daemon"], []).append(s["flows_per_cpu_s"])
    print("\n  highest rate with < 0.1% loss (of the rates tried):")
    for name, rate in best.items():
        per_cpu = sorted(cost[name])[len(cost[name]) // 2]
        line = f"    {name:14s} {rate:10,.0f} flows/s   median {per_cpu:10,.0f} flows/CPU-s"
        if name != "ribflow" and "ribflow" in best:
            line += f"   ribflow/this: rate {best['ribflow'] / rate:.2f}"
            line += f", per CPU {sorted(cost['ribflow'])[len(cost['ribflow']) // 2] / per_cpu:.2f}"
        print(line)
    if "ribflow" in best:
        print(f"  ribflow vs the 175k flows/s goal: {best['ribflow'] / 175_000:.2f}")
        for name, rate in best.items():
            if name.startswith("ribflow-w"):
                print(f"  {name} vs 1 worker (lossless rate): {rate / best['ribflow']:.2f}")


if __name__ == "__main__":
    main()
