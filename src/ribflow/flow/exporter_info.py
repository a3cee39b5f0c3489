"""What exporters say about themselves in options data: VRF tables and interface names.

IOS XR, Junos and Huawei send options records that map a VRF id (IE 234 ingressVRFID, with
IE 235 egressVRFID) to its route distinguisher (IE 90) and name (IE 236 VRFname), and an
interface index (IE 10 ingressInterface) to its name (IE 82) and description (IE 83). Data
records then carry only the ids. nfacctd keeps the same tables (its in_rd_map/out_rd_map,
vrf_name_map, iface_name_map) and completes each record from them; ``complete`` does what its
handlers do:

* ``mpls_vpn_rd`` when the record has none of its own (IE 90): the RD of the ingress VRF, or of
  the egress VRF for an egress flow (or one with only an egress VRF); an RD of 0:0:0 (the
  default VRF) defers to the other VRF's. A VRF whose RD the exporter never sent gives
  pmacct's ``vrfid:<id>``. One table serves both directions: routers announce each VRF once
  (scope ingressVRFID), and an egress VRF id is the same VRF. (nfacctd keeps a separate egress
  table filled only by options that carry egressVRFID, so it prints ``vrfid:<id>`` for egress
  VRFs of such routers; 1.7.7 reads an absent egressVRFID as an uninitialised number.)
* ``vrf_name`` (the ingress VRF's name, the egress one's when there is no ingress VRF or it is
  ``default``), ``ingress_vrf_name``, ``egress_vrf_name``;
* ``iface_name_in`` / ``iface_name_out`` from ``in_if`` / ``out_if``.

State is per (exporter, version, domain), bounded (a flood costs a counter, not memory), and
persisted with the templates in the compacted ``flow-templates`` topic (keys
``vrf|exporter|version|domain|vrf id`` and ``ifn|...|ifindex``, small JSON values): routers
resend their tables only every few minutes to half an hour, and a restarted collector must not
write ``vrfid:<id>`` in the meantime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ribflow.flow import ies
from ribflow.flow.codegen_extra import rd_text, text
from ribflow.flow.domains import DomainKey, DomainTables, state_key
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.types import FlowRecord

#: Options elements kept as bytes (the others are read as unsigned integers).
RAW_OPTION_IES = frozenset(
    {ies.MPLS_VPN_RD, ies.VRF_NAME, ies.INTERFACE_NAME, ies.INTERFACE_DESCRIPTION}
)
_DEFAULT_RD = "0:0:0"


@dataclass(slots=True)
class DomainInfo:
    """One exporter domain's tables."""

    vrf_rd: dict[int, str] = field(default_factory=dict)
    vrf_names: dict[int, str] = field(default_factory=dict)
    if_names: dict[int, str] = field(default_factory=dict)
    if_descriptions: dict[int, str] = field(default_factory=dict)

    def size(self) -> int:
        return len(self.vrf_rd) + len(self.vrf_names) + len(self.if_names)


def _rd_of(raw: bytes) -> str | None:
    """An RD as options carry it: pmacct keeps 0:0:0 (the 'default VRF' marker) too."""
    if len(raw) == 8 and not any(raw):
        return _DEFAULT_RD
    return rd_text(raw)


