"""The lab router: Debian's gobgpd as an iBGP route reflector, driven through the gobgp CLI.

gobgpd listens for BGP on the router address only (so other speakers can use :179 on other
loopback addresses), its gRPC API on router:grpc-port, and waits passively for ExaBGP, its
route-reflector client. Graceful restart is on because it is what makes gobgpd send End-of-RIB.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ribflow.lab.errors import PrerequisiteMissing, StartFailed
from ribflow.lab.settings import LabSettings


def render_gobgpd(s: LabSettings) -> str:
    """gobgpd.toml for the lab router."""
    return f"""# gobgpd -- ribflow lab router: iBGP route reflector (rendered by `ribflow lab up`)
[global.config]
  as = {s.router_as}
  router-id = "{s.router_id}"
  port = 179
  local-address-list = ["{s.router_address}"]

# ExaBGP (the ribflow bridge's BGP speaker) is a route-reflector client; it connects actively.
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{s.exabgp_address}"
    peer-as = {s.router_as}
    description = "ribflow-exabgp"
  [neighbors.transport.config]
    local-address = "{s.router_address}"
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "{s.router_id}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
"""


def gobgpd_command(s: LabSettings, config: Path) -> list[str]:
    exe = shutil.which("gobgpd")
    if not exe:
        raise PrerequisiteMissing("gobgpd not found (apt-get install gobgpd)")
    return [
        exe,
        "-f",
        str(config),
        "-t",
        "toml",
        "-p",
        "-l",
        "info",
        "--api-hosts",
        s.grpc_target,
        "--pprof-disable",
    ]


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
