"""Contracts between the decoders, the collector and the `decode` command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ribflow.errors import Bug

# A normalised flow record: a dict whose keys and units are those of schemas/flows.v1.json
# ($defs/record). Plain dicts keep the hot path cheap and serialise directly with orjson.
FlowRecord = dict[str, Any]


@dataclass(slots=True)
class DecodeResult:
    """What one export packet gave: flow records, sFlow counter samples, and problems met.

    ``errors`` holds reason labels of the parts that were skipped (a packet can be partly good);
    ``skipped`` counts well-formed parts that give no record (sFlow samples of non-IP packets).
    ``protocol`` is the export protocol (``netflow5``, ``netflow9``, ``ipfix``, ``sflow``) and
    ``exporter`` the exporter the records are of (the UDP source, or sFlow's agent address).

    A decoder asked for JSON (``Dispatcher(encode=True)``, what the collector does) gives NetFlow
    and IPFIX records as ``encoded`` instead: JSON fragments in packet order, each the records
    of one data set as ``orjson.dumps`` writes them, joined by ``,`` (no brackets);
    ``encoded_records`` counts them, ``native_records`` those of them the compiled codecs wrote,
    ``export_ms`` is the first one's ``time_export_ms``.
    """

    records: list[FlowRecord] = field(default_factory=list)
    counters: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    protocol: str = "unknown"
    exporter: str = ""
    encoded: list[bytes] = field(default_factory=list)
    encoded_records: int = 0
    native_records: int = 0
    export_ms: int | None = None

    def add_encoded(self, fragment: bytes, count: int, export_ms: int | None, native: bool) -> None:
        """Append ``count`` records as JSON (``fragment``), in packet order."""
        if not count:
            return
        if not self.encoded_records:
            self.export_ms = export_ms
        self.encoded.append(fragment)
        self.encoded_records += count
        if native:
            self.native_records += count

    @property
    def record_count(self) -> int:
        """Records of the packet, as dicts and as JSON."""
        return len(self.records) + self.encoded_records


def json_fragment(records: list[FlowRecord]) -> bytes:
    """Dict records as one JSON fragment (what ``DecodeResult.encoded`` holds): ``orjson.dumps``
    of the list without its brackets.

    A record JSON cannot hold (an integer beyond 64 bits, which a decoder let through) is our
    defect, raised as :class:`Bug` so that the collector rejects that packet alone (as the
    compiled codecs do) and the records of the packets grouped before it are kept."""
    try:
        return orjson.dumps(records)[1:-1]
    except orjson.JSONEncodeError as exc:
        raise Bug(f"record not encodable as JSON: {exc}") from exc


class PacketDecoder(Protocol):
    """Decodes one UDP payload from ``exporter`` received at ``received_ms`` (epoch ms).

    Raises ``FlowDecodeError`` only when nothing of the packet is usable; state of other exporters
    is never touched by a bad packet.
    """

    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult: ...
