"""`ribflow aggregator`: pmacct-style aggregation of flows-enriched into flows-aggregated.

Settings come from the environment (see :class:`AggregatorSettings`; ``.env`` is read too).
``--check`` validates them and prints the plan (primitives -> output keys, windows) without
touching Kafka: the quick way to see that an nfacctd ``aggregate:`` line is understood.
"""

from __future__ import annotations

from ribflow.aggregate.settings import AggregatorSettings
from ribflow.kafka.client import startup_check
from ribflow.kafka.rerun import run_until_stopped
from ribflow.logs import setup_logging
from ribflow.metrics import serve_metrics
from ribflow.settings import command_parser, load

__all__ = ["describe", "main"]


def describe(settings: AggregatorSettings) -> str:
    """A human-readable plan of what the settings aggregate, and how."""
    bins = settings.time_bins()
    lines = ["aggregate by (pmacct primitive -> output key):"]
    prims = settings.primitives()
    lines += [f"  {p.name:<22} -> {p.output_key}" for p in prims] or ["  (none: one total per bin)"]
    lines += [
        f"window (flush) {bins.window_ms // 1000}s, bin (stamp_inserted) {bins.bin_ms // 1000}s, "
        f"grace {bins.grace_ms // 1000}s, time source {settings.time_source}",
        _idle_line(settings.idle_flush_s()),
        f"{settings.flows_enriched_topic} -> {settings.flows_aggregated_topic} "
        f"({settings.processing_guarantee}, consumer group {settings.group()})",
    ]
    return "\n".join(lines)


def _idle_line(idle_s: float | None) -> str:
    if idle_s is None:
        return "idle flush off: windows close only when later flows come"
    return (
        f"idle flush: a partition without flows for {idle_s:g}s and no unread input (lag 0) "
        "closes windows on the wall clock"
    )


def main(argv: list[str]) -> int:
    parser = command_parser(
        "aggregator",
        "Aggregate flows-enriched by pmacct primitives into time bins (flows-aggregated, "
        "pmacct JSON). Configured by environment variables (AGGREGATE, REFRESH_TIME, "
        "HISTORY, ...; see --settings).",
        AggregatorSettings,
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the settings, print the plan, exit"
    )
    args = parser.parse_args(argv)
    settings = load(AggregatorSettings, "ribflow aggregator")
    if args.check:
        print(describe(settings))
        return 0
    setup_logging(settings.log_level)
    if (refused := startup_check(settings, "aggregator")) is not None:
        return refused
    serve_metrics(settings.metrics_port, settings.metrics_host)
    from ribflow.aggregate.pipeline import Aggregator

    first = [Aggregator(settings)]
    first[0].ensure_topics()

    def run_once() -> None:
        # a fresh application each time: Kafka failing under one ends it (ribflow.kafka.rerun)
        aggregator = first.pop() if first else Aggregator(settings)
        aggregator.build()
        aggregator.run()

    run_until_stopped("aggregator", settings, run_once)
    return 0
