"""The BGP neighbours: one :class:`NeighborSpec` per router, from ``BGP_NEIGHBORS`` (inline)
or ``BGP_NEIGHBORS_FILE`` (YAML), and the per-router shard list ``BGP_HOT_ROUTERS``.

The settings (:mod:`ribflow.bgp.settings`) hold the text; this module turns it into specs.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ribflow.bgp.errors import NeighborConfigError

KNOWN_FAMILIES = (
    "ipv4 unicast",
    "ipv6 unicast",
    "ipv4 multicast",
    "ipv6 multicast",
    "ipv4 mpls-vpn",
    "ipv6 mpls-vpn",
    "ipv4 nlri-mpls",
    "ipv6 nlri-mpls",
    "ipv4 flow",
    "ipv6 flow",
    "l2vpn evpn",
)
_INLINE_SPLIT = re.compile(r"[\s,]+")


def ip_text(value: str) -> str:
    return str(ipaddress.ip_address(value.strip()))


def parse_families(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else value.split(",")
    out = [" ".join(f.split()) for f in items if f.strip()]
    bad = [f for f in out if f not in KNOWN_FAMILIES]
    if bad:
        raise ValueError(f"unknown families {bad}; known: {', '.join(KNOWN_FAMILIES)}")
    if not out:
        raise ValueError("at least one family is needed")
    return out


class NeighborSpec(BaseModel):
    """One router ExaBGP peers with. Unset fields take the ``BGP_*`` defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(
        description="The router's BGP session address (also the default router key)."
    )
    peer_as: int | None = Field(
        None, ge=1, le=4294967295, description="Router AS (default: local AS)."
    )
    local_address: str | None = Field(None, description="ExaBGP's address for this session.")
    description: str | None = Field(None, max_length=200)
    md5_password: str | None = Field(None, min_length=1, max_length=80)
    hold_time: int | None = Field(None, ge=0, le=65535)
    router_id: str | None = Field(
        None, description="The router's BGP identifier, when known in advance (router-id keys)."
    )
    families: list[str] | None = None
    add_path: bool | None = None
    passive: bool | None = None
    extended_next_hop: bool | None = Field(
        None,
        description="Negotiate RFC 8950 extended next hop (IPv6 next hops on IPv4 routes).",
    )
    shards: int | None = Field(None, ge=1, le=256, description="Router key shards of this router.")

    @field_validator("address", "local_address", "router_id")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        return None if value is None else ip_text(value)

    @field_validator("families", mode="before")
    @classmethod
    def _check_families(cls, value: Any) -> list[str] | None:
        return None if value is None else parse_families(value)

    @field_validator("hold_time")
    @classmethod
    def _check_hold(cls, value: int | None) -> int | None:
        if value is not None and 0 < value < 3:
            raise ValueError("hold time must be 0 or at least 3 seconds (RFC 4271)")
        return value


def parse_inline_neighbors(text: str) -> list[NeighborSpec]:
    """``'127.0.0.3, 192.0.2.1@65002'`` -> neighbour specs (AS after '@', optional)."""
    specs = []
    for item in _INLINE_SPLIT.split(text.strip()):
        if not item:
            continue
        address, _, asn = item.partition("@")
        try:
            specs.append(
                NeighborSpec.model_validate(
                    {"address": address, "peer_as": int(asn) if asn else None}
                )
            )
        except (ValueError, ValidationError) as exc:
            raise NeighborConfigError(f"BGP_NEIGHBORS item {item!r}: {exc}") from None
    return specs


def load_neighbors_file(path: Path) -> list[NeighborSpec]:
    """Neighbours from YAML: a list of mappings, or a mapping with a ``neighbors`` list."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise NeighborConfigError(f"cannot read neighbours file {path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("neighbors")
    if not isinstance(data, list):
        raise NeighborConfigError(f"{path}: expected a list of neighbours (or 'neighbors: [...]')")
    specs = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"address": item}
        try:
            specs.append(NeighborSpec.model_validate(item))
        except ValidationError as exc:
            raise NeighborConfigError(f"{path}: neighbour #{i + 1}: {exc}") from None
    return specs
