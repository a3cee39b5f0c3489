"""Decoding errors: the exporter sent something we cannot use (their side, never fatal)."""

from __future__ import annotations

from ribflow.errors import RibflowError


class FlowDecodeError(RibflowError):
    """A packet (or part of it) could not be decoded; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
