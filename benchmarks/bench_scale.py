#!/usr/bin/env python3
"""Scale benchmark: N routers x P shared prefixes through Kafka into a running enricher.

What an operator with many routers meets: every router announces the same P prefixes (a
synthetic table with the length mix of a full table, tests/fixtures/synth.py), with attributes drawn
from one pool of a few thousand attribute sets shared by all routers (each router keeps the
table's set for most prefixes and takes another set of the pool for ``--vary`` of them). The
messages are ``bgp-updates`` v1 as the bridge writes them (session up, updates of up to 200
NLRIs sharing one attribute set, End-of-RIB per family), keyed by router.

1. A fresh ``ribflow enricher`` process starts on empty topics; once it has its partitions
   (the "RIB rebuilt" log line of each) its CPU time and RSS are taken; then the whole table is
   produced and the enricher reads it until its consumer group has committed the end of
   ``bgp-updates``. Reported: paths per CPU-second of the enricher process (state writes,
   changelog and bgp-rib records included) and RSS growth per path (RocksDB included).
2. The enricher is killed with SIGKILL, its state directory wiped, and a new one started:
   seconds from the start until every partition's RIB holds all paths again. That includes
   waiting for the killed member's group session to time out, Quix's recovery of the state
   from the changelog into RocksDB, and the RIB rebuild from that state, whose own seconds are
   reported too (the enricher's "RIB rebuilt ... in S s" log lines). A flows message of the
   first router is produced as soon as the new process starts; also reported: seconds from the
   kill to the first of its flows written correctly enriched (its destination's mask and origin
   AS as the longest match in the announced table gives them, computed here by a plain
   dictionary walk over the prefix lengths). The restarted enricher has the same state
   directory, so the same group.instance.id (static membership): no wait for the killed
   member's session timeout.

The pmacct figures of issue 12 are the references (not measured here: no BGP daemon is fed
5M paths in this run): ~38 B per path at this scale, and the targets >= 100k paths per
CPU-second, <= 60 B per path, 1M paths restored in < 5 s. Results: benchmarks/results/scale.json.

Without ``--broker`` (or ``Quix__Broker__Address``) a managed Kafka is started for the run on
127.0.7.1 and a free port, and stopped at the end.

    .venv/bin/python benchmarks/bench_scale.py [--routers 10] [--prefixes 500000] [--sets 3000]
        [--vary 0.2] [--broker HOST:PORT] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from enricher_procs import PARTITIONS, Kafka, cpu_seconds, enricher, rss_bytes, stop, wait
from results import Figure, write_result

from ribflow.rib import AFI_IP, AFI_IP6, parse_address
from tests.fixtures.kafka import given_or_managed_broker
from tests.fixtures.synth import SynthRoute, SynthTable

KAFKA_HOST = "127.0.7.1"
REF_PMACCT_BYTES = 38.0  # issue 12: pmacct's documented ~35-40 B per path at this scale
TARGET_LOAD = 100_000.0
TARGET_BYTES = 60.0
TARGET_RESTORE_PER_PATH = 5.0 / 1_000_000  # 1M paths in < 5 s


def router_names(n: int) -> list[str]:
    return [f"10.255.{i // 250}.{i % 250 + 1}" for i in range(n)]


def router_messages(
    table: SynthTable, router: str, index: int, vary: float, time_ms: int
) -> Iterator[bytes]:
    """The router's bgp-updates messages: the shared prefixes, its own mix of the shared sets."""
    rnd = random.Random(index)
    pool = {AFI_IP: len(table.sets4), AFI_IP6: len(table.sets6)}

    def other(route: SynthRoute) -> SynthRoute:
        n = pool[route.afi]
        return dataclasses.replace(route, attr_set=(route.attr_set + 1 + rnd.randrange(n)) % n)

    own = copy.copy(table)  # the same prefixes and pool, the router's own choice of sets
    own.routes = [other(r) if rnd.random() < vary else r for r in table.routes]
    for message in own.updates(router, time_ms=time_ms):
        yield orjson.dumps(message)


def origin_by_prefix(
    table: SynthTable, router: str, index: int, vary: float
) -> dict[tuple[int, int, int], int]:
    """(afi, network, length) -> origin AS of the router's announced table (its messages)."""
    out: dict[tuple[int, int, int], int] = {}
    for raw in router_messages(table, router, index, vary, 0):
        msg = orjson.loads(raw)
        if msg["type"] != "update":
            continue
        origin = msg["attrs"]["as_path"][-1]["asns"][-1]
        for group in msg["announce"]:
            for nlri in group["nlri"]:
                text, length = nlri["prefix"].split("/")
                afi, network = parse_address(text)
                out[(afi, network, int(length))] = origin
    return out


