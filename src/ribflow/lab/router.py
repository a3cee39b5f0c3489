"""The lab router: Debian's gobgpd as an iBGP route reflector, driven through the gobgp CLI.

gobgpd listens for BGP on the router address only (so other speakers can use :179 on other
loopback addresses), its gRPC API on router:grpc-port, and waits passively for ExaBGP, its
route-reflector client. Graceful restart is on because it is what makes gobgpd send End-of-RIB.

:class:`RouterConfig` is the one gobgpd.toml renderer: the lab, the BGP and enricher tests and the
BGP benchmark all describe their routers with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ribflow.lab.errors import PrerequisiteMissing, StartFailed
from ribflow.lab.settings import LabSettings


@dataclass(frozen=True)
class Peer:
    """One iBGP neighbour of a gobgpd router (its peer AS is the router's own AS).

    ``passive``: the neighbour connects to the router (ExaBGP does); otherwise gobgpd connects
    to it (nfacctd's BGP daemon only listens). Graceful restart is what makes gobgpd send
    End-of-RIB; ``add_paths_send`` > 0 advertises up to that many paths per prefix.
    """

    address: str
    passive: bool = True
    rr_client: bool = True
    graceful_restart: bool = True
    description: str = ""
    hold_time: int | None = None  # keepalive = hold_time / 3 (at least 1 s)
    connect_retry: int | None = None
    add_paths_send: int = 0
    auth_password: str = ""  # TCP-MD5 (RFC 2385) key of the session; empty: none


@dataclass(frozen=True)
class RouterConfig:
    """A gobgpd router: BGP on ``address``:179 only, iBGP with every peer of ``peers``."""

    address: str
    router_id: str
    asn: int
    peers: tuple[Peer, ...]
    families: tuple[str, ...] = ("ipv4-unicast", "ipv6-unicast")
    comment: str = ""  # a first line for whoever reads the file

    def toml(self) -> str:
        """The gobgpd.toml text (gobgpd -t toml)."""
        lines = [f"# {self.comment}"] if self.comment else []
        lines += [
            "[global.config]",
            f"  as = {self.asn}",
            f'  router-id = "{self.router_id}"',
            "  port = 179",
            f'  local-address-list = ["{self.address}"]',
        ]
        for peer in self.peers:
            lines += self._neighbor(peer)
        return "\n".join(lines) + "\n"

    def _neighbor(self, peer: Peer) -> list[str]:
        out = ["[[neighbors]]", "  [neighbors.config]"]
        out += [f'    neighbor-address = "{peer.address}"', f"    peer-as = {self.asn}"]
        if peer.description:
            out.append(f'    description = "{peer.description}"')
        if peer.auth_password:
            out.append(f'    auth-password = "{peer.auth_password}"')
        out += ["  [neighbors.transport.config]", f'    local-address = "{self.address}"']
        out.append(f"    passive-mode = {'true' if peer.passive else 'false'}")
        if peer.graceful_restart:
            out += ["  [neighbors.graceful-restart.config]", "    enabled = true"]
            out.append("    restart-time = 120")
        if peer.rr_client:
            out += ["  [neighbors.route-reflector.config]", "    route-reflector-client = true"]
            out.append(f'    route-reflector-cluster-id = "{self.router_id}"')
        if peer.add_paths_send:
            out += ["  [neighbors.add-paths.config]", f"    send-max = {peer.add_paths_send}"]
        timers = []
        if peer.hold_time is not None:
            timers.append(f"    hold-time = {peer.hold_time}")
            timers.append(f"    keepalive-interval = {max(1, peer.hold_time // 3)}")
        if peer.connect_retry is not None:
            timers.append(f"    connect-retry = {peer.connect_retry}")
        if timers:
            out += ["  [neighbors.timers.config]", *timers]
        for family in self.families:
            out += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]"]
            out.append(f'      afi-safi-name = "{family}"')
            if peer.graceful_restart:
                out += ["    [neighbors.afi-safis.mp-graceful-restart.config]"]
                out.append("      enabled = true")
        return out


def render_gobgpd(s: LabSettings) -> str:
    """gobgpd.toml for the lab router: ExaBGP (the bridge's speaker) is its only, passive,
    route-reflector client."""
    peer = Peer(s.exabgp_address, description="ribflow-exabgp")
    comment = "gobgpd -- ribflow lab router: iBGP route reflector (rendered by `ribflow lab up`)"
    return RouterConfig(s.router_address, s.router_id, s.router_as, (peer,), comment=comment).toml()


def gobgpd_argv(config: Path, api_hosts: str, *, log_level: str | None = None) -> list[str]:
    """The gobgpd command line for ``config``: gRPC API on ``api_hosts`` (host:port) only."""
    exe = shutil.which("gobgpd")
    if not exe:
        raise PrerequisiteMissing("gobgpd not found (apt-get install gobgpd)")
    argv = [exe, "-f", str(config), "-t", "toml", "-p"]
    if log_level:
        argv += ["-l", log_level]
    return [*argv, "--api-hosts", api_hosts, "--pprof-disable"]


def gobgpd_command(s: LabSettings, config: Path) -> list[str]:
    """The lab router's gobgpd command line."""
    return gobgpd_argv(config, s.grpc_target, log_level="info")


class Gobgp:
    """The gobgp CLI pointed at one gobgpd's gRPC API."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        exe = shutil.which("gobgp")
        if not exe:
            raise PrerequisiteMissing("gobgp not found (apt-get install gobgpd)")
        self.exe = exe
        self.host = host
        self.port = port
        self.timeout = timeout

    def run(self, *args: str, timeout: float | None = None) -> str:
        cmd = [self.exe, "-u", self.host, "-p", str(self.port), *args]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout or self.timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise StartFailed(f"`{' '.join(cmd)}` did not finish in {exc.timeout}s") from None
        if proc.returncode != 0:
            why = (proc.stderr or proc.stdout).strip().splitlines()
            raise StartFailed(f"`{' '.join(cmd)}` failed: {why[-1] if why else proc.returncode}")
        return proc.stdout

    def answers(self) -> bool:
        try:
            self.run("global", timeout=5)
        except StartFailed:
            return False
        return True

    def neighbor_state(self, address: str) -> str:
        """Session state of a neighbour as gobgp names it ("established", "active", ...)."""
        data = json.loads(self.run("neighbor", address, "-j"))
        state = data.get("state", {}).get("session_state", "unknown")
        names = {1: "idle", 2: "connect", 3: "active", 4: "opensent", 5: "openconfirm"}
        names[6] = "established"
        return names.get(state, str(state)) if isinstance(state, int) else str(state).lower()

    def rib_count(self, family: str = "ipv4") -> int:
        """Destinations in the global RIB of one family."""
        out = self.run("global", "rib", "summary", "-a", family)
        # "Table ipv4-unicast:\nDestination: 1234, Path: 1234"
        for token in out.replace(",", " ").split("Destination:")[1:]:
            return int(token.split()[0])
        return 0

    def inject_mrt(self, path: Path, timeout: float = 600.0) -> None:
        """Load a TABLE_DUMP_V2 file into the global RIB (a regular file, not a pipe)."""
        self.run("mrt", "inject", "global", str(path), timeout=timeout)

    def add_route(
        self,
        prefix: str,
        *,
        as_path: list[int],
        next_hop: str,
        local_pref: int | None = None,
        med: int | None = None,
        communities: list[str] | None = None,
    ) -> None:
        family = "ipv6" if ":" in prefix else "ipv4"
        args = ["global", "rib", "-a", family, "add", prefix, "origin", "igp"]
        args += ["aspath", ",".join(str(a) for a in as_path), "nexthop", next_hop]
        if med is not None:
            args += ["med", str(med)]
        if local_pref is not None:
            args += ["local-pref", str(local_pref)]
        if communities:
            args += ["community", ",".join(communities)]
        self.run(*args)

    def delete_route(self, prefix: str) -> None:
        family = "ipv6" if ":" in prefix else "ipv4"
        self.run("global", "rib", "-a", family, "del", prefix)

    def lookup(self, address: str) -> dict[str, Any] | None:
        """gobgp's own longest-prefix match for ``address``: {"prefix", "as_path", "next_hop",
        "local_pref", "med", "communities"} of the best path, or None when unrouted."""
        family = "ipv6" if ":" in address else "ipv4"
        data = json.loads(self.run("global", "rib", "-a", family, address, "-j") or "{}")
        for prefix, paths in data.items():
            best = next((p for p in paths if p.get("best")), paths[0] if paths else None)
            if best is None:
                continue
            return {"prefix": prefix, **path_attributes(best)}
        return None


def path_attributes(path: dict[str, Any]) -> dict[str, Any]:
    """The attributes of one gobgp JSON path (as `gobgp ... -j` prints them)."""
    out: dict[str, Any] = {"as_path": [], "next_hop": None, "local_pref": None, "med": None}
    out["communities"] = []
    out["segments"] = []  # [(segment type, [asn, ...])]: 1 AS_SET, 2 AS_SEQUENCE
    for attr in path.get("attrs", []):
        kind = attr.get("type")
        if kind == 2:  # AS_PATH ("as_path" flattens it; "segments" keeps AS_SETs apart)
            for seg in attr.get("as_paths", []):
                out["segments"].append((seg.get("segment_type"), list(seg.get("asns", []))))
                out["as_path"].extend(seg.get("asns", []))
        elif kind in (3, 14):  # NEXT_HOP, MP_REACH_NLRI
            out["next_hop"] = attr.get("nexthop")
        elif kind == 4:
            out["med"] = attr.get("metric")
        elif kind == 5:
            out["local_pref"] = attr.get("value")
        elif kind == 8:
            out["communities"] = [f"{c >> 16}:{c & 0xFFFF}" for c in attr.get("communities", [])]
    return out
