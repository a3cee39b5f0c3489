#!/usr/bin/env python3
"""Enricher benchmark, Kafka to Kafka, next to (a) a pass-through Quix app and (b) nfacctd.

For each table (synthetic 1M paths; the real 2002 RIS table; the lab's gen_mrt.py 100k+20k
table that bench-pmacct feeds nfacctd), in one run:

1. the table is produced to a fresh bgp-updates topic and a fresh enricher process loads it:
   paths per CPU-second of the enricher process (state writes, changelog and bgp-rib included)
   and its RSS growth per path (RocksDB included);
2. flows whose source and destination fall in the table are produced (batches of 25 records,
   as export packets carry them) and enriched: flows per CPU-second, one JSON message per flow
   (the default) and, in a second pass, NDJSON per batch (ENRICHED_BATCH);
3. a pass-through Quix app moves the same flow messages to another topic: flows per
   CPU-second, and the ratio enriched / pass-through (goal >= 0.5);
4. the enricher is stopped, its state directory wiped, and restarted: seconds until every
   partition's RIB is rebuilt from the changelog (goal < 60 s for 1M);
5. lab table only, decoder + enricher Kafka to Kafka: the same NetFlow v9 export packets
   (bench-pmacct's flowgen pool, sent by its sender.py at --rate) go to a ``ribflow collector``
   (agent map: the sender is the gobgpd router) writing ``flows``, read by the warm enricher
   writing one message per enriched flow; flows out per CPU-second of both ribflow processes
   (every process of their sessions);
6. lab table only: nfacctd 1.7.7 with its BGP daemon (fed by gobgpd with the same MRT table)
   receives the same packets from the same sender at the same rate, and its processes' CPU
   (core + plugin + writers) per flow out is read from /proc. ``ribflow decode`` of the same
   packets is printed too (the decoder's CPU per flow offline).

Processes are measured from /proc (utime+stime); the broker and the load generator are not
counted. The machine is shared with other work: the load average is printed with the results.
Daemons use 127.0.42.45-48 and a free gRPC port only. Without --broker (or
Quix__Broker__Address) a managed Kafka is started on 127.0.42.1 for the run. With the lab table,
the figures go to benchmarks/results/enricher.json (benchmarks/results.py; --no-write: not).

    .venv/bin/python benchmarks/bench_enricher.py [--tables synthetic,ris,lab] [--flows 200000]
        [--rate 100000] [--broker HOST:PORT] [--no-write]
    .venv/bin/python benchmarks/bench_enricher.py --memory --tables lab --flows 50000
        (table load + one flow pass only; RSS from a started idle enricher, by kind of mapping)

Parts: enricher_workload.py (tables and flows), enricher_runs.py (the runs),
enricher_procs.py (Kafka, processes, /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.enricher_procs import (  # noqa: E402
    PARTITIONS,
    Kafka,
    cpu_seconds,
    enricher,
    rss_bytes,
    run_passthrough,
    smaps_groups,
    stop,
    wait,
)
from benchmarks.enricher_runs import bench_nfacctd, bench_table  # noqa: E402
from benchmarks.enricher_workload import (  # noqa: E402
    T0,
    Workload,
    decode_cpu_per_flow,
    lab_workload,
    ris_workload,
    synthetic_workload,
)
from benchmarks.results import Figure, write_result  # noqa: E402
from tests.fixtures.kafka import given_or_managed_broker  # noqa: E402

KAFKA_HOST = "127.0.42.1"


# -- memory mode (--memory) ----------------------------------------------------------------------
def bench_memory(
    kafka: Kafka, wl: Workload, work: Path, groups: list[str], extra_env: dict[str, str]
) -> Iterator[str]:
    """RSS per path measured from an idle, started enricher (imports and Kafka setup excluded)."""
    tag = uuid.uuid4().hex[:6]
    t = {k: kafka.topic(f"bench-{k}-{tag}", compact=(k == "rib"))
         for k in ("bgp", "flows", "enriched", "dump", "rib")}  # fmt: skip
    group = f"bench-enricher-{tag}"
    groups.append(group)
    env = {
        "Quix__Broker__Address": kafka.broker, "Quix__Consumer__Group": group,
        "Quix__State__Dir": str(work / f"state-{tag}"), "BGP_UPDATES_TOPIC": t["bgp"],
        "FLOWS_TOPIC": t["flows"], "FLOWS_ENRICHED_TOPIC": t["enriched"],
        "BGP_RIB_DUMP_TOPIC": t["dump"], "BGP_RIB_TOPIC": t["rib"], "RIB_DUMP_INTERVAL": "0",
        "COMMIT_INTERVAL": "2", "LOG_LEVEL": "INFO", "PARTITIONS": str(PARTITIONS), **extra_env,
    }  # fmt: skip
    log = work / f"enricher-{tag}.log"
    proc = enricher(env, log)
    gid = group + "-enricher"
    try:
        wait(lambda: log.read_text().count("RIB rebuilt") >= PARTITIONS, 600, "the start", proc,
             log)  # fmt: skip
        time.sleep(3)
        rss0, groups0 = rss_bytes(proc.pid), smaps_groups(proc.pid)
        kafka.produce(t["bgp"], ((k, v, T0) for k, v in wl.bgp))
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        wait(lambda: kafka.caught_up(gid, t["bgp"]), 3600, "the table load", proc, log)
        load_cpu, load_wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
        time.sleep(3)  # one more checkpoint: the memtables and producer queues settle
        rss1, groups1 = rss_bytes(proc.pid), smaps_groups(proc.pid)
        flows_cpu = 0.0
        if wl.flows:
            kafka.produce(t["flows"], ((k, v, T0 + 3_600_000) for k, v in wl.flows))
            cpu0 = cpu_seconds(proc.pid)
            wait(lambda: kafka.caught_up(gid, t["flows"])
                 and kafka.count(t["enriched"]) >= wl.n_flows, 3600, "the enrichment", proc,
                 log)  # fmt: skip
            flows_cpu = cpu_seconds(proc.pid) - cpu0
        rss2 = rss_bytes(proc.pid)
    finally:
        stop(proc)
    yield f"\n== {wl.name}: {wl.paths:,} paths, {wl.n_flows:,} flows (memory mode)"
    yield row("RSS idle after start, MB", f"{rss0 / 2**20:,.1f}")
    yield row("RSS after the table load, MB", f"{rss1 / 2**20:,.1f}")
    yield row("RSS growth per path (started -> loaded)", f"{(rss1 - rss0) / wl.paths:,.0f}",
              "pmacct 440", f"{440 * wl.paths / max(rss1 - rss0, 1):.2f}")  # fmt: skip
    for kind in sorted(set(groups0) | set(groups1)):
        grow = groups1.get(kind, 0) - groups0.get(kind, 0)
        yield row(f"  of which {kind}, B/path", f"{grow / wl.paths:,.0f}",
                  f"{groups1.get(kind, 0) / 2**20:,.1f} MB at end")  # fmt: skip
    yield row("table load, paths per CPU-second", f"{wl.paths / load_cpu:,.0f}",
              f"wall {load_wall:,.1f} s")  # fmt: skip
    if flows_cpu:
        yield row("enriched flows per CPU-s (1 msg/flow)", f"{wl.n_flows / flows_cpu:,.0f}",
                  f"RSS after {rss2 / 2**20:,.1f} MB")  # fmt: skip


# -- report ----------------------------------------------------------------------------------------
def row(name: str, ours: str, ref: str = "", ratio: str = "") -> str:
    return f"{name:<44} {ours:>14} {ref:>26} {ratio:>8}"


def report(wl: Workload, r: dict[str, float]) -> Iterator[str]:
    yield f"\n== {wl.name}: {int(r['paths']):,} paths, {int(r['flows']):,} flows"
    yield row("metric", "ribflow", "reference", "ratio")
    apply = r["paths"] / r["load_cpu"]
    yield row("table load, paths per CPU-second (in app)", f"{apply:,.0f}", "goal 100,000",
              f"{apply / 100_000:.2f}")  # fmt: skip
    yield row("table load, wall seconds", f"{r['load_wall']:,.1f}", "pmacct 120k in ~1.2", "")
    yield row("RSS growth per path (incl. RocksDB)", f"{r['rss_per_path']:,.0f}",
              "pmacct 440", f"{440 / max(r['rss_per_path'], 1):.2f}")  # fmt: skip
    enrich = r["flows"] / r["flows_cpu"]
    batch = r["flows"] / r["batch_cpu"]
    passth = r["flows"] / r["pass_cpu"]
    yield row("enriched flows per CPU-s (1 msg/flow)", f"{enrich:,.0f}",
              f"pass-through {passth:,.0f}", f"{enrich / passth:.2f}")  # fmt: skip
    yield row("enriched flows per CPU-s (NDJSON/batch)", f"{batch:,.0f}",
              f"pass-through {passth:,.0f}", f"{batch / passth:.2f}")  # fmt: skip
    yield row("enrichment wall seconds (1 msg/flow)", f"{r['flows_wall']:,.1f}")
    yield row("restore from changelog, seconds", f"{r['restore_s']:,.1f}", "goal < 60",
              f"{60 / r['restore_s']:.2f}")  # fmt: skip
    if "nf_cpu" in r:
        nf = r["nf_out"] / r["nf_cpu"] if r["nf_cpu"] else 0.0
        yield row("nfacctd+BGP flows per CPU-s (all procs)", f"{nf:,.0f}",
                  f"sent {int(r['nf_sent']):,}, out {int(r['nf_out']):,}", "")  # fmt: skip
        yield row("  nfacctd CPU-s settling before (not counted)", f"{r['nf_settle_cpu']:.2f}")
        live = r["live_out"] / r["live_cpu"]
        yield row("collector + enricher, Kafka to Kafka", f"{live:,.0f}", f"nfacctd {nf:,.0f}",
                  f"{live / nf:.2f}" if nf else "")  # fmt: skip
        yield row("  sent, enriched out", f"{int(r['live_out']):,}",
                  f"sent {int(r['live_sent']):,}")  # fmt: skip
        yield row("ribflow enricher alone vs nfacctd", f"{enrich:,.0f}",
                  f"nfacctd {nf:,.0f}", f"{enrich / nf:.2f}" if nf else "")  # fmt: skip
        yield row("`ribflow decode` (offline) flows per CPU-s",
                  f"{1 / r['decode_cpu_per_flow']:,.0f}")  # fmt: skip


def figures(wl: Workload, r: dict[str, float], rate: float) -> list[Figure]:
    """The results file's figures (lab table: the one nfacctd gets too)."""
    nf = r["nf_out"] / r["nf_cpu"]
    passth = r["flows"] / r["pass_cpu"]
    return [
        Figure(f"decoder + enricher, Kafka to Kafka, 1 message per enriched flow, flows per "
               f"CPU-second of all ribflow processes (collector + enricher), {wl.name}, NetFlow "
               f"v9 at {rate:,.0f} flows/s", "flows/CPU-s", round(r["live_out"] / r["live_cpu"]),
               "nfacctd with BGP, all its processes, same packets", round(nf),
               ">= 1.5x (at least 1.0x)"),
        Figure("of which the collector (UDP to Kafka), same run", "flows/CPU-s",
               round(r["live_out"] / r["live_collector_cpu"])),
        Figure("of which the enricher (Kafka to Kafka, flows as the collector writes them at "
               f"{rate:,.0f} flows/s), same run", "flows/CPU-s",
               round(r["live_out"] / r["live_enricher_cpu"])),
        Figure("enricher alone, Kafka to Kafka, 1 message per enriched flow, same table",
               "flows/CPU-s", round(r["flows"] / r["flows_cpu"]),
               "pass-through Quix app, same messages", round(passth), ">= 0.5"),
        Figure("enricher alone, NDJSON per batch (ENRICHED_BATCH), same table", "flows/CPU-s",
               round(r["flows"] / r["batch_cpu"]), "pass-through Quix app, same messages",
               round(passth)),
    ]  # fmt: skip