def expected(origins: dict[tuple[int, int, int], int], address: str) -> tuple[int, int] | None:
    """(mask, origin AS) of the longest announced prefix covering ``address``."""
    afi, value = parse_address(address)
    bits = 32 if afi == AFI_IP else 128
    for length in range(bits, -1, -1):
        network = (value >> (bits - length)) << (bits - length) if length else 0
        origin = origins.get((afi, network, length))
        if origin is not None:
            return length, origin
    return None


def first_correct_flow(
    address: str, topic: str, origins: dict[str, dict[tuple[int, int, int], int]], timeout: float
) -> float:
    """Seconds (perf_counter) when the first correctly enriched flow was read from ``topic``."""
    consumer = Consumer({"bootstrap.servers": address, "group.id": f"scale-read-{uuid.uuid4()}",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    deadline = time.perf_counter() + timeout
    try:
        while time.perf_counter() < deadline:
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error() or msg.value() is None:
                    continue
                record = orjson.loads(msg.value())
                want = expected(origins[record["peer_ip_src"]], record["ip_dst"])
                if want is not None and (record["mask_dst"], record["as_dst"]) == want:
                    return time.perf_counter()
        raise AssertionError(f"no correctly enriched flow within {timeout:.0f}s")
    finally:
        consumer.close()


def probe_flows(
    table: SynthTable, routers: list[str], time_ms: int
) -> Iterator[tuple[str, bytes, int]]:
    """One flows message of 25 records per router, destinations inside the table."""
    for router in routers:
        records = table.flow_records(25, exporter=router, time_ms=time_ms)
        message = {"v": 1, "router": router, "exporter": router, "records": records}
        yield router, orjson.dumps(message), time_ms


def broker(address: str | None, work: Path) -> contextlib.AbstractContextManager[str]:
    """The given broker, else a managed one for this run only."""
    return given_or_managed_broker(address, KAFKA_HOST, work)


def rebuilt_paths(log: Path) -> tuple[int, int, float]:
    """(partitions rebuilt, paths rebuilt, seconds the rebuilds took) from the enricher's
    "partition N: RIB rebuilt from state, R routers, P paths in S.SSs" log lines."""
    lines = [ln for ln in log.read_text().splitlines() if "RIB rebuilt" in ln]
    paths = sum(int(ln.split(" paths")[0].rsplit(" ", 1)[1]) for ln in lines)
    seconds = sum(float(ln.rsplit(" in ", 1)[1].strip().rstrip("s")) for ln in lines)
    return len(lines), paths, seconds


def logged_at(log: Path, text: str) -> float | None:
    """Epoch seconds of the first log line containing ``text`` (the logs' local asctime)."""
    for line in log.read_text().splitlines():
        if text in line and line[:4].isdigit():
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    return None


def restore_steps(log: Path, spawned: float, done: float) -> dict[str, float]:
    """Seconds of the restore's steps from the restarted enricher's log: process start and
    group join to the changelog recovery's start, the recovery, then to the RIB rebuilt."""
    begun = logged_at(log, "Beginning recovery check")
    recovered = logged_at(log, "Recovery process complete")
    if begun is None or recovered is None:
        return {}
    return {"to_recovery_s": begun - spawned, "recovery_s": recovered - begun,
            "to_rebuilt_s": done - recovered}  # fmt: skip


def run(args: argparse.Namespace, address: str, work: Path) -> dict[str, float]:
    kafka = Kafka(address)
    tag = uuid.uuid4().hex[:6]
    t = {k: kafka.topic(f"scale-{k}-{tag}", compact=(k == "rib"))
         for k in ("bgp", "flows", "enriched", "dump", "rib")}  # fmt: skip
    group = f"scale-{tag}"
    state = work / f"state-{tag}"
    env = {
        "Quix__Broker__Address": address, "Quix__Consumer__Group": group,
        "Quix__State__Dir": str(state), "BGP_UPDATES_TOPIC": t["bgp"], "FLOWS_TOPIC": t["flows"],
        "FLOWS_ENRICHED_TOPIC": t["enriched"], "BGP_RIB_DUMP_TOPIC": t["dump"],
        "BGP_RIB_TOPIC": t["rib"], "RIB_DUMP_INTERVAL": "0", "COMMIT_INTERVAL": "2",
        "LOG_LEVEL": "INFO", "PARTITIONS": str(PARTITIONS), "METRICS_PORT": "0",
    }  # fmt: skip
    started = time.perf_counter()
    table = SynthTable(args.prefixes, routes_per_set=max(1.0, args.prefixes / args.sets))
    routers = router_names(args.routers)
    paths = len(table.routes) * len(routers)
    r: dict[str, float] = {"paths": paths, "prefixes": len(table.routes), "routers": len(routers),
                           "sets": len(table.sets4) + len(table.sets6)}  # fmt: skip
    print(f"# {len(routers)} routers x {len(table.routes):,} prefixes = {paths:,} paths, "
          f"{int(r['sets']):,} attribute sets (table made in "
          f"{time.perf_counter() - started:.1f}s)", flush=True)  # fmt: skip
    origins = {routers[0]: origin_by_prefix(table, routers[0], 0, args.vary)}  # the probe's
    gid = group + "-enricher"
    log = work / "enricher-load.log"
    proc = enricher(env, log)
    try:
        wait(lambda: rebuilt_paths(log)[0] >= PARTITIONS, 600, "the enricher's start", proc, log)
        time.sleep(1.0)
        cpu0, rss0, t0 = cpu_seconds(proc.pid), rss_bytes(proc.pid), time.perf_counter()
        now = int(time.time() * 1000)
        for i, router in enumerate(routers):
            n = kafka.produce(
                t["bgp"], ((router, m, now) for m in router_messages(table, router, i,
                                                                     args.vary, now))
            )  # fmt: skip
            print(f"  {router}: {n:,} messages produced ({time.perf_counter() - t0:.0f}s)",
                  flush=True)  # fmt: skip
        r["produced_s"] = time.perf_counter() - t0
        r["messages"] = kafka.count(t["bgp"])
        wait(lambda: kafka.caught_up(gid, t["bgp"]), 7200, "the table load", proc, log)
        r["load_cpu"] = cpu_seconds(proc.pid) - cpu0
        r["load_wall"] = time.perf_counter() - t0
        r["rss_growth"] = rss_bytes(proc.pid) - rss0
        r["rss_after"] = rss_bytes(proc.pid)
        proc.send_signal(signal.SIGKILL)  # kill -9 (the enricher process itself)
        proc.wait()
    finally:
        stop(proc)
    killed = time.perf_counter()
    shutil.rmtree(state)
    log2 = work / "enricher-restore.log"
    t0, spawned = time.perf_counter(), time.time()
    proc = enricher(env, log2)
    try:
        kafka.produce(t["flows"], probe_flows(table, routers[:1], int(time.time() * 1000)))
        r["first_flow_s"] = first_correct_flow(address, t["enriched"], origins, 3600) - killed

        def restored() -> bool:
            parts, rebuilt, _ = rebuilt_paths(log2)
            return parts >= PARTITIONS and rebuilt >= paths

        wait(restored, 3600, "the restore from the changelog", proc, log2, every=0.05)
        r["restore_s"] = time.perf_counter() - t0
        r.update(restore_steps(log2, spawned, spawned + r["restore_s"]))
        r["restore_cpu"] = cpu_seconds(proc.pid)
        _, r["restored"], r["rebuild_s"] = rebuilt_paths(log2)
    finally:
        stop(proc)
        kafka.cleanup([group])
    return r


def report(r: dict[str, float]) -> Iterator[str]:
    load = r["paths"] / r["load_cpu"]
    per_path = r["rss_growth"] / r["paths"]
    yield f"\n== {int(r['routers'])} routers x {int(r['prefixes']):,} shared prefixes"
    yield (f"   {int(r['paths']):,} paths, {int(r['sets']):,} attribute sets, "
           f"{int(r['messages']):,} bgp-updates messages")  # fmt: skip
    rows = [
        ("table load, paths per CPU-second", f"{load:,.0f}", f"target {TARGET_LOAD:,.0f}",
         f"{load / TARGET_LOAD:.2f}"),
        ("table load, wall seconds", f"{r['load_wall']:,.1f}", "", ""),
        ("RSS growth per path, bytes", f"{per_path:,.0f}", f"pmacct ~{REF_PMACCT_BYTES:.0f}",
         f"{per_path / REF_PMACCT_BYTES:.1f}x"),
        ("kill -9, state wiped: restart to RIB restored, s", f"{r['restore_s']:,.1f}",
         f"target {TARGET_RESTORE_PER_PATH * r['paths']:,.1f}", ""),
        ("  restore, paths per second", f"{r['paths'] / r['restore_s']:,.0f}", "", ""),
        ("  start and group join to the recovery's start", f"{r.get('to_recovery_s', 0):,.1f}",
         "", ""),
        ("  changelog recovery into RocksDB", f"{r.get('recovery_s', 0):,.1f}", "", ""),
        ("  recovery done to RIB rebuilt", f"{r.get('to_rebuilt_s', 0):,.1f}", "", ""),
        ("  of which the RIB rebuild from local state", f"{r['rebuild_s']:,.1f}", "", ""),
        ("kill -9 to the first correctly enriched flow, s", f"{r['first_flow_s']:,.1f}",
         "target 15", ""),
    ]  # fmt: skip
    for name, ours, ref, ratio in rows:
        yield f"{name:<46} {ours:>14} {ref:>18} {ratio:>8}"


def figures(r: dict[str, float]) -> list[Figure]:
    size = f"{int(r['routers'])} routers x {int(r['prefixes']):,} prefixes"
    return [
        Figure(f"table load in the running enricher, {size}", "paths/CPU-s",
               round(r["paths"] / r["load_cpu"]), target=">= 100k"),
        Figure(f"enricher RSS growth per path, {size}", "B", round(r["rss_growth"] / r["paths"], 1),
               "pmacct (documented, issue 12)", REF_PMACCT_BYTES, "<= 60 B"),
        Figure(f"restore after kill -9 with the state wiped: restart, group rejoin, changelog "
               f"recovery, RIB rebuild, {size}", "s", round(r["restore_s"], 1),
               target="1M paths in < 5 s"),
        Figure(f"restore after kill -9 with the state wiped, {size}", "paths/s",
               round(r["paths"] / r["restore_s"]), target=">= 200k (1M in < 5 s)"),
        Figure(f"of the restore: process start and group join to the changelog recovery's "
               f"start, {size}", "s", round(r.get("to_recovery_s", -1), 1)),
        Figure(f"of the restore: changelog recovery into RocksDB, {size}", "s",
               round(r.get("recovery_s", -1), 1)),
        Figure(f"of the restore: RIB rebuild from the recovered local state, {size}", "s",
               round(r["rebuild_s"], 1)),
        Figure(f"kill -9 (state wiped) to the first correctly enriched flow after the restart, "
               f"{size}", "s", round(r["first_flow_s"], 1), target="<= 15 s"),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--routers", type=int, default=10)
    ap.add_argument("--prefixes", type=int, default=500_000, help="shared prefixes per router")
    ap.add_argument("--sets", type=int, default=3000, help="distinct attribute sets (pool)")
    ap.add_argument(
        "--vary",
        type=float,
        default=0.2,
        help="share of a router's prefixes whose set differs from the table's",
    )
    ap.add_argument("--broker", default=os.environ.get("Quix__Broker__Address"))
    ap.add_argument("--no-write", action="store_true", help="do not write results/scale.json")
    ap.add_argument("--logs", type=Path, help="copy the enricher's logs into this directory")
    args = ap.parse_args(argv)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"# bench_scale: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
          "(shared with other work)", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        with broker(args.broker, work) as address:
            try:
                r = run(args, address, work)
            finally:
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    for log in work.glob("enricher-*.log"):
                        shutil.copy(log, args.logs / log.name)
    for line in report(r):
        print(line, flush=True)
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    if not args.no_write:
        notes = (f"{int(r['routers'])} routers x {int(r['prefixes']):,} shared prefixes "
                 f"({int(r['paths']):,} paths), {int(r['sets']):,} attribute sets, vary "
                 f"{args.vary}; {int(r['messages']):,} bgp-updates messages; load wall "
                 f"{r['load_wall']:.0f}s; enricher RSS after load {r['rss_after'] / 2**20:.0f} MiB;"
                 " pure-Python or compiled LPM as installed (RIBFLOW_PURE_LPM)")  # fmt: skip
        print(f"# wrote {write_result('scale', figures(r), notes=notes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
