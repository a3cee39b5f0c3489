"""Debian's nfacctd / sfacctd (pmacct 1.7.7) as the oracle of a test: datagrams in, JSON out.

The daemon runs in the foreground with the print plugin (JSON, one line per aggregate), on the
test's own loopback address; each exporter's datagrams are sent from its own address (so
templates never mix), slowly enough for the daemon's default socket buffer.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.fixtures.ports import free_port
from tests.fixtures.procs import interrupt
from tests.fixtures.waiting import wait_for

HOST = "127.0.46.1"  # the daemon; exporters send from 127.0.46.2 and up


def _listening(host: str, port: int) -> bool:
    """Whether a UDP socket is bound to host:port (/proc/net/udp, little-endian hex)."""
    local = socket.inet_aton(host)[::-1].hex().upper() + f":{port:04X}"
    with open("/proc/net/udp") as fh:
        return any(line.split()[1] == local for line in list(fh)[1:])


def pmacct_records(
    kind: str,
    tmp: Path,
    datagrams: Sequence[tuple[str, bytes]],
    primitives: str,
    expected: int,
    extra: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """What ``kind`` (nfacctd or sfacctd) prints for ``datagrams`` ((exporter, payload) pairs),
    once it printed ``expected`` records and one more print interval passed."""
    exe = shutil.which(kind)
    assert exe, f"{kind} (Debian pmacct) is required for this test and is not installed"
    port, out, log = free_port(HOST, "udp"), tmp / f"{kind}.json", tmp / f"{kind}.log"
    conf = tmp / f"{kind}.conf"
    conf.write_text("\n".join([
        "daemonize: false", f"logfile: {log}", f"{kind}_ip: {HOST}", f"{kind}_port: {port}",
        "plugins: print[p]", f"aggregate[p]: {primitives}", "print_output[p]: json",
        f"print_output_file[p]: {out}", "print_output_file_append[p]: true",
        "print_refresh_time[p]: 1", *extra,
    ]) + "\n")  # fmt: skip
    proc = subprocess.Popen([exe, "-f", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(f"{kind} to listen", lambda: proc.poll() is None and _listening(HOST, port), 30)
        socks: dict[str, socket.socket] = {}
        try:
            for exporter, payload in datagrams:
                sock = socks.get(exporter)
                if sock is None:
                    sock = socks[exporter] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sock.bind((exporter, 0))
                sock.sendto(payload, (HOST, port))
                time.sleep(0.01)
        finally:
            for sock in socks.values():
                sock.close()

        def lines() -> list[dict[str, Any]]:
            text = out.read_text() if out.exists() else ""
            return [json.loads(x) for x in text.splitlines() if x.startswith("{")]

        wait_for(f"{kind}'s {expected} records", lambda: len(lines()) >= expected or None, 60)
        time.sleep(1.5)  # one more print interval: a surplus record would show up too
        return lines()
    finally:
        alive = proc.poll() is None
        interrupt(proc)
        assert alive, log.read_text(errors="replace") if log.exists() else f"{kind} died"
