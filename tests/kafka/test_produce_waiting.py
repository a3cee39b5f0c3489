"""produce_waiting: the one way a message waits for room in librdkafka's queue."""

from __future__ import annotations

import pytest

from ribflow.kafka.producer import produce_waiting
from tests.fixtures.producer import FakeProducer


def test_a_full_queue_is_waited_for_serving_reports_and_nothing_is_lost() -> None:
    raw = FakeProducer(full=5)

    def report(err: object, msg: object) -> None:
        pass

    produce_waiting(raw, "t", b"v", b"k", partition=3, timestamp=42, on_delivery=report, wait_s=0)
    assert raw.sent == [("t", b"v", b"k", 42)]
    assert raw.polls == 5  # one poll (serving delivery reports) after each refusal
    assert raw.queue[0][4] is report  # the delivery callback was handed over


def test_bounded_waits_give_up_with_buffer_error() -> None:
    raw = FakeProducer(full=10)
    with pytest.raises(BufferError, match="after 3 waits"):
        produce_waiting(raw, "t", b"v", waits=3, wait_s=0)
    assert raw.sent == [] and raw.polls == 3  # each wait is followed by one more try
    assert raw.full == 10 - 4


def test_a_try_after_the_last_wait_can_still_succeed() -> None:
    raw = FakeProducer(full=3)
    produce_waiting(raw, "t", b"v", waits=3, wait_s=0)
    assert raw.sent == [("t", b"v", None, 0)] and raw.polls == 3


def test_defaults_are_librdkafkas_any_partition_and_now() -> None:
    seen: list[tuple[object, ...]] = []

    class Recording(FakeProducer):
        def produce(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            seen.append(args)

    produce_waiting(Recording(), "t", None, b"k")
    assert seen == [("t", None, b"k", -1, None, None, 0)]
