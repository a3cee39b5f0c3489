"""Port convention of flows.v1 (ICMP included) against pmacct, the compatibility target.

flows.v1 says: ``src_port``/``dst_port`` are the transport ports as the export carries them
(NetFlow v5's port fields, v9/IPFIX elements 7/11/180-183, the TCP/UDP header of an sFlow sampled
packet); ICMP type/code are never turned into ports (elements 32/139/176-179 and ICMP headers are
ignored). That is what nfacctd and sfacctd show, so a pmacct user sees the same port_src/port_dst
from the enricher: here the real daemons (print plugin) receive the same export packets as our
decoder, and both must give the same set of (exporter, addresses, ports, protocol, version)
keys. The captures hold ICMP/ICMPv6 flows of each flavour: softflowd v5 (type
and code in the v5 destination port, as Cisco does), softflowd v9/IPFIX (elements 32 and 139,
no port elements), Cisco ASA v9 (ICMP values in elements 7/11), Cisco v9 ICMPv6, and the lab's
sFlow (raw ICMP headers).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ribflow.enrich.pmacct import PROTO_TEXT
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from tests.fixtures.procs import interrupt
from tests.flow.netflow_support import DATA, LAB, LOGSTASH

pytestmark = pytest.mark.integration

HOST = "127.0.0.101"  # the daemon's address; captures are replayed from 127.0.0.102+
NF_PORT, SF_PORT = 21010, 21011
NETFLOW_CAPTURES = (
    LAB / "flows-v5.pcap",
    LAB / "flows-v9.pcap",
    LAB / "flows-ipfix.pcap",
    LOGSTASH / "netflow_9_cisco_asa.pcap",
    LOGSTASH / "netflow_9_valid_01.pcap",
)
SFLOW_CAPTURES = (DATA.parent / "sflow" / "lab-flows-sflow.pcap",)
Key = tuple[Any, ...]


def daemon_conf(tmp: Path, kind: str, port: int) -> Path:
    conf = tmp / f"{kind}.conf"
    conf.write_text(
        "\n".join([
            "daemonize: false",
            f"logfile: {tmp}/{kind}.log",
            f"{kind}_ip: {HOST}",
            f"{kind}_port: {port}",
            "plugins: print[p]",
            "aggregate[p]: peer_src_ip, src_host, dst_host, src_port, dst_port, proto, "
            "export_proto_version",
            "print_output[p]: json",
            f"print_output_file[p]: {tmp}/{kind}.json",
            "print_output_file_append[p]: true",
            "print_refresh_time[p]: 1",
        ]) + "\n"
    )  # fmt: skip
    return conf


@contextmanager
def running(kind: str, tmp: Path, port: int) -> Iterator[None]:
    """nfacctd/sfacctd in the foreground, stopped by pid whatever happens."""
    exe = shutil.which(kind)
    assert exe, f"{kind} (Debian pmacct) is required for this test and is not installed"
    log = tmp / f"{kind}.log"
    proc = subprocess.Popen(
        [exe, "-f", str(daemon_conf(tmp, kind, port))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert proc.poll() is None, f"{kind} exited: {log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"{kind} never bound {HOST}:{port}"
            time.sleep(0.1)
        yield
    finally:
        interrupt(proc)


def _listening(port: int) -> bool:
    """Whether a UDP socket is bound to HOST:port (from /proc/net/udp: little-endian hex)."""
    local = socket.inet_aton(HOST)[::-1].hex().upper() + f":{port:04X}"
    with open("/proc/net/udp") as fh:
        return any(line.split()[1] == local for line in list(fh)[1:])


def replay(captures: tuple[Path, ...], port: int) -> set[Key]:
    """Send each capture from its own address (templates never mix); our decode of the same
    datagrams as pmacct keys."""
    ours: set[Key] = set()
    for i, path in enumerate(captures):
        exporter = f"127.0.0.{102 + i}"
        decoder = Dispatcher()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((exporter, 0))
            for dg in iter_datagrams(path):
                sock.sendto(dg.payload, (HOST, port))
                time.sleep(0.002)  # the daemon's default buffer is small: no burst loss
                try:
                    result = decoder.decode(dg.payload, exporter, dg.ts_ms)
                except FlowDecodeError:
                    continue
                for r in result.records:
                    version = 5 if r["version"] == 5005 else r["version"]
                    key = (r["exporter"], r["src_addr"], r["dst_addr"],
                           r["src_port"] or 0, r["dst_port"] or 0,  # the enricher's rendering
                           PROTO_TEXT[r["proto"] or 0], version)  # fmt: skip
                    ours.add(key)
        decoder.flush()
    return ours


def theirs(path: Path) -> set[Key]:
    out: set[Key] = set()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                key = (r["peer_ip_src"], r["ip_src"], r["ip_dst"], r["port_src"],
                       r["port_dst"], r["ip_proto"], r["export_proto_version"])  # fmt: skip
                out.add(key)
    return out


def keys_once_printed(path: Path, expected: set[Key]) -> set[Key]:
    """pmacct's keys once it printed as many as we have (it never came: what it has then)."""
    deadline = time.monotonic() + 60
    got = theirs(path)
    while len(got) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
        got = theirs(path)
    time.sleep(1.5)  # one more print interval: a surplus key would show up too
    return theirs(path)


def icmp_keys(keys: set[Key]) -> set[Key]:
    return {k for k in keys if k[5] in ("icmp", "ipv6-icmp")}


@pytest.mark.parametrize(
    ("kind", "port", "captures"),
    [("nfacctd", NF_PORT, NETFLOW_CAPTURES), ("sfacctd", SF_PORT, SFLOW_CAPTURES)],
)
def test_ports_as_pmacct_shows_them(
    kind: str, port: int, captures: tuple[Path, ...], tmp_path: Path
) -> None:
    with running(kind, tmp_path, port):
        ours = replay(captures, port)
        pm = keys_once_printed(tmp_path / f"{kind}.json", ours)
    assert icmp_keys(ours), "the captures must hold ICMP flows for this test to mean anything"
    assert icmp_keys(pm) == icmp_keys(ours)
    assert sorted(pm - ours) == [] and sorted(ours - pm) == []
