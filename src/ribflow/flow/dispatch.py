"""One entry point for every export protocol: detect it from the packet, decode, count problems.

``Dispatcher`` is the PacketDecoder the collector and ``ribflow decode`` use. It picks the
decoder from the first bytes (NetFlow v5/v9 and IPFIX carry a 16-bit version; sFlow v5 a 32-bit
version 5, i.e. ``00 00 00 05``), holds the state of every exporter (one DecoderState shared by
v9 and IPFIX, keyed by exporter, so one exporter's garbage never touches another's templates),
and counts every problem by reason in ``ribflow_flow_decode_errors_total`` with a rate-limited log
line. Whatever a decoder does, ``decode`` raises nothing but FlowDecodeError (the packet's
fault) or :class:`ribflow.errors.Bug` (an unexpected exception: ours, counted as
``internal-error``); the collector rejects the packet either way, never crashes.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally

from prometheus_client import Counter

from ribflow.errors import Bug
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.ipfix import IpfixDecoder
from ribflow.flow.netflow5 import NetflowV5Decoder
from ribflow.flow.netflow9 import NetflowV9Decoder
from ribflow.flow.sflow import SflowDecoder
from ribflow.flow.state import DecoderState
from ribflow.flow.types import DecodeResult, PacketDecoder
from ribflow.logs import RateLimitedLog

log = logging.getLogger(__name__)

DECODE_ERRORS = Counter(
    "ribflow_flow_decode_errors_total",
    "Flow export packets or parts of them that could not be decoded, by reason",
    ["reason"],
)
_SFLOW_V5 = b"\x00\x00\x00\x05"


class Dispatcher:
    """PacketDecoder for NetFlow v5/v9, IPFIX and sFlow v5, with all per-exporter state."""

    def __init__(
        self, state: DecoderState | None = None, sflow: PacketDecoder | None = None
    ) -> None:
        self.state = state or DecoderState()
        self.v5 = NetflowV5Decoder()
        self.v9 = NetflowV9Decoder(self.state)
        self.ipfix = IpfixDecoder(self.state)
        self._sflow = sflow or SflowDecoder()
        self.errors: Tally[str] = Tally()  # this instance's own count (the summary of `decode`)
        self._log = RateLimitedLog(log)

    # -- decoding -------------------------------------------------------------------------
    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        try:
            result = self._decode(data, exporter, received_ms)
        except FlowDecodeError as exc:
            self._count(exc.reason, exporter, exc.detail)
            raise
        except Exception as exc:  # a bug in a decoder must not take the collector down
            log.debug("decoder bug", exc_info=True)
            self._count("internal-error", exporter, f"{type(exc).__name__}: {exc}")
            raise Bug(f"{type(exc).__name__}: {exc}") from exc
        for reason in result.errors:
            self._count(reason, exporter, "")
        return result

    def _decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        if len(data) < 4:
            raise FlowDecodeError("truncated", f"{len(data)} bytes")
        version = (data[0] << 8) | data[1]
        if version == 9:
            return self.v9.decode(data, exporter, received_ms)
        if version == 10:
            return self.ipfix.decode(data, exporter, received_ms)
        if version == 5:
            return self.v5.decode(data, exporter, received_ms)
        if data[:4] == _SFLOW_V5:
            return self._sflow.decode(data, exporter, received_ms)
        raise FlowDecodeError("unknown-version", f"first bytes {data[:4].hex()}")

    def sflow(self) -> PacketDecoder:
        """The sFlow decoder."""
        return self._sflow

    def flush(self) -> DecodeResult:
        """End of input: give up on data still waiting for a template (counted)."""
        result = DecodeResult(errors=self.v9.flush())
        for reason in result.errors:
            self._count(reason, "-", "held data never got its template")
        return result

    def _count(self, reason: str, exporter: str, detail: str) -> None:
        DECODE_ERRORS.labels(reason).inc()
        self.errors[reason] += 1
        self._log.warning(
            reason, "flow decode problem %s from %s%s", reason, exporter,
            f": {detail}" if detail else "",
        )

    # -- state (for the collector's compacted template topic) -----------------------------
    def snapshot(self) -> dict[str, bytes]:
        return self.state.snapshot()

    def restore(self, items: dict[str, bytes]) -> None:
        self.state.restore(items)

    def drain_changes(self) -> dict[str, bytes | None]:
        return self.state.drain_changes()
