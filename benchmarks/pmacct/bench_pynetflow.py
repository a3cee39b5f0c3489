#!/usr/bin/env python3
"""bench_pynetflow.py -- decode rate of the PyPI `netflow` package (bitkeks) on flowgen pools.

Run with the venv python that has `netflow` installed:
  $BENCH_OUT/venv/bin/python bench_pynetflow.py [--v9 POOL] [--ipfix POOL] [--seconds 10]
Templates are pre-loaded (the pool's template packet is parsed once), then the pool's
data packets are decoded in a tight loop, single thread, for >= --seconds, twice:
  parse_packet(bytes, templates)      -- the documented entry point (also tries a hex decode)
  V9ExportPacket / IPFIXExportPacket  -- the class constructors directly
Prints one JSON line per (format, entry point): packets, flows, wall s, CPU s, flows/s, flows/CPU-s.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowgen
import netflow

try:
    from importlib.metadata import version as _pkgver

    NFVER = _pkgver("netflow")
except Exception:
    NFVER = "?"
from netflow.ipfix import IPFIXExportPacket
from netflow.v9 import V9ExportPacket

OUT = os.environ.get("BENCH_OUT", os.path.abspath("bench-out"))


def bench(name, fn, pkts, seconds):
    n = fl = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while True:
        for p in pkts:
            fl += len(fn(p).flows)
        n += len(pkts)
        if time.perf_counter() - t0 >= seconds:
            break
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    r = {
        "bench": name,
        "netflow_version": NFVER,
        "packets": n,
        "flows": fl,
        "wall_s": round(el, 2),
        "cpu_s": round(cpu, 2),
        "flows_per_s": round(fl / el),
        "flows_per_cpu_s": round(fl / cpu),
        "us_per_flow": round(1e6 * cpu / fl, 2),
    }
    print(json.dumps(r), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--v9", default=os.path.join(OUT, "pool-v9-200k.bin"))
    ap.add_argument("--ipfix", default=os.path.join(OUT, "pool-ipfix-200k.bin"))
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    for kind, path in (("v9", a.v9), ("ipfix", a.ipfix)):
        if not os.path.exists(path):
            sys.exit(
                "missing pool %s (make it with: flowgen.py pool %s --version %s --flows 200000)"
                % (path, path, 9 if kind == "v9" else 10)
            )
        tpl, data = flowgen.read_pool(path)
        tpls = {"netflow": {}, "ipfix": {}}
        netflow.parse_packet(tpl, tpls)  # pre-load template
        first = netflow.parse_packet(data[0], tpls)
        assert len(first.flows) == flowgen.pool_info(tpl, data[0])[2], "decode check failed"
        bench("%s parse_packet()" % kind, lambda p: netflow.parse_packet(p, tpls), data, a.seconds)
        if kind == "v9":
            t = tpls["netflow"]
            bench("v9 V9ExportPacket()", lambda p: V9ExportPacket(p, t), data, a.seconds)
        else:
            t = tpls["ipfix"]
            bench("ipfix IPFIXExportPacket()", lambda p: IPFIXExportPacket(p, t), data, a.seconds)


if __name__ == "__main__":
    main()
