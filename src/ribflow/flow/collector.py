"""The flow collector: UDP export packets -> decoder -> Kafka (flows, sflow-counters, DLQ).

One thread does the work: it waits on every listener, drains each ready socket (up to
``BURST`` datagrams per turn), decodes each datagram with the PacketDecoder (the Dispatcher:
the protocol is detected from the packet, so any port takes any protocol), keys the records by
router (agent map) and produces them. librdkafka's own threads do the network I/O. The decoder
only returns records, counts and problems; this loop (the I/O edge) logs and counts them, and
produces the messages the batcher returns.

Back-pressure (an explicit choice, setting BACKPRESSURE): the producer's local queue is bounded
(KAFKA_QUEUE_MESSAGES / KAFKA_QUEUE_MB). When it is full because Kafka is slow or away,
``block`` stops reading UDP until there is room: the socket's large kernel buffer absorbs the
burst, and what it cannot hold the kernel drops and counts (ribflow_collector_udp_receive_drops_
total, read from /proc/net/udp). ``drop`` keeps reading and decoding (templates stay current) and
drops the records, counted in ribflow_collector_dropped_records_total. Loss is never silent.

Export packets from a source the ExporterGate does not allow (ALLOWED_EXPORTERS /
ALLOWED_EXPORTERS_FILE, ``flow/allowlist.py``) are dropped before decoding: counted per source,
logged rate-limited, never dead-lettered (that would hand the topic to whoever can send UDP).

Undecodable packets go to the dead-letter topic with their reason (bounded per second; the
rest are counted); template/sampling changes go to the compacted flow-templates topic, and the
templates TEMPLATE_TIMEOUT_S drops (as those changes are drained) are counted in
ribflow_collector_templates_expired_total.
"""

from __future__ import annotations

import logging
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from ribflow.agentmap import RouterResolver
from ribflow.dlq import DeadLetters
from ribflow.errors import BadInput, Bug
from ribflow.flow import codegen_native
from ribflow.flow import metrics as m
from ribflow.flow.allowlist import ExporterGate
from ribflow.flow.batching import FlowBatcher, FlowMessage, KeyChooser
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pretag import PreTagMap
from ribflow.flow.record import kafka_time
from ribflow.flow.templates_topic import StatefulDecoder
from ribflow.flow.types import PacketDecoder
from ribflow.flow.udp import Listener, socket_stats
from ribflow.kafka.producer import Producer
from ribflow.logs import RateLimitedLog
from ribflow.reject import SENT, SUPPRESSED, Rejects

log = logging.getLogger(__name__)

BURST = 512  # datagrams read from one socket before looking at the others
COMPONENT = "collector"


class Topics:
    """The topics the collector writes."""

    def __init__(self, flows: str, counters: str, templates: str, dlq: str) -> None:
        self.flows = flows
        self.counters = counters
        self.templates = templates
        self.dlq = dlq


