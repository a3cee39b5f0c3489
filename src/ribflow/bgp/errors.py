"""BGP bridge errors: whose fault it is decides what happens next.

* :class:`BadLine` — ExaBGP (or whoever writes to our stdin) gave us a line we cannot turn into
  events. It goes to the dead-letter topic with ``reason`` and the bridge carries on.
"""

from __future__ import annotations

from ribflow.errors import BadInput, ConfigError, RibflowError


class BgpError(RibflowError):
    """Base of the errors of the BGP area."""


class BadLine(BgpError, BadInput):
    """An input line that is not a usable ExaBGP message; ``reason`` is a short metric label."""


class NeighborConfigError(ConfigError):
    """The neighbour list or the speaker settings are wrong (the operator's to fix)."""
