"""RIB errors: what the BGP side sent that we cannot apply (their fault, never fatal)."""

from __future__ import annotations

from ribflow.errors import RibflowError


class RibError(RibflowError):
    """Base of the RIB area's errors."""


class BadEvent(RibError):
    """A bgp-updates message (or part of it) is malformed; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
