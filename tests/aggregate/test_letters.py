"""The aggregator's dead letters go the one reject path (ribflow.reject.Rejects): the dlq.v1
envelope, the bad-input counter, and a full producer queue counts a record instead of crashing."""

from __future__ import annotations

import orjson
from prometheus_client import REGISTRY

from ribflow.aggregate.errors import BadRecord
from ribflow.aggregate.letters import Letters
from ribflow.aggregate.settings import AggregatorSettings
from ribflow.errors import BadInput
from ribflow.schemas import validate
from tests.fixtures.producer import FakeProducer


def _bad_inputs(reason: str) -> float:
    got = REGISTRY.get_sample_value(
        "ribflow_bad_input_total", {"component": "aggregator", "reason": reason}
    )
    return got or 0.0


def _letters(producer: FakeProducer) -> Letters:
    s = AggregatorSettings()  # type: ignore[call-arg]
    return Letters(s, s.time_bins(), producer)


def test_a_bad_record_is_counted_and_dead_lettered() -> None:
    producer = FakeProducer()
    letters = _letters(producer)
    before = _bad_inputs("bad_counter")
    exc = BadRecord("bad_counter", "bytes='x'")
    assert isinstance(exc, BadInput) and exc.detail == "bytes='x'"
    letters.bad(exc, b'{"bytes": "x"}')
    assert _bad_inputs("bad_counter") == before + 1
    (env,) = producer.values("flows-enriched-dlq")
    validate("dlq.v1", env)
    assert env["component"] == "aggregator" and env["reason"] == "bad_counter"
    assert env["detail"] == "bytes='x'" and env["raw"] == '{"bytes": "x"}'
    assert env["source_topic"] == "flows-enriched"
    assert producer.polls == 1  # delivered in the background as before


def test_a_late_flow_goes_to_the_output_dlq_and_is_not_bad_input() -> None:
    producer = FakeProducer()
    letters = _letters(producer)
    before = _bad_inputs("late")
    letters.late('["10.0.0.1"]', 61_000, (1, 2, 300), 0, 120_000)
    assert _bad_inputs("late") == before  # counted by ribflow_aggregate_late_total instead
    (env,) = producer.values("flows-aggregated-dlq")
    validate("dlq.v1", env)
    assert env["reason"] == "late" and "already written" in env["detail"]
    row = orjson.loads(env["raw"])
    assert row == {"key": '["10.0.0.1"]', "ts_ms": 61_000, "flows": 1, "packets": 2,
                   "bytes": 300, "input_partition": 0}  # fmt: skip


def test_a_full_producer_queue_counts_instead_of_crashing() -> None:
    producer = FakeProducer(full=1)
    letters = _letters(producer)
    before = _bad_inputs("bad_json")
    letters.bad(BadRecord("bad_json", "not json"), b"not json")  # BufferError inside
    assert _bad_inputs("bad_json") == before + 1
    assert producer.values("flows-enriched-dlq") == []
    letters.bad(BadRecord("bad_json", "not json"), b"not json")
    assert len(producer.values("flows-enriched-dlq")) == 1
