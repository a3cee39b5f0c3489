"""The progress line, the summary lines per router, and the settings' validation."""

from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from ribflow.replay.progress import Progress, render
from ribflow.replay.settings import ReplaySettings
from ribflow.replay.stats import RouterStats
from ribflow.replay.summary import router_lines


def test_render_shows_records_rate_and_eta() -> None:
    line = render(done=250, total=1000, records=5000, bgp=12, elapsed=10.0)
    assert "25.0%" in line and "5,000 flows" in line and "500/s" in line
    assert "bgp 12" in line and "250/1,000 msgs" in line and "ETA 0:00:30" in line
    assert "ETA 0:00:00" in render(1000, 1000, 1, 0, 1.0)


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_modes() -> None:
    clock = _Clock()
    live = io.StringIO()
    p = Progress(live, "always", 10, clock=clock)
    p.update(1, 10, 0)
    clock.t = 0.1
    p.update(2, 20, 0)  # within 0.25 s: not redrawn
    clock.t = 1.0
    p.close(10, 100, 3)
    assert live.getvalue().count("\r") == 2 and live.getvalue().endswith("\n")

    log = io.StringIO()  # not a terminal: a plain line every 10 s
    p = Progress(log, "auto", 10, clock=clock)
    clock.t = 5.0
    p.update(1, 10, 0)
    clock.t = 12.0
    p.update(2, 20, 0)
    assert log.getvalue().count("\n") == 1 and "\r" not in log.getvalue()

    quiet = io.StringIO()
    p = Progress(quiet, "never", 10, clock=clock)
    p.update(1, 1, 1, force=True)
    p.close(1, 1, 1)
    assert quiet.getvalue() == ""


def test_router_lines_say_what_went_wrong() -> None:
    assert router_lines("r", RouterStats(partition=0, messages=2, flows=6, enriched=6)) == []
    none = router_lines("192.0.2.99", RouterStats(partition=0, messages=2, flows=6, no_history=6))
    assert none == [
        "router 192.0.2.99: no BGP history in window (no checkpoint entry and no bgp-updates "
        "before its flows): 6 flows written unenriched"
    ]
    st = RouterStats(partition=1, flows=9, enriched=6, no_history=3, first_bgp_ms=1_700_000_000_000,
                     unverified=2, late_flows=1)  # fmt: skip
    text = "\n".join(router_lines("r", st))
    assert "no BGP history before 2023-11-14T22:13:20Z: 3 of 9" in text
    assert "2 flows not verified point-in-time (1 flows messages later than the lateness)" in text


def test_settings_names_and_validation() -> None:
    s = ReplaySettings(Quix__Consumer__Group="ops")
    assert s.group_id("W") == "ops-replay-W"
    assert s.output_topic("W") == "flows-enriched.replay.W"
    with pytest.raises(ValidationError):
        ReplaySettings(REPLAY_LATENESS_MS=-1)
    with pytest.raises(ValidationError):
        ReplaySettings(REPLAY_TOPIC_PREFIX="bad name")
    with pytest.raises(ValidationError):
        ReplaySettings(REPLAY_PROGRESS="sometimes")
    for field in ReplaySettings.model_fields.values():
        assert field.alias and field.description