class Collector:
    """Receive loop + decode + publish. ``run`` returns when ``stop`` is set."""

    def __init__(
        self,
        listeners: list[Listener],
        decoder: PacketDecoder,
        producer: Producer,
        resolver: RouterResolver,
        topics: Topics,
        keys: KeyChooser,
        *,
        backpressure: str = "block",
        max_packets: int = 1,
        max_delay_ms: int = 50,
        dlq_partial: bool = True,
        dlq_max_per_second: int = 1000,
        stats_interval_s: float = 1.0,
        gate: ExporterGate | None = None,
        max_export_skew_ms: int = 300_000,
        pretag: PreTagMap | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.listeners = listeners
        self.decoder = decoder
        self.producer = producer
        self.resolver = resolver
        self.topics = topics
        self.keys = keys
        self.block = backpressure == "block"
        self.dlq_partial = dlq_partial
        self.dlq_max_per_second = dlq_max_per_second
        self.stats_interval_s = stats_interval_s
        self.gate = gate or ExporterGate()
        self.clock = clock
        self.max_export_skew_ms = max_export_skew_ms
        self.pretag = pretag
        self.stop_event = threading.Event()
        self.dead_letters = DeadLetters(producer, topics.dlq, COMPONENT)
        self.batcher = FlowBatcher(keys, max_packets, max_delay_ms)
        self.tallies = m.Tallies()
        self.stateful: StatefulDecoder | None = (
            decoder if hasattr(decoder, "drain_changes") else None  # type: ignore[assignment]
        )
        self._bad = RateLimitedLog(log)
        self.rejects = Rejects(
            COMPONENT, log, self.dead_letters, max_per_second=dlq_max_per_second, log=self._bad
        )
        # NetFlow/IPFIX records as JSON, by the compiled codecs (ribflow_lpm) where a template
        # has one, unless pure Python is forced (RIBFLOW_PURE_LPM) or pre-tagging needs dicts
        self.encoding = (
            pretag is None and codegen_native.available() and hasattr(decoder, "encode_records")
        )
        if self.encoding:
            decoder.encode_records(True)  # type: ignore[attr-defined]
        self._drops_seen: dict[int, int] = {}
        self._expired_seen = 0  # the decoder's count of templates expired, at the last _stats
        self.udp_drops = 0  # since start, all listeners (tests and the benchmark read it)
        self.dropped_records = 0
        self.denied_packets = 0

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        sel = selectors.DefaultSelector()
        for lst in self.listeners:
            sel.register(lst.sock, selectors.EVENT_READ, lst)
            m.UDP_RCVBUF.labels(lst.label).set(lst.rcvbuf)
        self._stats()
        next_stats = time.monotonic() + self.stats_interval_s
        try:
            while not self.stop_event.is_set():
                ready = sel.select(timeout=0.05)
                if ready:
                    now_ms = int(self.clock() * 1000)
                    for key, _ in ready:
                        self._drain(key.data, now_ms)
                self.producer.poll(0)
                self._sync_templates()
                for msg in self.batcher.flush_due(int(self.clock() * 1000)):
                    self._send_flows(msg)
                if time.monotonic() >= next_stats:
                    self._stats()
                    next_stats = time.monotonic() + self.stats_interval_s
        finally:
            sel.close()
            self.flush_batches()
            self._sync_templates()
            self._stats()

    def _drain(self, lst: Listener, now_ms: int) -> None:
        recvfrom = lst.sock.recvfrom
        process = self.process
        for _ in range(BURST):
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED relayed on some stacks: not fatal
                self._bad.warning("recv", "receive error on %s: %s", lst.label, exc)
                return
            process(data, addr[0], now_ms)

    # -- one packet --------------------------------------------------------------------------
    def process(self, data: bytes, source: str, now_ms: int) -> None:
        """Decode one datagram from ``source`` and publish what it gave."""
        if not self.gate.allows(source):
            self._deny(source)
            return
        try:
            result = self.decoder.decode(data, source, now_ms)
        except (BadInput, Bug) as exc:
            proto = exc.protocol if isinstance(exc, FlowDecodeError) else "unknown"
            self.tallies.packets[proto] += 1
            self._reject(data, exc, source)
            return
        proto = result.protocol
        self.tallies.packets[proto] += 1
        if result.skipped:
            self.tallies.sflow_skipped["no_ip_header"] += result.skipped
        records = result.records
        count = result.record_count
        if result.errors and not count and not result.counters:
            for reason in result.errors[1:]:  # the first is counted as the rejection's reason
                self.tallies.decode_errors[reason] += 1
            self._reject(data, BadInput(result.errors[0], ",".join(result.errors)), source)
            return
        router = ""
        if count:
            if self.pretag is not None:
                self.pretag.apply(records)  # records are dicts: no JSON asked (see __init__)
            exporter = result.exporter or source
            router = self.resolver.router_for(exporter)
            export_ms = records[0].get("time_export_ms") if records else result.export_ms
            ts = kafka_time(export_ms, now_ms, self.max_export_skew_ms)
            try:
                msg = self.batcher.add(router, exporter, records, ts, now_ms, result.encoded,
                                       result.encoded_records)  # fmt: skip
            except Bug as exc:  # a record JSON cannot hold: this packet alone is rejected
                self._reject(data, exc, source)
                return
            self.tallies.records[proto] += count
            if result.native_records:
                self.tallies.record_paths["compiled"] += result.native_records
            if count > result.native_records:
                self.tallies.record_paths["python"] += count - result.native_records
            if export_ms is not None and ts != export_ms:
                m.SKEWED.inc()
                self._bad.warning(
                    "skew", "export time of %s is %d ms from its arrival: Kafka timestamp = "
                    "arrival (MAX_EXPORT_SKEW_MS)", exporter, export_ms - now_ms,
                )  # fmt: skip
            if msg is not None:
                self._send_flows(msg)
        if result.counters:
            self._send_counters(result.counters, router, now_ms)
        if result.errors:
            detail = f"partly decoded ({count} records kept): " + ",".join(result.errors)
            letter = self.dlq_partial
            for reason in result.errors:
                m.PARTIAL.labels(reason).inc()
                self.tallies.decode_errors[reason] += 1
                self._dlq_outcome(self.rejects.reject(
                    data, reason, f"from {source}: {detail}", source_key=source,
                    message=f"flow decode problem {reason} from {source}: {detail}",
                    dead_letter=letter,
                ))  # fmt: skip
                letter = False  # one dead letter per packet, under its first reason

    def _deny(self, source: str) -> None:
        """A source that is not an allowed exporter: count and log (rate-limited), nothing else."""
        self.tallies.denied[self.gate.label(source)] += 1
        self.denied_packets += 1
        self._bad.warning(
            "denied", "dropped an export packet from %s: not an allowed exporter "
            "(ALLOWED_EXPORTERS / ALLOWED_EXPORTERS_FILE)", source,
        )  # fmt: skip

    def _reject(self, data: bytes, exc: BadInput | Bug, source: str) -> None:
        """Nothing usable in the packet: count, log (rate-limited), dead-letter."""
        m.REJECTED.labels(exc.reason).inc()
        self.tallies.decode_errors[exc.reason] += 1
        self._dlq_outcome(self.rejects.error(
            exc, data, detail=f"from {source}: {exc.detail}", source_key=source,
            message=f"rejected packet from {source}: {exc.reason} {exc.detail}",
        ))  # fmt: skip

    def _dlq_outcome(self, outcome: str) -> None:
        if outcome == SENT:
            self.tallies.messages[self.topics.dlq] += 1
        elif outcome == SUPPRESSED:
            m.DLQ_SUPPRESSED.inc()

    def _send_counters(self, samples: list[dict[str, Any]], router: str, now_ms: int) -> None:
        for sample in samples:
            r = router or self.resolver.router_for(sample["exporter"])
            sample["router"] = r
            value = orjson.dumps(sample)
            ts = sample.get("time_received_ms") or now_ms
            if self._produce(self.topics.counters, value, self.keys.key(r), ts):
                self.tallies.counter_samples[""] += 1

    def flush_batches(self) -> None:
        """Produce every group the batcher still holds (shutdown, end of a benchmark)."""
        for msg in self.batcher.flush():
            self._send_flows(msg)

    def _send_flows(self, msg: FlowMessage) -> None:
        if not self._produce(self.topics.flows, msg.value, msg.key, msg.ts_ms):
            self.dropped_records += msg.records
            m.DROPPED.labels("kafka_queue_full").inc(msg.records)

    def _produce(
        self, topic: str, value: bytes | None, key: bytes, ts_ms: int, block: bool = False
    ) -> bool:
        """Produce with the back-pressure policy (``block`` forces waiting); False: dropped."""
        try:
            self.producer.produce(topic, value, key, timestamp=ts_ms)
            self.tallies.messages[topic] += 1
            return True
        except BufferError:
            pass
        if not (self.block or block):
            self._bad.warning("queue-full", "Kafka queue full: dropping (BACKPRESSURE=drop)")
            return False
        self._bad.warning("queue-full", "Kafka queue full: waiting (BACKPRESSURE=block)")
        start = time.monotonic()
        try:
            while True:
                self.producer.poll(0.05)
                try:
                    self.producer.produce(topic, value, key, timestamp=ts_ms)
                    self.tallies.messages[topic] += 1
                    return True
                except BufferError:
                    if self.stop_event.is_set():
                        return False
                if time.monotonic() - start > self.stats_interval_s:
                    self._stats()  # keep the drop counters and gauges moving while blocked
        finally:
            m.BLOCKED_SECONDS.inc(time.monotonic() - start)

    # -- periodic ----------------------------------------------------------------------------
    def _sync_templates(self) -> None:
        if self.stateful is None:
            return
        changes = self.stateful.drain_changes()
        if not changes:
            return
        now_ms = int(self.clock() * 1000)
        for k, v in changes.items():  # state is small and precious: always wait for room
            self._produce(self.topics.templates, v, k.encode(), now_ms, block=True)
            m.TEMPLATE_WRITES.inc()

    def _stats(self) -> None:
        if self.stateful is not None:  # templates TEMPLATE_TIMEOUT_S dropped, as they drained
            expired = self.stateful.templates_expired
            self.tallies.templates_expired[""] += expired - self._expired_seen
            self._expired_seen = expired
        self.tallies.publish()
        m.KAFKA_QUEUE.set(len(self.producer))
        stats = socket_stats({lst.inode for lst in self.listeners})
        for lst in self.listeners:
            st = stats.get(lst.inode)
            if st is None:
                continue
            m.UDP_QUEUE.labels(lst.label).set(st.rx_queue)
            seen = self._drops_seen.get(lst.inode)
            self._drops_seen[lst.inode] = st.drops
            if seen is not None and st.drops > seen:
                m.UDP_DROPS.labels(lst.label).inc(st.drops - seen)
                self.udp_drops += st.drops - seen
                self._bad.warning(
                    f"drops-{lst.label}", "kernel dropped %d datagrams on %s (receive buffer full)",
                    st.drops - seen, lst.label,
                )  # fmt: skip
            elif seen is None and st.drops:
                m.UDP_DROPS.labels(lst.label).inc(0)
