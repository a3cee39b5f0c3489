"""kill -9 and restart against real Kafka: static membership and the start-up hold.

The restarted enricher (same host and state directory, so the same group.instance.id, read back
from the broker with the admin client) takes its partitions back without waiting for the dead
member's session to time out, and holds flows until the bgp-updates backlog present at its
start is applied, keeping point in time: flows stamped before the backlog's route changes get
the routes before them, flows stamped after get the changed routes (without the hold, flows
fetched before the bgp-updates backlog would be enriched from the RIB without the changes);
expected values are the AS paths the test announced. The time from the
kill to the first enriched flow is printed (a measurement, not a gate).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from tests.enrich.kafka_io import (
    EnricherProcess,
    committed_caught_up,
    enricher_env,
    kcat_read,
    produce,
    read_json,
    running,
)
from tests.fixtures.waiting import wait_for
from tests.rib.builders import NOW_MS, Stream, attrs, flow, flows_message

pytestmark = pytest.mark.integration

T0 = NOW_MS
ROUTERS = [f"10.0.0.{i}" for i in range(1, 9)]  # spread over the partitions


def _table(version: int, t: int) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    for i, router in enumerate(ROUTERS, start=1):
        s = Stream(router, time_ms=t, seq=version * 10)
        if version == 1:
            out.append((router, s.session("up"), t))
        out.append((router, s.update([f"10.{i}.0.0/16"], attrs=attrs(65000 + i, version)), t))
    return out


def _flows(tag: int, t: int) -> tuple[list[tuple[str, Any, int]], int]:
    msgs = []
    for i, router in enumerate(ROUTERS, start=1):
        records = [flow(f"10.{i}.1.7", f"10.{i}.200.1", sport=tag, exporter=router, time_ms=t)]
        msgs.append((router, flows_message(router, router, records), t))
    return msgs, len(msgs)


def _instance_ids(broker: str, group: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": broker})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return {m.group_instance_id for m in desc.members}


def test_kill9_restart_takes_partitions_back_and_holds_flows_for_the_backlog(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=4)
    group = t["group"] + "-enricher"
    produce(kafka_broker, t["bgp"], _table(1, T0))
    first, n1 = _flows(1, T0 + 1000)
    produce(kafka_broker, t["flows"], first)
    state = tmp_path / "state"
    # the default session timeout: without static membership a restart waits for it
    env = enricher_env(kafka_broker, t, state, t["group"], SESSION_TIMEOUT_MS="45000")
    proc = EnricherProcess(env, tmp_path / "a.log")
    with running(proc):
        got = read_json(kafka_broker, t["enriched"], n1, timeout=90)
        assert len(got) == n1
        wait_for("commits", lambda: committed_caught_up(kafka_broker, group, t["bgp"], 4), 60)
        before = _instance_ids(kafka_broker, group)
        proc.stop(signal.SIGKILL)
    killed = time.monotonic()
    shutil.rmtree(state)
    # while it is down: every router's /16 changes at T0+5s; flows stamped before and after it
    produce(kafka_broker, t["bgp"], _table(2, T0 + 5000))
    earlier, n_early = _flows(2, T0 + 2000)
    later, n_late = _flows(3, T0 + 6000)
    produce(kafka_broker, t["flows"], earlier + later)
    n2 = n_early + n_late
    restarted = EnricherProcess(env, tmp_path / "b.log")
    with running(restarted):
        wait_for(
            "the first flow enriched after the restart",
            lambda: len(kcat_read(kafka_broker, t["enriched"], n1 + 1, timeout=0)) > n1,
            120,
            every=0.2,
        )
        print(f"\nkill -9 to the first enriched flow after the restart: "
              f"{time.monotonic() - killed:.1f}s")  # fmt: skip
        out = read_json(kafka_broker, t["enriched"], n1 + n2, timeout=60)
        after = _instance_ids(kafka_broker, group)
    assert before and len(before) == 1 and after == before  # static membership, same id
    for tag, n, version in ((2, n_early, 1), (3, n_late, 2)):
        got = [r for r in out if r["port_src"] == tag]
        assert len(got) == n
        for r in got:
            i = ROUTERS.index(r["peer_ip_src"]) + 1
            # the route at the flow's time: before the backlog's change, or the change
            assert r["as_path"] == f"{65000 + i}_{version}", r
            assert r["mask_dst"] == 16
    assert "held until bgp-updates offset" in restarted.log()
