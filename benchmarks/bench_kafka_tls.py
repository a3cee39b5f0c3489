"""What SASL_SSL (TLS + SCRAM-SHA-512) costs a ribflow producer and consumer, vs PLAINTEXT.

    .venv/bin/python benchmarks/bench_kafka_tls.py [--messages 100000] [--size 600] [--rounds 2]

One managed broker (``ribflow.kafka.local``, ``--sasl-ssl-port``) on free ports of 127.0.1.3 with
both listeners; the same client configuration from ``ribflow.kafka.client.client_config`` (the
collector's producer tuning: linger 5 ms, lz4) produces ``--messages`` flow-sized JSON messages
to a fresh topic through each listener, then reads them back. Rounds alternate the listeners;
the best round of each counts. PLAINTEXT is the reference, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo: tests.fixtures
from results import Figure, write_result

from ribflow.kafka.client import client_config, plaintext
from ribflow.kafka.local import BrokerConfig, LocalKafka
from ribflow.kafka.settings import KafkaClientSettings
from tests.fixtures.ports import free_port

HOST = "127.0.1.3"


def payload(i: int, size: int) -> bytes:
    rec = {"src_addr": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "dst_addr": "192.0.2.9",
           "proto": 6, "packets": 3, "bytes": 1500 + i % 700, "pad": ""}  # fmt: skip
    raw = orjson.dumps(rec)
    rec["pad"] = "x" * max(0, size - len(raw))
    return orjson.dumps(rec)


def produce(kafka: KafkaClientSettings, topic: str, messages: list[bytes]) -> float:
    p = Producer(client_config(kafka, {"linger.ms": 5, "compression.type": "lz4",
                                       "queue.buffering.max.messages": 500_000}))  # fmt: skip
    t0 = time.perf_counter()
    for i, m in enumerate(messages):
        while True:
            try:
                p.produce(topic, m, str(i % 16).encode())
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    assert p.flush(120) == 0
    return time.perf_counter() - t0


def consume(kafka: KafkaClientSettings, topic: str, n: int) -> float:
    c = Consumer(client_config(kafka, {"group.id": f"bench-{uuid.uuid4().hex}",
                                       "auto.offset.reset": "earliest"}))  # fmt: skip
    c.subscribe([topic])
    got, t0 = 0, 0.0
    try:
        while got < n:
            batch = c.consume(10_000, timeout=5.0)
            if batch and not t0:
                t0 = time.perf_counter()
            got += sum(1 for m in batch if m.error() is None)
        return time.perf_counter() - t0
    finally:
        c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    password = os.urandom(12).hex()
    with tempfile.TemporaryDirectory(prefix="bench-kafka-tls-") as tmp:
        cfg = BrokerConfig(host=HOST, port=free_port(HOST), controller_port=free_port(HOST),
                           sasl_ssl_port=free_port(HOST), data_dir=Path(tmp),
                           sasl_users={"bench": password})  # fmt: skip
        kafka = LocalKafka(cfg)
        kafka.up()
        try:
            secure = KafkaClientSettings(
                Quix__Broker__Address=cfg.secure_address, KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                KAFKA_SASL_MECHANISM="SCRAM-SHA-512", KAFKA_SASL_USERNAME="bench",
                KAFKA_SASL_PASSWORD=password, KAFKA_SSL_CA_LOCATION=str(cfg.ca_file),
            )  # fmt: skip
            listeners = {"PLAINTEXT": plaintext(cfg.address), "SASL_SSL": secure}
            messages = [payload(i, args.size) for i in range(args.messages)]
            best: dict[str, list[float]] = {k: [0.0, 0.0] for k in listeners}
            rounds: list[str] = []
            for r in range(args.rounds):
                order = list(listeners) if r % 2 == 0 else list(reversed(listeners))
                for name in order:
                    topic = f"bench-tls-{uuid.uuid4().hex[:8]}"
                    p_s = produce(listeners[name], topic, messages)
                    c_s = consume(listeners[name], topic, len(messages))
                    best[name][0] = max(best[name][0], len(messages) / p_s)
                    best[name][1] = max(best[name][1], len(messages) / c_s)
                    rounds.append(f"{name} {len(messages) / p_s:.0f}/{len(messages) / c_s:.0f}")
                    print(f"round {r} {name:<10} produce {len(messages) / p_s:>9,.0f} msg/s"
                          f"  consume {len(messages) / c_s:>9,.0f} msg/s")  # fmt: skip
        finally:
            kafka.down()
    plain, tls = best["PLAINTEXT"], best["SASL_SSL"]
    print(f"best: produce {tls[0]:,.0f} vs {plain[0]:,.0f} msg/s ({tls[0] / plain[0]:.2f}x), "
          f"consume {tls[1]:,.0f} vs {plain[1]:,.0f} msg/s ({tls[1] / plain[1]:.2f}x)")  # fmt: skip
    write_result(
        "kafka_tls",
        [
            Figure(
                "messages produced per second over SASL_SSL (SCRAM-SHA-512)",
                "msg/s",
                round(tls[0]),
                "PLAINTEXT, same broker and run",
                round(plain[0]),
            ),
            Figure(
                "messages consumed per second over SASL_SSL (SCRAM-SHA-512)",
                "msg/s",
                round(tls[1]),
                "PLAINTEXT, same broker and run",
                round(plain[1]),
            ),
        ],
        notes=f"{args.messages} messages of {args.size} bytes, lz4, linger 5 ms, one local "
        f"broker with both listeners; best of {args.rounds} alternating rounds (produce/consume "
        f"msg/s per round: {', '.join(rounds)}). On a shared, loaded machine the rounds vary "
        "by 2x or more: only the produce ratio is meaningful.",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
