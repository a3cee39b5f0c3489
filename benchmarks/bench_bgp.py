"""BGP collector benchmark: the bridge's CPU cost over ExaBGP alone; 1 vs 2 ExaBGP processes.

One run, same machine, same gobgpd routers, same rendered ExaBGP configuration; only ExaBGP's API
process differs:

* ``exabgp alone``  : the API process is a sink that reads ExaBGP's JSON and throws it away
                      (it only looks for the session ``up`` and End-of-RIB lines to time them);
* ``exabgp alone, no raw``: the same with BGP_WIRE_ASPATH=false (ExaBGP does not add each
                      UPDATE's raw bytes): the cost of recovering confederation segment types;
* ``whole path``    : the ribflow bridge, producing to Kafka; timed by an independent Kafka
                      consumer until every End-of-RIB event is read back from the topic.

CPU, not wall time, is the measure that survives a shared machine: utime+stime from /proc of every
ExaBGP process and of every API process below it, read when all processes are started and idle
(the routers' sessions are held administratively down until then, so interpreter start, imports
and topic creation are not counted) and again when the last End-of-RIB arrived. The table reports
the API process's CPU seconds per 100k routes and as a percentage of ExaBGP's CPU for the same
table (in the same run, and in the ``exabgp alone`` run). Wall rate = prefixes / (last End-of-RIB
- first session up), for reference only.

Tables: gen_mrt.py 100k IPv4 + 20k IPv6 (the lab's generator) and the 2002 RIPE RIS dump
(TABLE_DUMP v1, converted with ribflow.mrt.tables), loaded with ``gobgp mrt inject`` before the
sessions come up (the router then sends its table packed, as after a real session start).
``--scaling 2,4`` splits the 120k table over 2 (and 4) routers and receives it with
EXABGP_PROCESSES=1 and =2 (the neighbours split between the processes).

Run: ``.venv/bin/python benchmarks/bench_bgp.py [--rounds N] [--tables gen,ris] [--scaling 2,4]``
(root, Debian gobgpd, a Kafka broker: Quix__Broker__Address, default 127.0.0.1:9092).
Loopback addresses: 127.0.0.120 (ExaBGP), 127.0.0.121-124 (gobgpd, gRPC ports 50221-50224).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bgp_routers import GEN_TABLE, Router, prepare_tables, routers_with, split_mrt  # noqa: E402
from bgp_speaker import Result, measure_alone, measure_path  # noqa: E402

from ribflow.lab.errors import StartFailed  # noqa: E402


# ------------------------------------------------------------------ the "ExaBGP alone" sink
def sink(result: Path) -> int:
    """ExaBGP API process that discards its input; appends 'up'/'eor' times to ``result``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tail = b""
    lines = nbytes = 0
    with result.open("a") as out:
        while True:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                return 0
            nbytes += len(chunk)
            lines += chunk.count(b"\n")
            if b'"eor"' in chunk or b'"up"' in chunk:
                for raw in (tail + chunk).split(b"\n")[:-1]:
                    if b'"eor"' in raw or b'"state": "up"' in raw:
                        msg = json.loads(raw)
                        row = {
                            "kind": "eor" if b'"eor"' in raw else "up",
                            "peer": msg["neighbor"]["address"]["peer"],
                            "time": msg["time"],
                            "lines": lines,
                            "bytes": nbytes,
                        }
                        out.write(json.dumps(row) + "\n")
                        out.flush()
            tail = chunk[chunk.rfind(b"\n") + 1 :]


# ------------------------------------------------------------------ report
def median(items: list[Result], what: Callable[[Result], float]) -> float:
    return statistics.median(what(x) for x in items)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("| " + " | ".join(cells) + " |")


