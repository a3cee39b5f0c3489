"""Refresh time / history -> windows, bins, lateness and stamps."""

from __future__ import annotations

import pytest

from ribflow.aggregate import AggregateConfigError, TimeBins
from ribflow.aggregate.timebins import format_stamp, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("60", 60), (60, 60), ("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400)],
)
def test_pmacct_time_values(value: str | int, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5x", "1w", "1M", "0", "-5", "m5"])
def test_bad_time_values(value: str) -> None:
    with pytest.raises(AggregateConfigError):
        parse_duration(value)


def test_refresh_shorter_than_history_gives_partial_records_of_one_bin() -> None:
    bins = TimeBins.from_pmacct(60, "5m", 10)
    assert (bins.window_ms, bins.bin_ms, bins.grace_ms) == (60_000, 300_000, 10_000)
    ts = 1_714_557_790_000  # 10:03:10
    assert bins.window_start(ts) == 1_714_557_780_000  # 10:03:00
    assert bins.bin_start(ts) == 1_714_557_600_000  # 10:00:00
    assert format_stamp(bins.bin_start(ts) // 1000) == "2024-05-01 10:00:00"
    assert format_stamp(bins.bin_start(ts) // 1000, since_epoch=True) == "1714557600"


def test_history_shorter_than_refresh_flushes_every_bin() -> None:
    bins = TimeBins.from_pmacct(300, "1m", 0)
    assert (bins.window_ms, bins.bin_ms) == (60_000, 60_000)


def test_refresh_and_history_must_divide() -> None:
    with pytest.raises(AggregateConfigError, match="divide"):
        TimeBins.from_pmacct(45, "1m", 0)


def test_lateness_is_window_end_plus_grace() -> None:
    bins = TimeBins.from_pmacct(10, None, 5)
    # window [0, 10 s) closes when the partition time reaches 15 s
    assert not bins.is_late(9_999, 14_999)
    assert bins.is_late(9_999, 15_000)
    assert not bins.is_late(10_000, 24_999)
