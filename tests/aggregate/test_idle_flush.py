"""Idle flush with real Kafka: when the flows stop, the last windows are still written (no
closer flows here), a flow arriving after that for a written window is late (counted,
dead-lettered, not added), and after a crash the windows come back from the changelog and are
written once, with exact sums, by the restarted process without any new flow."""

from __future__ import annotations

import random
import shutil
import time
from typing import Any

import orjson
import pytest

from tests.aggregate.fixtures import AggregatorFactory, TopicReader, metric, produce
from tests.aggregate.flows import expected_sums, output_sums, stamp, totals
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration

METRICS_HOST = "127.0.0.62"
# a multiple of 10 s an hour ago: the idle flush goes by the flows' time, not the wall-clock
# date; recent, so that the Kafka timestamps are inside the topics' retention (7 days)
BASE = int(time.time()) // 60 * 60 - 3600


def flow(src: str, t: float, nbytes: int = 100) -> tuple[bytes, bytes, int]:
    rec = {"ip_src": src, "packets": 1, "bytes": nbytes, "timestamp_arrival": t}
    return (b"router", orjson.dumps(rec), int(t * 1000))


def test_quiet_exporter_last_windows_written_and_later_flow_is_late(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    source, sink = topic_factory("idle-in"), topic_factory("idle-out")
    port = free_port(METRICS_HOST)
    run = aggregator(
        source, sink, AGGREGATE="src_host", REFRESH_TIME="5", GRACE="2", IDLE_FLUSH="auto",
        METRICS_PORT=str(port), METRICS_HOST=METRICS_HOST,
    )  # fmt: skip
    first = [flow("a", BASE + 1), flow("a", BASE + 2), flow("b", BASE + 3),  # window 0
             flow("c", BASE + 6)]  # window 1: the last flow; nothing comes after it  # fmt: skip
    produce(kafka_broker, source, first)
    reader = TopicReader(kafka_broker, sink)
    dlq = TopicReader(kafka_broker, f"{sink}-dlq")
    try:
        want = {
            (("a",), stamp(BASE)): [2, 2, 200],
            (("b",), stamp(BASE)): [1, 1, 100],
            (("c",), stamp(BASE + 5)): [1, 1, 100],
        }
        # auto = REFRESH_TIME + GRACE = 7 s of quiet; generous "it never came" deadline
        reader.read_until(lambda r: set(output_sums(r, ["ip_src"])[0]) >= set(want),
                          timeout=90, what=f"idle-flushed windows\n{run.log_tail()}")  # fmt: skip
        assert output_sums(reader.records, ["ip_src"]) == (want, 0)

        # a flow for window 0, already written: late; and one for a new window 2
        produce(kafka_broker, source, [flow("a", BASE + 4, 5000), flow("d", BASE + 12)])
        want[(("d",), stamp(BASE + 10))] = [1, 1, 100]
        reader.read_until(lambda r: set(output_sums(r, ["ip_src"])[0]) >= set(want),
                          timeout=90, what=f"window 2\n{run.log_tail()}")  # fmt: skip
        letters = dlq.read_until(lambda r: len(r) >= 1, timeout=60, what="late dead letter")
        got = reader.drain(quiet=3)
    finally:
        reader.close()
        dlq.close()
    assert output_sums(got, ["ip_src"]) == (want, 0)  # window 0 not reopened, nothing twice
    assert letters[0]["reason"] == "late"
    late_row = orjson.loads(letters[0]["raw"])
    assert late_row["ts_ms"] == (BASE + 4) * 1000 and late_row["bytes"] == 5000
    assert metric(METRICS_HOST, port, 'ribflow_aggregate_late_total{unit="flows"}') == 1
    assert metric(METRICS_HOST, port, 'ribflow_aggregate_late_total{unit="bytes"}') == 5000
    assert "idle flush: partition" in run.log_path.read_text()


def test_idle_flush_after_restart_from_the_changelog_exactly_once(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    """Run 1 (no idle flush) aggregates three windows, writes the first two (flows closed
    them), and is stopped. Run 2 starts on an empty state directory, with no new flow at all:
    its state comes back from the changelog and its idle flush writes the third window.
    Exactly-once: every window once, sums of a plain group-by. (SIGTERM, not kill -9: a killed
    member holds the group for Kafka's 45 s session timeout; test_restart.py covers kill -9,
    and an idle flush commits exactly like a flow-driven one.)"""
    rng = random.Random(7)
    records: list[dict[str, Any]] = []
    for w in range(3):
        for _ in range(400):
            records.append({"ip_src": f"10.7.0.{rng.randrange(12)}", "packets": rng.randint(1, 9),
                            "bytes": rng.randint(40, 9000),
                            "timestamp_arrival": BASE + w * 5 + rng.random() * 5})  # fmt: skip
    records.sort(key=lambda r: r["timestamp_arrival"])
    source, sink = topic_factory("idle-kill-in", 2), topic_factory("idle-kill-out", 2)
    run = aggregator(source, sink, AGGREGATE="src_host", REFRESH_TIME="5", GRACE="1",
                     IDLE_FLUSH="off", PROCESSING_GUARANTEE="exactly-once")  # fmt: skip
    messages = [
        (f"r{i % 2}".encode(), orjson.dumps(r), int(r["timestamp_arrival"] * 1000))
        for i, r in enumerate(records)
    ]
    produce(kafka_broker, source, messages)
    want = expected_sums(records, [("ip_src", "")], 5)
    first_two = {slot: v for slot, v in want.items() if slot[1] != stamp(BASE + 10)}
    reader = TopicReader(kafka_broker, sink)
    try:
        run.wait_consumed(kafka_broker, source)  # committed: state and offsets together
        reader.read_until(lambda r: set(output_sums(r, ["ip_src"])[0]) >= set(first_two),
                          timeout=60, what=f"windows 0-1\n{run.log_tail()}")  # fmt: skip
        assert output_sums(reader.records, ["ip_src"]) == (first_two, 0)  # window 2 is open
        run.stop()
        shutil.rmtree(run.env["Quix__State__Dir"], ignore_errors=True)  # nothing on disk
        run.start(IDLE_FLUSH="1")
        reader.read_until(lambda r: set(output_sums(r, ["ip_src"])[0]) >= set(want),
                          timeout=90, what=f"window 2 after restart\n{run.log_tail()}")  # fmt: skip
        got = reader.drain(quiet=3)
    finally:
        reader.close()
    assert len(run.history) == 2
    sums, duplicates = output_sums(got, ["ip_src"])
    assert duplicates == 0
    assert sums == want
    assert totals(sums)[0] == len(records)
