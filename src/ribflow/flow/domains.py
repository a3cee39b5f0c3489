"""What the per-domain stores of options-learnt state share (``ribflow.flow.sampling``,
``ribflow.flow.exporter_info``).

Each keeps one entry per (exporter, version, domain), at most ``max_domains`` of them (a flood
of exporters costs a counted FlowDecodeError, not memory), and logs its changes as
``{key text: value}`` for the compacted ``flow-templates`` topic: keys
``kind|exporter|version|domain|...`` (:func:`state_key`), drained with ``drain_changes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Generic, TypeVar

from ribflow.flow.errors import FlowDecodeError

DomainKey = tuple[str, int, int]  # exporter, version, domain
T = TypeVar("T")


def state_key(kind: str, key: DomainKey, *rest: str) -> str:
    """The key text of one entry in the flow-templates topic."""
    return "|".join((kind, key[0], str(key[1]), str(key[2]), *rest))


class DomainTables(Generic[T]):
    """Entries of type ``T`` per exporter domain, bounded, with a log of changes."""

    limit_reason: ClassVar[str]  # the FlowDecodeError reason when a limit is reached

    def __init__(self, new: Callable[[], T], max_domains: int) -> None:
        self.max_domains = max_domains
        self._new = new
        self._domains: dict[DomainKey, T] = {}
        self._changes: dict[str, bytes | None] = {}

    def _domain(self, key: DomainKey) -> T:
        """The domain's entry, created if new (raises FlowDecodeError beyond ``max_domains``)."""
        entry = self._domains.get(key)
        if entry is None:
            if len(self._domains) >= self.max_domains:
                raise FlowDecodeError(self.limit_reason, "too many exporter domains")
            entry = self._domains[key] = self._new()
        return entry

    def drain_changes(self) -> dict[str, bytes | None]:
        """What changed since the last call."""
        changes, self._changes = self._changes, {}
        return changes
