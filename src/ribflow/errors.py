"""Exceptions shared by every area; each area roots its own in RibflowError.

Whose fault decides what happens:

* :class:`BadInput` — what someone else sent us is unusable (an exporter's packet, an ExaBGP
  line, a Kafka message). It carries a short ``reason`` (a metric label) and a ``detail`` for
  people; it is counted, logged rate-limited and dead-lettered (:mod:`ribflow.reject`), and the
  component carries on.
* :class:`Bug` — a defect in ribflow itself met while handling input. The input is rejected the
  same way under reason ``internal-error`` (and logged with its traceback); nothing crashes.
* :class:`ConfigError` / :class:`EnvironmentProblem` — the operator's to fix; apps stop with a
  one-line message.
"""


class RibflowError(Exception):
    """Base of every error ribflow raises on purpose."""


class BadInput(RibflowError):
    """Input from outside that cannot be used; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Bug(RibflowError):
    """A defect in ribflow met while handling input (our fault, never the sender's)."""

    reason = "internal-error"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.reason}: {detail}")
        self.detail = detail


class ConfigError(RibflowError):
    """The operator's configuration is wrong (their fault, fixable by them)."""


class EnvironmentProblem(RibflowError):
    """Something ribflow needs on this machine is missing or busy (Java, Maven, a port)."""
