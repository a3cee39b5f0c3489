"""tshark's PDML decode of NetFlow/IPFIX captures: every record as named fields with raw bytes.

tshark (Wireshark's cflow dissector) is run with ``-T pdml``: unlike its JSON output, PDML keeps
repeated fields and marks RFC 5103 reverse elements ("(Reverse Type …)"), and gives each field's
raw bytes. ``flows`` walks that tree into ``TsFlow`` records (v5 pdus, v9/IPFIX data and options
flows), tracking which template ids are options templates per exporter and domain;
``tests/flow/tshark.py`` turns them into the records ribflow should emit.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

TSHARK = shutil.which("tshark") or "tshark"



@dataclass
class Field:
    name: str
    show: str
    value: str  # raw bytes as hex ("" when tshark gives none)
    reverse: bool

    @property
    def int(self) -> int:
        return int(self.value, 16) if self.value else int(self.show, 0)


@dataclass
class TsFlow:
    """One record tshark decoded (v5 pdu, or a Flow of a v9/IPFIX data or options set)."""

    frame: int
    frame_ms: int
    exporter: str
    header: dict[str, Field]
    set_id: int
    options: bool
    fields: list[Field] = field(default_factory=list)
    undecoded: bool = False

    def first(self, name: str, reverse: bool = False) -> Field | None:
        for f in self.fields:
            if f.name == name and f.reverse == reverse:
                return f
        return None

    def has_reverse(self) -> bool:
        return any(f.reverse for f in self.fields)


def run_pdml(path: str | Path, cflow_ports: tuple[int, ...] = (2055,)) -> ET.Element:
    args = [TSHARK, "-r", str(path), "-T", "pdml"]
    for port in cflow_ports:
        args += ["-d", f"udp.port=={port},cflow"]
    out = subprocess.run(args, capture_output=True, check=True, timeout=120).stdout
    return ET.fromstring(out)


def _fields_of(node: ET.Element) -> list[Field]:
    """Named fields below ``node`` in document order (sub-trees flattened)."""
    out: list[Field] = []
    for f in node.iter("field"):
        name = f.get("name", "")
        if name and name.startswith("cflow."):
            showname = f.get("showname", "")
            out.append(
                Field(name, f.get("show", ""), f.get("value", ""), "(Reverse Type" in showname)
            )
    return out


def flows(root: ET.Element) -> list[TsFlow]:
    """Every record tshark decoded, in capture order; options templates tracked per exporter."""
    result: list[TsFlow] = []
    options_ids: dict[tuple[str, int, int], bool] = {}
    for pkt in root.iter("packet"):
        frame = frame_ms = 0
        exporter = ""
        for proto in pkt.findall("proto"):
            pname = proto.get("name")
            if pname == "frame":
                num = proto.find("field[@name='frame.number']")
                frame = int(num.get("show", "0")) if num is not None else 0
                epoch = proto.find("field[@name='frame.time_epoch']")
                if epoch is not None:
                    frame_ms = int(Decimal(epoch.get("show", "0")) * 1000)
            elif pname in ("ip", "ipv6"):
                src = proto.find(f"field[@name='{pname}.src']")
                if src is not None:
                    exporter = src.get("show", "")
            elif pname == "cflow":
                result += _cflow(proto, frame, frame_ms, exporter, options_ids)
    return result


def _cflow(
    proto: ET.Element,
    frame: int,
    frame_ms: int,
    exporter: str,
    options_ids: dict[tuple[str, int, int], bool],
) -> list[TsFlow]:
    header: dict[str, Field] = {}
    out: list[TsFlow] = []
    for child in proto.findall("field"):
        name = child.get("name", "")
        if name:
            for f in _fields_of(child):
                header.setdefault(f.name, f)
            continue
        show = child.get("show", "")
        if show.startswith("pdu "):
            out.append(TsFlow(frame, frame_ms, exporter, header, 0, False, _fields_of(child)))
            continue
        set_id_f = child.find("field[@name='cflow.flowset_id']")
        if set_id_f is None:
            continue
        set_id = int(set_id_f.get("value", "0"), 16)
        domain = domain_id(header)
        if set_id < 256 and set_id not in _template_sets(header):
            out.append(
                TsFlow(frame, frame_ms, exporter, header, set_id, False, [], undecoded=True)
            )  # a reserved set id
            continue
        if set_id < 256:
            for tid in child.iter("field"):
                if tid.get("name") == "cflow.template_id":
                    options_ids[(exporter, domain, int(tid.get("show", "0")))] = set_id in (1, 3)
            continue
        opts = options_ids.get((exporter, domain, set_id), False)
        recs = [
            r
            for r in child.findall("field")
            if r.get("name", "") == "" and r.get("show", "").startswith("Flow ")
        ]
        if not recs:
            # a data set tshark could not decode (no template): a bare marker flow
            out.append(TsFlow(frame, frame_ms, exporter, header, set_id, opts, [], undecoded=True))
        for rec in recs:
            out.append(TsFlow(frame, frame_ms, exporter, header, set_id, opts, _fields_of(rec)))
    return out


def _template_sets(header: dict[str, Field]) -> tuple[int, int]:
    return (2, 3) if header["cflow.version"].int == 10 else (0, 1)


def domain_id(header: dict[str, Field]) -> int:
    f = header.get("cflow.source_id") or header.get("cflow.od_id")
    return f.int if f else 0
