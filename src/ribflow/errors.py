"""Exceptions shared by every area; each area roots its own in RibflowError."""


class RibflowError(Exception):
    """Base of every error ribflow raises on purpose."""


class ConfigError(RibflowError):
    """The operator's configuration is wrong (their fault, fixable by them)."""


class EnvironmentProblem(RibflowError):
    """Something ribflow needs on this machine is missing or busy (Java, Maven, a port)."""
