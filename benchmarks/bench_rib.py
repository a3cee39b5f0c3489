#!/usr/bin/env python3
"""RIB benchmark: apply rate, lookup rate and memory per route, next to the reference figures.

Tables: a synthetic 1M-path table (tests/fixtures/synth.py, realistic length mix and ~4 paths per
attribute set) and the real 2002 RIPE RIS rrc05 table (TABLE_DUMP v1, 115k entries from 36
peers; one RIB per peer, as the enricher keeps one per router). The bgp-updates messages are
encoded first; "apply" then times JSON decoding, event parsing, interning and RIB insertion
(CPU seconds of this process). Lookups are timed on addresses inside the table's prefixes
("hit") and on uniformly random addresses. Memory: tracemalloc of the RIB structures (a
separate build), and RSS growth of the process.

Every table is measured in a fresh process per prefix-table implementation, printed side by
side: the pure-Python table (RIBFLOW_PURE_LPM=1), the compiled ribflow_lpm trie, and, with
``--previous-lpm DIR``, an older build of ribflow_lpm installed in DIR (put first on the child's
PYTHONPATH), e.g. the hash-map-per-length table of before the trie:

    git archive 6f7849d rust/ribflow-lpm | tar -x -C /tmp/old
    .venv/bin/python -m pip install --target /tmp/old-lpm /tmp/old/rust/ribflow-lpm

Lookups are timed one call per address ("single") and batched, one call for all addresses of a
family: ``lookup_many`` (a list of ints) and ``lookup_packed`` (big-endian bytes), when the
implementation has them. The RIS results are written to benchmarks/results/rib.json.

Reference figures (DESIGN.md "Numbers to beat"): pmacct nfacctd 1.7.7 loads 120k routes in
~1.2 s (~100k routes/s) and holds ~440 B of RSS per route; Akvorado ~75 B per route and
~70 ns per lookup (Go). Goals (issue 5): apply >= 100k routes/s, <= 441 B/route.

    .venv/bin/python benchmarks/bench_rib.py [--routes 1000000] [--ris PATH] [--lookups 300000]
        [--previous-lpm DIR] [--tables synthetic,ris]
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
    RouteAttrs,
    RouterMeta,
    RouterRib,
    RouterState,
    apply_event,
    parse_address,
    parse_event,
)
from ribflow.rib.events import Nlri
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
    def routes_set(
        self, router: RouterState, rd: str, attrs: RouteAttrs, paths: list[Nlri]
    ) -> None:
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


IMPLS = {"pure": "pure-python", "previous": "prev compiled", "compiled": "compiled"}


def _row(name: str, cells: list[str], ref: str, ratio: str) -> str:
    return f"{name:<36} " + " ".join(f"{c:>13}" for c in cells) + f" {ref:>22} {ratio:>10}"


def report(label: str, runs: dict[str, dict[str, float]]) -> Iterator[str]:
    """The implementations side by side; the ratio is compiled vs the reference figure, or
    compiled vs the previous compiled table (else vs pure) where there is no reference."""
    impls = [i for i in IMPLS if i in runs]
    c = runs.get("compiled")
    base = runs.get("previous") or runs["pure"]
    r = c or base
    yield (
        f"\n== {label}: {int(r['paths']):,} paths, {int(r['sets']):,} attribute sets, "
        f"{int(r['messages']):,} bgp-updates messages"
    )
    yield _row("metric", [IMPLS[i] for i in impls], "reference", "ratio")

    def cells(key: str, fmt: Callable[[float], str]) -> list[str]:
        return [fmt(runs[i][key]) if key in runs[i] else "n/a" for i in impls]

    def num(v: float) -> str:
        return f"{v:,.0f}"

    def ns(v: float) -> str:
        return f"{1e9 / v:,.1f}"

    apply = r["apply_cpu"]
    yield _row("apply, paths per CPU-second", cells("apply_cpu", num), f"pmacct {REF_APPLY:,.0f}",
               f"{apply / REF_APPLY:.2f}")  # fmt: skip
    yield _row("apply, paths per wall-second", cells("apply_wall", num), "", "")
    for key, name in (("table_hit", "PrefixTable.lookup (hit), ns"),
                      ("table_random", "PrefixTable.lookup (random), ns"),
                      ("many_hit", "  lookup_many (hit), ns/address"),
                      ("many_random", "  lookup_many (random), ns/address"),
                      ("packed_hit", "  lookup_packed (hit), ns/address"),
                      ("packed_random", "  lookup_packed (random), ns/address"),
                      ("lookup_hit", "RouterRib.lookup (hit), ns"),
                      ("lookup_random", "RouterRib.lookup (random), ns")):  # fmt: skip
        ratio = f"{c[key] / base[key]:.2f}x" if c and key in c and key in base else ""
        ref = f"akvorado {REF_AKVORADO_LOOKUP_NS:.0f}" if key == "table_hit" else ""
        yield _row(name, cells(key, ns), ref, ratio)
    yield _row("lookups per CPU-second (hit)", cells("lookup_hit", num), "", "")
    yield _row("lookups per CPU-second (random)", cells("lookup_random", num),
               f"(found {r['random_found']:.0%})", "")  # fmt: skip
    yield _row("index bytes per prefix (nbytes)", cells("index_per_prefix", num), "", "")
    for key, label_ in (("traced_per_path", "tracemalloc*"), ("rss_per_path", "RSS growth")):
        ours = r[key]
        yield _row(f"bytes per path ({label_})", cells(key, num), f"pmacct {REF_PMACCT_BYTES:.0f}",
                   f"{REF_PMACCT_BYTES / ours:.2f}")  # fmt: skip
        yield _row("", ["" for _ in impls], f"akvorado {REF_AKVORADO_BYTES:.0f}",
                   f"{REF_AKVORADO_BYTES / ours:.2f}")  # fmt: skip
    yield "  lookup ratio: speed-up, baseline ns / compiled ns (previous compiled, else pure)"
    if c:
        yield "  * tracemalloc does not see the compiled table's own (Rust) memory: compare RSS"


def figures(runs: dict[str, dict[str, float]]) -> list[Figure]:
    """The RIS table's figures for benchmarks/results/rib.json."""
    c = runs.get("compiled") or runs["pure"]
    ref_name, ref = next(
        ((IMPLS[i], runs[i]) for i in ("previous", "pure") if i in runs and runs[i] is not c),
        (None, None),
    )
    out = []
    lpm = "LPM lookup, RIS table,"
    for key, measure, target in (
        ("table_random", f"{lpm} random addresses, one call per address", "<= 60 ns"),
        ("packed_random", f"{lpm} random addresses, lookup_packed batch", "<= 60 ns"),
        ("many_random", f"{lpm} random addresses, lookup_many batch", "<= 60 ns"),
        ("table_hit", f"{lpm} addresses inside prefixes, one call per address", None),
        ("lookup_random", "RouterRib.lookup, RIS table, random addresses", None),
    ):
        if key not in c:
            continue
        refv = 1e9 / ref[key] if ref is not None and key in ref else None
        out.append(Figure(measure, "ns", round(1e9 / c[key], 1), ref_name if refv else None,
                          round(refv, 1) if refv else None, target))  # fmt: skip
        if "pure" in runs and runs["pure"] is not c and key in runs["pure"]:
            out.append(Figure(measure + " (pure-Python table)", "ns",
                              round(1e9 / runs["pure"][key], 1)))  # fmt: skip
    for key, measure, target in (
        ("rss_per_path", "RIB RSS growth per path, RIS table (36 peers, one RIB each)", "<= 150 B"),
        ("index_per_prefix", "prefix index bytes per prefix (trie + shared results)", None),
        ("apply_cpu", "RIB apply, paths per CPU-second (no Kafka)", None),
    ):
        if key not in c:
            continue
        unit = "paths/CPU-s" if key == "apply_cpu" else "B"
        refv = ref[key] if ref is not None and key in ref else None
        out.append(Figure(measure, unit, round(c[key], 1), ref_name if refv else None,
                          round(refv, 1) if refv else None, target))  # fmt: skip
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
        if hasattr(big.v4, "lookup_many"):  # the batch calls (not in older builds)
            c0 = time.process_time()
            big.v4.lookup_many(v4)
            big.v6.lookup_many(v6)
            rates["many_" + label] = len(addrs) / (time.process_time() - c0)
            p4 = b"".join(a.to_bytes(4, "big") for a in v4)
            p6 = b"".join(a.to_bytes(16, "big") for a in v6)
            c0 = time.process_time()
            big.v4.lookup_packed(p4)
            big.v6.lookup_packed(p6)
            rates["packed_" + label] = len(addrs) / (time.process_time() - c0)
    tables = [t for s in routers.values() for t in (s.rib.v4, s.rib.v6)]
    if all(hasattr(t, "nbytes") for t in tables):  # the tables, and what they all share
        shared = getattr(COMPILED, "shared_nbytes", lambda: 0)()  # result tuples
        shared += getattr(COMPILED, "index_nbytes", lambda: 0)()  # the prefix tries (if shared)
        trie = sum(t.nbytes() for t in tables)  # type: ignore[attr-defined]
        rates["index_per_prefix"] = (trie + shared) / paths
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
    ap.add_argument(
        "--previous-lpm",
        type=Path,
        metavar="DIR",
        help="also measure the ribflow_lpm build installed in DIR (pip --target)",
    )
    ap.add_argument("--tables", default="synthetic,ris", help="which tables: synthetic,ris")
    ap.add_argument("--no-write", action="store_true", help="do not write results/rib.json")
    ap.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
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
    with tempfile.TemporaryDirectory() as tmp:
        for which in args.tables.split(","):
            if which == "ris" and not args.ris.exists():
                print(f"\n# {args.ris} not found: RIS table skipped")
                continue
            messages, addresses, sets = prepare(which, args, Path(tmp))
            runs: dict[str, dict[str, float]] = {}
            for impl in IMPLS:
                if impl == "compiled" and COMPILED is None:
                    print(f"# compiled ribflow_lpm not importable ({COMPILED_ERROR})")
                    continue
                if impl == "previous" and args.previous_lpm is None:
                    continue
                env = {**os.environ, PURE_ENV: "1" if impl == "pure" else "0"}
                if impl == "previous":
                    path = os.pathsep.join([str(args.previous_lpm), env.get("PYTHONPATH", "")])
                    env["PYTHONPATH"] = path.rstrip(os.pathsep)
                child = subprocess.run(
                    [sys.executable, __file__, "--measure", str(messages), str(addresses),
                     "--lookups", str(args.lookups)],
                    capture_output=True, text=True, check=True, env=env,
                )  # fmt: skip
                runs[impl] = orjson.loads(child.stdout.strip().splitlines()[-1])
                runs[impl]["sets"] = sets
            for line in report(labels[which], runs):
                print(line, flush=True)
            if which == "ris" and not args.no_write:
                notes = (f"RIS table {args.ris.name}; {args.lookups:,} lookups per kind; "
                         "ns = CPU time per lookup through Python (one call per address, or per "
                         "batch); reference = the previous compiled table (one hash map per "
                         "prefix length) when measured, else the pure-Python table")  # fmt: skip
                print(f"# wrote {write_result('rib', figures(runs), notes=notes)}")
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
