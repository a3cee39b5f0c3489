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
import contextlib
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import orjson  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from ribflow.lab.errors import StartFailed  # noqa: E402
from ribflow.lab.router import Gobgp, Peer, RouterConfig, gobgpd_argv  # noqa: E402
from ribflow.mrt.tables import convert  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
GEN_MRT = DATA / "enrich" / "gen_mrt.py"
RIS_DUMP = DATA / "rib" / "bview.20020722.2337.gz"
GEN_TABLE = "gen_mrt 100k v4 + 20k v6"
EXA = "127.0.0.120"
ROUTERS = [(f"127.0.0.{121 + i}", 50221 + i) for i in range(4)]
SETTLE_TIMEOUT = 90.0  # "it never came" deadlines, not expected durations
RUN_TIMEOUT = 900.0


def router_toml(addr: str, speakers: list[str]) -> str:
    """A benchmark router: the ExaBGP ``speakers`` are its passive route-reflector clients."""
    last = addr.rsplit(".", 1)[1]
    peers = tuple(Peer(s) for s in speakers)
    return RouterConfig(addr, f"10.0.0.{last}", 65001, peers).toml()


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


# ------------------------------------------------------------------ processes and their CPU
def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is [0], ppid [1])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    stat = proc_stat(pid)
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK") if stat else 0.0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        out += [child, *descendants(child)]
    return out


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far of each ExaBGP process and of each one's API processes (by pid)."""

    exabgp_by_pid: dict[int, float]
    api_by_pid: dict[int, float]

    @property
    def exabgp(self) -> float:
        return sum(self.exabgp_by_pid.values())

    @property
    def api(self) -> float:
        return sum(self.api_by_pid.values())

    @property
    def busiest_exabgp(self) -> float:
        """The most loaded ExaBGP process: the bound on scaling once cores are free."""
        return max(self.exabgp_by_pid.values(), default=0.0)

    def __sub__(self, other: Cpu) -> Cpu:
        def minus(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
            return {pid: s - b.get(pid, 0.0) for pid, s in a.items()}

        return Cpu(
            minus(self.exabgp_by_pid, other.exabgp_by_pid), minus(self.api_by_pid, other.api_by_pid)
        )


def speaker_cpu(speaker: subprocess.Popen[bytes]) -> Cpu:
    exa = children(speaker.pid)
    api = [d for e in exa for d in descendants(e)]
    return Cpu({p: cpu_seconds(p) for p in exa}, {p: cpu_seconds(p) for p in api})


def wait_idle(speaker: subprocess.Popen[bytes], procs: int, step: float = 0.5) -> Cpu:
    """Wait until ``procs`` ExaBGP processes and their API processes run and use no more CPU."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last: Cpu | None = None
    quiet = 0
    while time.monotonic() < deadline:
        if speaker.poll() is not None:
            raise RuntimeError(f"the speaker exited ({speaker.returncode})")
        now = speaker_cpu(speaker)
        ready = len(now.exabgp_by_pid) == procs and len(now.api_by_pid) >= procs
        if ready and last is not None and (now.exabgp + now.api) - (last.exabgp + last.api) < 0.03:
            quiet += 1
            if quiet >= 3:
                return now
        else:
            quiet = 0
        last = now
        time.sleep(step)
    raise RuntimeError(f"the speaker's {procs} process(es) never settled")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ routers
@dataclass
class Router:
    addr: str
    cli: Gobgp
    proc: subprocess.Popen[bytes]
    prefixes: int = 0

    def sessions(self, up: bool) -> None:
        """Let the speaker's session come up (enable) or hold it administratively down."""
        self.cli.run("neighbor", EXA, "enable" if up else "disable")


def start_router(addr: str, grpc: int, work: Path) -> Router:
    last = addr.rsplit(".", 1)[1]
    conf = work / f"gobgpd-{last}.toml"
    conf.write_text(router_toml(addr, [EXA]))
    with (work / f"gobgpd-{last}.log").open("ab") as log:
        proc = subprocess.Popen(gobgpd_argv(conf, f"{addr}:{grpc}"), stdout=log, stderr=log)
    router = Router(addr, Gobgp(addr, grpc, timeout=600), proc)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not router.cli.answers():
        if time.monotonic() > deadline or proc.poll() is not None:
            stop(proc)
            sys.exit(f"gobgpd {addr} did not start: {work}/gobgpd-{last}.log")
        time.sleep(0.5)
    return router


def load(router: Router, mrt: Path) -> float:
    """Inject ``mrt`` and wait until the router's table stops growing; returns seconds."""
    t0 = time.monotonic()
    router.cli.inject_mrt(mrt)
    last, stable = -1, 0
    while stable < 3:  # until the count stops moving
        time.sleep(1)
        n = router.cli.rib_count("ipv4") + router.cli.rib_count("ipv6")
        stable = stable + 1 if n == last else 0
        last = n
    router.prefixes = last
    return time.monotonic() - t0


@contextlib.contextmanager
def routers_with(work: Path, tables: list[Path]) -> Iterator[list[Router]]:
    """One router per table file (loaded), stopped by pid afterwards."""
    routers: list[Router] = []
    try:
        for (addr, grpc), mrt in zip(ROUTERS, tables, strict=False):
            routers.append(start_router(addr, grpc, work))
            took = load(routers[-1], mrt)
            print(f"  {addr}: {routers[-1].prefixes} prefixes ({took:.0f}s)", file=sys.stderr)
        yield routers
    finally:
        for router in routers:
            stop(router.proc)


# ------------------------------------------------------------------ one measurement
@dataclass
class Result:
    table: str
    mode: str
    processes: int
    routers: int
    prefixes: int
    seconds: float
    cpu: Cpu
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.prefixes / self.seconds if self.seconds > 0 else 0.0

    @property
    def api_per_100k(self) -> float:
        return self.cpu.api / self.prefixes * 100_000 if self.prefixes else 0.0


def speaker_env(
    broker: str, topic: str, work: Path, routers: list[Router], processes: int, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGP_", "BRIDGE_", "EXABGP_"))}
    env.update(
        {
            "Quix__Broker__Address": broker,
            "BGP_UPDATES_TOPIC": topic,
            "BGP_LOCAL_ADDRESS": EXA,
            "BGP_ROUTER_ID": "10.0.0.120",
            "BGP_NEIGHBORS": ",".join(r.addr for r in routers),
            "EXABGP_PROCESSES": str(processes),
            "EXABGP_CONFIG_DIR": str(work / f"exabgp-{uuid.uuid4().hex[:6]}"),
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def timed_run(
    env: dict[str, str],
    work: Path,
    routers: list[Router],
    processes: int,
    done: Callable[[], tuple[float, float] | None],
) -> tuple[float, Cpu]:
    """Start the speaker with the sessions held down, wait until it is idle, let the sessions
    up, poll ``done`` (-> (first up, last End-of-RIB) in epoch seconds) until it answers.
    Returns (wall seconds, CPU used in between)."""
    for r in routers:
        r.sessions(up=False)
    with (work / "speaker.log").open("ab") as log:
        speaker = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "exabgp", "run"], env=env, stdout=log, stderr=log
        )
    try:
        before = wait_idle(speaker, processes)
        for r in routers:
            r.sessions(up=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        while (span := done()) is None:
            if speaker.poll() is not None:
                raise RuntimeError(f"the speaker exited ({speaker.returncode}): {work}/speaker.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"End-of-RIB never came: {work}/speaker.log")
            time.sleep(0.05)
        used = speaker_cpu(speaker) - before
    finally:
        stop(speaker)
    return span[1] - span[0], used


def measure_alone(
    table: str, routers: list[Router], processes: int, broker: str, work: Path, wire: bool
) -> Result:
    result = work / f"sink-{uuid.uuid4().hex[:6]}.jsonl"
    cmd = f"{sys.executable} {Path(__file__).resolve()} --sink {result}"
    env = speaker_env(
        broker, "unused", work, routers, processes,
        EXABGP_BRIDGE_COMMAND=cmd, BGP_WIRE_ASPATH=str(wire).lower(),
    )  # fmt: skip
    want = 2 * len(routers)  # IPv4 and IPv6 End-of-RIB of every router

    def done() -> tuple[float, float] | None:
        rows = [json.loads(x) for x in result.read_text().splitlines()] if result.exists() else []
        if sum(r["kind"] == "eor" for r in rows) < want:
            return None
        up = min(r["time"] for r in rows if r["kind"] == "up")
        return up, max(r["time"] for r in rows if r["kind"] == "eor")

    seconds, cpu = timed_run(env, work, routers, processes, done)
    mode = "exabgp alone" if wire else "exabgp alone, no raw"
    prefixes = sum(r.prefixes for r in routers)
    return Result(table, mode, processes, len(routers), prefixes, seconds, cpu)


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
    up: dict[str, int] = {}
    eors: dict[str, set[str]] = {}
    seen = {"nlri": 0, "messages": 0}
    assigned: list[bool] = []

    def done() -> tuple[float, float] | None:
        if not assigned:  # the bridges create the topic when they start
            md = AdminClient({"bootstrap.servers": broker}).list_topics(topic, timeout=5)
            meta = md.topics.get(topic)
            if meta is None or meta.error or not meta.partitions:
                return None
            consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
            assigned.append(True)
        for m in consumer.consume(10000, timeout=0.5):
            if m.error():
                continue
            seen["messages"] += 1
            e = orjson.loads(m.value())  # fast: this reader shares the cores it measures
            if e["type"] == "session" and e["state"] == "up":
                up[e["router"]] = e["time_ms"]
            elif e["type"] == "eor":
                eors.setdefault(e["router"], set()).add(e["family"])
            elif e["type"] == "update":
                seen["nlri"] += sum(len(g["nlri"]) for g in e["announce"])
        if len(eors) == len(routers) and all(len(f) >= 2 for f in eors.values()) and up:
            return min(up.values()) / 1000, time.time()
        return None

    try:
        seconds, cpu = timed_run(env, work, routers, processes, done)
    finally:
        consumer.close()
        admin = AdminClient({"bootstrap.servers": broker})
        for fut in admin.delete_topics([topic, f"{topic}-dlq"]).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
    prefixes = sum(r.prefixes for r in routers)
    res = Result(table, "whole path (Kafka)", processes, len(routers), prefixes, seconds, cpu)
    res.extra = {"nlri_read_back": seen["nlri"], "messages": seen["messages"]}
    return res


# ------------------------------------------------------------------ tables
def split_mrt(src: Path, parts: int, work: Path) -> list[Path]:
    """Split a TABLE_DUMP_V2 file into ``parts`` files: each gets the peer index table and every
    ``parts``-th RIB record (so each router holds its own share of the prefixes)."""
    data = src.read_bytes()
    outs = [bytearray() for _ in range(parts)]
    pos = n = 0
    while pos < len(data):
        _, mtype, subtype, length = struct.unpack_from("!IHHI", data, pos)
        record = data[pos : pos + 12 + length]
        pos += 12 + length
        if mtype == 13 and subtype == 1:  # PEER_INDEX_TABLE: every part needs it
            for out in outs:
                out += record
        else:
            outs[n % parts] += record
            n += 1
    paths = [work / f"{src.stem}-{i + 1}of{parts}.mrt" for i in range(parts)]
    for path, out in zip(paths, outs, strict=True):
        path.write_bytes(bytes(out))
    return paths


def prepare_tables(work: Path, which: list[str]) -> dict[str, Path]:
    tables = {}
    if "gen" in which:
        gen = work / "gen-120k.mrt"
        cmd = [sys.executable, str(GEN_MRT), str(gen), "100000", "20000"]
        subprocess.run(cmd, check=True, capture_output=True)
        tables[GEN_TABLE] = gen
    if "ris" in which:
        ris = work / "ris-2002.mrt"
        stats = convert(RIS_DUMP, ris, pad=4000)
        tables[f"RIS rrc05 2002 ({stats.prefixes} prefixes)"] = ris
    return tables


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
