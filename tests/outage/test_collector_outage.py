"""`ribflow collector` while Kafka is dead for ~10 s: nothing within its budget is lost.

Real export datagrams (softflowd's lab NetFlow v5/v9/IPFIX and the lab's sFlow capture) go to a
real collector process while its private broker is stopped, then the broker is started again on
the same port and data directory. The expected records come from `ribflow decode` of the very
datagrams sent (written to a pcap with the sender's address); what arrived is read with kcat.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from ribflow.flow.pcap import iter_datagrams
from tests.flow.collector_harness import kcat, ribflow_decode, stop
from tests.flow.sflow_build import write_pcap
from tests.outage.broker import HOST, SENDER, Broker, metric, private_broker, scrape, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    REPO / "tests/data/flows/lab/flows-v5.pcap",
    REPO / "tests/data/flows/lab/flows-v9.pcap",
    REPO / "tests/data/flows/lab/flows-ipfix.pcap",
    REPO / "tests/data/sflow/lab-flows-sflow.pcap",
]
UDP_PORT, METRICS_PORT = 23002, 23003
QUEUE = 100  # the producer's local queue (messages): the smallest allowed
OUTAGE_S = 5.0  # dead time before the restart begins (which takes ~5 s more after a crash)
ROUNDS = 10  # rounds of the captures sent while Kafka is dead

broker = private_broker(23000)


def one_round() -> list[bytes]:
    return [d.payload for p in SOURCES for d in iter_datagrams(p)]


def record_key(record: dict[str, Any]) -> str:
    """A record as comparable text, its arrival time aside (sFlow's flow times are that time)."""
    arrival = {"time_received_ms", "start_ms", "end_ms"} if record["version"] == 5005 else set()
    arrival.add("time_received_ms")
    return json.dumps({k: v for k, v in record.items() if k not in arrival}, sort_keys=True)


def decoded(datagrams: list[bytes], tmp_path: Path) -> Counter[str]:
    """`ribflow decode` of the datagrams, as if they came from the sender's address."""
    pcap = tmp_path / "sent.pcap"
    write_pcap(pcap, datagrams, dport=UDP_PORT, src=SENDER, dst=HOST)
    return Counter(record_key(r) for r in ribflow_decode(pcap))


def received(address: str, topic: str) -> Counter[str]:
    msgs = kcat(address, topic, 0, timeout=0)
    return Counter(record_key(r) for m in msgs for r in json.loads(m["payload"])["records"])


def send(datagrams: list[bytes], pace_every: int = 20) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((SENDER, 0))
        for i, payload in enumerate(datagrams, start=1):
            s.sendto(payload, (HOST, UDP_PORT))
            if i % pace_every == 0:
                time.sleep(0.01)


@contextmanager
def collector(broker: Broker, tmp_path: Path, name: str, **extra: str) -> Iterator[Any]:
    """A `ribflow collector` process on HOST:UDP_PORT; stopped by pid when the block ends."""
    topics = {t: f"{name}-{t}" for t in ("flows", "counters", "templates", "bgp")}
    admin = AdminClient({"bootstrap.servers": broker.address})
    for fut in admin.create_topics([NewTopic(topics["bgp"], 1, 1)]).values():
        fut.result(timeout=30)
    env = {
        **os.environ,
        "Quix__Broker__Address": broker.address,
        "FLOWS_TOPIC": topics["flows"],
        "SFLOW_COUNTERS_TOPIC": topics["counters"],
        "FLOW_TEMPLATES_TOPIC": topics["templates"],
        "BGP_UPDATES_TOPIC": topics["bgp"],
        "LISTEN_HOSTS": HOST,
        "LISTEN_PORTS": str(UDP_PORT),
        "METRICS_HOST": HOST,
        "METRICS_PORT": str(METRICS_PORT),
        "PARTITIONS": "1",
        "UDP_RCVBUF_BYTES": str(8 << 20),
        "KAFKA_QUEUE_MESSAGES": str(QUEUE),
        "COLLECTOR_LINGER_MS": "5",
        "BGP_CATCHUP_TIMEOUT_S": "30",
        "STATS_INTERVAL_S": "0.5",
        "PYTHONPATH": str(REPO / "src"),
        **extra,
    }
    log = tmp_path / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "collector"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            "the collector to get ready",
            lambda: proc.poll() is not None or "collector ready" in log.read_text(errors="replace"),
            90,
        )
        assert proc.poll() is None, log.read_text(errors="replace")
        yield proc, topics["flows"], log
    finally:
        stop(proc)


