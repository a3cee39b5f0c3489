"""The lab's traffic: flows between addresses inside the router's table, as capture frames.

A *plan* is a list of flows (saved as JSON in the lab directory, so tests and operators can see
which destinations carry traffic). Each exporter pass renders the plan's packets with times
ending "now" (softflowd stamps flows with the capture's own packet times; stale times would make
every flow hours old for windows and `ribflow top`).
"""

from __future__ import annotations

import ipaddress
import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ribflow.lab.packets import (
    ACK,
    FIN,
    ICMP,
    ICMPV6,
    PSH,
    SYN,
    TCP,
    UDP,
    ethernet,
    icmp_echo,
    ip_packet,
    tcp,
    udp,
)
from ribflow.mrt.attributes import Network

SERVICES = ((TCP, 443, 0.45), (TCP, 80, 0.15), (UDP, 53, 0.1), (UDP, 443, 0.1), (TCP, 22, 0.05),
            (UDP, 123, 0.05), (TCP, 25, 0.04), (ICMP, 0, 0.06))


@dataclass(frozen=True, slots=True)
class Flow:
    """One unidirectional flow of the plan (``proto`` ICMP means ICMPv6 for IPv6 addresses)."""

    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    packets: int
    size: int  # bytes of each packet's payload

    @property
    def v6(self) -> bool:
        return ":" in self.dst


def host_in(net: Network, rnd: random.Random) -> str:
    """A host address inside ``net`` (not its network or broadcast address when it has any)."""
    if net.num_addresses <= 2:
        return str(net.network_address)
    span = min(net.num_addresses - 2, 1 << 24)
    return str(net.network_address + 1 + rnd.randrange(span))


def plan_flows(prefixes: Sequence[Network], count: int, seed: int) -> list[Flow]:
    """``count`` flows whose destinations (and sources) lie in ``prefixes``.

    Destinations are drawn from a few hundred prefixes with a skewed (Zipf-like) weight so a
    handful of destinations carry most bytes, the way real traffic looks in a top-N view.
    IPv6 prefixes get IPv6 flows.
    """
    if not prefixes:
        raise ValueError("no prefixes to send traffic to")
    rnd = random.Random(seed)
    pool = rnd.sample(list(prefixes), min(len(prefixes), 400))
    weights = [1.0 / (i + 1) ** 1.1 for i in range(len(pool))]
    v4 = [p for p in pool if p.version == 4] or pool
    v6 = [p for p in pool if p.version == 6]
    flows: list[Flow] = []
    for _ in range(count):
        dst_net = rnd.choices(pool, weights)[0]
        src_pool = v6 if dst_net.version == 6 and v6 else v4
        src_net = rnd.choice(src_pool)
        proto, port, _ = rnd.choices(SERVICES, [w for *_, w in SERVICES])[0]
        heavy = rnd.random() < 0.2
        flows.append(
            Flow(
                src=host_in(src_net, rnd),
                dst=host_in(dst_net, rnd),
                proto=proto,
                sport=0 if proto == ICMP else rnd.randrange(1024, 65535),
                dport=port,
                packets=rnd.randint(20, 200) if heavy else rnd.randint(1, 12),
                size=rnd.choice((40, 100, 512, 1200, 1400)) if proto != ICMP else 56,
            )
        )
    return flows


def save_plan(path: Path, flows: Sequence[Flow]) -> None:
    path.write_text(json.dumps([asdict(f) for f in flows], indent=0) + "\n")


def load_plan(path: Path) -> list[Flow]:
    return [Flow(**item) for item in json.loads(path.read_text())]


def flow_frames(flow: Flow, start: float, gap: float) -> list[tuple[float, bytes]]:
    """The frames of one flow (TCP with SYN first and FIN last), ``gap`` seconds apart."""
    frames: list[tuple[float, bytes]] = []
    payload = b"\x00" * flow.size
    for i in range(flow.packets):
        t = start + i * gap
        if flow.proto == TCP:
            flags = SYN if i == 0 else (FIN | ACK if i == flow.packets - 1 else PSH | ACK)
            l4 = tcp(flow.sport, flow.dport, flags, payload if flags & PSH else b"", seq=1 + i)
            pkt = ip_packet(flow.src, flow.dst, TCP, l4, ident=i)
        elif flow.proto == UDP:
            pkt = ip_packet(flow.src, flow.dst, UDP, udp(flow.sport, flow.dport, payload), ident=i)
        else:
            proto = ICMPV6 if flow.v6 else ICMP
            pkt = ip_packet(flow.src, flow.dst, proto, icmp_echo(flow.v6, 7, i, payload), ident=i)
        frames.append((t, ethernet(pkt)))
    return frames


def render_each(flows: Sequence[Flow], span: float = 2.0) -> list[list[tuple[float, bytes]]]:
    """The frames of each flow, with times as offsets in [-span, 0] seconds."""
    rnd = random.Random(len(flows))
    out = []
    for flow in flows:
        gap = min(0.01, span / max(flow.packets, 1) / 2)
        start = -span + rnd.random() * (span - gap * flow.packets)
        out.append(flow_frames(flow, start, gap))
    return out


def merge(per_flow: Sequence[Sequence[tuple[float, bytes]]]) -> list[tuple[float, bytes]]:
    """Frames of several flows in time order."""
    frames = [f for frames in per_flow for f in frames]
    frames.sort(key=lambda f: f[0])
    return frames


def render(flows: Sequence[Flow], span: float = 2.0) -> list[tuple[float, bytes]]:
    """All frames of a plan with times as offsets in [-span, 0] seconds, time-ordered."""
    return merge(render_each(flows, span))


def load_factor(pass_no: int, period: int = 30) -> float:
    """Share of the plan's flows sent in pass ``pass_no``: a slow wave between 0.55 and 1.0,
    so the lab's traffic (and `ribflow top`'s sparklines) rise and fall over time."""
    return 0.55 + 0.45 * (0.5 + 0.5 * math.sin(2 * math.pi * pass_no / period))


def selected(count: int, pass_no: int, factor: float) -> list[int]:
    """Indexes of the flows of one pass: about ``factor`` of ``count``, varying per pass."""
    rnd = random.Random(pass_no)
    return [i for i in range(count) if rnd.random() < factor]


def retimed(frames: Sequence[tuple[float, bytes]], now: float) -> list[tuple[float, bytes]]:
    """The frames shifted so that offset 0 is ``now`` (epoch seconds)."""
    return [(now + offset, frame) for offset, frame in frames]


def covering(address: str, prefixes: Sequence[Network] | set[Network]) -> Network | None:
    """The longest prefix of ``prefixes`` that contains ``address`` (None if none does)."""
    pool = prefixes if isinstance(prefixes, set) else set(prefixes)
    ip = ipaddress.ip_address(address)
    for plen in range(ip.max_prefixlen, -1, -1):
        net = ipaddress.ip_network((ip, plen), strict=False)
        if net in pool:
            return net
    return None


def is_inside(address: str, prefixes: Sequence[Network] | set[Network]) -> bool:
    return covering(address, prefixes) is not None
