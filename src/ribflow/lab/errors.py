"""Errors of the local lab, rooted in :class:`LabError`; each says whose fault it is."""

from __future__ import annotations

from ribflow.errors import ConfigError, EnvironmentProblem, RibflowError


class LabError(RibflowError):
    """Base of every error the lab raises on purpose."""


class LabConfigError(LabError, ConfigError):
    """The operator asked for something inconsistent (an address clash, a bad table size)."""


class PrerequisiteMissing(LabError, EnvironmentProblem):
    """A tool the lab needs (gobgpd, softflowd, Java, ...) is missing and could not be installed."""


class StartFailed(LabError):
    """A lab process exited or never became healthy; the message names it and quotes its log."""