def report(results: list[Result], load_avg: tuple[float, ...], rounds: int) -> None:
    groups: dict[tuple[str, int, int], dict[str, list[Result]]] = {}
    for r in results:
        groups.setdefault((r.table, r.routers, r.processes), {}).setdefault(r.mode, []).append(r)
    la = " ".join(f"{x:.2f}" for x in load_avg)
    now = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nBGP bench: load average at start {la}, at end {now}; medians of {rounds} round(s);")
    print("CPU = utime+stime from /proc between all processes idle and the last End-of-RIB.")
    header = ["table", "mode", "routers", "ExaBGP procs", "prefixes", "wall s", "routes/s",
              "ExaBGP cpu s", "API cpu s", "API cpu s /100k", "API % of ExaBGP",
              "API % of ExaBGP alone", "total cpu vs alone"]  # fmt: skip
    rows = []
    for (table, nrouters, procs), modes in groups.items():
        alone = modes.get("exabgp alone")
        alone_exa = median(alone, lambda x: x.cpu.exabgp) if alone else 0.0
        alone_total = median(alone, lambda x: x.cpu.exabgp + x.cpu.api) if alone else 0.0
        for mode, items in modes.items():
            exa = median(items, lambda x: x.cpu.exabgp)
            api = median(items, lambda x: x.cpu.api)
            total = median(items, lambda x: x.cpu.exabgp + x.cpu.api)
            rows.append([
                table, mode, str(nrouters), str(procs), str(items[0].prefixes),
                f"{median(items, lambda x: x.seconds):.2f}",
                f"{median(items, lambda x: x.rate):.0f}",
                f"{exa:.2f}", f"{api:.2f}", f"{median(items, lambda x: x.api_per_100k):.2f}",
                f"{100 * api / exa:.1f}%" if exa else "-",
                f"{100 * api / alone_exa:.1f}%" if alone_exa else "-",
                f"{total / alone_total:.2f}x" if alone_total else "-",
            ])  # fmt: skip
    print_table("Per table (API = the bridge in 'whole path', the discarding sink otherwise)",
                header, rows)  # fmt: skip
    scaling = [k for k in groups if k[1] > 1]
    if scaling:
        rows = []
        for table, nrouters in sorted({(k[0], k[1]) for k in scaling}):
            for mode in ("exabgp alone", "whole path (Kafka)"):
                one = groups.get((table, nrouters, 1), {}).get(mode)
                two = groups.get((table, nrouters, 2), {}).get(mode)
                if not one or not two:
                    continue
                r1, r2 = median(one, lambda x: x.rate), median(two, lambda x: x.rate)
                c1 = median(one, lambda x: x.cpu.exabgp + x.cpu.api)
                c2 = median(two, lambda x: x.cpu.exabgp + x.cpu.api)
                b1 = median(one, lambda x: x.cpu.busiest_exabgp)
                b2 = median(two, lambda x: x.cpu.busiest_exabgp)
                rows.append([
                    table, mode, str(nrouters), f"{r1:.0f}", f"{r2:.0f}", f"{r2 / r1:.2f}x",
                    f"{c1:.2f}", f"{c2:.2f}", f"{b1:.2f}", f"{b2:.2f}",
                ])  # fmt: skip
        header = ["table", "mode", "routers", "routes/s N=1", "routes/s N=2", "N=2 / N=1",
                  "cpu s N=1", "cpu s N=2", "busiest ExaBGP cpu s N=1",
                  "busiest ExaBGP cpu s N=2"]  # fmt: skip
        print_table("EXABGP_PROCESSES=1 vs 2, neighbours split (cpu = ExaBGP + API)", header, rows)
    print()
    for r in results:
        if r.extra:
            print(f"  {r.table} / {r.routers} routers / {r.processes} proc: {r.extra}")


# ------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sink", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--instance", type=int, help=argparse.SUPPRESS)  # given to API processes
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tables", default="gen,ris", help="gen, ris, gen,ris or both")
    ap.add_argument("--no-raw", action="store_true", help="also ExaBGP alone without raw bytes")
    ap.add_argument("--scaling", default="", help="router counts (e.g. 2,4) sharing the 120k table")
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    if not set(args.tables.split(",")) <= {"gen", "ris", "both"}:
        ap.error(f"--tables: unknown table in {args.tables!r}")
    if args.sink:
        return sink(args.sink)
    if os.geteuid() != 0:
        sys.exit("run as root (ExaBGP binds port 179 and runs with drop=false)")
    broker = os.environ.get("Quix__Broker__Address", "127.0.0.1:9092")
    load_avg = os.getloadavg()
    results: list[Result] = []

    def run(name: str, routers: list[Router], procs: int, jobs: list[str]) -> None:
        for _ in range(args.rounds):
            for job in jobs:
                if job == "path":
                    r = measure_path(name, routers, procs, broker, work, args.partitions)
                else:
                    r = measure_alone(name, routers, procs, broker, work, wire=job == "alone")
                print(
                    f"  {name} / {len(routers)} routers / {procs} proc / {r.mode}: "
                    f"{r.seconds:.2f}s, ExaBGP {r.cpu.exabgp:.2f} cpu s, API {r.cpu.api:.2f}",
                    file=sys.stderr,
                )
                results.append(r)

    with tempfile.TemporaryDirectory(prefix="bench-bgp-") as tmp:
        work = Path(tmp)
        which = ["gen", "ris"] if args.tables == "both" else args.tables.split(",")
        tables = prepare_tables(work, which)
        jobs = ["alone", "alone-noraw", "path"] if args.no_raw else ["alone", "path"]
        for name, mrt in tables.items():
            print(f"{name}:", file=sys.stderr)
            with routers_with(work, [mrt]) as routers:
                run(name, routers, 1, jobs)
        for count in [int(x) for x in args.scaling.split(",") if x]:
            mrt = tables.get(GEN_TABLE) or next(iter(tables.values()))
            name = f"{GEN_TABLE if GEN_TABLE in tables else 'table'} / {count}"
            print(f"{name}:", file=sys.stderr)
            with routers_with(work, split_mrt(mrt, count, work)) as routers:
                for procs in (1, 2):
                    run(name, routers, procs, ["alone", "path"])
    report(results, load_avg, args.rounds)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except StartFailed as exc:
        sys.exit(f"bench_bgp: {exc}")
