"""--from/--to parsing: ISO-8601 UTC, now, offsets from now; windows and their names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ribflow.replay.errors import WindowError
from ribflow.replay.window import (
    Window,
    format_time,
    parse_duration,
    parse_time,
    parse_window,
)

NOW = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", _ms(2024, 5, 1, 10)),
        ("2024-05-01T10:00:00.250Z", _ms(2024, 5, 1, 10) + 250),
        ("2024-05-01 10:00", _ms(2024, 5, 1, 10)),  # no offset: UTC
        ("2024-05-01T12:00:00+02:00", _ms(2024, 5, 1, 10)),  # converted to UTC
        ("2024-05-01", _ms(2024, 5, 1)),
        ("now", NOW),
        ("-90m", NOW - 90 * 60_000),
        ("now-1h30m", NOW - 90 * 60_000),
        ("-2d", NOW - 2 * 86_400_000),
    ],
)
def test_parse_time(text: str, expected: int) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "-1y", "", "+1h", "now+1h"])
def test_bad_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(WindowError):
        parse_time(text, NOW)


def test_durations() -> None:
    assert parse_duration("1h30m15s") == 5_415_000
    assert parse_duration("250ms") == 250
    with pytest.raises(WindowError):
        parse_duration("1h 30")


def test_window_is_half_open_and_named_after_its_bounds() -> None:
    w = parse_window("2024-05-01T10:00:00Z", "-1h", NOW)
    assert (w.start_ms, w.end_ms) == (_ms(2024, 5, 1, 10), _ms(2024, 5, 1, 11))
    assert w.start_ms in w and w.end_ms - 1 in w and w.end_ms not in w
    assert w.label == "20240501T100000Z-20240501T110000Z"
    assert Window(w.start_ms + 5, w.end_ms).label.startswith("20240501T100000.005Z-")
    assert format_time(w.start_ms) == "2024-05-01T10:00:00Z"


def test_empty_or_reversed_window_is_refused() -> None:
    with pytest.raises(WindowError, match="empty window"):
        parse_window("now", "-1h", NOW)
    with pytest.raises(WindowError):
        Window(5, 5)
