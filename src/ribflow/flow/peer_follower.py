"""Follow ``bgp-updates`` in the background to learn BGP peers and their router-ids.

The agent map may name a router by its BGP router-id (pmacct's habit), while flows must be keyed
by the session address (the router key). Session 'up' events of schemas/bgp-updates.v1.json carry
the router's id from its OPEN; every event names its peer. This thread reads the topic from the
beginning (no consumer-group membership, no commits: every collector sees everything) and feeds
:meth:`RouterResolver.observe`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from ribflow.agentmap import RouterResolver
from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.kafka.read import watermarks
from ribflow.reject import Rejects

log = logging.getLogger(__name__)


class PeerFollower(threading.Thread):
    """Daemon thread: ``bgp-updates`` -> ``resolver.observe(peer, router_id)``."""

    def __init__(
        self,
        broker: KafkaTarget,
        topic: str,
        resolver: RouterResolver,
        group: str = "ribflow-collector-peers",
        retry_seconds: float = 5.0,
    ) -> None:
        super().__init__(name="bgp-peer-follower", daemon=True)
        self.broker = broker
        self.topic = topic
        self.resolver = resolver
        self.group = group
        self.retry_seconds = retry_seconds
        self.messages = 0
        self.caught_up = threading.Event()  # set once what the topic held at start is read
        self._ends: dict[int, int] = {}
        self._stop_event = threading.Event()
        self._rejects = Rejects("collector-peers", log)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        consumer = Consumer(
            client_config(
                self.broker,
                {
                    "group.id": f"{self.group}-{uuid.uuid4().hex[:8]}",  # never joined/committed
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                },
            ),
            logger=logging.getLogger("ribflow.kafka.peers"),
        )
        try:
            if self._assign(consumer):
                self._consume(consumer)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> bool:
        while not self._stop_event.is_set():
            try:
                marks = watermarks(consumer, self.topic, timeout=10)
                if marks:
                    parts = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in marks]
                    self._ends = {p: high for p, (low, high) in marks.items() if high > low}
                    consumer.assign(parts)
                    log.info("following %s (%d partitions) for BGP peers", self.topic, len(parts))
                    if not self._ends:
                        self.caught_up.set()
                    return True
                self.caught_up.set()  # no such topic yet: nothing to catch up with
            except KafkaException as exc:
                log.warning("cannot read metadata of %s: %s", self.topic, exc)
            self._stop_event.wait(self.retry_seconds)
        return False

    def _consume(self, consumer: Consumer) -> None:
        while not self._stop_event.is_set():
            msgs = consumer.consume(500, timeout=0.5)
            for msg in msgs:
                if msg.error():
                    self._rejects.log.warning(
                        "kafka", "bgp-updates consumer error: %s", msg.error()
                    )
                    continue
                value = msg.value()
                if value:
                    self.handle(value)
                if self._ends:
                    offset = msg.offset()
                    end = self._ends.get(msg.partition())
                    if end is not None and offset is not None and offset + 1 >= end:
                        del self._ends[msg.partition()]
                        if not self._ends:
                            log.info("caught up with %s (%d messages)", self.topic, self.messages)
                            self.caught_up.set()

    def handle(self, value: bytes) -> None:
        """Learn from one bgp-updates message (ignores anything without a peer)."""
        self.messages += 1
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError:
            self._rejects.reject(
                None, "json", message=f"bgp-updates message is not JSON ({len(value)} bytes)"
            )
            return
        if not isinstance(event, dict):
            return
        peer = event.get("peer")
        if not isinstance(peer, str) or not peer:
            return
        router_id = event.get("router_id")
        if event.get("type") == "session" and event.get("state") != "up":
            router_id = None  # only an established session vouches for its router-id
        self.resolver.observe(peer, router_id if isinstance(router_id, str) else None)


def wait_for_peer(resolver: RouterResolver, router_id: str, timeout: float) -> str | None:
    """Poll until ``router_id`` maps to a peer (tests and start-up diagnostics)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        peer = resolver.peer_for_router_id(router_id)
        if peer is not None:
            return peer
        time.sleep(0.05)
    return None
