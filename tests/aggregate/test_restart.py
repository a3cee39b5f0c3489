"""kill -9 mid-window and restart: exactly-once gives the same totals (no loss, no double
count); at-least-once loses no window but may count the flows read again twice."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.aggregate.fixtures import AggregatorFactory, TopicReader, produce
from tests.aggregate.flows import closers, expected_sums, output_sums, totals, window_records
from tests.aggregate.flows import router_messages as messages
from tests.fixtures.kafka import TopicFactory

pytestmark = pytest.mark.integration

WINDOW_S = 10
PER_WINDOW = 3000
KEYS = [("ip_src", ""), ("ip_proto", "0")]


@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
def test_kill_9_mid_window_and_restart(
    guarantee: str,
    kafka_broker: str,
    topic_factory: TopicFactory,
    aggregator: AggregatorFactory,
    tmp_path: Path,
) -> None:
    rng = random.Random(guarantee)
    base = int(time.time()) // 60 * 60 - 7200
    windows = [window_records(base, w, rng, PER_WINDOW, WINDOW_S) for w in range(5)]
    everything = [r for w in windows for r in w]
    half = PER_WINDOW // 2
    source = topic_factory("kill-in", partitions=2)
    sink = topic_factory("kill-out", partitions=2)
    run = aggregator(
        source, sink, AGGREGATE="src_host, proto", REFRESH_TIME=str(WINDOW_S), GRACE="2",
        PROCESSING_GUARANTEE=guarantee,
    )  # fmt: skip
    reader = TopicReader(kafka_broker, sink)
    try:
        # 1. windows 0 and 1 complete, half of window 2: windows 0 and 1 are written
        produce(kafka_broker, source, messages(windows[0] + windows[1] + windows[2][:half]))
        run.wait_consumed(kafka_broker, source)
        first = sum(r.get("flows", 1) for r in windows[0] + windows[1])
        reader.read_until(
            lambda recs: totals(output_sums(recs, [k for k, _ in KEYS])[0])[0] >= first,
            timeout=60, what="windows 0-1",
        )  # fmt: skip

        # 2. rest of window 2, half of window 3, and kill -9 while that is being processed
        produce(kafka_broker, source, messages(windows[2][half:] + windows[3][:half]))
        time.sleep(0.7)  # the fault's timing, not a wait for a result
        run.kill9()

        # 3. restart on the same local state; more flows; kill -9 again
        run.start()
        produce(kafka_broker, source, messages(windows[3][half:] + windows[4][:half]))
        time.sleep(0.7)
        run.kill9()

        # 4. restart on an empty state directory: the state comes back from Kafka (the
        #    aggregator keeps nothing on disk; whatever is in the directory goes)
        shutil.rmtree(run.env["Quix__State__Dir"], ignore_errors=True)
        run.start()
        produce(kafka_broker, source, messages(windows[4][half:]))
        run.wait_consumed(kafka_broker, source)
        produce(kafka_broker, source, closers(base + 3600))

        want = expected_sums(everything, KEYS, WINDOW_S)
        reader.read_until(
            lambda recs: set(output_sums(recs, [k for k, _ in KEYS])[0]) >= set(want),
            timeout=120, what=f"all windows\n{run.log_tail()}",
        )  # fmt: skip
        got = reader.drain(quiet=3)
    finally:
        reader.close()

    assert len(run.history) == 3  # three processes, two of them killed
    sums, duplicates = output_sums(got, [k for k, _ in KEYS])
    if guarantee == "exactly-once":
        assert duplicates == 0
        assert sums == want
        return
    # at-least-once: every window is there, none short; the flows read again after a crash
    # may be counted twice (Quix's at-least-once state is not atomic with the offsets)
    assert set(sums) == set(want)
    short = {slot: (sums[slot], want[slot]) for slot in want
             if any(g < w for g, w in zip(sums[slot], want[slot], strict=True))}  # fmt: skip
    assert not short
    over = totals(sums)[0] - totals(want)[0]
    print(f"at-least-once after two kill -9: {over} flows counted twice, "
          f"{duplicates} window records repeated")  # fmt: skip
