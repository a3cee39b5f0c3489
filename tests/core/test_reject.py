"""The one reject path: every bad input is counted, logged rate-limited and dead-lettered."""

from __future__ import annotations

import logging

import orjson
import pytest
from prometheus_client import REGISTRY

from ribflow.dlq import DeadLetters
from ribflow.errors import BadInput, Bug
from ribflow.reject import COUNTED, SENT, SUPPRESSED, Rejects
from tests.fixtures.producer import FakeProducer


def bad_input(component: str, reason: str) -> float:
    labels = {"component": component, "reason": reason}
    return REGISTRY.get_sample_value("ribflow_bad_input_total", labels) or 0.0


def test_counted_logged_and_dead_lettered(caplog: pytest.LogCaptureFixture) -> None:
    producer = FakeProducer()
    dlq = DeadLetters(producer, "x-dlq", "c")
    rejects = Rejects("test-reject-a", logging.getLogger("t.a"), dlq)
    before = bad_input("test-reject-a", "bad_json")
    with caplog.at_level(logging.WARNING, logger="t.a"):
        out = rejects.reject(b"{nope", "bad_json", "line 1", source_key="r1", source_topic="x")
    assert out == SENT
    assert bad_input("test-reject-a", "bad_json") == before + 1
    assert [r.getMessage() for r in caplog.records] == ["bad_json: line 1"]
    [(topic, value, key, _ts)] = producer.sent
    env = orjson.loads(value or b"")
    assert (topic, key) == ("x-dlq", b"r1")
    assert (env["reason"], env["detail"], env["raw"], env["source_topic"]) == (
        "bad_json", "line 1", "{nope", "x",
    )


def test_log_is_rate_limited_per_reason(caplog: pytest.LogCaptureFixture) -> None:
    rejects = Rejects("test-reject-b", logging.getLogger("t.b"))
    before = bad_input("test-reject-b", "r")
    with caplog.at_level(logging.WARNING, logger="t.b"):
        outs = [rejects.reject(b"x", "r", message=f"bad {i}") for i in range(20)]
    assert outs == [COUNTED] * 20  # no dead-letter topic: counted and logged only
    assert bad_input("test-reject-b", "r") == before + 20
    assert 1 <= len(caplog.records) < 20


def test_dead_letters_bounded_per_second() -> None:
    producer = FakeProducer()
    now = [100.0]
    rejects = Rejects(
        "test-reject-c", logging.getLogger("t.c"), DeadLetters(producer, "d", "c"),
        max_per_second=2, clock=lambda: now[0],
    )  # fmt: skip
    outs = [rejects.reject(b"x", "r") for _ in range(4)]
    now[0] = 101.0
    outs.append(rejects.reject(b"x", "r"))
    assert outs == [SENT, SENT, SUPPRESSED, SUPPRESSED, SENT]
    assert len(producer.sent) == 3
    assert bad_input("test-reject-c", "r") == 5  # every one counted


def test_full_producer_queue_is_a_suppressed_letter_not_a_crash() -> None:
    producer = FakeProducer(full=1)
    rejects = Rejects("test-reject-d", logging.getLogger("t.d"), DeadLetters(producer, "d", "c"))
    assert rejects.reject(b"x", "r") == SUPPRESSED
    assert rejects.reject(b"x", "r") == SENT


def test_errors_carry_their_reason_and_a_bug_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = FakeProducer()
    rejects = Rejects("test-reject-e", logging.getLogger("t.e"), DeadLetters(producer, "d", "c"))
    try:
        try:
            raise ZeroDivisionError("oops")
        except ZeroDivisionError as exc:
            raise Bug("ZeroDivisionError: oops") from exc
    except Bug as bug:
        with caplog.at_level(logging.WARNING, logger="t.e"):
            assert rejects.error(bug, b"raw") == SENT
    assert rejects.error(BadInput("short", "3 bytes"), b"raw", detail="from 192.0.2.1") == SENT
    assert bad_input("test-reject-e", "internal-error") == 1
    assert bad_input("test-reject-e", "short") == 1
    [record] = [r for r in caplog.records if r.name == "t.e" and r.levelno == logging.ERROR]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    reasons = [orjson.loads(v or b"")["reason"] for _t, v, _k, _ts in producer.sent]
    details = [orjson.loads(v or b"")["detail"] for _t, v, _k, _ts in producer.sent]
    assert reasons == ["internal-error", "short"]
    assert details == ["ZeroDivisionError: oops", "from 192.0.2.1"]
