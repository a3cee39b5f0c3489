"""Builders of bgp-updates v1 messages (schemas/bgp-updates.v1.json) for tests.

Every builder returns a plain dict; tests validate them against the schema so a builder that
drifts from the contract fails loudly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Recent times: Kafka's retention deletes segments whose records are older than 7 days at once,
# so messages stamped years ago would vanish from a long enough topic.
NOW_MS = int(time.time() * 1000) - 3_600_000


@dataclass
class Stream:
    """Numbers (epoch, seq) the way one bridge process would for one router."""

    router: str
    peer: str | None = None
    epoch: int = NOW_MS
    seq: int = 0
    time_ms: int = NOW_MS
    peer_as: int = 65001
    extra: dict[str, Any] = field(default_factory=dict)

    def _head(self, kind: str) -> dict[str, Any]:
        self.seq += 1
        self.time_ms += 1
        return {
            "v": 1,
            "type": kind,
            "router": self.router,
            "peer": self.peer or self.router,
            "peer_as": self.peer_as,
            "local": "127.0.0.2",
            "local_as": 65001,
            "router_id": None,
            "time_ms": self.time_ms,
            "epoch": self.epoch,
            "seq": self.seq,
            **self.extra,
        }

    def update(
        self,
        announce: list[str] | None = None,
        next_hop: str | None = "192.0.2.1",
        attrs: dict[str, Any] | None = None,
        withdraw: list[str] | None = None,
        path_id: int = 0,
        family: str | None = None,
        rd: str | None = None,
    ) -> dict[str, Any]:
        """An UPDATE; with ``rd`` an L3VPN one (family ``ipv4/ipv6 mpls-vpn``, label 100)."""
        msg = self._head("update")
        ann: list[dict[str, Any]] = []
        wd: list[dict[str, Any]] = []
        safi = "mpls-vpn" if rd else "unicast"
        vpn = {"rd": rd, "labels": [100]} if rd else {}
        if announce:
            fam = family or (f"ipv6 {safi}" if ":" in announce[0] else f"ipv4 {safi}")
            nlri = [{"prefix": p, "path_id": path_id, **vpn} for p in announce]
            ann.append({"family": fam, "next_hop": next_hop, "nlri": nlri})
        if withdraw:
            fam = family or (f"ipv6 {safi}" if ":" in withdraw[0] else f"ipv4 {safi}")
            wd.append(
                {
                    "family": fam,
                    "nlri": [{"prefix": p, "path_id": path_id, **vpn} for p in withdraw],
                }
            )
        msg.update(attrs=attrs if attrs is not None else {}, announce=ann, withdraw=wd)
        return msg

    def session(self, state: str, reason: str | None = None) -> dict[str, Any]:
        msg = self._head("session")
        msg.update(state=state, reason=reason)
        return msg

    def eor(self, family: str = "ipv4 unicast") -> dict[str, Any]:
        msg = self._head("eor")
        msg["family"] = family
        return msg

    def restart(self, new_epoch: int) -> None:
        """A new bridge process: new epoch, seq starts again."""
        self.epoch, self.seq = new_epoch, 0


def path(*asns: int, kind: str = "as-sequence") -> list[dict[str, Any]]:
    return [{"type": kind, "asns": list(asns)}]


def attrs(
    *asns: int,
    origin: str = "igp",
    med: int | None = None,
    local_pref: int | None = 100,
    communities: list[str] | None = None,
    large: list[str] | None = None,
    ext: list[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"origin": origin, "as_path": path(*asns)}
    if med is not None:
        out["med"] = med
    if local_pref is not None:
        out["local_pref"] = local_pref
    if communities:
        out["communities"] = communities
    if large:
        out["large_communities"] = large
    if ext:
        out["ext_communities"] = ext
    return out


def flows_message(router: str, exporter: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A flows v1 message (schemas/flows.v1.json)."""
    return {"v": 1, "router": router, "exporter": exporter, "records": records}


def flow(
    src: str,
    dst: str,
    *,
    exporter: str = "127.0.0.1",
    proto: int = 6,
    sport: int = 1234,
    dport: int = 80,
    packets: int = 1,
    nbytes: int = 100,
    time_ms: int = NOW_MS,
    bgp_next_hop: str | None = None,
    tcp_flags: int = 27,
) -> dict[str, Any]:
    return {
        "exporter": exporter,
        "version": 9,
        "domain": 0,
        "time_received_ms": time_ms,
        "time_export_ms": time_ms,
        "start_ms": time_ms - 1000,
        "end_ms": time_ms,
        "src_addr": src,
        "dst_addr": dst,
        "src_port": sport,
        "dst_port": dport,
        "proto": proto,
        "tos": 0,
        "tcp_flags": tcp_flags,
        "in_if": 1,
        "out_if": 2,
        "next_hop": None,
        "bgp_next_hop": bgp_next_hop,
        "packets": packets,
        "bytes": nbytes,
        "sampling_rate": 1,
        "direction": "ingress",
    }
