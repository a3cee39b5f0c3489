#!/usr/bin/env python3
"""RIB benchmark: apply rate, lookup rate and memory per route, next to the reference figures.

Tables: a synthetic 1M-path table (tests/fixtures/synth.py, realistic length mix and ~4 paths per
attribute set) and the real 2002 RIPE RIS rrc05 table (TABLE_DUMP v1, 115k entries from 36
peers; one RIB per peer, as the enricher keeps one per router). The bgp-updates messages are
encoded first; "apply" then times JSON decoding, event parsing, interning and RIB insertion
(CPU seconds of this process). Lookups are timed on addresses inside the table's prefixes
("hit") and on uniformly random addresses. Memory: tracemalloc of the RIB structures (a
separate build), and RSS growth of the process.

Every table is measured twice, each time in a fresh process: with the pure-Python prefix table
(RIBFLOW_PURE_LPM=1) and with the compiled ribflow_lpm one, printed side by side.

Printed reference figures (constants from the project's brief, not measured here, so they never
reach benchmarks/results/rib.json, whose reference is the pure-Python table of the same run):
pmacct nfacctd 1.7.7 loads 120k routes in ~1.2 s (~100k routes/s) and holds ~440 B of RSS per
route; Akvorado ~75 B per route and ~70 ns per lookup (Go). Goals (issue 5): apply >= 100k
routes/s, <= 441 B/route.

    .venv/bin/python benchmarks/bench_rib.py [--routes 1000000] [--ris PATH] [--lookups 300000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ribflow.mrt.tables import read_rib
from ribflow.rib import (
    AttrPool,
    Route,
    RouterMeta,
    RouterRib,
    RouterState,
    apply_event,
    parse_address,
    parse_event,
)
from ribflow.rib.lpm import COMPILED, COMPILED_ERROR, PURE_ENV

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import Figure, write_result

from tests.fixtures.synth import SynthTable

RIS = Path(__file__).resolve().parents[1] / "tests" / "data" / "rib" / "bview.20020722.2337.gz"
REF_APPLY = 120_000 / 1.2  # pmacct: 120k routes in ~1.2 s
REF_PMACCT_BYTES = 440.0
REF_AKVORADO_BYTES = 75.0
REF_AKVORADO_LOOKUP_NS = 70.0


class NullSink:
    def route_set(self, router: RouterState, route: Route) -> None:
        pass

    def route_deleted(self, router: RouterState, *key: int) -> None:
        pass

    def meta_changed(self, router: RouterState) -> None:
        pass


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def ris_messages(path: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """bgp-updates messages per peer (consecutive entries with equal attributes packed)."""
    seqs: dict[str, int] = {}
    out: list[tuple[str, bytes]] = []
    pending: dict[str, tuple[bytes, str | None, dict[str, Any], list[str]]] = {}
    addresses: list[str] = []

    def emit(peer: str) -> None:
        _, nh, attrs, prefixes = pending.pop(peer)
        seqs[peer] = seqs.get(peer, 0) + 1
        family = "ipv6 unicast" if ":" in prefixes[0] else "ipv4 unicast"
        msg = {"v": 1, "type": "update", "router": peer, "peer": peer, "time_ms": 1,
               "epoch": 1, "seq": seqs[peer], "attrs": attrs, "withdraw": [],
               "announce": [{"family": family, "next_hop": nh,
                             "nlri": [{"prefix": p} for p in prefixes]}]}  # fmt: skip
        out.append((peer, orjson.dumps(msg)))

    for e in read_rib(path):
        sig = orjson.dumps(e.attrs, option=orjson.OPT_SORT_KEYS) + (e.next_hop or "").encode()
        cur = pending.get(e.peer)
        if cur is not None and (cur[0] != sig or len(cur[3]) >= 200):
            emit(e.peer)
            cur = None
        if cur is None:
            pending[e.peer] = (sig, e.next_hop, e.attrs, [e.prefix])
        else:
            cur[3].append(e.prefix)
        net, _, length = e.prefix.partition("/")
        if ":" not in net and int(length) <= 24:
            addresses.append(net[: net.rfind(".")] + ".77")
    for peer in list(pending):
        emit(peer)
    return out, addresses


def apply_all(messages: Iterable[tuple[str, bytes]]) -> tuple[dict[str, RouterState], AttrPool]:
    pool = AttrPool()
    routers: dict[str, RouterState] = {}
    sink = NullSink()
    for router, raw in messages:
        state = routers.get(router)
        if state is None:
            state = routers[router] = RouterState(RouterMeta(router), RouterRib(pool))
        apply_event(state, parse_event(orjson.loads(raw)), pool, sink)
    return routers, pool


def _row(name: str, pure: str, compiled: str, ref: str, ratio: str) -> str:
    return f"{name:<34} {pure:>13} {compiled:>13} {ref:>22} {ratio:>10}"


def report(label: str, runs: dict[str, dict[str, float]]) -> Iterator[str]:
    """Pure-Python and compiled prefix tables side by side; the ratio is compiled vs reference
    (or compiled vs pure where there is no reference figure)."""
    p, c = runs["pure"], runs.get("compiled")
    r = c or p
    yield (
        f"\n== {label}: {int(r['paths']):,} paths, {int(r['sets']):,} attribute sets, "
        f"{int(r['messages']):,} bgp-updates messages"
    )
    yield _row("metric", "pure-python", "compiled", "reference", "ratio")

    def both(key: str, fmt: Callable[[float], str]) -> tuple[str, str]:
        return fmt(p[key]), (fmt(c[key]) if c else "n/a")

    def num(v: float) -> str:
        return f"{v:,.0f}"

    def ns(v: float) -> str:
        return f"{1e9 / v:,.0f}"

    apply = r["apply_cpu"]
    yield _row("apply, paths per CPU-second", *both("apply_cpu", num), f"pmacct {REF_APPLY:,.0f}",
               f"{apply / REF_APPLY:.2f}")  # fmt: skip
    yield _row("apply, paths per wall-second", *both("apply_wall", num), "", "")
    for key, name in (("table_hit", "PrefixTable.lookup (hit), ns"),
                      ("table_random", "PrefixTable.lookup (random), ns"),
                      ("lookup_hit", "RouterRib.lookup (hit), ns"),
                      ("lookup_random", "RouterRib.lookup (random), ns")):  # fmt: skip
        ratio = f"{c[key] / p[key]:.2f}x" if c else ""
        ref = f"akvorado {REF_AKVORADO_LOOKUP_NS:.0f}" if key == "table_hit" else ""
        yield _row(name, *both(key, ns), ref, ratio)
    yield _row("lookups per CPU-second (hit)", *both("lookup_hit", num), "", "")
    yield _row("lookups per CPU-second (random)", *both("lookup_random", num),
               f"(found {r['random_found']:.0%})", "")  # fmt: skip
    for key, label_ in (("traced_per_path", "tracemalloc*"), ("rss_per_path", "RSS growth")):
        ours = r[key]
        yield _row(f"bytes per path ({label_})", *both(key, num), f"pmacct {REF_PMACCT_BYTES:.0f}",
                   f"{REF_PMACCT_BYTES / ours:.2f}")  # fmt: skip
        yield _row("", "", "", f"akvorado {REF_AKVORADO_BYTES:.0f}",
                   f"{REF_AKVORADO_BYTES / ours:.2f}")  # fmt: skip
    if c:
        yield "  * tracemalloc does not see the compiled table's own (Rust) memory: compare RSS"


def figures(label: str, runs: dict[str, dict[str, float]]) -> list[Figure]:
    """The compiled table's figures with the pure-Python one of the same run as reference."""
    p, c = runs["pure"], runs.get("compiled")
    if c is None:
        return [Figure(f"apply, {label}, pure Python", "paths/CPU-s", round(p["apply_cpu"]))]
    pure = "pure-Python prefix table"
    out = [
        Figure(f"RIB apply, {label}", "paths/CPU-s", round(c["apply_cpu"]), pure,
               round(p["apply_cpu"]), ">= 100k paths/CPU-s"),
        Figure(f"LPM lookup (hit), {label}", "ns", round(1e9 / c["table_hit"]), pure,
               round(1e9 / p["table_hit"])),
        Figure(f"RouterRib.lookup (hit), {label}", "ns", round(1e9 / c["lookup_hit"]), pure,
               round(1e9 / p["lookup_hit"])),
        Figure(f"RSS growth per path, {label}", "B", round(c["rss_per_path"]), pure,
               round(p["rss_per_path"]), "<= 441 B"),
    ]  # fmt: skip
    return out


