"""IPFIX (RFC 7011): the 16-byte message header; sets are walked by ``TemplatedDecoder``.

IPFIX adds enterprise elements (a 4-byte PEN after ids with the high bit), variable-length
fields (RFC 7011 §7), template withdrawals (field count 0; template id 2/3 = all of them) and
biflows (RFC 5103 reverse elements: see ``codegen``). The transport (UDP over IPv4 or IPv6) does
not matter here: the exporter is whatever address string the caller gives.
"""

from __future__ import annotations

import struct

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pending import PacketContext
from ribflow.flow.templated import TRUNCATED, Dialect, TemplatedDecoder
from ribflow.flow.types import DecodeResult

_HEADER = struct.Struct("!HHIII")  # version, length, export time, sequence, observation domain
HEADER_LEN = _HEADER.size


class IpfixDecoder(TemplatedDecoder):
    """Decodes IPFIX messages; templates and sampling live in the shared DecoderState."""

    dialect = Dialect(version=10, template_set=2, options_set=3, enterprise_bit=True,
                      withdrawals=True)

    def header(
        self, data: bytes, off: int, exporter: str, received_ms: int, result: DecodeResult
    ) -> tuple[PacketContext, int, int]:
        if len(data) - off < HEADER_LEN:
            raise FlowDecodeError("truncated", f"IPFIX header needs {HEADER_LEN} bytes")
        version, length, secs, _seq, domain = _HEADER.unpack_from(data, off)
        if version != 10:
            raise FlowDecodeError("unknown-version", str(version))
        if length < HEADER_LEN:
            raise FlowDecodeError("bad-length", f"message length {length}")
        end = off + length
        if end > len(data):
            result.errors.append(TRUNCATED)  # decode the sets that did arrive
            end = len(data)
        export_ms = secs * 1000
        ctx = PacketContext(exporter, 10, domain, received_ms, export_ms, export_ms, 0)
        return ctx, off + HEADER_LEN, end
