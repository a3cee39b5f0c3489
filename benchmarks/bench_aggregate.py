"""The aggregation stage's cost, reduction and state, with a pass-through Quix app side by side.

    .venv/bin/python benchmarks/bench_aggregate.py [--broker 127.0.0.1:9092] [--records 1000000]
        [--lab-records 48000] [--partitions 4] [--cases lab,syn,...]

Datasets (flows-enriched-shaped records, made here, deterministic):
- lab: nfacctd's 24 enriched lab flows (tests/data/aggregate/pmacct-enriched-full.json)
  repeated at 1,000 flows/s: the lab traffic, looped like `ribflow lab up` loops it;
- syn: --records synthetic flows at 5,000 flows/s of flow time with realistic cardinality:
  8 exporters, Zipf hosts (200k sources, 50k destinations), 2,000 origin ASes with fixed
  paths and BGP next hops (16), web/DNS-heavy ports, ephemeral source ports, flow start/end times
  up to 60 s before arrival.

Each case is one process (`ribflow aggregator`, or aggregate_runs.py's pass-through app) reading
the same messages from the start with its own consumer group, exactly-once unless the case says
otherwise. Measured from the group's committed offsets (not the app's own metrics): records/s
between the first commit and the commit of the end offsets, CPU seconds of the process over the
run (/proc: user + system, librdkafka threads included) per record, aggregates written (end
offsets of the output), peak RSS (VmHWM), on-disk state at the end. The reduction is records in
/ aggregates out of the windows that closed during the run; "open windows" is how many
(key, window) pairs the dataset leaves open at the end (the state that remains), from which the
state bytes per open window are derived.

Cases: pass-through (a Quix app consuming and producing the same bytes: one Kafka hop), the
seed's aggregate list, a coarse BGP list, the coarse list on NDJSON batches of 25 records per
message (the enricher's batching option), and the coarse list on a 1-partition copy (all
windows in one partition). "state MB" is the local state directory (the aggregator keeps none:
its state is in Kafka).

Reference for the records per CPU-second (case `nfacctd`): nfacctd with the seed's `aggregate:`
line (print plugin, refresh = the window), fed the synthetic flows as NetFlow v9 over loopback
at NF_RATE flows/s; its CPU (all its processes) over the run. The issue's three figures (CPU
per record vs the pass-through, records per CPU-second vs nfacctd, peak RSS with the seed's list)
are written to benchmarks/results/aggregate.json (`--no-write`: not).

The machine is shared (2 cores, the broker, other helpers' work): the load average is printed.
Every process started here is stopped by pid; every topic created is deleted.

Parts: aggregate_datasets.py (the datasets) and aggregate_runs.py (cases, nfacctd, helpers).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from benchmarks.aggregate_datasets import (  # noqa: E402
    GRACE_S,
    WINDOW_S,
    aggregates,
    lab_dataset,
    synthetic_dataset,
)
from benchmarks.aggregate_runs import (  # noqa: E402
    Case,
    Result,
    bench_nfacctd,
    cleanup,
    produce,
    run_case,
)
from benchmarks.results import Figure, write_result  # noqa: E402
from ribflow.aggregate.settings import SEED_AGGREGATE  # noqa: E402
from tests.fixtures.kafka import warm_up  # noqa: E402

COARSE = "src_as, dst_as, peer_src_ip, peer_dst_as, peer_dst_ip, proto"
BATCH = 25


# -- report --------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    passes = {r.case.name.split("-")[0]: r for r in results if r.case.spec is None}
    head = ("case", "records", "msgs", "rec/s", "CPU µs/rec", "vs pass", "aggr out",
            "reduction", "open win", "peak RSS MB", "state MB", "B/open win", "late")  # fmt: skip
    rows = [head]
    for r in results:
        c = r.case
        cpu_us = r.cpu / r.measured_records * 1e6 if r.measured_records else 0
        ratio = ""
        base = passes.get(c.name.split("-")[0])
        if base and base.measured_records and base.cpu and r is not base:
            ratio = f"{cpu_us / (base.cpu / base.measured_records * 1e6):.2f}x"
        closed_recs, closed_pairs, open_pairs = c.expect
        red = f"{closed_recs / closed_pairs:.1f}" if c.spec and closed_pairs else "-"
        per_open = f"{r.state / open_pairs:.0f}" if c.spec and open_pairs else "-"
        out = f"{r.out} ({closed_pairs})" if c.spec else str(r.out)
        rows.append((c.name, str(c.records), str(c.messages), f"{r.rate:,.0f}", f"{cpu_us:.1f}",
                     ratio, out, red, str(open_pairs) if c.spec else "-",
                     f"{r.hwm / 2**20:.0f}", f"{r.state / 2**20:.1f}", per_open,
                     f"{r.late:.0f}" if c.spec else "-"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def figures_of(results: list[Result], nf: dict[str, float]) -> list[Figure]:
    """The issue's three measures, each next to the reference measured in the same run."""
    by = {r.case.name: r for r in results}
    seed, base = by.get("syn-seed"), by.get("syn-pass")
    out: list[Figure] = []
    if seed is None or not seed.measured_records:
        return out
    us = seed.cpu / seed.measured_records * 1e6
    base_us = base.cpu / base.measured_records * 1e6 if base and base.measured_records else None
    out.append(Figure("CPU per enriched record, seed's aggregate list", "us/record", round(us, 2),
                      "pass-through Quix app, same messages",
                      round(base_us, 2) if base_us else None, "<= 1.5x"))  # fmt: skip
    if nf.get("nf_cpu"):
        out.append(Figure("records per CPU-second, seed's aggregate list", "records/CPU-s",
                          round(seed.measured_records / seed.cpu),
                          "nfacctd print plugin, same aggregate: line, same flows",
                          round(nf["nf_out"] / nf["nf_cpu"]), ">= 1.0x"))  # fmt: skip
    open_windows = seed.case.expect[2]
    out.append(Figure(f"peak RSS, seed's list, {open_windows:,} open windows at the end", "MB",
                      round(seed.hwm / 2**20), "pass-through Quix app",
                      round(base.hwm / 2**20) if base else None, "<= 200 MB"))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--broker", default=os.environ.get("Quix__Broker__Address", "127.0.0.1:9092"))
    ap.add_argument("--records", type=int, default=1_000_000, help="synthetic flows")
    ap.add_argument("--lab-records", type=int, default=48_000, help="lab flows (24 x passes)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=1800, help="per case, seconds")
    ap.add_argument(
        "--cases",
        default="lab-pass,lab-seed,lab-coarse,syn-pass,syn-seed,syn-coarse,syn-coarse-batch25,"
        "syn-coarse-1part,syn-coarse-alo,nfacctd",
    )
    ap.add_argument("--no-write", action="store_true", help="do not write results/aggregate.json")
    args = ap.parse_args(argv)
    wanted = args.cases.split(",")
    base = int(time.time()) // 3600 * 3600 - 3 * 3600
    work = Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    made: list[str] = []
    admin = AdminClient({"bootstrap.servers": args.broker})

    def topic(name: str, parts: int) -> str:
        full = f"bench-in-{name}-{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(full, num_partitions=parts, replication_factor=1)])[
            full
        ].result(30)
        made.append(full)
        return full

    cases: list[Case] = []
    nf: dict[str, float] = {}
    try:
        warm_up(args.broker)  # a fresh broker's group coordinator answers only after a while
        print(f"load average before: {os.getloadavg()}", flush=True)
        if any(c.startswith("lab") for c in wanted):
            lab = lab_dataset(args.lab_records, base)
            src = topic("lab", args.partitions)
            msgs = produce(args.broker, src, lab)
            for name, spec in (("lab-pass", None), ("lab-seed", SEED_AGGREGATE),
                               ("lab-coarse", COARSE)):  # fmt: skip
                if name in wanted:
                    expect = aggregates(lab, spec) if spec else (0, 0, 0)
                    cases.append(Case(name, src, len(lab), msgs, spec, expect=expect))
        if any(c.startswith("syn") for c in wanted):
            t = time.monotonic()
            syn = synthetic_dataset(args.records, base)
            print(f"synthetic dataset: {len(syn)} flows in {time.monotonic() - t:.0f}s", flush=True)
            src = topic("syn", args.partitions)
            msgs = produce(args.broker, src, syn)
            exp_seed = aggregates(syn, SEED_AGGREGATE)
            exp_coarse = aggregates(syn, COARSE)
            specs: dict[str, tuple[str | None, str, int, str]] = {
                "syn-pass": (None, src, msgs, "exactly-once"),
                "syn-seed": (SEED_AGGREGATE, src, msgs, "exactly-once"),
                "syn-coarse": (COARSE, src, msgs, "exactly-once"),
                "syn-coarse-alo": (COARSE, src, msgs, "at-least-once"),
            }
            if "syn-coarse-batch25" in wanted:
                bsrc = topic("syn-batch", args.partitions)
                specs["syn-coarse-batch25"] = (COARSE, bsrc, produce(args.broker, bsrc, syn, BATCH),
                                               "exactly-once")  # fmt: skip
            if "syn-coarse-1part" in wanted:
                psrc = topic("syn-1part", 1)
                specs["syn-coarse-1part"] = (COARSE, psrc, produce(args.broker, psrc, syn),
                                             "exactly-once")  # fmt: skip
            for name, (spec, source, n_msgs, guarantee) in specs.items():
                if name in wanted:
                    expect = (
                        (exp_seed if spec == SEED_AGGREGATE else exp_coarse) if spec else (0, 0, 0)
                    )
                    cases.append(Case(name, source, len(syn), n_msgs, spec, guarantee, expect))
            if "nfacctd" in wanted:
                print("running nfacctd (print plugin, same aggregate: line) ...", flush=True)
                nf = bench_nfacctd(syn, SEED_AGGREGATE, work)
                print(f"nfacctd: {nf}", flush=True)
            del syn
        results = []
        for case in cases:
            print(f"running {case.name} ...", flush=True)
            results.append(run_case(args.broker, case, work, args.timeout))
            print(table(results[-1:]).splitlines()[-1], flush=True)
        print()
        print(f"window {WINDOW_S}s, grace {GRACE_S}s, {args.partitions} input partitions; "
              f"load average after: {os.getloadavg()}")  # fmt: skip
        print(
            "aggr out: written during the run (closed (key, window) pairs in the dataset); "
            "reduction = records / closed pairs; vs pass = CPU per record / pass-through's"
        )
        print(table(results))
        figures = figures_of(results, nf)
        for f in figures:
            print(f"{f.measure}: {f.value:,.1f} {f.unit} (ref {f.reference}: "
                  f"{f.reference_value if f.reference_value is not None else '-'}; "
                  f"ratio {f.ratio}; target {f.target})")  # fmt: skip
        if figures and not args.no_write:
            notes = (f"--records {args.records}, {args.partitions} input partitions, window "
                     f"{WINDOW_S}s, grace {GRACE_S}s, exactly-once; shared 2-core machine, load "
                     f"average after {tuple(round(x, 1) for x in os.getloadavg())}; nfacctd "
                     f"{nf.get('nf_out', 0):,.0f} of {nf.get('nf_sent', 0):,.0f} flows out "
                     "(NetFlow v9 over loopback, print plugin, BGP-only primitives empty)"
                     )  # fmt: skip
            print(write_result("aggregate", figures, notes=notes))
    finally:
        cleanup(args.broker, made + [f"{t}-dlq" for t in made])
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
