"""Fixtures of the aggregation tests (see fixtures.py)."""

from tests.aggregate.fixtures import aggregator

__all__ = ["aggregator"]
