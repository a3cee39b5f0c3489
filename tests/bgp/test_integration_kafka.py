"""The ``ribflow bridge`` process against real Kafka: dead letters, shard fan-out, an outage.

Read back with kcat (the independent client). The outage test runs its own broker (free ports,
its own data directory) so that it can freeze it (SIGSTOP) without touching the shared one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ribflow.kafka.local import BrokerConfig, LocalKafka
from ribflow.schemas import validate
from tests.bgp.fixtures import exabgp_update
from tests.bgp.lab import kcat_read, wait_for
from tests.fixtures.kafka import TopicFactory, delete_topics, free_port

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp"


def bridge_env(broker: str, topic: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGP_", "BRIDGE_", "EXABGP_"))}
    env.update({"Quix__Broker__Address": broker, "BGP_UPDATES_TOPIC": topic, "LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


def update_line(i: int) -> bytes:
    nlri = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32"
    as_path = {"0": {"element": "as-sequence", "value": [65010, i]}}
    return exabgp_update(1700000000.0 + i / 1000, nlri, {"origin": "igp", "as-path": as_path})


def test_replay_with_garbage_and_shards(
    kafka_broker: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    topic = topic_factory("bgp-updates", partitions=4)
    lines = (DATA / "exabgp-samples.jsonl").read_bytes().splitlines(keepends=True)
    garbage = [
        b"this is not json\n",
        b'{"type": "brand-new-thing", "x": 1}\n',
        b"\xc3\x28 invalid utf-8\n",
    ]
    source = tmp_path / "exabgp.jsonl"
    source.write_bytes(b"".join(lines[:3] + garbage + lines[3:]))
    env = bridge_env(kafka_broker, topic, BGP_SHARDS="3", PARTITIONS="4")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ribflow", "bridge", "--input", str(source)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        msgs = kcat_read(kafka_broker, topic)
        dead = kcat_read(kafka_broker, f"{topic}-dlq")
    finally:
        delete_topics(kafka_broker, f"{topic}-dlq")
    # every event three times, once per shard key, same value
    by_key: dict[str, list[dict[str, Any]]] = {}
    for m in msgs:
        validate("bgp-updates.v1", m["value"])
        by_key.setdefault(m["key"], []).append(m["value"])
    assert sorted(by_key) == ["127.0.0.3/0", "127.0.0.3/1", "127.0.0.3/2"]
    assert by_key["127.0.0.3/0"] == by_key["127.0.0.3/1"] == by_key["127.0.0.3/2"]
    events = by_key["127.0.0.3/0"]
    assert [e["seq"] for e in events] == list(range(21)) and {e["router"] for e in events} == {
        "127.0.0.3"
    }
    assert [e["type"] for e in events[:4]] == ["session", "session", "update", "update"]
    # the dead letters (no key, so any partition): raw text (or base64 if not UTF-8), reason
    for d in dead:
        validate("dlq.v1", d["value"])
    got = [(d["value"]["reason"], d["value"]["raw"], d["value"]["component"]) for d in dead]
    assert sorted(got, key=str) == [
        ("invalid-json", "this is not json", "bridge"),
        ("invalid-json", None, "bridge"),
        ("unknown-message", '{"type": "brand-new-thing", "x": 1}', "bridge"),
    ]
    (binary,) = [d["value"] for d in dead if d["value"]["raw"] is None]
    assert binary["raw_b64"] == "wyggaW52YWxpZCB1dGYtOA=="


def test_kafka_outage_backpressure_then_nothing_lost(tmp_path: Path) -> None:
    cfg = BrokerConfig(
        port=free_port(), controller_port=free_port(), data_dir=tmp_path / "kafka", heap="384m"
    )
    kafka = LocalKafka(cfg)
    kafka.up()
    metrics = free_port()
    env = bridge_env(
        cfg.address,
        "bgp-updates",
        BRIDGE_BUFFER_MESSAGES="100",
        BRIDGE_RESYNC="none",
        BRIDGE_LINGER_MS="0",
        METRICS_PORT=str(metrics),
        PARTITIONS="2",
    )
    total = 6000
    payload = [update_line(i) for i in range(total)]
    log = (tmp_path / "bridge.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ribflow", "bridge"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(b"".join(payload[:10]))
        proc.stdin.flush()
        wait_for("the first events", lambda: len(kcat_read(cfg.address, "bgp-updates")) >= 11, 60)
        # Kafka stops answering: the private broker is frozen (a restart on the same port can
        # be refused for a minute while the old connections sit in TIME_WAIT)
        broker_pid = kafka.running_pid()
        assert broker_pid
        os.killpg(broker_pid, signal.SIGSTOP)
        fd = proc.stdin.fileno()
        os.set_blocking(fd, False)
        data = b"".join(payload[10:])
        written, stuck_since = 0, None
        deadline = time.monotonic() + 60
        while written < len(data) and time.monotonic() < deadline:
            try:
                written += os.write(fd, data[written : written + 65536])
                stuck_since = None
            except BlockingIOError:
                stuck_since = stuck_since or time.monotonic()
                if time.monotonic() - stuck_since > 5:
                    break  # the bridge stopped reading: back-pressure
                time.sleep(0.1)
        assert written < len(data), "the bridge kept reading with Kafka down"
        body = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10)
            .read()
            .decode()
        )
        assert "ribflow_bridge_buffer_fill_ratio 1.0" in body
        assert proc.poll() is None, "the bridge must wait, not exit"
        os.killpg(broker_pid, signal.SIGCONT)  # Kafka is back
        os.set_blocking(fd, True)
        proc.stdin.write(data[written:])
        proc.stdin.close()
        assert proc.wait(timeout=180) == 0
        msgs = kcat_read(cfg.address, "bgp-updates")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        pid = kafka.running_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
        kafka.down()
    events = [m["value"] for m in msgs]
    updates = [e for e in events if e["type"] == "update"]
    assert len(updates) == total
    assert [e["attrs"]["as_path"][0]["asns"][1] for e in updates] == list(range(total))
    assert [e["seq"] for e in events] == list(range(len(events)))