def run_outage(
    broker: Broker, tmp_path: Path, name: str, **extra: str
) -> tuple[Counter[str], Counter[str], dict[str, float], dict[str, float]]:
    """Send one round with Kafka up, ROUNDS rounds with Kafka dead for OUTAGE_S, one more after.

    Returns (expected records, received records, metrics during the outage, metrics after).
    """
    broker.ensure_up()
    rnd = one_round()
    sent: list[bytes] = []
    with collector(broker, tmp_path, name, **extra) as (proc, flows, log):
        send(rnd)
        sent += rnd
        first = decoded(sent, tmp_path)
        wait_for("the first round in Kafka", lambda: received(broker.address, flows) >= first, 60)
        broker.stop()
        down_at = time.monotonic()
        for _ in range(ROUNDS):
            send(rnd)
            sent += rnd
        wait_for(
            "the producer queue to fill",
            lambda: metric(scrape(METRICS_PORT), "ribflow_collector_kafka_queue_messages") >= QUEUE,
            30,
        )
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage itself
        during = scrape(METRICS_PORT)
        assert proc.poll() is None, "the collector exited with Kafka down"
        broker.start()
        wait_for(
            "the producer queue to drain",
            lambda: metric(scrape(METRICS_PORT), "ribflow_collector_kafka_queue_messages") == 0,
            90,
        )
        send(rnd)
        sent += rnd
        want = decoded(sent, tmp_path)
        total = sum(want.values())

        def settled() -> Counter[str] | None:
            after = scrape(METRICS_PORT)
            dropped = metric(after, "ribflow_collector_dropped_records_total")
            got = received(broker.address, flows)
            return got if sum((got & want).values()) + dropped >= total else None

        got = wait_for("the records after the outage", settled, 120, every=1.0)
        after = scrape(METRICS_PORT)
        assert proc.poll() is None, "the collector exited after the outage"
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
    return want, got, during, after


def test_block_mode_keeps_every_record_within_the_buffer(broker: Broker, tmp_path: Path) -> None:
    want, got, during, after = run_outage(broker, tmp_path, "block")
    total = sum(want.values())
    dups = sum((got - want).values())
    print(
        f"block: outage {broker.last_outage_s:.1f}s, sent {total} records, received "
        f"{sum(got.values())}, duplicates {dups}, waited "
        f"{metric(after, 'ribflow_collector_backpressure_seconds_total'):.1f}s"
    )
    assert total == (ROUNDS + 2) * 219
    assert got & want == want, "records were lost"
    assert set(got) <= set(want), "records nobody sent"
    # visible in the metrics: the receive loop waited, the kernel buffer absorbed the rest
    assert metric(during, "ribflow_collector_kafka_queue_messages") == QUEUE
    assert metric(after, "ribflow_collector_backpressure_seconds_total") > 1.0
    assert metric(after, "ribflow_collector_udp_receive_drops_total") == 0
    assert metric(after, "ribflow_collector_dropped_records_total") == 0
    assert metric(after, "ribflow_collector_delivery_failures_total") == 0


def test_drop_mode_counts_exactly_what_it_dropped(broker: Broker, tmp_path: Path) -> None:
    want, got, during, after = run_outage(broker, tmp_path, "drop", BACKPRESSURE="drop")
    total = sum(want.values())
    kept = sum((got & want).values())
    dropped = metric(after, "ribflow_collector_dropped_records_total")
    dups = sum((got - want).values())
    print(
        f"drop: outage {broker.last_outage_s:.1f}s, sent {total} records, kept {kept}, "
        f"dropped {dropped:.0f}, duplicates {dups}"
    )
    assert set(got) <= set(want), "records nobody sent"
    assert dropped > 0, "the queue never overflowed: the test proves nothing"
    assert kept + dropped == total, "a record was lost without being counted"
    assert metric(during, "ribflow_collector_dropped_records_total") == dropped
    assert metric(after, "ribflow_collector_backpressure_seconds_total") == 0
    assert metric(after, "ribflow_collector_delivery_failures_total") == 0
