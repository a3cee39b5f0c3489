"""`ribflow replay`: point-in-time re-enrichment of a time window, and RIB checkpoints.

    ribflow replay --from T --to T [--output TOPIC [--append]] [--lateness MS]
    ribflow replay checkpoint [--at T | --every SECONDS]

Exit codes: 0 done, 1 the replay failed or stopped before the end of its window, 2 bad
arguments, settings or topics (the operator's to fix).
"""

from __future__ import annotations

import argparse
import logging
import sys

from confluent_kafka import KafkaException

from ribflow.errors import ConfigError, RibflowError
from ribflow.kafka.client import startup_check
from ribflow.logs import setup_logging
from ribflow.metrics import serve_metrics
from ribflow.replay.settings import ReplaySettings
from ribflow.replay.window import now_ms, parse_time, parse_window
from ribflow.settings import command_parser, load
from ribflow.topics import check_copartitioned

log = logging.getLogger("ribflow.replay")


def _replay_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "replay",
        "Re-enrich the flows of a past window, each with its router's RIB as it "
        "was at the flow's own time, into a topic of its own. Times: ISO-8601 UTC, 'now', or "
        "an offset from now such as -2h. See `ribflow replay checkpoint --help` for the RIB "
        "checkpoints that bound how much BGP history a replay reads.",
        ReplaySettings,
    )
    p.add_argument("--from", dest="start", required=False, help="window start (inclusive)")
    p.add_argument("--to", dest="end", required=False, help="window end (exclusive)")
    p.add_argument(
        "--output",
        help="output topic (default: '<REPLAY_TOPIC_PREFIX>.<window>', recreated per run)",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="allow --output to be a topic that already holds data (e.g. the live one)",
    )
    p.add_argument("--lateness", type=int, metavar="MS", help="override REPLAY_LATENESS_MS")
    p.add_argument("--progress", choices=["auto", "always", "never"], help="progress bar mode")
    return p


def _checkpoint_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "replay checkpoint",
        "Write a RIB checkpoint of every partition to the checkpoint topic: the "
        "RIBs as of the cut time, and the bgp-updates offset to continue from.",
        ReplaySettings,
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--at", help="cut time (default: now)")
    when.add_argument(
        "--every",
        type=int,
        metavar="SECONDS",
        nargs="?",
        const=0,
        help="run forever, one checkpoint per interval (default CHECKPOINT_INTERVAL)",
    )
    return p


def _refused(prog: str, exc: Exception) -> int:
    """Say why on stderr; the exit status is 2 for what the operator must change (settings,
    arguments, topics), 1 for a failure on the way (Kafka, a broken input)."""
    if isinstance(exc, ConfigError):
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    print(f"{prog}: failed: {exc}", file=sys.stderr)
    return 1


def checkpoint_main(argv: list[str]) -> int:
    args = _checkpoint_parser().parse_args(argv)
    try:
        settings = load(ReplaySettings, "ribflow replay checkpoint")
        cut = parse_time(args.at) if args.at else now_ms()
    except ConfigError as exc:
        return _refused("ribflow replay checkpoint", exc)
    setup_logging(settings.log_level)
    if (refused := startup_check(settings, "replay checkpoint")) is not None:
        return refused
    from ribflow.replay import checkpointer

    try:
        inputs = [settings.bgp_updates_topic, settings.flows_topic]
        partitions = check_copartitioned(settings, inputs)
        if args.every is not None:
            interval = args.every or settings.checkpoint_interval
            checkpointer.run_every(settings, partitions, interval)
            return 0
        for written in checkpointer.write_all(settings, partitions, cut):
            print(f"checkpoint {written.describe()}", file=sys.stderr)
    except (RibflowError, KafkaException) as exc:
        return _refused("ribflow replay checkpoint", exc)
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "checkpoint":
        return checkpoint_main(argv[1:])
    parser = _replay_parser()
    args = parser.parse_args(argv)
    if not args.start or not args.end:
        parser.print_usage(sys.stderr)
        print("ribflow replay: --from and --to are required", file=sys.stderr)
        return 2
    try:
        settings = load(ReplaySettings, "ribflow replay")
        window = parse_window(args.start, args.end)
        if args.progress:
            settings = settings.model_copy(update={"progress": args.progress})
        if args.lateness is not None and not 0 <= args.lateness <= 3_600_000:
            raise ConfigError("--lateness must be within 0..3600000 ms")
    except ConfigError as exc:
        return _refused("ribflow replay", exc)
    setup_logging(settings.log_level)
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    if (refused := startup_check(settings, "replay")) is not None:
        return refused
    serve_metrics(settings.metrics_port, settings.metrics_host)
    from ribflow.replay import runner, summary

    request = runner.Request(window, args.output, args.append, args.lateness)
    print(f"ribflow replay: window {window.describe()} on the flows' timestamps", file=sys.stderr)
    try:
        outcome = runner.run(request, settings, sys.stderr)
    except (RibflowError, KafkaException) as exc:
        return _refused("ribflow replay", exc)
    print(summary.render(outcome), file=sys.stderr)
    return 0 if outcome.complete else 1
