"""One entry point for every export protocol: detect it from the packet, decode, tally problems.

``Dispatcher`` is the PacketDecoder the collector and ``ribflow decode`` use. It detects the
protocol once, from the first bytes (NetFlow v5/v9 and IPFIX carry a 16-bit version; sFlow v5 a
32-bit version 5, i.e. ``00 00 00 05``), and hands the packet to that decoder; the label
(``netflow5``, ``netflow9``, ``ipfix``, ``sflow``) comes back in ``DecodeResult.protocol``, or
in ``FlowDecodeError.protocol`` when nothing of the packet is usable. It holds the state of
every exporter (one DecoderState shared by v9 and IPFIX, keyed by exporter, so one exporter's
garbage never touches another's templates) and tallies problems by reason in ``errors`` (the
summary of ``ribflow decode``). It neither logs nor touches metrics: the collector (the I/O
edge) does, from what ``decode`` returns or raises. Whatever a decoder does, ``decode`` raises
nothing but FlowDecodeError (the packet's fault) or :class:`ribflow.errors.Bug` (an unexpected
exception: ours, tallied as ``internal-error``); the collector rejects the packet either way.
"""

from __future__ import annotations

from collections import Counter as Tally

from ribflow.errors import Bug
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.ipfix import IpfixDecoder
from ribflow.flow.netflow5 import NetflowV5Decoder
from ribflow.flow.netflow9 import NetflowV9Decoder
from ribflow.flow.sflow import SflowDecoder
from ribflow.flow.state import DecoderState
from ribflow.flow.types import DecodeResult, PacketDecoder

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

    # -- decoding -------------------------------------------------------------------------
    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        protocol = "unknown"
        try:
            if len(data) < 4:
                raise FlowDecodeError("truncated", f"{len(data)} bytes")
            version = (data[0] << 8) | data[1]
            if version == 9:
                protocol = "netflow9"
                result = self.v9.decode(data, exporter, received_ms)
            elif version == 10:
                protocol = "ipfix"
                result = self.ipfix.decode(data, exporter, received_ms)
            elif version == 5:
                protocol = "netflow5"
                result = self.v5.decode(data, exporter, received_ms)
            elif data[:4] == _SFLOW_V5:
                protocol = "sflow"
                result = self._sflow.decode(data, exporter, received_ms)
            else:
                raise FlowDecodeError("unknown-version", f"first bytes {data[:4].hex()}")
        except FlowDecodeError as exc:
            self.errors[exc.reason] += 1
            exc.protocol = protocol
            raise
        except Exception as exc:  # a bug in a decoder must not take the collector down
            self.errors[Bug.reason] += 1
            what = exc.detail if isinstance(exc, Bug) else f"{type(exc).__name__}: {exc}"
            raise Bug(f"{protocol} decoder: {what}") from exc
        result.protocol = protocol
        if not result.exporter:
            result.exporter = exporter
        if result.errors:
            self.errors.update(result.errors)
        return result

    def encode_records(self, on: bool) -> None:
        """Give NetFlow/IPFIX records as JSON (``DecodeResult.encoded``), by the compiled
        codecs where a template has one (``codegen_native``), or as dicts (``records``)."""
        self.v5.encode = self.v9.encode = self.ipfix.encode = on

    def sflow(self) -> PacketDecoder:
        """The sFlow decoder."""
        return self._sflow

    def flush(self) -> DecodeResult:
        """End of input: give up on data still waiting for a template (tallied)."""
        result = DecodeResult(errors=self.v9.flush())
        self.errors.update(result.errors)
        return result

    # -- state (for the collector's compacted template topic) -----------------------------
    def snapshot(self) -> dict[str, bytes]:
        return self.state.snapshot()

    def restore(self, items: dict[str, bytes]) -> None:
        self.state.restore(items)

    def drain_changes(self) -> dict[str, bytes | None]:
        return self.state.drain_changes()

    @property
    def templates_expired(self) -> int:
        return self.state.templates_expired
