"""`ribflow enricher`: run the Quix Streams enricher (settings from the environment / .env)."""

from __future__ import annotations

import argparse
import logging
import sys

from confluent_kafka import KafkaException

from ribflow.enrich.settings import EnricherSettings
from ribflow.errors import RibflowError
from ribflow.kafka.client import startup_check
from ribflow.kafka.rerun import run_until_stopped
from ribflow.logs import setup_logging
from ribflow.metrics import serve_metrics
from ribflow.rib.heap import HeapTrimmer
from ribflow.settings import command_parser, load
from ribflow.topics import check_copartitioned, ensure_topics, specs

log = logging.getLogger("ribflow.enricher")


def _parser() -> argparse.ArgumentParser:
    p = command_parser(
        "enricher",
        "Per-router RIBs from bgp-updates, longest-prefix enrichment of flows into "
        "pmacct-compatible flows-enriched, RIB dumps to bgp-rib-dump. Settings come from the "
        "environment (see --settings).",
        EnricherSettings,
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        help="stop after this many idle seconds (0: run until SIGTERM/SIGINT)",
    )
    return p


def prepare_topics(settings: EnricherSettings) -> int:
    """Create missing inputs and outputs from the topic catalogue; returns the inputs' partition
    count (existing inputs are checked: they must be co-partitioned)."""
    from ribflow.enrich.pipeline import output_topic_specs

    inputs = [settings.bgp_updates_topic, settings.flows_topic]
    ensure_topics(settings, specs(settings, *inputs))
    partitions = check_copartitioned(settings, inputs)
    ensure_topics(settings, output_topic_specs(settings, partitions))
    return partitions


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = load(EnricherSettings, "ribflow enricher")
    setup_logging(settings.log_level)
    if (refused := startup_check(settings, "enricher")) is not None:
        return refused
    try:
        partitions = prepare_topics(settings)
        from ribflow.enrich.pipeline import build
    except (RibflowError, KafkaException) as exc:
        log.error("refusing to start: %s", exc)
        print(f"ribflow enricher: {exc}", file=sys.stderr)
        return 2
    serve_metrics(settings.metrics_port, settings.metrics_host)

    def run_once() -> None:
        # a fresh application each time: Kafka failing under one ends it (ribflow.kafka.rerun)
        wired = build(settings)
        wired.store.register_periodic(HeapTrimmer().tick)  # what table loads free goes back
        log.info(
            "enricher starting: group %s, %s, %d partitions, state in %s",
            settings.group_id,
            settings.processing_guarantee,
            partitions,
            settings.state_dir,
        )
        try:
            wired.run(timeout=args.timeout)
        finally:
            log.info("enricher stopped: %s", wired.enricher.stats())

    run_until_stopped("enricher", settings, run_once)
    return 0
