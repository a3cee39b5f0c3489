"""Template and sampling state in the compacted ``flow-templates`` topic.

The decoder's state (templates, options-derived sampling rates, exporter boot times) is a small
key/value table: key = the state's own key text (``tpl|exporter|version|domain|id``, ...), value =
its encoded bytes, a tombstone (null value) when withdrawn. Changes are written as they happen
(drained after each batch of packets); at start the topic is read to its end and the latest value
of each key restored, so a restarted collector decodes the first data packet of an exporter whose
template it learnt before, instead of waiting minutes for a template refresh.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from confluent_kafka import Consumer

from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.kafka.read import read_to_end

log = logging.getLogger(__name__)


class StatefulDecoder(Protocol):
    """A decoder whose state can be saved and loaded (the Dispatcher is one)."""

    def snapshot(self) -> dict[str, bytes]: ...

    def restore(self, items: dict[str, bytes]) -> None: ...

    def drain_changes(self) -> dict[str, bytes | None]: ...

    @property
    def templates_expired(self) -> int:
        """Templates dropped for age since start (TEMPLATE_TIMEOUT_S; its ``drain_changes``
        drops them)."""


def read_table(broker: KafkaTarget, topic: str, timeout: float = 30.0) -> dict[str, bytes]:
    """The latest value of every key of a (compacted) topic; tombstones remove keys.

    A missing topic is an empty table. Raises :class:`~ribflow.kafka.read.ReadError` (an
    :class:`~ribflow.errors.EnvironmentProblem`) when the topic cannot be read to its end within
    ``timeout`` seconds (decoding with half the templates would be worse than failing loudly at
    start).
    """
    consumer = Consumer(
        client_config(
            broker,
            {
                "group.id": f"ribflow-templates-{uuid.uuid4().hex[:8]}",  # never joined/committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        ),
        logger=logging.getLogger("ribflow.kafka.templates"),
    )
    table: dict[str, bytes] = {}
    try:
        for msg in read_to_end(consumer, topic, timeout):
            key = msg.key()
            if key is not None:
                value = msg.value()
                text = key.decode("utf-8", "replace")
                if value is None:
                    table.pop(text, None)
                else:
                    table[text] = value
        return table
    finally:
        consumer.close()


class TemplateSync:
    """Restores a decoder's templates and sampling state from the compacted topic."""

    def __init__(self, decoder: StatefulDecoder, topic: str) -> None:
        self.decoder = decoder
        self.topic = topic

    def restore(self, broker: KafkaTarget, timeout: float) -> int:
        """Load the topic's latest state into the decoder; returns how many entries."""
        table = read_table(broker, self.topic, timeout)
        if table:
            self.decoder.restore(table)
        log.info("restored %d template/sampling entries from %s", len(table), self.topic)
        return len(table)
