"""Is the router's table in the enricher yet? End-of-RIB on bgp-updates, then the enricher's lag.

Healthy processes are not enough for "enriched flows show the router's routes": the table must
have travelled router -> ExaBGP -> bridge -> bgp-updates -> enricher. gobgpd ends its initial
table with End-of-RIB per family (graceful restart is on), the bridge writes those as "eor"
events, and the enricher commits its bgp-updates offsets after processing. So the table is in
the enricher once its committed offsets reach the end offsets seen after the last End-of-RIB.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

import orjson
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.kafka.read import watermarks
from ribflow.lab.errors import StartFailed

_quiet = logging.getLogger("ribflow.lab.kafka")


def end_offsets(broker: KafkaTarget, topic: str, timeout: float = 10.0) -> dict[int, int]:
    consumer = Consumer(
        client_config(broker, {"group.id": f"ribflow-lab-probe-{uuid.uuid4().hex[:8]}"}),
        logger=_quiet,
    )
    try:
        return {p: high for p, (_, high) in watermarks(consumer, topic, timeout).items()}
    finally:
        consumer.close()


def wait_for_eor(
    broker: KafkaTarget,
    topic: str,
    start: dict[int, int],
    router: str,
    families: Iterable[str],
    timeout: float,
) -> float:
    """Read ``topic`` from ``start`` until "eor" events of ``router`` for every family arrived;
    returns the seconds waited. Raises :class:`StartFailed` after ``timeout`` seconds."""
    wanted = set(families)
    seen: set[str] = set()
    consumer = Consumer(
        client_config(
            broker,
            {
                "group.id": f"ribflow-lab-eor-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
            },
        ),
        logger=_quiet,
    )
    t0 = time.monotonic()
    try:
        consumer.assign([TopicPartition(topic, p, off) for p, off in start.items()])
        while not wanted <= seen:
            if time.monotonic() - t0 > timeout:
                raise StartFailed(
                    f"no End-of-RIB from router {router} in {topic} within {timeout:.0f}s "
                    f"(got {sorted(seen) or 'none'} of {sorted(wanted)})"
                )
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                if msg is not None and msg.error().code() != KafkaError._PARTITION_EOF:
                    raise StartFailed(f"reading {topic}: {msg.error()}")
                continue
            value = msg.value()
            if not value or b'"eor"' not in value:
                continue
            try:
                event = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if event.get("type") == "eor" and event.get("router") == router:
                seen.add(str(event.get("family")))
        return time.monotonic() - t0
    finally:
        consumer.close()


def committed(broker: KafkaTarget, group: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    admin = AdminClient(client_config(broker), logger=_quiet)
    fut = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
    )[group]
    return {
        tp.partition: tp.offset
        for tp in fut.result().topic_partitions
        if tp.topic == topic and tp.offset >= 0
    }


def wait_caught_up(
    broker: KafkaTarget,
    group: str,
    topic: str,
    targets: dict[int, int],
    since: dict[int, int],
    timeout: float,
) -> float:
    """Wait until ``group`` committed ``targets`` on every partition that grew after ``since``;
    returns the seconds waited."""
    need = {p: off for p, off in targets.items() if off > since.get(p, 0)}
    t0 = time.monotonic()
    while True:
        done = committed(broker, group, topic)
        behind = {p: off - done.get(p, 0) for p, off in need.items() if done.get(p, 0) < off}
        if not behind:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise StartFailed(
                f"consumer group {group} still {sum(behind.values())} messages behind on {topic}"
                f" after {timeout:.0f}s"
            )
        time.sleep(1.0)
