"""BGP collector benchmark: router -> ExaBGP -> bridge -> Kafka vs ExaBGP alone (JSON to /dev/null).

One run, same machine, same gobgpd router, same rendered ExaBGP configuration; only the API
process differs:

* ``exabgp alone``  : ExaBGP's API process is a sink that reads its JSON and throws it away
                      (it only looks for the session ``up`` and the End-of-RIB lines to time them);
* ``exabgp alone, no raw``: the same with BGP_WIRE_ASPATH=false (ExaBGP does not add each
                      UPDATE's raw bytes): the cost of recovering confederation segment types;
* ``whole path``    : the ribflow bridge, producing to Kafka; timed by an independent Kafka
                      consumer until both End-of-RIB events are read back from the topic.

Rate = prefixes in the router's table / (time of the last End-of-RIB - time the session came
up). Tables: gen_mrt.py 100k IPv4 + 20k IPv6 (the lab's generator) and the 2002 RIPE RIS dump
(TABLE_DUMP v1, converted with ribflow.bgp.mrt), loaded with ``gobgp mrt inject`` before ExaBGP
connects (the router then sends its table packed, as after a real session start).
``--scaling`` adds two routers (same 120k table each) received by one ExaBGP process vs two.

Run: ``.venv/bin/python benchmarks/bench_bgp.py [--rounds N] [--scaling] [--tables gen,ris]``
(root, Debian gobgpd, a Kafka broker: Quix__Broker__Address, default 127.0.0.1:9092).
Loopback addresses 127.0.0.20 (ExaBGP), 127.0.0.21 and 127.0.0.23 (gobgpd, gRPC 50121/50123).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from ribflow.bgp.mrt import convert  # noqa: E402

GEN_MRT = Path("/work/shared/testdata/lab/scripts/gen_mrt.py")
RIS_DUMP = Path("/work/shared/testdata/mrt/bgpdump/test_data/bview.20020722.2337.gz")
EXA = "127.0.0.20"
ROUTERS = [("127.0.0.21", 50121), ("127.0.0.23", 50123)]

GOBGPD_TOML = """
[global.config]
  as = 65001
  router-id = "10.0.0.{last}"
  port = 179
  local-address-list = ["{addr}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{exa}"
    peer-as = 65001
  [neighbors.transport.config]
    local-address = "{addr}"
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "10.0.0.{last}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
"""


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
                        kind = "eor" if b'"eor"' in raw else "up"
                        peer = msg["neighbor"]["address"]["peer"]
                        out.write(
                            json.dumps(
                                {
                                    "kind": kind,
                                    "peer": peer,
                                    "time": msg["time"],
                                    "wall": time.time(),
                                    "lines": lines,
                                    "bytes": nbytes,
                                }
                            )
                            + "\n"
                        )
                        out.flush()
            tail = chunk[chunk.rfind(b"\n") + 1 :]


# ------------------------------------------------------------------ processes
def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        sys.exit(f"{tool} is needed")
    return path


def cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Router:
    addr: str
    grpc: int
    proc: subprocess.Popen[bytes]
    prefixes: int = 0

    def gobgp(self, *args: str) -> str:
        cmd = [need("gobgp"), "-u", self.addr, "-p", str(self.grpc), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout


def start_router(addr: str, grpc: int, work: Path) -> Router:
    last = addr.rsplit(".", 1)[1]
    conf = work / f"gobgpd-{last}.toml"
    conf.write_text(GOBGPD_TOML.format(addr=addr, exa=EXA, last=last))
    log = (work / f"gobgpd-{last}.log").open("ab")
    proc = subprocess.Popen(
        [need("gobgpd"), "-f", str(conf), "-p", "--api-hosts", f"{addr}:{grpc}", "--pprof-disable"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    router = Router(addr, grpc, proc)
    for _ in range(60):
        try:
            router.gobgp("global")
            return router
        except subprocess.CalledProcessError:
            time.sleep(0.5)
    stop(proc)
    sys.exit(f"gobgpd {addr} did not start")


def table_size(router: Router) -> int:
    total = 0
    for fam in ("ipv4", "ipv6"):
        m = re.search(r"Destination:\s*(\d+)", router.gobgp("global", "rib", "summary", "-a", fam))
        total += int(m.group(1)) if m else 0
    return total


def load(router: Router, mrt: Path, expect: int) -> float:
    t0 = time.monotonic()
    router.gobgp("mrt", "inject", "global", str(mrt))
    last, stable = -1, 0
    while stable < 3:  # until the count stops moving
        time.sleep(1)
        n = table_size(router)
        stable = stable + 1 if n == last else 0
        last = n
    router.prefixes = last
    if last < expect:
        print(f"  note: {router.addr} holds {last} prefixes (expected {expect})", file=sys.stderr)
    return time.monotonic() - t0


# ------------------------------------------------------------------ one measurement
@dataclass
class Result:
    table: str
    mode: str
    processes: int
    prefixes: int
    seconds: float
    exabgp_cpu: float
    bridge_cpu: float
    lines: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.prefixes / self.seconds if self.seconds > 0 else 0.0


def speaker_env(
    broker: str, topic: str, work: Path, routers: list[Router], processes: int, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGP_", "BRIDGE_", "EXABGP_"))}
    env.update(
        {
            "Quix__Broker__Address": broker,
            "BGP_UPDATES_TOPIC": topic,
            "BGP_LOCAL_ADDRESS": EXA,
            "BGP_ROUTER_ID": "10.0.0.20",
            "BGP_NEIGHBORS": ",".join(r.addr for r in routers),
            "EXABGP_PROCESSES": str(processes),
            "EXABGP_CONFIG_DIR": str(work / f"exabgp-{uuid.uuid4().hex[:6]}"),
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def run_speaker(env: dict[str, str], work: Path) -> subprocess.Popen[bytes]:
    log = (work / "speaker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "ribflow", "exabgp", "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def process_cpu(speaker: subprocess.Popen[bytes]) -> tuple[float, float]:
    exa = children(speaker.pid)
    bridges = [c for e in exa for c in children(e)]
    return sum(cpu_seconds(p) for p in exa), sum(cpu_seconds(p) for p in bridges)


def measure_alone(
    table: str, routers: list[Router], processes: int, broker: str, work: Path, wire: bool
) -> Result:
    result = work / f"sink-{uuid.uuid4().hex[:6]}.jsonl"
    cmd = f"{sys.executable} {Path(__file__).resolve()} --sink {result}"
    env = speaker_env(
        broker,
        "unused",
        work,
        routers,
        processes,
        EXABGP_BRIDGE_COMMAND=cmd,
        BGP_WIRE_ASPATH=str(wire).lower(),
    )
    speaker = run_speaker(env, work)
    want = 2 * len(routers)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            rows = (
                [json.loads(x) for x in result.read_text().splitlines()] if result.exists() else []
            )
            if sum(r["kind"] == "eor" for r in rows) >= want:
                break
            if speaker.poll() is not None:
                raise RuntimeError(f"the speaker exited ({speaker.returncode}): {work}/speaker.log")
            time.sleep(0.2)
        else:
            raise RuntimeError("ExaBGP alone: End-of-RIB never came")
        exa_cpu, sink_cpu = process_cpu(speaker)
    finally:
        stop(speaker)
    up = min(r["time"] for r in rows if r["kind"] == "up")
    end = max(r["time"] for r in rows if r["kind"] == "eor")
    mode = "exabgp alone" if wire else "exabgp alone, no raw"
    return Result(
        table,
        mode,
        processes,
        sum(r.prefixes for r in routers),
        end - up,
        exa_cpu,
        0.0,
        lines=sum(r["lines"] for r in rows if r["kind"] == "eor"),
        extra={"sink_cpu": sink_cpu},
    )


def measure_path(
    table: str, routers: list[Router], processes: int, broker: str, work: Path, partitions: int
) -> Result:
    topic = f"bench-bgp-{uuid.uuid4().hex[:8]}"
    env = speaker_env(broker, topic, work, routers, processes, PARTITIONS=str(partitions))
    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    speaker = run_speaker(env, work)
    up: dict[str, int] = {}
    eors: dict[str, set[str]] = {}
    nlri = 0
    prefixes: set[tuple[str, str, int]] = set()
    done_wall = 0.0
    messages = 0
    try:
        admin = AdminClient({"bootstrap.servers": broker})
        for _ in range(200):
            md = admin.list_topics(topic, timeout=5).topics.get(topic)
            if md is not None and not md.error and md.partitions:
                break
            time.sleep(0.1)
        if md is None:
            raise RuntimeError(f"topic {topic} never appeared")
        consumer.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            batch = consumer.consume(10000, timeout=0.5)
            for m in batch:
                if m.error():
                    continue
                messages += 1
                e = json.loads(m.value())
                if e["type"] == "session" and e["state"] == "up":
                    up[e["router"]] = e["time_ms"]
                elif e["type"] == "eor":
                    eors.setdefault(e["router"], set()).add(e["family"])
                elif e["type"] == "update":
                    for g in e["announce"]:
                        nlri += len(g["nlri"])
                        for n in g["nlri"]:
                            prefixes.add((e["router"], n["prefix"], n["path_id"]))
            if len(eors) == len(routers) and all(len(f) >= 2 for f in eors.values()):
                done_wall = time.time()
                break
            if speaker.poll() is not None:
                raise RuntimeError(f"the speaker exited ({speaker.returncode}): {work}/speaker.log")
        else:
            raise RuntimeError("whole path: End-of-RIB never read back")
        exa_cpu, bridge_cpu = process_cpu(speaker)
    finally:
        stop(speaker)
        consumer.close()
        for fut in (
            AdminClient({"bootstrap.servers": broker})
            .delete_topics([topic, f"{topic}-dlq"])
            .values()
        ):
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
    start = min(up.values()) / 1000
    res = Result(
        table,
        "whole path (Kafka)",
        processes,
        sum(r.prefixes for r in routers),
        done_wall - start,
        exa_cpu,
        bridge_cpu,
    )
    res.extra = {"nlri_read_back": nlri, "unique_prefixes": len(prefixes), "messages": messages}
    return res


# ------------------------------------------------------------------ tables and report
def prepare_tables(work: Path, which: list[str]) -> dict[str, tuple[Path, int]]:
    tables = {}
    if "gen" in which:
        gen = work / "gen-120k.mrt"
        subprocess.run(
            [sys.executable, str(GEN_MRT), str(gen), "100000", "20000"],
            check=True,
            capture_output=True,
        )
        tables["gen_mrt 100k v4 + 20k v6"] = (gen, 120000)
    if "ris" in which:
        ris = work / "ris-2002.mrt"
        stats = convert(RIS_DUMP, ris, pad=4000)
        tables[f"RIS rrc05 2002 ({stats.prefixes} prefixes)"] = (ris, stats.prefixes)
    return tables


COLUMNS = [
    ("table", 34),
    ("mode", 22),
    ("ExaBGP procs", 12),
    ("prefixes", 9),
    ("seconds", 7),
    ("routes/s", 9),
    ("vs alone", 8),
    ("ExaBGP cpu s", 12),
    ("bridge cpu s", 12),
]


def row(cells: list[str]) -> str:
    out = []
    for (_, width), cell in zip(COLUMNS, cells, strict=True):
        out.append(cell.ljust(width) if width >= 22 else cell.rjust(width))
    return "| " + " | ".join(out) + " |"


def report(results: list[Result], load_avg: tuple[float, float, float]) -> None:
    """Medians per (table, processes, mode); 'vs alone' = seconds / ExaBGP-alone seconds."""
    print()
    now = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load average before/after {load_avg[0]:.2f} / {now:.2f}"
    )
    print("(shared with other jobs: compare rows of one run, medians of --rounds)")
    print()
    print(row([name for name, _ in COLUMNS]))
    print("|" + "|".join("-" * (w + 2) for _, w in COLUMNS) + "|")
    groups: dict[tuple[str, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.table, r.processes), []).append(r)
    for (table, procs), rs in groups.items():
        modes: dict[str, list[Result]] = {}
        for r in rs:
            modes.setdefault(r.mode, []).append(r)
        base = statistics.median(x.seconds for x in modes.get("exabgp alone", rs))
        for mode, items in modes.items():
            secs = statistics.median(x.seconds for x in items)
            cells = [
                table,
                mode,
                str(procs),
                str(items[0].prefixes),
                f"{secs:.2f}",
                f"{items[0].prefixes / secs:.0f}",
                f"{secs / base:.2f}x",
                f"{statistics.median(x.exabgp_cpu for x in items):.1f}",
                f"{statistics.median(x.bridge_cpu for x in items):.1f}",
            ]
            print(row(cells))
    print()
    for r in results:
        if r.extra:
            print(f"  {r.table} / {r.mode} / {r.processes} proc: {r.seconds:.2f}s {r.extra}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sink", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--instance", type=int, help=argparse.SUPPRESS)  # given to API processes
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tables", default="gen,ris", help="gen, ris or both")
    ap.add_argument(
        "--scaling", action="store_true", help="also 2 routers: 1 vs 2 ExaBGP processes"
    )
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    if args.sink:
        return sink(args.sink)
    if os.geteuid() != 0:
        sys.exit("run as root (ExaBGP binds and runs with drop=false, see DESIGN.md)")
    broker = os.environ.get("Quix__Broker__Address", "127.0.0.1:9092")
    load_avg = os.getloadavg()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-bgp-") as tmp:
        work = Path(tmp)
        tables = prepare_tables(work, args.tables.split(","))
        for name, (mrt, expect) in tables.items():
            router = start_router(*ROUTERS[0], work)
            try:
                took = load(router, mrt, expect)
                print(
                    f"{name}: router holds {router.prefixes} prefixes (inject {took:.1f}s)",
                    file=sys.stderr,
                )
                for _ in range(args.rounds):
                    for job in ("alone", "alone-noraw", "path"):
                        if job == "path":
                            r = measure_path(name, [router], 1, broker, work, args.partitions)
                        else:
                            r = measure_alone(name, [router], 1, broker, work, wire=job == "alone")
                        print(
                            f"  {r.mode}: {r.seconds:.2f}s {r.rate:.0f} routes/s", file=sys.stderr
                        )
                        results.append(r)
            finally:
                stop(router.proc)
        if args.scaling:
            mrt, expect = tables.get("gen_mrt 100k v4 + 20k v6") or next(iter(tables.values()))
            routers = [start_router(addr, grpc, work) for addr, grpc in ROUTERS]
            try:
                for router in routers:
                    load(router, mrt, expect)
                for _ in range(args.rounds):
                    for procs in (1, 2):
                        for job in ("alone", "path"):
                            if job == "path":
                                r = measure_path(
                                    "2 routers x 120k",
                                    routers,
                                    procs,
                                    broker,
                                    work,
                                    args.partitions,
                                )
                            else:
                                r = measure_alone(
                                    "2 routers x 120k", routers, procs, broker, work, wire=True
                                )
                            line = f"{r.seconds:.2f}s {r.rate:.0f} routes/s"
                            print(f"  2 routers, {procs} ExaBGP, {r.mode}: {line}", file=sys.stderr)
                            results.append(r)
            finally:
                for router in routers:
                    stop(router.proc)
    report(results, load_avg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
