"""The collector benchmark's in-process part (bench_collector.py, step 1): an sFlow v5 pool, and
decode-only and decode + publish to a real broker through ``Collector.process``, flows per
CPU-second of this process, on either record path.

The importing script puts the repository root and src/ on sys.path.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import resource
import struct
import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.flowpool import Pool
from ribflow.agentmap import RouterResolver
from ribflow.bgp.keys import RouterKeys
from ribflow.flow.batching import KeyChooser
from ribflow.flow.collector import Collector, Topics
from ribflow.flow.dispatch import Dispatcher
from ribflow.rib import lpm
from tests.fixtures.kafka import delete_topics


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------ sFlow pool


def sflow_pool(packets: int, samples: int = 8, seed: int = 5) -> Pool:
    """sFlow v5 datagrams as a switch sends them: ``samples`` flow samples, each a 128-byte raw
    Ethernet/IPv4/TCP-or-UDP header plus extended switch data, 1-in-1000 sampling."""
    rnd = random.Random(seed)
    data = []
    for i in range(packets):
        body = b""
        for k in range(samples):
            proto = 6 if rnd.random() < 0.6 else 17
            src = 0x0B000000 + (rnd.randrange(100_000) << 8) + 1 + rnd.randrange(254)
            dst = 0x0B000000 + (rnd.randrange(100_000) << 8) + 1 + rnd.randrange(254)
            l4 = struct.pack("!HH", 1024 + rnd.randrange(64_000), (80, 443, 53)[k % 3])
            l4 += b"\x00" * 9 + b"\x18" + b"\x00" * 6 if proto == 6 else b"\x00\x40\x00\x00"
            ip = struct.pack("!BBHHHBBHII", 0x45, 0, 1400, 1, 0, 64, proto, 0, src, dst) + l4
            frame = bytes(12) + b"\x08\x00" + ip
            frame = (frame + bytes(128))[:128]
            raw = struct.pack("!IIII", 1, 1418, 4, len(frame)) + frame
            switch = struct.pack("!IIII", 10, 0, 10, 0)
            recs = struct.pack("!II", 1, len(raw)) + raw + struct.pack("!II", 1001, 16) + switch
            sample = struct.pack("!IIIIIIII", i * samples + k, 3, 1000, 1000 * i, 0, 3, 4, 2)
            sample += recs
            body += struct.pack("!II", 1, len(sample)) + sample
        head = struct.pack("!II4sIIII", 5, 1, bytes([192, 0, 2, 9]), 0, i, 1000 + i, samples)
        data.append(head + body)
    return Pool("sflow", 5005, [], data, samples)


# -------------------------------------------------------------------- 1. decode + publish


@contextlib.contextmanager
def record_impl(impl: str) -> Iterator[None]:
    """The collector's record path: "pure" (Python decoders, dict records, orjson) or
    "compiled" (records as JSON by ribflow_lpm's codecs), as RIBFLOW_PURE_LPM chooses."""
    old = os.environ.get(lpm.PURE_ENV)
    os.environ[lpm.PURE_ENV] = "1" if impl == "pure" else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(lpm.PURE_ENV, None)
        else:
            os.environ[lpm.PURE_ENV] = old


def decode_only(pool: Pool, rounds: int, impl: str) -> float:
    """Records per CPU-second of decoding alone (as JSON fragments on the compiled path)."""
    d = Dispatcher()
    d.encode_records(impl == "compiled")
    for p in pool.setup:
        d.decode(p, "192.0.2.1", 1_790_000_000_000)
    n, c0 = 0, time.process_time()
    for _ in range(rounds):
        for p in pool.data:
            n += d.decode(p, "192.0.2.1", 1_790_000_000_000).record_count
    return n / (time.process_time() - c0)


def decode_publish(pool: Pool, broker: str, max_packets: int, rounds: int) -> tuple[float, float]:
    """(flows per CPU-second, flows per wall-second) of process + produce + flush."""
    topic = f"bench-flows-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic(topic, 4, 1)])[topic].result(30)
    producer = Producer(
        {
            "bootstrap.servers": broker,
            "linger.ms": 20,
            "compression.type": "lz4",
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000,
            "delivery.report.only.error": True,
        }
    )
    c = Collector(
        [],
        Dispatcher(),
        producer,
        RouterResolver(),
        Topics(topic, topic, topic, topic),
        KeyChooser(RouterKeys(1)),
        max_packets=max_packets,
    )
    try:
        for p in pool.setup:
            c.process(p, "192.0.2.1", 1_790_000_000_000)
        producer.flush(60)
        n, c0, w0 = 0, cpu_self(), time.perf_counter()
        for _ in range(rounds):
            for p in pool.data:
                c.process(p, "192.0.2.1", 1_790_000_000_000)
                n += pool.records_per_packet
            producer.poll(0)
        c.flush_batches()
        left = producer.flush(120)
        assert left == 0, f"{left} messages not delivered"
        return n / (cpu_self() - c0), n / (time.perf_counter() - w0)
    finally:
        # the producer goes first: a live one asking for metadata would re-create the topic
        del c, producer
        gc.collect()
        delete_topics(broker, topic)
