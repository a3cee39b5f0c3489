"""The adapter to Quix Streams internals (pinned: quixstreams 3.28.1): every use of a private
Quix API sits here, so a Quix upgrade is checked in one place (the pin and the internals used
are tested beside it, ``tests/kafka/test_quix_adapter.py``).

Quix's ``State`` offers get/set/delete per message key and no iteration, but the enricher must
rebuild its in-memory longest-prefix index from the durable store whenever it (re)gains a
partition. This module therefore

* finds the store partitions Quix assigned (``Store.partitions``: a new object per assignment,
  so object identity tells a fresh assignment from the one the index was built from),
* tells whether Quix is still recovering state from the changelog (then nothing is scanned),
* scans a store partition's default column family (``StorePartition.iter_items``) and splits
  each raw key into the message-key prefix and the enricher's own key, stripping the 8-byte
  TTL stamp if the store is in Quix's TTL mode (the enricher never writes TTLs, and its values
  start with ``{`` or ``J`` so a stamp is unambiguous),
* reads an input partition's committed offset and high watermark through Quix's consumer
  (``Application._consumer``), and defers or precedes checkpoints by wrapping
  ``ProcessingContext.commit_checkpoint`` (the start-up hold, :mod:`ribflow.enrich.hold`),
* exposes the internal producer, so outputs share the checkpoint's Kafka transaction under
  exactly-once instead of bypassing it; :class:`ProducerOutput` hands messages to the confluent
  producer inside it directly, with Quix's delivery callback and error latch
  (``InternalProducer._on_delivery`` / ``_raise_for_error``),
* pauses partitions of an application's consumer (:func:`pause`, used by the replay to stop
  reading partitions that are done; ``Application._consumer``).
* ends a changelog recovery as soon as the changelog stops flowing, and calls back right after
  it (:meth:`QuixStore.quick_recovery`): Quix's recovery loop polls for 1 s and asks for the
  consumer's position at most once a second before it sees that a partition is complete, so
  every restore paid about a second there (``StateStoreManager._recovery_manager``, its
  ``_consumer`` and ``_position_cache``).

tests/kafka/test_quix_adapter.py checks these assumptions against the installed Quix, and that
the installed Quix is the pinned version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from ribflow.kafka.producer import produce_waiting

log = logging.getLogger(__name__)
_SEPARATOR = b"|"
_STAMP = 8


class QuixStore:
    """Access to the enricher's state store and producer inside a Quix application."""

    def __init__(self, app: Application, sdf: StreamingDataFrame, store_name: str = "default"):
        self._app = app
        self._manager = app._state_manager
        self._store = self._manager.get_store(stream_id=sdf.stream_id, store_name=store_name)

    def partitions(self) -> dict[int, Any]:
        """Assigned store partitions, by partition number (live objects)."""
        return dict(self._store.partitions)

    def partition(self, number: int) -> Any:
        return self._store.partitions.get(number)

    def recovering(self) -> bool:
        """True while Quix replays changelogs (store contents are not complete yet)."""
        return bool(self._manager.recovery_required)

    @staticmethod
    def scan(store_partition: Any) -> Iterator[tuple[bytes, bytes, bytes]]:
        """Every ``(message-key prefix, key, value)`` committed in a store partition."""
        stamped = bool(getattr(store_partition, "uses_ttl_stamps", False))
        for raw_key, value in store_partition.iter_items(lower_bound=b""):
            prefix, sep, key = bytes(raw_key).partition(_SEPARATOR)
            if not sep:
                continue
            value = bytes(value)
            if stamped and len(value) > _STAMP and value[0] in (0x00, 0xFF):
                value = value[_STAMP:]
            yield prefix, key, value

    def producer(self) -> Any:
        """Quix's internal producer (transactional under exactly-once)."""
        return self._app._producer

    def backlog(
        self, topic: str, partition: int, timeout: float = 5.0
    ) -> tuple[int | None, int | None]:
        """(committed offset, high watermark) of an input partition; None where unknown."""
        consumer = self._app._consumer
        tp = TopicPartition(topic, partition)
        try:
            committed = consumer.committed([tp], timeout=timeout)[0].offset
            watermarks = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
        except (KafkaException, RuntimeError):
            return None, None
        high = watermarks[1] if watermarks else None
        return (committed if committed >= 0 else None), high

    def guard_commits(self, defer: Callable[[], bool], before_forced: Callable[[], None]) -> None:
        """Skip periodic checkpoints while ``defer()`` is true; call ``before_forced()`` before
        a forced one (partition revoke, shutdown)."""
        context = self._app._processing_context
        commit = context.commit_checkpoint

        def commit_checkpoint(force: bool = False, revoking: bool = False) -> None:
            if force:
                before_forced()
            elif defer():
                return
            commit(force=force, revoking=revoking)

        context.commit_checkpoint = commit_checkpoint  # type: ignore[method-assign]

    def quick_recovery(self, after: Callable[[], None], poll_s: float = 0.05) -> bool:
        """Let a changelog recovery end as soon as its records stop coming, and call ``after()``
        when Quix's recovery returns (to rebuild from the recovered store at once, not on the
        next periodic tick). False when this Quix has no recovery manager (no changelogs)."""
        manager = self._manager
        recovery = getattr(manager, "_recovery_manager", None)
        if recovery is None:
            return False
        recovery._consumer = _RecoveryConsumer(recovery._consumer, recovery, poll_s)
        do_recovery = manager.do_recovery

        def recover() -> None:
            do_recovery()
            after()

        manager.do_recovery = recover  # type: ignore[method-assign]
        return True

    def register_periodic(self, task: Any) -> None:
        """Run ``task()`` on every iteration of Quix's main loop (after each poll)."""
        self._app._dataframe_registry.register_periodic_task(task)


