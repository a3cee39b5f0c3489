"""RIB errors: what the BGP side sent that we cannot apply (their fault, never fatal)."""

from __future__ import annotations

from ribflow.errors import BadInput, RibflowError


class RibError(RibflowError):
    """Base of the RIB area's errors."""


class BadEvent(RibError, BadInput):
    """A bgp-updates message (or part of it) is malformed; ``reason`` is a short metric label."""
