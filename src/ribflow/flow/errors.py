"""Decoding errors: the exporter sent something we cannot use (their side, never fatal)."""

from __future__ import annotations

from ribflow.errors import BadInput


class FlowDecodeError(BadInput):
    """A packet (or part of it) could not be decoded; ``reason`` is a short metric label.

    ``protocol`` is the export protocol the packet was detected as (set by the Dispatcher).
    """

    protocol = "unknown"
