"""The producer interface ribflow's own (non-Quix) producers are written against."""

from __future__ import annotations

from typing import Any, Protocol


class Producer(Protocol):
    """The part of ``confluent_kafka.Producer`` the bridge and the collector use.

    Unit tests pass in-process fakes that implement just this.
    """

    def produce(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., **kw: Any
    ) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...

    def __len__(self) -> int: ...
