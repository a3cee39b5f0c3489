"""NetFlow v5: fixed 24-byte header and 48-byte records; stateless.

The sampling rate comes from the header (low 14 bits of ``sampling_interval``; 0 = unsampled).
A header count larger than the records present (seen in the wild) is reported as ``bad-count``
and the whole records that are there are decoded.
"""

from __future__ import annotations

import struct

from ribflow.flow import codegen_native
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.record import ip4, uptime_anchor
from ribflow.flow.templated import json_text
from ribflow.flow.types import DecodeResult, FlowRecord, json_fragment

_HEADER = struct.Struct("!HHIIIIBBH")
HEADER_LEN = _HEADER.size  # 24
# src, dst, nexthop, in, out, packets, bytes, first, last, sport, dport, pad, flags, proto, tos,
# src_as, dst_as, src_mask, dst_mask, pad
_RECORD = struct.Struct("!4s4s4sHHIIIIHHxBBBHHBB2x")
RECORD_LEN = _RECORD.size  # 48
_NO_RATES: dict[int, int] = {}
MAX_COUNT = 30  # the v5 maximum; more only when the packet really holds them


class NetflowV5Decoder:
    """PacketDecoder for NetFlow v5; with ``encode``, records come as JSON (DecodeResult)."""

    def __init__(self) -> None:
        self.encode = False

    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        if len(data) < HEADER_LEN:
            raise FlowDecodeError("truncated", "v5 header needs 24 bytes")
        version, count, uptime, secs, nsecs, _seq, _etype, _eid, sampling = _HEADER.unpack_from(
            data
        )
        if version != 5:
            raise FlowDecodeError("unknown-version", str(version))
        result = DecodeResult()
        available = (len(data) - HEADER_LEN) // RECORD_LEN
        if count > available:
            result.errors.append("bad-count")
        n = min(count, available)
        if n == 0:
            return result
        export_ms = secs * 1000 + nsecs // 1_000_000
        base = uptime_anchor(export_ms, received_ms) - uptime
        late = uptime + 0x80000000  # switched times after this are from before the uptime wrap
        rate = (sampling & 0x3FFF) or 1
        body = data[HEADER_LEN : HEADER_LEN + n * RECORD_LEN]
        if self.encode:
            anchor = uptime_anchor(export_ms, received_ms)
            native = codegen_native.V5
            got = None if native is None else native.encode(
                body, json_text(exporter), None, received_ms, export_ms, anchor, uptime, None,
                _NO_RATES, rate,
            )  # fmt: skip
            if got is not None:
                result.add_encoded(got[0], got[1], export_ms, native=True)
                return result
        out: list[FlowRecord] = [
            {
                "exporter": exporter, "version": 5, "domain": None,
                "time_received_ms": received_ms, "time_export_ms": export_ms,
                # record.uptime_to_epoch, inlined
                "start_ms": base + first - (0x100000000 if first > late else 0),
                "end_ms": base + last - (0x100000000 if last > late else 0),
                "src_addr": ip4(src), "dst_addr": ip4(dst), "src_port": sport,
                "dst_port": dport, "proto": proto, "tos": tos, "tcp_flags": flags,
                "in_if": in_if, "out_if": out_if, "vlan": None, "next_hop": ip4(nh),
                "bgp_next_hop": None, "src_as": src_as, "dst_as": dst_as,
                "src_mask": src_mask if src_mask <= 32 else None,
                "dst_mask": dst_mask if dst_mask <= 32 else None,
                "packets": packets, "bytes": octets, "sampling_rate": rate,
                "direction": None, "flow_type": None,
            }
            for (src, dst, nh, in_if, out_if, packets, octets, first, last, sport, dport,
                 flags, proto, tos, src_as, dst_as, src_mask, dst_mask) in _RECORD.iter_unpack(body)
        ]
        if self.encode:
            result.add_encoded(json_fragment(out), len(out), export_ms, native=False)
        else:
            result.records = out
        return result
