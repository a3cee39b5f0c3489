"""``ribflow bridge``: the ExaBGP API process (ExaBGP JSON on stdin -> Kafka ``bgp-updates``).

ExaBGP starts it (the ``run`` line of the rendered configuration) with its API pipe as stdin and
reads our stdout for commands, so nothing but ExaBGP commands may be written to stdout: logs go
to stderr (ExaBGP's own log). ``--input FILE`` replays a file of ExaBGP lines instead (lab, tests).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections import Counter
from types import FrameType

from confluent_kafka import Producer

from ribflow.bgp.bridge import Bridge
from ribflow.bgp.errors import NeighborConfigError
from ribflow.bgp.keys import RouterKeys
from ribflow.bgp.metrics import BridgeMetrics
from ribflow.bgp.outbox import Outbox
from ribflow.bgp.parser import EventBuilder
from ribflow.bgp.settings import BridgeSettings
from ribflow.dlq import DeadLetters
from ribflow.kafka.client import producer_config, startup_check
from ribflow.logs import setup_logging
from ribflow.metrics import serve_metrics
from ribflow.settings import command_parser, load
from ribflow.topics import ensure_topics, partition_counts, specs

log = logging.getLogger("ribflow.bridge")


def _parser() -> argparse.ArgumentParser:
    ap = command_parser(
        "bridge",
        "ExaBGP API process: ExaBGP JSON lines on stdin -> normalised events on Kafka (topic "
        "BGP_UPDATES_TOPIC, keyed by router). Settings come from the environment.",
        BridgeSettings,
    )
    ap.add_argument(
        "--instance",
        type=int,
        default=0,
        help="which ExaBGP process of EXABGP_PROCESSES this bridge serves (0-based)",
    )
    ap.add_argument("--input", metavar="FILE", help="read ExaBGP JSON lines from FILE, not stdin")
    return ap


def prepare_topics(settings: BridgeSettings) -> None:
    """Create bgp-updates and its DLQ when missing; warn when the partition count differs.

    Kafka being down is not fatal here: the producer waits for it (back-pressure)."""
    topic = settings.bgp_updates_topic
    dlq = settings.dlq_topic(topic)
    try:
        if settings.bridge_create_topics:
            ensure_topics(
                settings,
                specs(settings, topic, dlq),
                timeout=15.0,
            )
        counts = partition_counts(settings, [topic], timeout=15.0)
    except Exception as exc:
        log.error(
            "cannot check/create topics on %s (%s); producing anyway", settings.broker_address, exc
        )
        return
    if topic in counts and counts[topic] != settings.partitions:
        log.warning(
            "%s has %d partitions but PARTITIONS=%d: the enricher will refuse to join it with "
            "flows",
            topic,
            counts[topic],
            settings.partitions,
        )


def build_bridge(settings: BridgeSettings, infd: int, commands_to_exabgp: bool) -> Bridge:
    """Wire settings, producer, dead letters and the event builder into a bridge."""
    tally: Counter[str] = Counter()
    conf = producer_config(
        settings,
        "log",
        {"client.id": "ribflow-bridge"},
        linger_ms=settings.bridge_linger_ms,
        compression=settings.bridge_compression,
        queue_messages=settings.bridge_buffer_messages,
        queue_mb=settings.bridge_buffer_mb,
    )
    producer = Producer(conf, logger=logging.getLogger("ribflow.bridge.kafka"))
    outbox = Outbox(
        producer, settings.bridge_buffer_messages, tally, on_blocked=BridgeMetrics.blocked
    )
    topic = settings.bgp_updates_topic
    dlq = DeadLetters(outbox, settings.dlq_topic(topic), "bridge")
    keys = RouterKeys(settings.bgp_shards, settings.hot_routers())
    builder = EventBuilder(
        epoch_ms=int(time.time() * 1000),
        keys=keys,
        key_mode=settings.bgp_router_key,
        wire_aspath=settings.bgp_wire_aspath,
    )
    bridge = Bridge(
        builder,
        outbox,
        topic,
        dlq,
        infd=infd,
        commands=sys.stdout.buffer if commands_to_exabgp else None,
        refresh_families=settings.families() if settings.bridge_resync == "refresh" else (),
        stop_flush_seconds=settings.bridge_stop_flush_seconds,
        eof_flush_seconds=settings.bridge_eof_flush_seconds,
    )
    return bridge


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = load(BridgeSettings, "ribflow bridge")
    setup_logging(settings.log_level)
    try:
        neighbors = settings.neighbors_of(args.instance) if settings.neighbors() else []
    except NeighborConfigError as exc:
        log.error("%s", exc)
        return 2
    if settings.metrics_port:
        # one bridge per ExaBGP process: instance i serves METRICS_PORT + i
        port = settings.metrics_port + args.instance
        try:
            serve_metrics(port, settings.metrics_host)
        except OSError as exc:  # metrics are not worth losing BGP events for
            log.error("cannot serve metrics on %s:%d: %s", settings.metrics_host, port, exc)
    if (refused := startup_check(settings, "bridge", timeout=5.0)) is not None:
        return refused
    prepare_topics(settings)
    source = open(args.input, "rb") if args.input else None  # noqa: SIM115 (closed below)
    try:
        infd = source.fileno() if source else sys.stdin.fileno()
        bridge = build_bridge(settings, infd, commands_to_exabgp=source is None)

        def _stop(signum: int, frame: FrameType | None) -> None:
            bridge.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        log.info(
            "bridge epoch %d: %s -> %s (%d neighbours configured, key %s, shards %d)",
            bridge.builder.epoch,
            args.input or "stdin",
            settings.bgp_updates_topic,
            len(neighbors),
            settings.bgp_router_key,
            settings.bgp_shards,
        )
        return bridge.run(neighbors)
    finally:
        if source is not None:
            source.close()
