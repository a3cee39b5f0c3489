"""`ribflow enricher` while Kafka is dead for ~12 s, stopped in the middle of a stream of flows.

The expected output is an uninterrupted enricher run over copies of the same inputs (its own
topics and group, before the outage). After the broker comes back on the same port and data
directory, every flow must be enriched exactly as in that run: at-least-once allows duplicates
(counted here), never a missing or differently enriched flow.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.enrich.kafka_io import EnricherProcess, enricher_env, produce, read_json, running
from tests.outage.broker import (
    HOST,
    Broker,
    metric,
    private_broker,
    produce_across_stop,
    scrape,
    wait_for,
)
from tests.rib.builders import NOW_MS, Stream, attrs, flow, flows_message

pytestmark = pytest.mark.integration

PARTITIONS = 2
ROUTERS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
PER_MESSAGE = 10
OUTAGE_S = 5.0  # dead time before the restart begins (which takes ~5 s more after a crash)
METRICS_PORT = 23012

broker = private_broker(23010)


def topics(name: str, address: str) -> dict[str, str]:
    names = {t: f"{name}-{t}" for t in ("bgp", "flows", "enriched", "dump", "rib")}
    admin = AdminClient({"bootstrap.servers": address})
    new = [NewTopic(n, PARTITIONS, 1) for t, n in names.items() if t != "rib"]
    new.append(NewTopic(names["rib"], PARTITIONS, 1, config={"cleanup.policy": "compact"}))
    for fut in admin.create_topics(new).values():
        fut.result(timeout=30)
    return {**names, "group": f"{name}-group"}


def rib() -> list[tuple[str, Any, int]]:
    """Each router: a /16 and a more specific /24 with AS paths of its own, and a v6 /48."""
    out: list[tuple[str, Any, int]] = []
    for i, router in enumerate(ROUTERS, start=1):
        s = Stream(router, time_ms=NOW_MS)
        out.append((router, s.session("up"), s.time_ms))
        out.append((router, s.update([f"10.{i}.0.0/16"], attrs=attrs(65000 + i, 1)), s.time_ms))
        out.append((router, s.update([f"10.{i}.1.0/24"], attrs=attrs(65100 + i, 7)), s.time_ms))
        v6 = s.update([f"2001:db8:{i}::/48"], next_hop="2001:db8::1", attrs=attrs(65200 + i))
        out.append((router, v6, s.time_ms))
    return out


def flows(batch: int, messages: int) -> list[tuple[str, Any, int]]:
    """``messages`` flows messages per router; every record unique by (batch, source port)."""
    out: list[tuple[str, Any, int]] = []
    t = NOW_MS + 10_000 * (batch + 1)
    for n in range(messages):
        for i, router in enumerate(ROUTERS, start=1):
            recs = []
            for k in range(PER_MESSAGE):
                port = 1000 * batch + n * PER_MESSAGE + k
                dst = (f"10.{i}.1.{k + 1}", f"10.{i}.9.{k + 1}", f"2001:db8:{i}::{k + 1}")[k % 3]
                src = "10.250.0.1" if ":" not in dst else "2001:db8:ffff::1"
                recs.append(flow(src, dst, sport=port, exporter=router, time_ms=t))
            out.append((router, flows_message(router, router, recs), t))
    return out


def comparable(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, str(v)) for k, v in record.items() if k != "writer_id"))


def test_enricher_survives_a_dead_broker_and_loses_no_flow(broker: Broker, tmp_path: Path) -> None:
    broker.ensure_up()
    # before; a stream Kafka dies in the middle of; while Kafka is dead; after
    batches = [flows(0, 5), flows(1, 60), flows(2, 5), flows(3, 5)]
    total = sum(len(b) for b in batches) * PER_MESSAGE
    # the reference: the same inputs, no outage
    ref = topics("ref", broker.address)
    produce(broker.address, ref["bgp"], rib())
    produce(broker.address, ref["flows"], [m for b in batches for m in b])
    ref_proc = EnricherProcess(
        enricher_env(broker.address, ref, tmp_path / "ref-state", ref["group"]),
        tmp_path / "ref.log",
    )
    with running(ref_proc):
        expected = read_json(broker.address, ref["enriched"], total, timeout=120)
    want = Counter(comparable(r) for r in expected)
    assert len(expected) == total and len(want) == total
    assert all(r["as_path"] for r in expected), "every destination has a route"

    t = topics("outage", broker.address)
    produce(broker.address, t["bgp"], rib())
    produce(broker.address, t["flows"], batches[0])
    env = enricher_env(
        broker.address, t, tmp_path / "state", t["group"],
        METRICS_HOST=HOST, METRICS_PORT=str(METRICS_PORT),
    )  # fmt: skip
    proc = EnricherProcess(env, tmp_path / "enricher.log")
    n0 = len(batches[0]) * PER_MESSAGE
    with running(proc):
        read_json(broker.address, t["enriched"], n0, timeout=120)
        # a live stream of flows; Kafka dies half-way through it, while the enricher reads,
        # enriches and commits
        stream = [(k.encode(), orjson.dumps(v), ts) for k, v, ts in batches[1]]
        late = produce_across_stop(broker, t["flows"], stream, stop_after=len(stream) // 2)
        down_at = time.monotonic()
        # like the collector would: flows produced while Kafka is away wait in the producer
        for key, value, ts in batches[2]:
            late.produce(t["flows"], orjson.dumps(value), key.encode(), timestamp=ts)
        alive_throughout = True
        while time.monotonic() - down_at < OUTAGE_S:
            alive_throughout = alive_throughout and proc.alive()
            time.sleep(0.5)
        broker.start()
        assert late.flush(60) == 0
        produce(broker.address, t["flows"], batches[3])

        def complete() -> list[dict[str, Any]] | None:
            assert proc.alive(), f"the enricher exited:\n{proc.log()[-3000:]}"
            out = read_json(broker.address, t["enriched"], total, timeout=5)
            return out if set(want) <= {comparable(r) for r in out} else None

        got = wait_for("every flow enriched", complete, 120, every=1.0)
        samples = scrape(METRICS_PORT)
        still_alive = proc.alive()
    mine = Counter(comparable(r) for r in got)
    dups = sum(mine.values()) - len(mine)
    restarts = metric(samples, "ribflow_app_restarts_total")
    print(
        f"enricher: outage {broker.last_outage_s:.1f}s, flows in {total}, enriched out "
        f"{len(got)}, unique {len(mine)}, duplicates {dups}, in-process restarts {restarts:.0f}, "
        f"flows_total {metric(samples, 'ribflow_enricher_flows_total'):.0f}"
    )
    assert alive_throughout and still_alive, f"the enricher exited:\n{proc.log()[-3000:]}"
    assert set(mine) == set(want), "a flow was lost or enriched differently"
    # a checkpoint that failed with Kafka away ends Quix's run: it is run again, and counted
    log_restarts = proc.log().count("Kafka failed under the application")
    assert restarts == log_restarts
    assert "Traceback" not in proc.log().split("Kafka failed under")[-1], proc.log()[-3000:]
