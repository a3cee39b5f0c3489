"""`ribflow collector`: run the UDP flow collector until SIGTERM/SIGINT.

Wires CollectorSettings to the library: topics (created with ensure_topics), the Dispatcher
(restored from flow-templates), the agent map and its BGP follower, the UDP listeners, the
Kafka producer, the exporter allowlist and /metrics. Exit status: 0 after a clean stop, 2 for
bad settings, an unreadable agent map or allow file, 1 when Kafka or a port is not usable at start.

With COLLECTOR_WORKERS > 1 this process only creates the topics, binds the sockets and
supervises the workers (``flow/workers.py``); each worker is this same command with the hidden
``--worker`` options, running ``run`` on the sockets it inherited.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ribflow.agentmap import AgentMap, AgentMapError, RouterResolver
from ribflow.bgp.keys import RouterKeys
from ribflow.errors import ConfigError, RibflowError
from ribflow.flow import metrics as m
from ribflow.flow.allowlist import ExporterGate
from ribflow.flow.batching import KeyChooser
from ribflow.flow.collector import Collector, Topics
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.peer_follower import PeerFollower
from ribflow.flow.pretag import PreTagMap, PreTagMapError
from ribflow.flow.settings import CollectorSettings
from ribflow.flow.state import DecoderState
from ribflow.flow.templates_topic import TemplateSync
from ribflow.flow.udp import Listener, listener_from_fd, open_listener
from ribflow.flow.workers import die_with_parent, supervise
from ribflow.flow.workers_metrics import worker_metrics_port
from ribflow.kafka.client import producer_config, startup_check
from ribflow.logs import setup_logging
from ribflow.metrics import serve_metrics
from ribflow.settings import command_parser, load
from ribflow.topics import TopicSpec, ensure_topics, partition_counts, specs

log = logging.getLogger("ribflow.collector")


def topic_specs(s: CollectorSettings) -> list[TopicSpec]:
    """The topics the collector writes, as the catalogue configures them."""
    return specs(
        s, s.flows_topic, s.sflow_counters_topic, s.dlq_topic(s.flows_topic), s.flow_templates_topic
    )


def report_failed_delivery(err: KafkaError | None, msg: Any) -> None:
    if err is not None:
        m.DELIVERY_FAILED.labels(msg.topic()).inc()
        log.error("Kafka did not take a message for %s: %s", msg.topic(), err)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "collector",
        "Receive NetFlow v5/v9, IPFIX and sFlow v5 over UDP and publish the decoded flows to "
        "Kafka. Configured by environment variables (see --settings).",
        CollectorSettings,
    )
    # set by the parent when it starts a worker (COLLECTOR_WORKERS > 1); not for people
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--fds", default="", help=argparse.SUPPRESS)
    p.add_argument("--ready-fd", type=int, default=-1, help=argparse.SUPPRESS)
    p.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)
    return p


class WorkerRole:
    """What a worker process got from its parent: its index, sockets and readiness pipe."""

    def __init__(self, index: int, fds: list[int], ready_fd: int) -> None:
        self.index = index
        self.fds = fds
        self.ready_fd = ready_fd

    def listeners(self) -> list[Listener]:
        return [listener_from_fd(fd) for fd in self.fds]

    def ready(self) -> None:
        if self.ready_fd >= 0:
            os.write(self.ready_fd, b"r")
            os.close(self.ready_fd)
            self.ready_fd = -1


def open_listeners(s: CollectorSettings) -> list[Listener]:
    listeners: list[Listener] = []
    try:
        for host in s.hosts():
            for port in s.ports():
                listeners.append(open_listener(host, port, s.udp_rcvbuf_bytes))
    except OSError:
        for lst in listeners:
            lst.close()
        raise
    return listeners


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = load(CollectorSettings, "ribflow collector")
    setup_logging(settings.log_level)
    role = None
    if args.worker is not None:
        die_with_parent(args.parent_pid)
        role = WorkerRole(args.worker, [int(f) for f in args.fds.split(",") if f], args.ready_fd)
    try:
        agent_map = AgentMap.load(settings.agent_map_file) if settings.agent_map_file else None
        gate = exporter_gate(settings)  # each worker loads and follows the file itself
        pretag = PreTagMap.load(settings.pre_tag_map) if settings.pre_tag_map else None
    except (AgentMapError, ConfigError, PreTagMapError) as exc:
        log.error("%s", exc)
        return 2
    if role is None and (refused := startup_check(settings, "collector")) is not None:
        return refused
    try:
        if role is None and settings.collector_workers > 1:
            prepare_topics(settings)
            return supervise(settings)
        return run(settings, agent_map, role, gate, pretag)
    except (RibflowError, OSError, KafkaException) as exc:
        log.error("cannot run: %s", exc)
        return 1


def exporter_gate(settings: CollectorSettings) -> ExporterGate:
    """The allowlist of ALLOWED_EXPORTERS(_FILE) (raises ConfigError for a broken file)."""
    return ExporterGate.from_settings(
        settings.allowed_exporters, settings.allowed_exporters_file, settings.denied_source_labels
    )


def prepare_topics(settings: CollectorSettings) -> None:
    """Create the topics (CREATE_TOPICS) and warn when flows cannot be joined with bgp-updates."""
    if settings.create_topics:
        ensure_topics(settings, topic_specs(settings))
    joined = [settings.flows_topic, settings.bgp_updates_topic]
    counts = partition_counts(settings, joined)
    if len(counts) == 2 and len(set(counts.values())) != 1:
        log.warning(
            "%s has %d partitions but %s has %d: the enricher will refuse to join them",
            settings.flows_topic, counts.get(settings.flows_topic, 0),
            settings.bgp_updates_topic, counts.get(settings.bgp_updates_topic, 0),
        )  # fmt: skip


def run(
    settings: CollectorSettings,
    agent_map: AgentMap | None,
    role: WorkerRole | None = None,
    gate: ExporterGate | None = None,
    pretag: PreTagMap | None = None,
) -> int:
    """Start everything, serve until a signal, stop in order (``role``: as one of several
    workers, on inherited sockets, topics already prepared by the parent)."""
    if role is None:
        serve_metrics(settings.metrics_port, settings.metrics_host)
        prepare_topics(settings)
    else:
        serve_metrics(worker_metrics_port(settings.metrics_port, role.index), settings.metrics_host)
    decoder = Dispatcher(DecoderState(
        template_max_age=settings.template_timeout_s,
        expire_restored=settings.collector_workers == 1,  # a worker restores others' exporters
    ))  # fmt: skip
    sync = TemplateSync(decoder, settings.flow_templates_topic)
    if settings.restore_templates:
        m.TEMPLATES_RESTORED.set(sync.restore(settings, settings.restore_timeout_s))
    resolver = RouterResolver(agent_map, settings.fallback_router, settings.bgp_router_key)
    follower = None
    if settings.follow_bgp_updates:
        follower = PeerFollower(settings, settings.bgp_updates_topic, resolver)
        follower.start()
        if not follower.caught_up.wait(settings.bgp_catchup_timeout_s):
            log.warning(
                "%s not read to its end in %.0f s: starting anyway (router keys may be "
                "provisional until it is)",
                settings.bgp_updates_topic,
                settings.bgp_catchup_timeout_s,
            )
    producer = Producer(
        producer_config(
            settings,
            "data",
            {"on_delivery": report_failed_delivery},
            linger_ms=settings.linger_ms,
            compression=settings.compression,
            queue_messages=settings.kafka_queue_messages,
            queue_mb=settings.kafka_queue_mb,
        ),
        logger=logging.getLogger("ribflow.kafka.out"),
    )
    listeners = open_listeners(settings) if role is None else role.listeners()
    collector = Collector(
        listeners,
        decoder,
        producer,
        resolver,
        Topics(
            flows=settings.flows_topic,
            counters=settings.sflow_counters_topic,
            templates=settings.flow_templates_topic,
            dlq=settings.dlq_topic(settings.flows_topic),
        ),
        KeyChooser(RouterKeys(settings.bgp_shards, settings.hot_routers())),
        backpressure=settings.backpressure,
        max_packets=settings.message_max_packets,
        max_delay_ms=settings.message_max_delay_ms,
        dlq_partial=settings.dlq_partial,
        dlq_max_per_second=settings.dlq_max_per_second,
        stats_interval_s=settings.stats_interval_s,
        gate=gate or exporter_gate(settings),
        max_export_skew_ms=settings.max_export_skew_ms,
        pretag=pretag,
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        collector.stop_event.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    if role is None:
        log.info(
            "collector ready: %s -> %s (backpressure %s; exporters: %s)",
            ", ".join(lst.label for lst in listeners), settings.flows_topic, settings.backpressure,
            collector.gate.describe(),
        )  # fmt: skip
    else:
        log.info("worker %d (pid %d) ready on %s (exporters: %s)", role.index, os.getpid(),
                 ", ".join(lst.label for lst in listeners), collector.gate.describe())  # fmt: skip
        role.ready()
    try:
        collector.run()
    finally:
        for lst in listeners:
            lst.close()
        left = producer.flush(settings.stop_flush_s)
        if left:
            log.error("%d messages not delivered at shutdown", left)
        if follower is not None:
            follower.stop()
    log.info("collector stopped (kernel drops seen: %d)", collector.udp_drops)
    return 0