class _RecoveryConsumer:
    """Quix's consumer as its recovery manager sees it: while changelog records come, each poll
    waits at most ``poll_s``, and the first empty poll after them clears the manager's cached
    consumer positions, so the completion check it makes next reads the position reached, not
    one up to a second old.

    The loop's logic is unchanged: a partition is complete when the consumer's position has
    reached the changelog's high watermark taken at the assignment. After an empty poll the
    next one waits Quix's own time again, so a position not yet established (Quix gives up
    after 60 invalid answers in a row) is not asked for more often than Quix asks."""

    def __init__(self, consumer: Any, manager: Any, poll_s: float) -> None:
        self._consumer, self._manager, self._poll_s = consumer, manager, poll_s
        self._flowing = False

    def poll(self, timeout: float | None = None) -> Any:
        wait = timeout
        if self._flowing:
            wait = self._poll_s if timeout is None else min(timeout, self._poll_s)
        msg = self._consumer.poll(wait)
        if msg is not None:
            self._flowing = True
        elif self._flowing:
            self._flowing = False
            self._manager._position_cache.clear()
        return msg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


class ProducerOutput:
    """Adapts Quix's internal producer to :class:`ribflow.enrich.state_sink.Output`.

    With one output message per flow, Quix's ``produce`` (argument dict, a ``poll(0)`` after
    every message) does more work per message than librdkafka's own call. So messages go
    straight to the confluent producer Quix created (the transactional one under exactly-once,
    so they stay inside the checkpoint's transaction),
    with Quix's own delivery callback (delivery errors are latched there and raised by the
    next produce or the checkpoint's flush, as with Quix's path), and delivery reports are
    served every ``_POLL_EVERY`` messages (Quix's main loop polls the producer as well).
    """

    __slots__ = ("_delivered", "_internal", "_since_poll")

    def __init__(self, producer: Any) -> None:
        self._internal = producer
        self._since_poll = 0

        def delivered(err: Any, msg: Any) -> None:
            # Quix records produced offsets only for its changelogs' sake (the checkpoint
            # reads them for changelog partitions): an enriched record's report only
            # matters when it is an error, which Quix's callback latches as ever
            if err is not None:
                producer._on_delivery(err, msg)

        # Under exactly-once the records are in the checkpoint's transaction, and librdkafka
        # fails the commit when any of them failed (the checkpoint then aborts and the input is
        # read again): no per-record report is needed, and each one costs a Python call and a
        # Message object (about 0.5 us per record in profiles). At-least-once keeps them.
        transactional = bool(getattr(producer._producer, "transactional", False))
        self._delivered: Callable[[Any, Any], None] | None = None if transactional else delivered

    def produce_many(
        self, topic: str, values: Sequence[bytes | None], key: bytes | None, timestamp: int | None
    ) -> None:
        """Every value with the same key and time (one flows message's enriched records: the
        per-record cost is librdkafka's call only). Delivery reports go on to Quix only when
        they are errors (none are asked for under exactly-once): never use it for a changelog
        topic."""
        raw = self._raw()
        produce, on_delivery = raw.produce, self._delivered
        ts = 0 if timestamp is None else timestamp  # 0: librdkafka stamps the current time
        for value in values:
            try:
                # positional (topic, value, key, partition, on_delivery, callback, timestamp):
                # keyword parsing was a third of the call; -1 is "any partition" (the default)
                produce(topic, value, key, -1, on_delivery, None, ts)
            except BufferError:
                self._wait_for_room(raw, topic, value, key, ts)
        self._sent(raw, len(values))

    def produce_keyed(
        self, topic: str, records: list[tuple[bytes, bytes | None]], timestamp: int | None
    ) -> None:
        """``(key, value)`` records of one time in one call (a bgp-updates message's
        ``bgp-rib`` records), in order; delivery reports as :meth:`produce_many`."""
        raw = self._raw()
        produce, on_delivery = raw.produce, self._delivered
        ts = 0 if timestamp is None else timestamp
        for key, value in records:
            try:
                produce(topic, value, key, -1, on_delivery, None, ts)  # as produce_many
            except BufferError:
                self._wait_for_room(raw, topic, value, key, ts)
        self._sent(raw, len(records))

    def _raw(self) -> Any:
        """The confluent producer, after raising a delivery error Quix latched."""
        self._internal._raise_for_error()
        return self._internal._producer._producer  # created lazily by Quix on first use

    def _wait_for_room(
        self, raw: Any, topic: str, value: bytes | None, key: bytes | None, ts: int
    ) -> None:
        produce_waiting(
            raw, topic, value, key, timestamp=ts, on_delivery=self._delivered,
            wait_s=_BUFFER_WAIT_S, waits=_BUFFER_WAITS,
        )  # fmt: skip

    def _sent(self, raw: Any, n: int) -> None:
        """Serve delivery reports every ``_POLL_EVERY`` messages."""
        self._since_poll += n
        if self._since_poll >= _POLL_EVERY:
            self._since_poll = 0
            raw.poll(0)


_POLL_EVERY = 64
_BUFFER_WAITS = 3  # waits of up to _BUFFER_WAIT_S serving reports while the queue stays full
_BUFFER_WAIT_S = 30.0


def pause(app: Application, partitions: list[TopicPartition]) -> bool:
    """Pause fetching ``partitions`` on ``app``'s consumer; False when that was not possible
    (only an optimisation for the caller: reading on is harmless)."""
    consumer: Any = getattr(app, "_consumer", None)
    if consumer is None:
        return False
    try:
        consumer.pause(partitions)
    except Exception as exc:  # a Quix/librdkafka state where pausing is refused
        log.debug("could not pause %s: %s", partitions, exc)
        return False
    return True
