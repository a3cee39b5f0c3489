"""ProducerOutput.produce_many (one flows message's enriched records in one call) and produce_keyed
(one bgp-updates message's bgp-rib records), with their
key and time, delivery errors latched by Quix's callback, a full queue retried."""

from __future__ import annotations

from typing import Any

from ribflow.kafka.quix_adapter import ProducerOutput
from tests.fixtures.producer import FakeProducer


def _callbacks(raw: FakeProducer) -> list[Any]:
    """The delivery callbacks of what is queued (FakeProducer calls them on poll)."""
    return [callback for *_message, callback in raw.queue]


class _Internal:
    """Quix's InternalProducer: the raw producer, the error latch, the delivery callback."""

    def __init__(self, raw: FakeProducer, transactional: bool = False) -> None:
        self._producer = type("Wrapped", (), {"_producer": raw, "transactional": transactional})()
        self.reports: list[tuple[Any, Any]] = []
        self.raised = 0

    def _raise_for_error(self) -> None:
        self.raised += 1

    def _on_delivery(self, err: Any, msg: Any) -> None:
        self.reports.append((err, msg))


def test_records_go_out_in_order_with_key_and_time_and_only_errors_reach_quix() -> None:
    raw = FakeProducer()
    internal = _Internal(raw)
    out = ProducerOutput(internal)
    out.produce_many("flows-enriched", [b"a", b"b", b"c"], b"r1", 1234)
    out.produce_many("flows-enriched", [b"d"], b"r2", None)
    assert raw.sent == [
        ("flows-enriched", b"a", b"r1", 1234),
        ("flows-enriched", b"b", b"r1", 1234),
        ("flows-enriched", b"c", b"r1", 1234),
        ("flows-enriched", b"d", b"r2", 0),
    ]
    assert internal.raised == 2  # a latched error surfaces before the next message's records
    callbacks = _callbacks(raw)
    callbacks[0](None, "delivered")
    callbacks[1]("KafkaError", "failed")
    assert internal.reports == [("KafkaError", "failed")]


def test_a_full_queue_is_waited_for_and_nothing_is_lost() -> None:
    raw = FakeProducer(full=1)
    out = ProducerOutput(_Internal(raw))
    out.produce_many("t", [b"a", b"b"], b"k", 5)
    assert [(v, ts) for _, v, _, ts in raw.sent] == [(b"a", 5), (b"b", 5)]


def test_exactly_once_asks_for_no_report_per_record() -> None:
    """The transaction's commit fails when a record failed: no per-record callback."""
    raw = FakeProducer()
    out = ProducerOutput(_Internal(raw, transactional=True))
    out.produce_many("flows-enriched", [b"a", b"b"], b"r1", 7)
    assert [v for _, v, _, _ in raw.sent] == [b"a", b"b"] and _callbacks(raw) == [None, None]


def test_keyed_records_go_out_in_order_with_their_keys_and_only_errors_reach_quix() -> None:
    raw = FakeProducer(full=1)
    internal = _Internal(raw)
    out = ProducerOutput(internal)
    out.produce_keyed("bgp-rib", [(b"r|10.0.0.0/8|0", b"{}"), (b"r|11.0.0.0/8|0", None)], 7)
    out.produce_keyed("bgp-rib", [(b"r|12.0.0.0/8|0", b"{}")], None)
    assert raw.sent == [
        ("bgp-rib", b"{}", b"r|10.0.0.0/8|0", 7),  # after the full queue was waited for
        ("bgp-rib", None, b"r|11.0.0.0/8|0", 7),
        ("bgp-rib", b"{}", b"r|12.0.0.0/8|0", 0),
    ]
    assert internal.raised >= 2
    _callbacks(raw)[1](None, "delivered")
    _callbacks(raw)[2]("KafkaError", "failed")
    assert internal.reports == [("KafkaError", "failed")]
