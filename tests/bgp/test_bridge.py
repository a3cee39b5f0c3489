"""The bridge loop with an in-process fake producer: order, dead letters, back-pressure, stop."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import orjson

from ribflow.bgp.bridge import EXIT_DELIVERY_FAILED, EXIT_OK
from ribflow.schemas import validate
from tests.bgp.fixtures import DLQ, TOPIC, FakeProducer, exabgp_update, make_bridge, pipe

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp"
SAMPLES = (DATA / "exabgp-samples.jsonl").read_bytes()


def update_line(i: int) -> bytes:
    return exabgp_update(1700000000.0 + i, f"10.{i // 256 % 256}.{i % 256}.0/24", {"origin": "igp"})


def test_lines_become_ordered_events_and_garbage_is_dead_lettered() -> None:
    producer = FakeProducer()
    garbage = [b"{broken json", b'{"type": "mystery"}', b"[3]"]
    data = SAMPLES.splitlines(keepends=True)
    data[5:5] = [g + b"\n" for g in garbage]
    with pipe() as (r, w):
        bridge = make_bridge(producer, r)
        os.write(w, b"".join(data))
        os.close(w)
        assert bridge.run() == EXIT_OK
    events = [orjson.loads(v) for _, v in producer.on(TOPIC)]
    assert [e["seq"] for e in events] == list(range(21))
    assert events[3]["announce"][0]["nlri"][0]["prefix"] == "198.51.100.0/24"
    assert all(k == b"127.0.0.3" for k, _ in producer.on(TOPIC))
    dead = [orjson.loads(v) for _, v in producer.on(DLQ)]
    for d in dead:
        validate("dlq.v1", d)
    assert [(d["reason"], d["raw"], d["component"]) for d in dead] == [
        ("invalid-json", "{broken json", "bridge"),
        ("unknown-message", '{"type": "mystery"}', "bridge"),
        ("not-an-object", "[3]", "bridge"),
    ]
    assert bridge.tally["error:invalid-json"] == 1 and bridge.tally["lines"] == len(data)


def test_last_line_without_newline_and_lines_split_across_reads() -> None:
    producer = FakeProducer()
    with pipe() as (r, w):
        bridge = make_bridge(producer, r)
        payload = update_line(1) + update_line(2).rstrip(b"\n")

        def writer() -> None:
            for i in range(0, len(payload), 7):  # dribble: lines cut at every 7 bytes
                os.write(w, payload[i : i + 7])
                time.sleep(0.001)
            os.close(w)

        t = threading.Thread(target=writer)
        t.start()
        assert bridge.run() == EXIT_OK
        t.join()
    prefixes = [
        orjson.loads(v)["announce"][0]["nlri"][0]["prefix"]
        for _, v in producer.on(TOPIC)
        if b'"update"' in v
    ]
    assert prefixes == ["10.0.1.0/24", "10.0.2.0/24"]


def test_kafka_down_blocks_reading_without_dropping_anything() -> None:
    producer = FakeProducer(capacity=20, up=False)
    n = 3000
    lines = b"".join(update_line(i) for i in range(n))
    with pipe() as (r, w):
        bridge = make_bridge(producer, r)
        result: list[int] = []
        t = threading.Thread(target=lambda: result.append(bridge.run()))
        t.start()
        # the bridge stops reading once its budget is spent: the pipe fills and writes block
        os.set_blocking(w, False)
        written = 0
        deadline = time.monotonic() + 5
        while written < len(lines) and time.monotonic() < deadline:
            try:
                written += os.write(w, lines[written : written + 65536])
            except BlockingIOError:
                time.sleep(0.05)
        assert written < len(lines), "the bridge kept reading while Kafka was down"
        assert len(producer) == 20 and producer.max_in_flight == 20
        # Kafka is back: everything arrives, in order, nothing lost
        producer.up = True
        os.set_blocking(w, True)
        os.write(w, lines[written:])
        os.close(w)
        t.join(timeout=30)
    assert result == [EXIT_OK]
    got = [orjson.loads(v) for _, v in producer.on(TOPIC)]
    updates = [e for e in got if e["type"] == "update"]
    assert len(updates) == n
    assert [e["time_ms"] for e in updates] == [1700000000000 + i * 1000 for i in range(n)]
    assert [e["seq"] for e in got] == list(range(len(got)))
    assert sum(bridge.blocked) > 0  # type: ignore[attr-defined]


def test_a_permanent_delivery_failure_stops_the_bridge_for_a_relearn() -> None:
    producer = FakeProducer(refuse=lambda topic, value: topic == TOPIC and b"10.0.5.0/24" in value)
    with pipe() as (r, w):
        bridge = make_bridge(producer, r)
        os.write(w, b"".join(update_line(i) for i in range(10)))
        code = bridge.run()  # stops by itself: the pipe is still open
    assert code == EXIT_DELIVERY_FAILED
    dead = [orjson.loads(v) for _, v in producer.on(DLQ)]
    assert [d["reason"] for d in dead] == ["delivery-failed"]
    assert b"10.0.5.0/24" in dead[0]["raw"].encode() and dead[0]["source_topic"] == TOPIC
    assert bridge.tally["delivery-failed:MSG_SIZE_TOO_LARGE"] == 1


def test_stop_reads_what_is_already_in_the_pipe_then_exits() -> None:
    producer = FakeProducer()
    with pipe() as (r, w):
        bridge = make_bridge(producer, r)
        os.write(w, b"".join(update_line(i) for i in range(50)))
        bridge.stop()  # as the SIGTERM handler does; ExaBGP still holds the pipe open
        assert bridge.run() == EXIT_OK
    assert len([v for _, v in producer.on(TOPIC) if b'"update"' in v]) == 50


def test_commands_to_exabgp_ask_for_sessions_then_refresh_old_ones() -> None:
    producer = FakeProducer()
    commands = io.BytesIO()
    snapshot = [
        {
            "state": "up",
            "peer": {"address": "192.0.2.1", "as": 65001, "id": "10.0.0.1"},
            "families": ["ipv4 unicast", "ipv6 unicast"],
        },
        {
            "state": "up",
            "peer": {"address": "127.0.0.3", "as": 65001, "id": "10.0.0.3"},
            "families": ["ipv4 unicast"],
        },
    ]
    with pipe() as (r, w):
        bridge = make_bridge(
            producer, r, commands=commands, refresh_families=["ipv4 unicast", "ipv6 unicast"]
        )
        # 127.0.0.3 comes up in this epoch (fresh table), 192.0.2.1 was up before the bridge
        os.write(
            w, b"".join(SAMPLES.splitlines(keepends=True)[:3]) + orjson.dumps(snapshot) + b"\n"
        )
        os.close(w)
        assert bridge.run() == EXIT_OK
    assert commands.getvalue().decode().splitlines() == [
        "show neighbor json",
        "neighbor 192.0.2.1 announce route-refresh ipv4 unicast",
        "neighbor 192.0.2.1 announce route-refresh ipv6 unicast",
    ]
    ups = [orjson.loads(v) for k, v in producer.on(TOPIC) if k == b"192.0.2.1"]
    assert [(e["state"], e["reason"], e["router_id"]) for e in ups] == [
        ("up", "bridge-restart", "10.0.0.1")
    ]
