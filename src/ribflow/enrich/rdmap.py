"""pmacct's ``flow_to_rd_map``: which L3VPN route distinguisher's table a flow is looked up in.

Used for flows whose record has no RD of its own (IPFIX IE 90, ``mpls_vpn_rd``). File format (as
pmacct's): one rule per line, ``key=value`` pairs separated by whitespace, ``!`` starts a comment
line; the first rule that matches wins. Keys:

* ``id`` (required): the RD, in pmacct's text form ``0:<asn>:<n>``, ``1:<ipv4>:<n>`` or
  ``2:<asn4>:<n>``;
* ``ip`` (required): the exporter's address, or a prefix;
* ``in`` / ``out``: input / output interface (SNMP index);
* ``bgp_nexthop``: the flow's BGP next hop;
* ``vlan``: the flow's VLAN id (a ribflow addition: a VRF bound to a VLAN sub-interface).

Keys pmacct knows for this map that ribflow does not match on (``mpls_vpn_id``,
``mpls_label_bottom``) are refused rather than silently ignored. The file is followed like the
agent map: checked at most every ``reload_interval`` seconds, a broken new version is refused
(logged, counted as ``bad_flow_to_rd_map``) and the previous map stays in force.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ribflow.errors import ConfigError
from ribflow.mapfile import map_lines
from ribflow.rib.prefix import check_rd
from ribflow.watched import WatchedFile

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_INT_KEYS = ("in", "out", "vlan")
_UNSUPPORTED = ("mpls_vpn_id", "mpls_label_bottom", "filter", "label", "jeq", "set_tag")


class RdMapError(ConfigError):
    """The flow_to_rd_map file is broken (the message names the file and line)."""


@dataclass(frozen=True, slots=True)
class RdRule:
    rd: str
    exporters: IPNetwork
    in_if: int | None = None
    out_if: int | None = None
    vlan: int | None = None
    bgp_nexthop: str | None = None

    def matches(self, rec: dict[str, Any]) -> bool:
        return (
            (self.in_if is None or rec.get("in_if") == self.in_if)
            and (self.out_if is None or rec.get("out_if") == self.out_if)
            and (self.vlan is None or rec.get("vlan") == self.vlan)
            and (self.bgp_nexthop is None or _address(rec.get("bgp_next_hop")) == self.bgp_nexthop)
        )


def _address(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return None


def _rule(fields: dict[str, str], where: str) -> RdRule:
    for key in ("id", "ip"):
        if key not in fields:
            raise RdMapError(f"{where}: {key}= is missing")
    try:
        rd = check_rd(fields["id"])
        exporters = ipaddress.ip_network(fields["ip"], strict=True)
        ints = {k: int(fields[k]) for k in _INT_KEYS if k in fields}
        if any(not 0 <= v <= 0xFFFFFFFF for v in ints.values()):
            raise ValueError("in/out/vlan out of range")
        nexthop = fields.get("bgp_nexthop")
        if nexthop is not None:
            nexthop = ipaddress.ip_address(nexthop).compressed
    except ValueError as exc:
        raise RdMapError(f"{where}: {exc}") from None
    return RdRule(rd, exporters, ints.get("in"), ints.get("out"), ints.get("vlan"), nexthop)


def parse_rd_map(text: str, source: str = "<flow_to_rd_map>") -> list[RdRule]:
    """The rules of a map file's text; raises :class:`RdMapError` on the first broken line."""
    rules: list[RdRule] = []
    for _number, where, fields in map_lines(
        text, source, RdMapError, what="flow_to_rd_map",
        known=("id", "ip", "bgp_nexthop", *_INT_KEYS), unsupported=_UNSUPPORTED,
    ):  # fmt: skip
        rules.append(_rule(fields, where))
    return rules


class RdMap:
    """First-match lookups over the rules (candidates cached per exporter)."""

    def __init__(self, rules: list[RdRule]) -> None:
        self.rules = list(rules)
        self._by_exporter: dict[str, tuple[RdRule, ...]] = {}

    @classmethod
    def load(cls, path: str | Path) -> RdMap:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RdMapError(f"cannot read flow_to_rd_map {p}: {exc}") from None
        return cls(parse_rd_map(text, str(p)))

    def _candidates(self, exporter: str) -> tuple[RdRule, ...]:
        found = self._by_exporter.get(exporter)
        if found is None:
            try:
                addr = ipaddress.ip_address(exporter)
                found = tuple(
                    r
                    for r in self.rules
                    if addr.version == r.exporters.version and addr in r.exporters
                )
            except ValueError:
                found = ()
            if len(self._by_exporter) > 65536:
                self._by_exporter.clear()
            self._by_exporter[exporter] = found
        return found

    def lookup(self, rec: dict[str, Any]) -> str | None:
        """The RD of the first rule matching the record (``exporter``, ``in_if``, ...)."""
        for rule in self._candidates(rec.get("exporter") or ""):
            if rule.matches(rec):
                return rule.rd
        return None


class RdMapFollower:
    """The map in force, followed on change like the agent map (:mod:`ribflow.watched`)."""

    def __init__(
        self,
        path: str | Path,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._file = WatchedFile.open(
            path, RdMap.load, what="flow_to_rd_map", component="enricher",
            reason="bad_flow_to_rd_map", reload_interval=reload_interval, clock=clock,
        )  # fmt: skip

    @property
    def map(self) -> RdMap:
        return self._file.value

    def lookup(self, rec: dict[str, Any]) -> str | None:
        return self._file.current().lookup(rec)