def broker(address: str | None, work: Path) -> contextlib.AbstractContextManager[str]:
    """The given broker, else a managed one for this run only."""
    return given_or_managed_broker(address, KAFKA_HOST, work)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--passthrough"]:
        run_passthrough(*argv[1:6])
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--broker",
        default=os.environ.get("Quix__Broker__Address"),
        help="Kafka to use (default: a managed one on 127.0.42.1 for the run)",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=100_000,
        help="flows/s of the NetFlow sender, for the collector and for nfacctd",
    )
    ap.add_argument("--no-write", action="store_true", help="do not write results/enricher.json")
    ap.add_argument("--tables", default="synthetic,ris,lab")
    ap.add_argument("--routes", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=200_000)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra enricher setting, e.g. RIB_TABLE=false")  # fmt: skip
    ap.add_argument("--memory", action="store_true",
                    help="only the table load and one flow pass, RSS measured from a started, "
                    "idle enricher, by kind of mapping")  # fmt: skip
    args = ap.parse_args(argv)
    groups: list[str] = []
    load0 = tuple(round(x, 1) for x in os.getloadavg())
    # SIGTERM unwinds like an exception, so every process and topic made here is cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-enricher-") as tmp, \
            broker(args.broker, Path(tmp)) as address:  # fmt: skip
        work = Path(tmp)
        kafka = Kafka(address)
        print(f"# bench_enricher: broker {address}, load average {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} CPUs (shared with other work) {' '.join(args.env)}",
              flush=True)  # fmt: skip
        try:
            for table in args.tables.split(","):
                if table == "synthetic":
                    wl = synthetic_workload(args.routes, args.flows)
                elif table == "ris":
                    wl = ris_workload(args.flows)
                else:
                    wl = lab_workload(args.flows, work)
                extra = dict(e.split("=", 1) for e in args.env)
                if args.memory:
                    for line in bench_memory(kafka, wl, work, groups, extra):
                        print(line, flush=True)
                    continue
                r = bench_table(kafka, wl, work, groups, extra, args.rate)
                if table == "lab":
                    r.update(bench_nfacctd(wl, work, args.rate))
                    r["decode_cpu_per_flow"] = decode_cpu_per_flow(wl.extra["pcap"], wl.n_flows)
                for line in report(wl, r):
                    print(line, flush=True)
                if table == "lab" and not args.no_write:
                    lpm = "pure-Python" if os.environ.get("RIBFLOW_PURE_LPM") else "compiled"
                    notes = (f"{wl.n_flows:,} flows (messages of 25 records), {wl.paths:,} paths;"
                             f" collector+enricher: {int(r['live_out']):,} of "
                             f"{int(r['live_sent']):,} sent flows out; nfacctd: "
                             f"{int(r['nf_out']):,} of {int(r['nf_sent']):,} out, measured once "
                             f"idle ({r['nf_settle_cpu']:.1f} CPU-s after gobgpd had sent the "
                             f"table, not counted); {lpm} LPM; "
                             f"load average before {load0}, after "
                             f"{tuple(round(x, 1) for x in os.getloadavg())} (a shared machine: "
                             "the ratios are of one run, the references measured in it)"
                             + (f"; {' '.join(args.env)}" if args.env else ""))  # fmt: skip
                    path = write_result("enricher", figures(wl, r, args.rate), notes=notes)
                    print(f"# wrote {path}")
        finally:
            kafka.cleanup(groups)
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
