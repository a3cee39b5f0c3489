"""pmacct-style aggregation of enriched flows: primitives, time bins, windows summed in memory."""

from ribflow.aggregate.errors import AggregateConfigError, AggregateError, BadRecord
from ribflow.aggregate.primitives import REGISTRY, Primitive, parse_aggregate
from ribflow.aggregate.records import RowBuilder
from ribflow.aggregate.settings import SEED_AGGREGATE, AggregatorSettings
from ribflow.aggregate.timebins import TimeBins

__all__ = [
    "REGISTRY",
    "SEED_AGGREGATE",
    "AggregateConfigError",
    "AggregateError",
    "AggregatorSettings",
    "BadRecord",
    "Primitive",
    "RowBuilder",
    "TimeBins",
    "parse_aggregate",
]
