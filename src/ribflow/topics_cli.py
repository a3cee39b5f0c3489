"""`ribflow topics`: create ribflow's topics with the right partition counts and configs.

Every topic of the catalogue (ribflow.topics): those joined by router key (bgp-updates, flows and
what the enricher derives from them) get the same partition count (PARTITIONS); table-like topics
(bgp-rib, flow-templates) are compacted; each data topic has its ``<topic>-dlq`` dead-letter
topic. Existing topics are left as they are and co-partitioning is checked afterwards, with a clear
message when it fails.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ribflow.errors import RibflowError
from ribflow.kafka.client import startup_check
from ribflow.settings import AppSettings, command_parser, load
from ribflow.topics import TopicSpec, catalogue, check_copartitioned, ensure_topics


def topic_specs(settings: AppSettings, prefix: str = "") -> list[TopicSpec]:
    """Every ribflow topic of the catalogue (names from ``settings``, ``prefix`` in front)."""
    return list(catalogue(settings, prefix).values())


def copartitioned_names(settings: AppSettings, prefix: str = "") -> list[str]:
    """The topics that must share one partition count (joined by router key)."""
    names = (settings.bgp_updates_topic, settings.flows_topic, settings.bgp_rib_topic)
    return [prefix + n for n in names]


def create_all(settings: AppSettings, prefix: str = "") -> list[str]:
    """Create missing topics and check co-partitioning; returns the names created."""
    created = ensure_topics(settings, topic_specs(settings, prefix))
    check_copartitioned(settings, copartitioned_names(settings, prefix))
    return created


def _parser() -> argparse.ArgumentParser:
    p = command_parser("topics", __doc__)
    p.add_argument("--broker", help="bootstrap servers (default: Quix__Broker__Address)")
    p.add_argument("--partitions", type=int, help="partition count (default: PARTITIONS)")
    p.add_argument("--prefix", default="", help="prefix of every topic name")
    p.add_argument("--list", action="store_true", help="print the topics, create nothing")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.broker:
        overrides["Quix__Broker__Address"] = args.broker
    if args.partitions:
        overrides["PARTITIONS"] = args.partitions
    settings = load(AppSettings, "ribflow topics", **overrides)
    specs = topic_specs(settings, args.prefix)
    if args.list:
        for s in specs:
            config = ",".join(f"{k}={v}" for k, v in sorted(s.config.items()))
            print(f"{s.name}\t{s.partitions}\t{config}")
        return 0
    if (refused := startup_check(settings, "topics")) is not None:
        return refused
    try:
        created = create_all(settings, args.prefix)
    except RibflowError as exc:
        print(f"ribflow topics: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # broker unreachable, authorisation, ...
        print(f"ribflow topics: {settings.broker_address}: {exc}", file=sys.stderr)
        return 1
    existing = len(specs) - len(created)
    print(f"{len(created)} topics created, {existing} already there ({settings.broker_address})")
    return 0
