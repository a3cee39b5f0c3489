"""pmacct's ``pre_tag_map`` in pmacct's own file format: tags and labels set by the collector.

One rule per line, ``key=value`` tokens in any order separated by blanks, ``!`` starts a
comment line (pmacct's examples/pretag.map.example). Each rule sets exactly one of
``set_tag`` (1..2**64-1), ``set_tag2`` or ``set_label`` (text) on the flows it matches; its
other keys are conditions that must all hold:

=====================  ===================================================================
``ip``                 the exporter's address or prefix (absent: every exporter)
``in``, ``out``        input / output ifIndex (IE 10 / 14, else 252 / 253)
``direction``          0 ingress, 1 egress (IE 61)
``engine_id``,
``source_id``          the NetFlow v9 source id / IPFIX observation domain
``nexthop``,
``bgp_nexthop``        next-hop / BGP next-hop address (IE 15/62, 18/63)
``src_mac``,
``dst_mac``            MAC addresses
``vlan``               VLAN id
``src_net``,
``dst_net``            a prefix holding the source / destination address
``ip_proto``           protocol number or pmacct's name (``tcp``)
``src_port``,
``dst_port``           transport ports
``fwd_status``         RFC 7270 forwarding status
``mpls_vpn_rd``        the flow's RD (pmacct text, ``0:65000:100``)
=====================  ===================================================================

A condition value starting with ``-`` is negated (``in=-2``: not from ifIndex 2), except
``ip``. As in nfacctd (NF_find_id), the rules of the flow's exporter are tried top down and the
first full match wins. Keys of pmacct this collector does not evaluate (``filter``, ``jeq``,
``stack``, ``label``, ``set_tos``, auto-increasing tags ...) make the map refused with the line
number, never silently ignored. The matched value goes into the record as ``tag``, ``tag2`` or
``label`` (rendered by the enricher as pmacct does, ``label`` as a map with
PRE_TAG_LABEL_ENCODE_AS_MAP).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ribflow.errors import ConfigError
from ribflow.flow.types import FlowRecord
from ribflow.protocols import proto_number

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Check = Callable[[FlowRecord], bool]

_SETS = ("set_tag", "set_tag2", "set_label")
_INT_KEYS = {  # map key -> record key
    "in": "in_if", "out": "out_if", "engine_id": "domain", "source_id": "domain",
    "vlan": "vlan", "src_port": "src_port", "dst_port": "dst_port", "fwd_status": "fwd_status",
}  # fmt: skip
_ADDR_KEYS = {"nexthop": "next_hop", "bgp_nexthop": "bgp_next_hop"}
_NET_KEYS = {"src_net": "src_addr", "dst_net": "dst_addr"}
_MAC_KEYS = {"src_mac": "mac_src", "dst_mac": "mac_dst"}


class PreTagMapError(ConfigError):
    """A pre_tag_map line ribflow cannot evaluate as pmacct would."""


@dataclass(frozen=True, slots=True)
class Rule:
    line: int
    exporters: Net | None
    target: str  # "tag", "tag2" or "label"
    value: int | str
    checks: tuple[Check, ...]

    def matches(self, rec: FlowRecord) -> bool:
        return all(check(rec) for check in self.checks)


def _neg(text: str) -> tuple[bool, str]:
    return (True, text[1:]) if text.startswith("-") else (False, text)


def _check(key: str, raw: str) -> Check:
    """The condition of one ``key=value`` token (ValueError when the value is malformed)."""
    negate, text = _neg(raw)
    want: Any
    if key in _INT_KEYS:
        field, want = _INT_KEYS[key], int(text)

        def test(rec: FlowRecord) -> bool:
            return bool(rec.get(field) == want)
    elif key == "direction":
        if text not in ("0", "1"):
            raise ValueError("0 (ingress) or 1 (egress)")
        want = "ingress" if text == "0" else "egress"

        def test(rec: FlowRecord) -> bool:
            return bool(rec.get("direction") == want)
    elif key == "ip_proto":
        want = proto_number(text)

        def test(rec: FlowRecord) -> bool:
            return bool(rec.get("proto") == want)
    elif key in _ADDR_KEYS:
        field, want = _ADDR_KEYS[key], ipaddress.ip_address(text)

        def test(rec: FlowRecord) -> bool:
            value = rec.get(field)
            return value is not None and ipaddress.ip_address(value) == want
    elif key in _NET_KEYS:
        field, want = _NET_KEYS[key], ipaddress.ip_network(text, strict=False)

        def test(rec: FlowRecord) -> bool:
            addr = ipaddress.ip_address(rec[field])
            return addr.version == want.version and addr in want
    elif key in _MAC_KEYS:
        field, want = _MAC_KEYS[key], text.lower()

        def test(rec: FlowRecord) -> bool:
            return bool(rec.get(field) == want)
    elif key == "mpls_vpn_rd":
        want = text

        def test(rec: FlowRecord) -> bool:
            return bool(rec.get("mpls_vpn_rd") == want)
    else:
        raise KeyError(key)
    if negate:
        return lambda rec: not test(rec)
    return test


def _rule(line_no: int, text: str) -> Rule:
    exporters: Net | None = None
    sets: list[tuple[str, str]] = []
    checks: list[Check] = []
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep or not value:
            raise PreTagMapError(f"pre_tag_map line {line_no}: {token!r} is not key=value")
        if key in _SETS:
            sets.append((key, value))
        elif key == "ip":
            try:
                exporters = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise PreTagMapError(f"pre_tag_map line {line_no}: bad ip {value!r}") from None
        else:
            try:
                checks.append(_check(key, value))
            except KeyError:
                raise PreTagMapError(
                    f"pre_tag_map line {line_no}: key {key!r} is not supported by ribflow"
                ) from None
            except ValueError as exc:
                raise PreTagMapError(f"pre_tag_map line {line_no}: {key}={value}: {exc}") from None
    if len(sets) != 1:
        raise PreTagMapError(
            f"pre_tag_map line {line_no}: needs exactly one of set_tag, set_tag2, set_label"
        )
    key, value = sets[0]
    target = key.removeprefix("set_")
    if target == "label":
        return Rule(line_no, exporters, target, value, tuple(checks))
    if not value.isdigit() or not 0 < int(value) < 1 << 64:
        raise PreTagMapError(f"pre_tag_map line {line_no}: {key}={value} is not 1..2^64-1")
    return Rule(line_no, exporters, target, int(value), tuple(checks))


def parse_pre_tag_map(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("!"):
            rules.append(_rule(n, line))
    return rules


class PreTagMap:
    """The rules of a map, with each exporter's candidate rules cached."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._by_exporter: dict[str, tuple[Rule, ...]] = {}

    @classmethod
    def load(cls, path: str | Path) -> PreTagMap:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise PreTagMapError(f"pre_tag_map {path}: {exc}") from None
        return cls(parse_pre_tag_map(text))

    def _rules_of(self, exporter: str) -> tuple[Rule, ...]:
        rules = self._by_exporter.get(exporter)
        if rules is None:
            try:
                addr = ipaddress.ip_address(exporter)
            except ValueError:
                addr = None
            rules = tuple(
                r for r in self.rules
                if r.exporters is None
                or (addr is not None and addr.version == r.exporters.version
                    and addr in r.exporters)
            )  # fmt: skip
            if len(self._by_exporter) > 65536:
                self._by_exporter.clear()
            self._by_exporter[exporter] = rules
        return rules

    def apply(self, records: list[FlowRecord]) -> int:
        """Set ``tag``/``tag2``/``label`` on the records the map matches; how many matched."""
        matched = 0
        for rec in records:
            for rule in self._rules_of(rec["exporter"]):
                try:
                    hit = rule.matches(rec)
                except (ValueError, TypeError, KeyError):
                    hit = False  # a record without a usable address for src_net/dst_net
                if hit:
                    rec[rule.target] = rule.value
                    matched += 1
                    break
        return matched
