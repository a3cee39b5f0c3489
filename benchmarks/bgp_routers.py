"""The routers of benchmarks/bench_bgp.py: gobgpd processes, each loaded with an MRT table.

A router is a gobgpd whose passive route-reflector client is the ExaBGP speaker (127.0.0.120);
its session is held administratively down until the measurement starts. ``routers_with`` starts
one router per table file, injects the table with ``gobgp mrt inject`` and waits until the RIB
stops growing; ``prepare_tables`` makes the tables (gen_mrt.py's 100k IPv4 + 20k IPv6, the 2002
RIPE RIS dump converted with ribflow.mrt.tables) and ``split_mrt`` shares one over N routers.
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ribflow.lab.router import Gobgp, Peer, RouterConfig, gobgpd_argv
from ribflow.mrt.tables import convert

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
GEN_MRT = DATA / "enrich" / "gen_mrt.py"
RIS_DUMP = DATA / "rib" / "bview.20020722.2337.gz"
GEN_TABLE = "gen_mrt 100k v4 + 20k v6"
EXA = "127.0.0.120"
ROUTERS = [(f"127.0.0.{121 + i}", 50221 + i) for i in range(4)]
SETTLE_TIMEOUT = 90.0  # "it never came" deadlines, not expected durations


def router_toml(addr: str, speakers: list[str]) -> str:
    """A benchmark router: the ExaBGP ``speakers`` are its passive route-reflector clients."""
    last = addr.rsplit(".", 1)[1]
    peers = tuple(Peer(s) for s in speakers)
    return RouterConfig(addr, f"10.0.0.{last}", 65001, peers).toml()


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
