"""UDP listeners for export packets, and the kernel's count of what they dropped.

Each (address, port) gets its own non-blocking socket with a large receive buffer: IPv4 and IPv6
listeners are separate sockets (no v4-mapped addresses). The receive buffer is asked for with
SO_RCVBUFFORCE (allowed with CAP_NET_ADMIN, not capped by net.core.rmem_max), else SO_RCVBUF;
the size the kernel granted is reported. With several collector workers every worker has its own
socket bound to the same address and port with SO_REUSEPORT (see ``flow/workers.py``).
Drops — datagrams the kernel threw away because the buffer was full — are read per socket from
/proc/net/udp{,6} (matched by socket inode), so an overrun is measured, never hidden.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
MAX_DATAGRAM = 65535


@dataclass
class Listener:
    """One bound UDP socket."""

    host: str
    port: int
    sock: socket.socket
    rcvbuf: int  # bytes the kernel granted (Linux reports twice the requested size)
    inode: int = 0
    family: int = socket.AF_INET
    label: str = field(default="")

    def __post_init__(self) -> None:
        self.inode = os.fstat(self.sock.fileno()).st_ino
        self.label = self.label or (
            f"[{self.host}]:{self.port}"
            if self.family == socket.AF_INET6
            else f"{self.host}:{self.port}"
        )

    def close(self) -> None:
        self.sock.close()


def open_listener(host: str, port: int, rcvbuf: int, reuseport: bool = False) -> Listener:
    """Bind a non-blocking UDP socket on ``host:port`` with a receive buffer of ``rcvbuf``;
    ``reuseport``: join the SO_REUSEPORT group of that address and port (same user only)."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        _set_rcvbuf(sock, rcvbuf)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    bound_port = sock.getsockname()[1]
    listener = Listener(host, bound_port, sock, granted, family=family)
    log.info("listening on udp %s (receive buffer %d bytes)", listener.label, granted)
    return listener


def listener_from_fd(fd: int) -> Listener:
    """A Listener around an already bound UDP socket inherited from the parent process."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    host, port = sock.getsockname()[:2]
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return Listener(str(host), int(port), sock, granted, family=sock.family)


def _set_rcvbuf(sock: socket.socket, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EACCES, errno.ENOPROTOOPT):
            raise
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < size:
        log.warning(
            "receive buffer capped at %d bytes (asked %d): raise net.core.rmem_max or grant "
            "CAP_NET_ADMIN, or expect drops under bursts",
            granted,
            size,
        )


@dataclass(frozen=True)
class SocketStats:
    """The kernel's view of one socket: bytes waiting and datagrams dropped since creation."""

    rx_queue: int
    drops: int


def socket_stats(inodes: set[int]) -> dict[int, SocketStats]:
    """Receive-queue bytes and drop counts of the UDP sockets with these inodes."""
    found: dict[int, SocketStats] = {}
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) < 13:
                        continue
                    inode = int(parts[9])
                    if inode in inodes:
                        rx = int(parts[4].split(":")[1], 16)
                        found[inode] = SocketStats(rx_queue=rx, drops=int(parts[12]))
        except (OSError, ValueError, IndexError) as exc:
            log.debug("cannot read %s: %s", path, exc)
    return found
