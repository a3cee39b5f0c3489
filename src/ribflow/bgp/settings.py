"""Settings of the BGP side: the ExaBGP speaker (rendered into its config) and the bridge.

One class, :class:`BridgeSettings`, because the two halves run as one unit: ExaBGP is started with a
configuration rendered from these settings and runs the bridge as its API process, which reads
the same settings from the environment ExaBGP passes on. Neighbours come from ``BGP_NEIGHBORS``
(a short inline list) and/or ``BGP_NEIGHBORS_FILE`` (YAML, one mapping per neighbour, for 100+
routers with per-router options); see :class:`ribflow.bgp.neighbors.NeighborSpec`.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ribflow.bgp.errors import NeighborConfigError
from ribflow.bgp.neighbors import (
    NeighborSpec,
    ip_text,
    load_neighbors_file,
    parse_families,
    parse_inline_neighbors,
)
from ribflow.settings import AppSettings
from ribflow.settings_groups import Compression, LingerMs, QueueMb, QueueMessages, RouterKeySettings

Resync = Literal["refresh", "none"]


class BridgeSettings(RouterKeySettings, AppSettings):
    """ExaBGP speaker + bridge settings (env names are the aliases)."""

    # --- the speaker (rendered into ExaBGP's configuration) ---
    bgp_local_address: str = Field("auto", alias="BGP_LOCAL_ADDRESS")
    """ExaBGP's session address ('auto': chosen by the kernel per neighbour)."""
    bgp_local_as: int = Field(65001, alias="BGP_LOCAL_AS", ge=1, le=4294967295)
    """ExaBGP's AS number."""
    bgp_router_id: str = Field("", alias="BGP_ROUTER_ID")
    """ExaBGP's BGP identifier (default: the IPv4 local address, or with 'auto' the one towards the
    first IPv4 neighbour)."""
    bgp_peer_as: int | None = Field(None, alias="BGP_PEER_AS", ge=1, le=4294967295)
    """Default AS of the neighbours (default: the local AS, iBGP route-reflector client)."""
    bgp_neighbors: str = Field("", alias="BGP_NEIGHBORS")
    """Inline neighbour list: addresses separated by commas/spaces, each ADDRESS or ADDRESS@AS."""
    bgp_neighbors_file: str = Field("", alias="BGP_NEIGHBORS_FILE")
    """YAML file: a list of neighbour mappings (address, peer_as, md5_password, hold_time,
    router_id, shards, ...)."""
    bgp_families: str = Field("ipv4 unicast,ipv6 unicast", alias="BGP_FAMILIES")
    """Address families negotiated with every neighbour (comma-separated, ExaBGP names)."""
    bgp_hold_time: int = Field(90, alias="BGP_HOLD_TIME", ge=0, le=65535)
    """Hold time offered (seconds, 0 or >= 3)."""
    bgp_md5_password: str = Field("", alias="BGP_MD5_PASSWORD", max_length=80)
    """TCP MD5 password of every session (empty: none); per-neighbour override in the file."""
    bgp_add_path: bool = Field(True, alias="BGP_ADD_PATH")
    """Negotiate ADD-PATH receive (several paths per prefix)."""
    bgp_extended_next_hop: bool = Field(True, alias="BGP_EXTENDED_NEXT_HOP")
    """Negotiate RFC 8950 extended next hop for the IPv4 families (routers may send IPv6 next hops
    on IPv4 and VPNv4 routes); per-neighbour override in the file."""
    bgp_route_refresh: bool = Field(True, alias="BGP_ROUTE_REFRESH")
    """Advertise the route-refresh capability."""
    bgp_graceful_restart: int = Field(120, alias="BGP_GRACEFUL_RESTART", ge=0, le=4095)
    """Graceful-restart time advertised (seconds, 0: off); routers send End-of-RIB with it."""
    bgp_passive: bool = Field(False, alias="BGP_PASSIVE")
    """Wait for the routers to connect instead of connecting to them."""
    bgp_listen_port: int = Field(179, alias="BGP_LISTEN_PORT", ge=1, le=65535)
    """TCP port ExaBGP listens on when passive."""
    bgp_wire_aspath: bool = Field(True, alias="BGP_WIRE_ASPATH")
    """Ask ExaBGP for each UPDATE's raw bytes and take AS-path segment types from them (ExaBGP
    5.0.15 labels confederation segments 'as-sequence')."""
    exabgp_processes: int = Field(1, alias="EXABGP_PROCESSES", ge=1, le=64)
    """ExaBGP processes sharing the neighbours (one core each); neighbour i goes to process i mod
    N."""
    exabgp_adj_rib_in: bool = Field(False, alias="EXABGP_ADJ_RIB_IN")
    """Keep ExaBGP's own Adj-RIB-In (not needed: the topic is the table; costs memory)."""
    exabgp_config_dir: str = Field("exabgp-run", alias="EXABGP_CONFIG_DIR", min_length=1)
    """Directory the rendered ExaBGP configuration and env file are written to."""
    exabgp_bridge_command: str = Field("", alias="EXABGP_BRIDGE_COMMAND")
    """Command ExaBGP runs as its API process (default: this Python with `-m ribflow bridge`)."""
    # --- the bridge ---
    bridge_buffer_messages: QueueMessages = Field(100_000, alias="BRIDGE_BUFFER_MESSAGES")
    """Events held unacknowledged by Kafka at most; when full the bridge stops reading ExaBGP."""
    bridge_buffer_mb: QueueMb = Field(256, alias="BRIDGE_BUFFER_MB")
    """Bytes (MiB) of events held unacknowledged at most (same back-pressure as above)."""
    bridge_linger_ms: LingerMs = Field(5, alias="BRIDGE_LINGER_MS")
    bridge_compression: Compression = Field("lz4", alias="BRIDGE_COMPRESSION")
    bridge_create_topics: bool = Field(True, alias="BRIDGE_CREATE_TOPICS")
    """Create bgp-updates and its dead-letter topic (PARTITIONS) when missing."""
    bridge_resync: Resync = Field("refresh", alias="BRIDGE_RESYNC")
    """On start, ask ExaBGP which sessions are up and have those established before this bridge
    resend their table with a route refresh ('refresh'), or not ('none')."""
    bridge_stop_flush_seconds: float = Field(1.5, alias="BRIDGE_STOP_FLUSH_SECONDS", gt=0, le=600)
    """Delivery wait on SIGTERM (ExaBGP kills its helper 2 s after SIGTERM)."""
    bridge_eof_flush_seconds: float = Field(
        120.0, alias="BRIDGE_EOF_FLUSH_SECONDS", gt=0, le=86_400
    )
    """Delivery wait when stdin closes (ExaBGP gone) before exiting non-zero."""

    @field_validator("bgp_peer_as", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("bgp_router_id")
    @classmethod
    def _check_router_id(cls, value: str) -> str:
        if value and not isinstance(ipaddress.ip_address(value), ipaddress.IPv4Address):
            raise ValueError("a BGP identifier is an IPv4 address")
        return value

    @field_validator("bgp_local_address")
    @classmethod
    def _check_local(cls, value: str) -> str:
        return value if value == "auto" else ip_text(value)

    @field_validator("bgp_families")
    @classmethod
    def _check_families(cls, value: str) -> str:
        return ",".join(parse_families(value))

    # --- derived values ---
    def families(self) -> list[str]:
        return parse_families(self.bgp_families)

    def router_id(self) -> str:
        """ExaBGP's own BGP identifier: BGP_ROUTER_ID, else the IPv4 local address, else (local
        address 'auto') the IPv4 address the kernel would use towards the first IPv4 neighbour."""
        if self.bgp_router_id:
            return self.bgp_router_id
        if self.bgp_local_address != "auto":
            addr = ipaddress.ip_address(self.bgp_local_address)
            if isinstance(addr, ipaddress.IPv4Address):
                return str(addr)
        else:
            for spec in self.neighbors():
                if ipaddress.ip_address(spec.address).version == 4:
                    source = _source_address(spec.address)
                    if source:
                        return source
        raise NeighborConfigError("BGP_ROUTER_ID is needed (no IPv4 local address to take it from)")

    def bridge_command(self) -> str:
        return self.exabgp_bridge_command or f"{sys.executable} -m ribflow bridge"

    def neighbors(self) -> list[NeighborSpec]:
        """Every configured neighbour (inline list first, then the file), duplicates refused."""
        specs = parse_inline_neighbors(self.bgp_neighbors)
        if self.bgp_neighbors_file:
            specs += load_neighbors_file(Path(self.bgp_neighbors_file))
        seen: set[str] = set()
        for spec in specs:
            if spec.address in seen:
                raise NeighborConfigError(f"neighbour {spec.address} is listed twice")
            seen.add(spec.address)
        return specs

    def neighbors_of(self, instance: int) -> list[NeighborSpec]:
        """Neighbours of ExaBGP process ``instance`` (0-based) of ``EXABGP_PROCESSES``."""
        if not 0 <= instance < self.exabgp_processes:
            raise NeighborConfigError(
                f"instance {instance} outside 0..{self.exabgp_processes - 1} (EXABGP_PROCESSES)"
            )
        return self.neighbors()[instance :: self.exabgp_processes]


def _source_address(destination: str) -> str | None:
    """The local IPv4 address the kernel picks towards ``destination`` (a UDP connect sends
    nothing), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((destination, 179))
            return str(s.getsockname()[0])
    except OSError:
        return None
