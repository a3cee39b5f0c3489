"""`ribflow aggregator` (exactly-once, the default) while Kafka is dead for ~12 s mid-window.

The expected totals are a plain group-by computed here (tests/aggregate/flows.expected_sums);
the output is read with read_committed, as a downstream consumer would. After the broker is back
on the same port and data directory, the sums must equal the independent ones with no window
written twice, and the process must have kept running.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.aggregate.fixtures import AggregatorRun, TopicReader, produce
from tests.aggregate.flows import closers, expected_sums, output_sums, totals, window_records
from tests.aggregate.flows import router_messages as messages
from tests.outage.broker import HOST, Broker, metric, private_broker, produce_across_stop, scrape

pytestmark = pytest.mark.integration

WINDOW_S = 10
PER_WINDOW = 1500
KEYS = [("ip_src", ""), ("ip_proto", "ip")]
OUTAGE_S = 5.0  # dead time before the restart begins (which takes ~5 s more after a crash)
METRICS_PORT = 23022

broker = private_broker(23020)


def aggregator(broker: Broker, tmp_path: Path, source: str, sink: str) -> AggregatorRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Quix__", "AGGREGATE"))}
    env.update({
        "Quix__Broker__Address": broker.address,
        "Quix__Consumer__Group": "outage-agg",
        "Quix__State__Dir": str(tmp_path / "state"),
        "FLOWS_ENRICHED_TOPIC": source,
        "FLOWS_AGGREGATED_TOPIC": sink,
        "AUTO_OFFSET_RESET": "earliest",
        "COMMIT_INTERVAL": "1",
        "IDLE_TIMEOUT": "3",
        "IDLE_FLUSH": "off",
        "PARTITIONS": "2",
        "LOG_LEVEL": "INFO",
        "AGGREGATE": "src_host, proto",
        "REFRESH_TIME": str(WINDOW_S),
        "GRACE": "2",
        "METRICS_HOST": HOST,
        "METRICS_PORT": str(METRICS_PORT),
    })  # fmt: skip
    return AggregatorRun(env, tmp_path / "aggregator.log").start()


def test_exactly_once_totals_survive_a_dead_broker(broker: Broker, tmp_path: Path) -> None:
    broker.ensure_up()
    rng = random.Random(23)
    base = int(time.time()) // 60 * 60 - 7200
    windows = [window_records(base, w, rng, PER_WINDOW, WINDOW_S) for w in range(5)]
    everything = [r for w in windows for r in w]
    half = PER_WINDOW // 2
    source, sink = "outage-agg-in", "outage-agg-out"
    admin = AdminClient({"bootstrap.servers": broker.address})
    for fut in admin.create_topics([NewTopic(t, 2, 1) for t in (source, sink)]).values():
        fut.result(timeout=30)
    names = [k for k, _ in KEYS]
    run = aggregator(broker, tmp_path, source, sink)
    alive_throughout = True
    try:
        produce(broker.address, source, messages(windows[0] + windows[1] + windows[2][:half]))
        run.wait_consumed(broker.address, source)
        first = sum(1 for _ in windows[0] + windows[1])
        reader = TopicReader(broker.address, sink)
        try:
            reader.read_until(
                lambda recs: totals(output_sums(recs, names)[0])[0] >= first,
                timeout=60, what="windows 0-1",
            )  # fmt: skip
        finally:
            reader.close()
        # a live stream of flows; Kafka dies (SIGKILL) half-way through it, window 2 closing
        stream = messages(windows[2][half:] + windows[3][:half])
        late = produce_across_stop(
            broker, source, stream, stop_after=len(stream) // 2, every_s=0.002
        )
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_S:
            alive_throughout = alive_throughout and run.alive()
            time.sleep(0.5)
        broker.start()
        assert late.flush(60) == 0
        produce(broker.address, source, messages(windows[3][half:] + windows[4]))
        run.wait_consumed(broker.address, source)
        produce(broker.address, source, closers(base + 3600))
        want = expected_sums(everything, KEYS, WINDOW_S)
        reader = TopicReader(broker.address, sink)
        try:
            reader.read_until(
                lambda recs: set(output_sums(recs, names)[0]) >= set(want),
                timeout=120, what=f"all windows\n{run.log_tail()}",
            )  # fmt: skip
            got = reader.drain(quiet=3)
        finally:
            reader.close()
        samples = scrape(METRICS_PORT)
        still_alive = run.alive()
    finally:
        run.stop()
    sums, duplicates = output_sums(got, names)
    print(
        f"aggregator: outage {broker.last_outage_s:.1f}s, flows in {len(everything)}, flows out "
        f"{totals(sums)[0]}, window records {len(got)}, duplicates {duplicates}, "
        f"alive {alive_throughout and still_alive}, in-process restarts "
        f"{metric(samples, 'ribflow_app_restarts_total'):.0f}, "
        f"dlq {metric(samples, 'ribflow_dead_letters_total'):.0f}"
    )
    assert alive_throughout and still_alive, run.log_tail(80)
    assert duplicates == 0
    assert sums == want
    text = run.log_path.read_text(errors="replace")
    assert "Traceback" not in text.split("Kafka failed under")[-1], run.log_tail(80)
    assert metric(samples, "ribflow_app_restarts_total") == text.count("Kafka failed under")
