"""NetFlow v9 (RFC 3954): the 20-byte header; sets are walked by ``TemplatedDecoder``.

Times in v9 data are sysUpTime-relative (first/last switched, IE 22/21); they are turned into
epoch ms against the header's export time (or the arrival time when the exporter's clock is
unset), modulo the 32-bit uptime wrap. The header's record count is not trusted: exporters get it
wrong, so the packet length bounds the walk.
"""

from __future__ import annotations

import struct

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pending import PacketContext
from ribflow.flow.record import uptime_anchor
from ribflow.flow.templated import Dialect, TemplatedDecoder
from ribflow.flow.types import DecodeResult

_HEADER = struct.Struct("!HHIIII")  # version, count, sysuptime, unix_secs, sequence, source id
HEADER_LEN = _HEADER.size


class NetflowV9Decoder(TemplatedDecoder):
    """Decodes NetFlow v9 packets; templates and sampling live in the shared DecoderState."""

    dialect = Dialect(version=9, template_set=0, options_set=1, enterprise_bit=False,
                      withdrawals=False)

    def header(
        self, data: bytes, off: int, exporter: str, received_ms: int, result: DecodeResult
    ) -> tuple[PacketContext, int, int]:
        if len(data) < HEADER_LEN:
            raise FlowDecodeError("truncated", f"v9 header needs {HEADER_LEN} bytes")
        version, _count, uptime, secs, _seq, source_id = _HEADER.unpack_from(data)
        if version != 9:
            raise FlowDecodeError("unknown-version", str(version))
        export_ms = secs * 1000
        ctx = PacketContext(
            exporter, 9, source_id, received_ms, export_ms,
            uptime_anchor(export_ms, received_ms), uptime,
        )
        return ctx, HEADER_LEN, len(data)
