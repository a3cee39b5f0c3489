from __future__ import annotations

import logging

import pytest

from ribflow.logs import RateLimitedLog


def test_rate_limit_per_key_and_suppressed_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("t"), interval=10, burst=2, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="t"):
        results = [rl.error("bad", "bad packet %d", i) for i in range(5)]
        assert results == [True, True, False, False, False]
        assert rl.error("other", "other kind")  # another key has its own budget
        now[0] = 11.0
        assert rl.error("bad", "bad packet again")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "bad packet 0",
        "bad packet 1",
        "other kind",
        "bad packet again (3 similar suppressed)",
    ]