def prepare(which: str, args: argparse.Namespace, out: Path) -> tuple[Path, Path, int]:
    """Write the table's messages and lookup addresses to files (one per line)."""
    if which == "synthetic":
        table = SynthTable(args.routes)
        msgs = [("127.0.0.3", orjson.dumps(m)) for m in table.updates("127.0.0.3")]
        hit, sets = table.addresses(200_000), len(table.sets4) + len(table.sets6)
    else:
        msgs, hit = ris_messages(args.ris)
        sets = len(apply_all(msgs)[1])
    messages, addresses = out / f"{which}.messages", out / f"{which}.addresses"
    with messages.open("wb") as f:
        for router, raw in msgs:
            f.write(router.encode() + b"\t" + raw + b"\n")
    addresses.write_text("\n".join(hit))
    return messages, addresses, sets


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as f:
        for line in f:
            router, _, raw = line.rstrip(b"\n").partition(b"\t")
            yield router.decode(), raw


def run_measure(messages: Path, addresses: Path, lookups: int) -> dict[str, float]:
    """In a fresh process: stream the messages from disk, so RSS growth is the RIB's."""
    gc.collect()
    rss0 = rss()
    c0, t0 = time.process_time(), time.perf_counter()
    routers, pool = apply_all(read_messages(messages))
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    paths = sum(len(s.rib) for s in routers.values())
    gc.collect()
    rss_per = (rss() - rss0) / paths
    big = max(routers.values(), key=lambda s: len(s.rib)).rib
    rnd = random.Random(5)
    hits = [parse_address(a) for a in rnd.choices(addresses.read_text().split(), k=lookups)]
    rand = [(1, rnd.getrandbits(32)) for _ in range(lookups)]
    rates: dict[str, float] = {}
    for label, addrs in (("hit", hits), ("random", rand)):
        lookup = big.lookup
        c0 = time.process_time()
        found = sum(1 for afi, a in addrs if lookup(afi, a) is not None)
        rates["lookup_" + label] = len(addrs) / (time.process_time() - c0)
        rates[label + "_found"] = found / len(addrs)
        # the prefix table alone (what the enricher's hot loop calls), one list per family
        v4 = [a for afi, a in addrs if afi == 1]
        v6 = [a for afi, a in addrs if afi != 1]
        lk4, lk6 = big.v4.lookup, big.v6.lookup
        c0 = time.process_time()
        for a in v4:
            lk4(a)
        for a in v6:
            lk6(a)
        rates["table_" + label] = len(addrs) / (time.process_time() - c0)
    n_messages = sum(1 for _ in read_messages(messages))
    del routers, pool, big, hits, rand
    gc.collect()
    tracemalloc.start()
    kept = apply_all(read_messages(messages))  # held while measuring
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    del kept
    tracemalloc.stop()
    return {
        "paths": paths,
        "apply_cpu": paths / cpu,
        "apply_wall": paths / wall,
        **rates,
        "traced_per_path": traced / paths,
        "rss_per_path": rss_per,
        "messages": n_messages,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=1_000_000)
    ap.add_argument("--ris", type=Path, default=RIS)
    ap.add_argument("--lookups", type=int, default=300_000)
    ap.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--no-write", dest="write", action="store_false",
                    help="do not write benchmarks/results/rib.json")  # fmt: skip
    args = ap.parse_args(argv)
    if args.measure:
        messages, addresses = args.measure
        print(orjson.dumps(run_measure(messages, addresses, args.lookups)).decode())
        return 0
    load = os.getloadavg()[0]
    print(f"# bench_rib: python {sys.version.split()[0]}, load average {load:.2f} "
          f"on {os.cpu_count()} CPUs (shared with other work)")  # fmt: skip
    labels = {"synthetic": f"synthetic {args.routes:,}",
              "ris": "RIPE RIS rrc05 2002-07-22 (one RIB per peer, 36 peers)"}  # fmt: skip
    results: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for which in ("synthetic", "ris"):
            if which == "ris" and not args.ris.exists():
                print(f"\n# {args.ris} not found: RIS table skipped")
                continue
            messages, addresses, sets = prepare(which, args, Path(tmp))
            runs: dict[str, dict[str, float]] = {}
            for impl in ("pure", "compiled"):
                if impl == "compiled" and COMPILED is None:
                    print(f"# compiled ribflow_lpm not importable ({COMPILED_ERROR})")
                    continue
                env = {**os.environ, PURE_ENV: "1" if impl == "pure" else "0"}
                child = subprocess.run(
                    [sys.executable, __file__, "--measure", str(messages), str(addresses),
                     "--lookups", str(args.lookups)],
                    capture_output=True, text=True, check=True, env=env,
                )  # fmt: skip
                runs[impl] = orjson.loads(child.stdout.strip().splitlines()[-1])
                runs[impl]["sets"] = sets
            for line in report(labels[which], runs):
                print(line, flush=True)
            results += figures(labels[which], runs)
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    if args.write:
        notes = f"{args.lookups:,} lookups; each table and implementation in a fresh process"
        print(f"# wrote {write_result('rib', results, notes=notes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
