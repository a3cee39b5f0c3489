"""Errors of the replay: whose fault it is decides the exit code (2: the operator's, 1: ours)."""

from __future__ import annotations

from ribflow.errors import ConfigError, RibflowError


class ReplayError(RibflowError):
    """A replay could not run or could not finish (Kafka refused, output not delivered)."""


class WindowError(ConfigError):
    """The --from/--to window is not a valid time range."""


class OutputTopicError(ConfigError):
    """The output topic would mix replayed flows with other data without being asked to."""


class CheckpointError(ReplayError):
    """A RIB checkpoint could not be written (e.g. one at a later cut already exists)."""
