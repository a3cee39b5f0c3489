"""Helpers shared by the decoders to build normalised flow records (schemas/flows.v1.json).

Every record a decoder emits carries all of ``RECORD_KEYS`` in this order; ``None`` means the
exporter did not send that field. An absent address is ``"0.0.0.0"`` (what pmacct prints), so a
record always has a parseable ``src_addr``/``dst_addr``.
"""

from __future__ import annotations

import socket
from typing import Final

RECORD_KEYS: Final = (
    "exporter", "version", "domain", "time_received_ms", "time_export_ms", "start_ms", "end_ms",
    "src_addr", "dst_addr", "src_port", "dst_port", "proto", "tos", "tcp_flags", "in_if",
    "out_if", "vlan", "next_hop", "bgp_next_hop", "src_as", "dst_as", "src_mask", "dst_mask",
    "packets", "bytes", "sampling_rate", "direction", "flow_type",
)
NO_ADDRESS: Final = "0.0.0.0"
ZERO_V4: Final = b"\0\0\0\0"

# Seconds between the NTP era (1900) and the Unix epoch.
NTP_UNIX_OFFSET: Final = 2_208_988_800
# Anchors below this (about 50 days after 1970) are an exporter without a clock; above it, an
# anchor minus a 32-bit uptime is never negative.
MIN_SANE_EPOCH_MS: Final = 1 << 32
WRAP: Final = 1 << 32

ip4 = socket.inet_ntoa


def ip6(raw: bytes) -> str:
    """Text form (RFC 5952) of a 16-byte IPv6 address."""
    return socket.inet_ntop(socket.AF_INET6, raw)


def ntp_ms(value: int) -> int | None:
    """Epoch ms of a 64-bit NTP timestamp (dateTimeMicro/Nanoseconds); None before 1970."""
    ms = ((value >> 32) - NTP_UNIX_OFFSET) * 1000 + (((value & 0xFFFFFFFF) * 1000) >> 32)
    return ms if ms >= 0 else None


def kafka_time(export_ms: int | None, received_ms: int, max_skew_ms: int) -> int:
    """The Kafka timestamp of a flows message: the export time, bounded by the arrival time.

    An export time more than ``max_skew_ms`` before or after the arrival (a wrong exporter
    clock, a replayed capture) gives the arrival time: a message stamped days in the past is
    deleted by retention as soon as it is written, and one far in the future is refused by the
    broker (``log.message.timestamp.after.max.ms``). Everything downstream that reads flows by
    time (the enricher's alignment with bgp-updates, the point-in-time replay's window) sees
    this bounded time; the record itself keeps ``time_export_ms``.
    """
    if export_ms is None or abs(export_ms - received_ms) > max_skew_ms:
        return received_ms
    return export_ms


def uptime_anchor(export_ms: int, received_ms: int) -> int:
    """The wall clock that sysUpTime-relative times are counted back from.

    The exporter's own export time, unless it has obviously no clock (then the arrival time).
    """
    return export_ms if export_ms >= MIN_SANE_EPOCH_MS else received_ms


def uptime_to_epoch(anchor_ms: int, uptime_ms: int, switched_ms: int) -> int:
    """Epoch ms of a sysUpTime-relative time (NetFlow v5/v9 first/last switched).

    ``anchor - (uptime - switched)``, except across the 32-bit uptime wrap (every 49.7 days): a
    switched time more than 2**31 ms *after* the header's uptime was taken before the wrap. A
    switched time a little after the uptime (exporter clock skew) stays a little in the future.
    The generated decoders inline the same expression.
    """
    wrap = WRAP if switched_ms - uptime_ms > 0x80000000 else 0
    return anchor_ms - uptime_ms + switched_ms - wrap
