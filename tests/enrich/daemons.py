"""Real daemons for the parity test and the enricher benchmark: gobgpd, nfacctd, ExaBGP.

Loopback addresses 127.0.0.40-59 and gRPC ports 50140-50159 only (the enricher's share of the
lab). Every daemon is started by a :class:`Daemon` and stopped by its pid, also on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ribflow.lab.router import Peer, RouterConfig

VENV_BIN = Path(sys.executable).parent


class Daemon:
    """A process we started, stopped by its pid (process group) whatever happens."""

    def __init__(self, name: str, cmd: list[str], workdir: Path, env: dict[str, str] | None = None):
        self.name, self.cmd, self.workdir = name, cmd, workdir
        self.env = env
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        exe = shutil.which(self.cmd[0]) or self.cmd[0]
        if not Path(exe).exists():
            raise AssertionError(f"{self.cmd[0]} is not installed: this test needs the real one")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [exe, *self.cmd[1:]],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,  # its own process group: children go with it
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@contextmanager
def started(*daemons: Daemon) -> Iterator[tuple[Daemon, ...]]:
    try:
        for d in daemons:
            d.start()
        yield daemons
    finally:
        for d in reversed(daemons):
            # nfacctd ignores SIGTERM (bench-pmacct notes): SIGINT stops it
            d.stop(signal.SIGINT if d.name.startswith("nfacctd") else signal.SIGTERM)


def gobgpd_config(
    router: str, router_id: str, asn: int, passive: list[str], active: list[str]
) -> str:
    """An iBGP route reflector: ``passive`` neighbours connect to it, it connects to ``active``."""
    peers = [Peer(a, passive=True, connect_retry=2) for a in passive]
    # graceful restart only towards the passive ones (it makes gobgpd send them End-of-RIB)
    peers += [Peer(a, passive=False, graceful_restart=False, connect_retry=2) for a in active]
    return RouterConfig(router, router_id, asn, tuple(peers)).toml()


def gobgpd(workdir: Path, router: str, grpc_port: int, config: str) -> Daemon:
    path = workdir / "gobgpd.toml"
    path.write_text(config)
    cmd = ["gobgpd", "-f", str(path), "-t", "toml", "-p", "--api-hosts",
           f"{router}:{grpc_port}", "--pprof-disable"]  # fmt: skip
    return Daemon("gobgpd", cmd, workdir)


def gobgp(router: str, grpc_port: int, *args: str, timeout: float = 120.0) -> str:
    done = subprocess.run(
        ["gobgp", "-u", router, "-p", str(grpc_port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"gobgp {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def exabgp(workdir: Path, local: str, router: str, asn: int, out: Path) -> Daemon:
    """ExaBGP as route-reflector client of ``router``; every JSON line it emits goes to ``out``."""
    receiver = workdir / "receiver.py"
    receiver.write_text(
        "import sys\n"
        f"with open({str(out)!r}, 'a', buffering=1) as f:\n"
        "    for line in sys.stdin:\n"
        "        if line.strip():\n"
        "            f.write(line)\n"
    )
    (workdir / "exabgp.conf").write_text(f"""
process receiver {{
    run {sys.executable} {receiver};
    encoder json;
}}
neighbor {router} {{
    router-id 10.0.0.42;
    local-address {local};
    local-as {asn};
    peer-as {asn};
    hold-time 30;
    family {{ ipv4 unicast; ipv6 unicast; }}
    capability {{ route-refresh; graceful-restart 120; }}
    api {{
        processes [ receiver ];
        neighbor-changes;
        receive {{ parsed; update; notification; open; refresh; }}
    }}
}}
""")
    (workdir / "exabgp.env").write_text(
        "[exabgp.daemon]\nuser = 'root'\ndrop = false\ndaemonize = false\n"
        "[exabgp.api]\ncli = false\nack = false\n"
        "[exabgp.log]\ndestination = 'stdout'\nlevel = WARNING\nstatistics = false\n"
    )
    cmd = [str(VENV_BIN / "exabgp"), "--env-file", "exabgp.env", "server", "exabgp.conf"]
    return Daemon("exabgp", cmd, workdir)


NFACCTD_BGP_CONF = """daemonize: false
logfile: {d}/nfacctd.log
pidfile: {d}/nfacctd.pid
nfacctd_ip: {ip}
nfacctd_port: 2100
nfacctd_time_new: true
bgp_daemon: true
bgp_daemon_ip: {ip}
bgp_daemon_port: 179
bgp_daemon_id: {bgp_id}
bgp_daemon_as: {asn}
bgp_daemon_max_peers: 10
bgp_agent_map: {d}/bgp_agent.map
nfacctd_as: bgp
nfacctd_net: bgp
"""


def nfacctd_bgp_conf(workdir: Path, ip: str, bgp_id: str, asn: int, rest: str) -> str:
    """nfacctd.conf: NetFlow/IPFIX on ``ip``:2100 and a BGP daemon on ``ip``:179 whose routes
    workdir/bgp_agent.map ties to exporters, AS numbers and networks from BGP; then ``rest``
    (plugins, more keys), in which ``{d}`` stands for ``workdir``."""
    head = NFACCTD_BGP_CONF.format(d=workdir, ip=ip, bgp_id=bgp_id, asn=asn)
    return head + rest.format(d=workdir)


def nfacctd(workdir: Path, config: str) -> Daemon:
    path = workdir / "nfacctd.conf"
    path.write_text(config)
    return Daemon("nfacctd", ["nfacctd", "-f", str(path)], workdir)


class UdpTap:
    """Receives UDP export datagrams, keeps them for a pcap, and forwards each to a collector.

    The forward is sent from ``forward_from``, so the collector sees that address as the
    exporter (what its agent map matches); the pcap records the same address as source.
    """

    def __init__(self, listen: tuple[str, int], forward_to: tuple[str, int], forward_from: str):
        self._rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._rx.bind(listen)
        self._rx.settimeout(0.2)
        self._tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._tx.bind((forward_from, 0))
        self.forward_to, self.forward_from = forward_to, forward_from
        self.datagrams: list[tuple[float, bytes]] = []
        self.send_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> UdpTap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._rx.close()
        self._tx.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._rx.recvfrom(65535)
            except TimeoutError:
                continue
            self.datagrams.append((time.time(), data))
            try:
                self._tx.sendto(data, self.forward_to)
            except OSError:  # the collector is not there (yet): keep the datagram anyway
                self.send_errors += 1

    def write_pcap(self, path: Path) -> None:
        """Classic pcap (raw IPv4 link type) of the datagrams as the collector received them."""
        src = socket.inet_aton(self.forward_from)
        dst = socket.inet_aton(self.forward_to[0])
        sport = self._tx.getsockname()[1] if self._tx.fileno() >= 0 else 40000
        with path.open("wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 228))
            for ts, data in self.datagrams:
                udp = struct.pack("!HHHH", sport, self.forward_to[1], 8 + len(data), 0) + data
                total = 20 + len(udp)
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, src, dst)
                sec, usec = int(ts), int((ts % 1) * 1e6)
                f.write(struct.pack("<IIII", sec, usec, total, total) + ip + udp)