class ExporterInfoStore(DomainTables[DomainInfo]):
    """VRF tables and interface names of every exporter domain (in memory, bounded)."""

    limit_reason = "options-limit"

    def __init__(self, max_domains: int = 100_000, max_entries: int = 65_536) -> None:
        super().__init__(DomainInfo, max_domains)
        self.max_entries = max_entries

    def get(self, key: DomainKey) -> DomainInfo | None:
        return self._domains.get(key)

    def _domain(self, key: DomainKey) -> DomainInfo:
        """The domain's tables, created if new; raises FlowDecodeError when they are full."""
        info = self._domains.get(key)
        if info is not None and info.size() >= self.max_entries:
            raise FlowDecodeError(self.limit_reason, f"{key[0]}: options tables full")
        return super()._domain(key)

    def learn(self, key: DomainKey, values: dict[int, int], raws: dict[int, bytes]) -> None:
        """Take what one options record says (numbers and the raw string/RD elements)."""
        ingress, egress = values.get(ies.INGRESS_VRF_ID), values.get(ies.EGRESS_VRF_ID)
        rd_raw, name_raw = raws.get(ies.MPLS_VPN_RD), raws.get(ies.VRF_NAME)
        rd = _rd_of(rd_raw) if rd_raw is not None else None
        if ingress is not None and rd is not None:
            for vrf_id in (ingress, egress):
                if vrf_id:
                    self.set_vrf(key, vrf_id, rd=rd)
        if ingress is not None and name_raw is not None:
            name = text(name_raw)
            if name is not None:
                self.set_vrf(key, ingress, name=name)
        ifindex = values.get(ies.IN_IF)
        if ifindex is not None:
            if_name = text(raws.get(ies.INTERFACE_NAME, b""))
            if_descr = text(raws.get(ies.INTERFACE_DESCRIPTION, b""))
            if if_name is not None or if_descr is not None:
                self.set_interface(key, ifindex, if_name, if_descr)

    def set_vrf(
        self, key: DomainKey, vrf_id: int, rd: str | None = None, name: str | None = None
    ) -> None:
        info = self._domain(key)
        changed = False
        if rd is not None and info.vrf_rd.get(vrf_id) != rd:
            info.vrf_rd[vrf_id], changed = rd, True
        if name is not None and info.vrf_names.get(vrf_id) != name:
            info.vrf_names[vrf_id], changed = name, True
        if changed:
            value = {"rd": info.vrf_rd.get(vrf_id), "name": info.vrf_names.get(vrf_id)}
            self._changes[state_key("vrf", key, str(vrf_id))] = orjson.dumps(value)

    def set_interface(
        self, key: DomainKey, ifindex: int, name: str | None, description: str | None
    ) -> None:
        info = self._domain(key)
        old = (info.if_names.get(ifindex), info.if_descriptions.get(ifindex))
        if name is not None:
            info.if_names[ifindex] = name
        if description is not None:
            info.if_descriptions[ifindex] = description
        new = (info.if_names.get(ifindex), info.if_descriptions.get(ifindex))
        if new != old:
            value = {"name": new[0], "descr": new[1]}
            self._changes[state_key("ifn", key, str(ifindex))] = orjson.dumps(value)

    def snapshot(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key, info in self._domains.items():
            for vrf_id in info.vrf_rd.keys() | info.vrf_names.keys():
                value = {"rd": info.vrf_rd.get(vrf_id), "name": info.vrf_names.get(vrf_id)}
                out[state_key("vrf", key, str(vrf_id))] = orjson.dumps(value)
            for ifindex in info.if_names.keys() | info.if_descriptions.keys():
                value = {"name": info.if_names.get(ifindex),
                         "descr": info.if_descriptions.get(ifindex)}  # fmt: skip
                out[state_key("ifn", key, str(ifindex))] = orjson.dumps(value)
        return out

    def restore(self, items: dict[str, bytes]) -> None:
        """Load what ``snapshot`` gave (foreign and malformed entries are skipped)."""
        for name, raw in items.items():
            parts = name.split("|")
            if raw is None or len(parts) != 5 or parts[0] not in ("vrf", "ifn"):
                continue
            try:
                key = (parts[1], int(parts[2]), int(parts[3]))
                number = int(parts[4])
                value: dict[str, Any] = orjson.loads(raw)
                first = _opt_str(value.get("rd" if parts[0] == "vrf" else "name"))
                second = _opt_str(value.get("name" if parts[0] == "vrf" else "descr"))
                if parts[0] == "vrf":
                    self.set_vrf(key, number, rd=first, name=second)
                else:
                    self.set_interface(key, number, first, second)
            except (ValueError, TypeError, AttributeError, FlowDecodeError):
                continue
            self._changes.pop(name, None)


def _opt_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"not a string: {value!r}")


def complete(records: list[FlowRecord], info: DomainInfo | None) -> None:
    """Add what the exporter's tables say to each record (see the module docstring)."""
    for rec in records:
        ingress = rec.get("ingress_vrf_id") or 0
        egress = rec.get("egress_vrf_id") or 0
        if info is not None:
            if info.if_names:
                name = info.if_names.get(rec.get("in_if") or 0)
                if name is not None:
                    rec["iface_name_in"] = name
                name = info.if_names.get(rec.get("out_if") or 0)
                if name is not None:
                    rec["iface_name_out"] = name
            if (ingress or egress) and info.vrf_names:
                _names(rec, info, ingress, egress)
        if (ingress or egress) and rec.get("mpls_vpn_rd") is None:
            rd = _rd(info, ingress, egress, rec.get("direction") == "egress")
            if rd is not None:
                rec["mpls_vpn_rd"] = rd


def _names(rec: FlowRecord, info: DomainInfo, ingress: int, egress: int) -> None:
    in_name = info.vrf_names.get(ingress) if ingress else None
    out_name = info.vrf_names.get(egress) if egress else None
    if in_name is not None:
        rec["ingress_vrf_name"] = in_name
    if out_name is not None:
        rec["egress_vrf_name"] = out_name
    name = in_name
    if out_name is not None and (not ingress or in_name == "default"):
        name = out_name
    if name is not None and rec.get("vrf_name") is None:
        rec["vrf_name"] = name


def _rd(info: DomainInfo | None, ingress: int, egress: int, egress_flow: bool) -> str | None:
    """The RD of a record's VRF (nfacctd's NF_mpls_vpn_id_handler), or None."""
    table = info.vrf_rd if info is not None else {}
    rd: str | None = None
    for vrf_id, other, chosen in (
        (ingress, egress, not egress_flow or not egress),
        (egress, ingress, egress_flow or not ingress),
    ):
        if vrf_id and chosen:
            rd = table.get(vrf_id)
            if rd == _DEFAULT_RD and other in table:
                rd = table[other]
            if rd is None:
                rd = f"vrfid:{vrf_id}"
    return rd
