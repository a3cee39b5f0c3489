"""Contracts between the decoders, the collector and the `decode` command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

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
    """

    records: list[FlowRecord] = field(default_factory=list)
    counters: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    protocol: str = "unknown"
    exporter: str = ""


class PacketDecoder(Protocol):
    """Decodes one UDP payload from ``exporter`` received at ``received_ms`` (epoch ms).

    Raises ``FlowDecodeError`` only when nothing of the packet is usable; state of other exporters
    is never touched by a bad packet.
    """

    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult: ...
