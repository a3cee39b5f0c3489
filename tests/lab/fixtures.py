"""Shared helpers of the lab tests: data paths, a gobgpd started and stopped by pid."""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from ribflow.lab.router import Gobgp, gobgpd_command, render_gobgpd
from ribflow.lab.settings import LabSettings

DATA = Path(__file__).resolve().parents[1] / "data" / "rib"
RIS_DUMP = DATA / "bview.20020722.2337.gz"
RIS_EXPECT = DATA / "bview.20020722.2337.gz.bgp.gz"

# loopback addresses and gRPC ports reserved for the lab tests: 127.0.0.80-99, 50180-50199
SMOKE_ROUTER, SMOKE_EXABGP, SMOKE_COLLECTOR = "127.0.0.83", "127.0.0.82", "127.0.0.84"
SMOKE_GRPC = 50183
MRT_ROUTER, MRT_GRPC = "127.0.0.90", 50190
EXPORT_SINK = "127.0.0.91"


def bgpdump_lines() -> list[list[str]]:
    """`bgpdump -m` output for the RIS dump (bgpdump's own test expectation), split on '|'."""
    with gzip.open(RIS_EXPECT, "rt") as fh:
        return [line.rstrip("\n").split("|") for line in fh]


@contextlib.contextmanager
def running_gobgpd(workdir: Path, router: str, grpc_port: int) -> Iterator[Gobgp]:
    """A real gobgpd (router config of the lab) for one test, stopped by its pid afterwards."""
    s = LabSettings(
        LAB_ROUTER_ADDRESS=router, LAB_EXABGP_ADDRESS="127.0.0.99", LAB_ROUTER_GRPC_PORT=grpc_port
    )
    conf = workdir / "gobgpd.toml"
    conf.write_text(render_gobgpd(s))
    with open(workdir / "gobgpd.log", "wb") as log:
        proc = subprocess.Popen(
            gobgpd_command(s, conf), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        gobgp = Gobgp(router, grpc_port)
        deadline = time.monotonic() + 30
        while not gobgp.answers():
            assert proc.poll() is None, (workdir / "gobgpd.log").read_text()
            assert time.monotonic() < deadline, "gobgpd's gRPC API never answered"
            time.sleep(0.2)
        yield gobgp
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
