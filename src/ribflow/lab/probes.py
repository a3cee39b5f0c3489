"""Small health probes: is a UDP port bound, a TCP port listening, an HTTP endpoint answering.

They read the kernel's socket tables (/proc/net/*) instead of sending anything, so probing a
collector never injects a datagram into it. `ribflow lab probe ...` exposes them to container
healthchecks.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import urllib.error
import urllib.request
from pathlib import Path

TCP_LISTEN = "0A"


def _parse_local(field: str) -> tuple[str, int]:
    addr_hex, port_hex = field.split(":")
    raw = bytes.fromhex(addr_hex)
    if len(raw) == 4:
        addr = str(ipaddress.IPv4Address(raw[::-1]))
    else:  # four host-order 32-bit words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        v6 = ipaddress.IPv6Address(words)
        addr = str(v6.ipv4_mapped) if v6.ipv4_mapped else str(v6)
    return addr, int(port_hex, 16)


def sockets(kind: str) -> list[tuple[str, int, str]]:
    """(local address, port, state) of every socket in /proc/net/{kind} and {kind}6."""
    out = []
    for name in (kind, kind + "6"):
        try:
            lines = Path("/proc/net", name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3:
                addr, port = _parse_local(parts[1])
                out.append((addr, port, parts[3]))
    return out


def _matches(bound: str, host: str) -> bool:
    return bound in (host, "0.0.0.0", "::")


def udp_bound(host: str, port: int) -> bool:
    """True when some socket is bound to UDP host:port (or to the wildcard address)."""
    return any(p == port and _matches(a, host) for a, p, _ in sockets("udp"))


def tcp_listening(host: str, port: int) -> bool:
    return any(
        p == port and s == TCP_LISTEN and _matches(a, host) for a, p, s in sockets("tcp")
    )


def http_ok(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel considers free on ``host`` right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _split(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host or "0.0.0.0", int(port)


def main(argv: list[str]) -> int:
    """`ribflow lab probe udp|tcp HOST:PORT` or `... http URL`: exit 0 when healthy."""
    p = argparse.ArgumentParser(prog="ribflow lab probe", description=main.__doc__)
    p.add_argument("kind", choices=["udp", "tcp", "http"])
    p.add_argument("target", help="HOST:PORT (udp, tcp) or URL (http)")
    args = p.parse_args(argv)
    if args.kind == "http":
        ok = http_ok(args.target)
    else:
        host, port = _split(args.target)
        ok = udp_bound(host, port) if args.kind == "udp" else tcp_listening(host, port)
    print(f"{args.kind} {args.target}: {'ok' if ok else 'not ready'}")
    return 0 if ok else 1
