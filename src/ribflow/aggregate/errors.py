"""Errors of the aggregation stage, split by whose fault they are."""

from __future__ import annotations

from ribflow.errors import BadInput, ConfigError, RibflowError


class AggregateError(RibflowError):
    """Base of the errors the aggregation stage raises on purpose."""


class AggregateConfigError(AggregateError, ConfigError):
    """The operator's aggregation settings are wrong (unknown primitive, bad time value)."""


class BadRecord(AggregateError, BadInput):
    """A flows-enriched record cannot be aggregated; ``reason`` is a short metric label.

    The upstream writer broke the contract (their fault): the record is rejected like any
    :class:`~ribflow.errors.BadInput` (counted, logged rate-limited, dead-lettered:
    :mod:`ribflow.reject`); aggregation carries on.
    """

    def __init__(self, reason: str, detail: str = "", raw: bytes | None = None) -> None:
        super().__init__(reason, detail)
        self.raw = raw
        """The offending bytes when known (a line or message that is not a JSON object)."""
