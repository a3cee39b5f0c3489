"""Reliability against real Kafka: kill -9 with a wiped state dir, failover, exactly-once.

Each test compares with something independent of the code under test: an uninterrupted run
of the same inputs (restore), the routes the test announced (failover), the set of flows the
test produced read back with read_committed (exactly-once).
"""

from __future__ import annotations

import ipaddress
import shutil
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.enrich.kafka_io import (
    EnricherProcess,
    committed_caught_up,
    enricher_env,
    produce,
    read_json,
    running,
)
from tests.fixtures.waiting import wait_for
from tests.rib.builders import NOW_MS, Stream, attrs, flow, flows_message

pytestmark = pytest.mark.integration

T0 = NOW_MS  # recent: see tests/rib/builders.py
ROUTERS = [f"10.0.0.{i}" for i in range(1, 9)]  # spread over the partitions


def _router_prefixes(i: int) -> list[str]:
    # each router: a /16, more-specific /24s and one v6 prefix, all its own AS path
    return [f"10.{i}.0.0/16", f"10.{i}.1.0/24", f"10.{i}.2.0/24", f"2001:db8:{i}::/48"]


def _bgp_table(version: int = 0, t: int = T0) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    for i, router in enumerate(ROUTERS, start=1):
        s = Stream(router, time_ms=t, seq=version * 100)
        if version == 0:
            out.append((router, s.session("up"), s.time_ms))
        v4 = [p for p in _router_prefixes(i) if ":" not in p]
        out.append((router, s.update(v4[:1], attrs=attrs(65000 + i, version + 1)), s.time_ms))
        out.append((router, s.update(v4[1:], attrs=attrs(65100 + i, 7, version + 1)), s.time_ms))
        v6 = [p for p in _router_prefixes(i) if ":" in p]
        out.append(
            (router, s.update(v6, next_hop="2001:db8::1", attrs=attrs(65200 + i)), s.time_ms)
        )
    return out


def _flows(tag: int, t: int) -> tuple[list[tuple[str, Any, int]], int]:
    msgs: list[tuple[str, Any, int]] = []
    n = 0
    for i, router in enumerate(ROUTERS, start=1):
        records = [
            flow(f"10.{i}.1.7", f"10.{i}.200.1", sport=tag, exporter=router, time_ms=t),
            flow(f"10.{i}.9.9", f"10.{i}.2.1", sport=tag, exporter=router, time_ms=t),
            flow(f"2001:db8:{i}::5", "2001:db8:ffff::1", sport=tag, exporter=router, time_ms=t),
        ]
        msgs.append((router, flows_message(router, router, records), t))
        n += len(records)
    return msgs, n


def _comparable(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, str(v)) for k, v in record.items() if k != "writer_id"))


def test_kill9_and_wiped_state_restore_from_the_changelog(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=4)
    ref = enricher_topics(partitions=4)  # the uninterrupted run reads copies of the same input
    table = _bgp_table()
    s = Stream(ROUTERS[0], time_ms=T0 + 500, seq=4)  # a withdraw: deletes must be restored too
    table.append((ROUTERS[0], s.update(withdraw=["10.1.2.0/24"]), T0 + 500))
    first, n1 = _flows(1, T0 + 1000)
    later, n2 = _flows(2, T0 + 60_000)
    for topics in (t, ref):
        produce(kafka_broker, topics["bgp"], table)
        produce(kafka_broker, topics["flows"], first)
    state = tmp_path / "state"
    proc = EnricherProcess(enricher_env(kafka_broker, t, state, t["group"]), tmp_path / "a.log")
    ref_proc = EnricherProcess(
        enricher_env(kafka_broker, ref, tmp_path / "ref", ref["group"]), tmp_path / "ref.log"
    )
    with running(ref_proc):
        with running(proc):
            assert len(read_json(kafka_broker, t["enriched"], n1, timeout=90)) >= n1
            group = t["group"] + "-enricher"
            wait_for(
                "the BGP input to be committed",
                lambda: committed_caught_up(kafka_broker, group, t["bgp"], 4),
                60,
            )
            proc.stop(signal.SIGKILL)
        shutil.rmtree(state)
        produce(kafka_broker, t["flows"], later)
        produce(kafka_broker, ref["flows"], later)
        restarted = EnricherProcess(
            enricher_env(kafka_broker, t, state, t["group"]), tmp_path / "b.log"
        )
        with running(restarted):
            got = read_json(kafka_broker, t["enriched"], n1 + n2, timeout=120)
            expected = read_json(kafka_broker, ref["enriched"], n1 + n2, timeout=120)
            restarted.wait_log("RIB rebuilt from state", count=4)
    log = restarted.log()
    # the committed BGP input was not read again: the routes came from the changelog
    rebuilt = sum(int(line.split(" paths")[0].rsplit(" ", 1)[1]) for line in log.splitlines()
                  if "RIB rebuilt from state" in line)  # fmt: skip
    assert rebuilt == len(ROUTERS) * 4 - 1
    mine = Counter(_comparable(r) for r in got if r["port_src"] == 2)
    theirs = Counter(_comparable(r) for r in expected if r["port_src"] == 2)
    assert len(theirs) == n2 and set(mine) == set(theirs)
    sample = next(r for r in got if r["port_src"] == 2 and r["ip_dst"] == "10.1.2.1")
    assert sample["mask_dst"] == 16  # the withdrawn /24 stayed withdrawn after the restore


def test_two_instances_split_routers_and_failover_moves_ribs(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=4)
    produce(kafka_broker, t["bgp"], _bgp_table())
    a = EnricherProcess(enricher_env(kafka_broker, t, tmp_path / "sa", t["group"]), tmp_path / "a")
    b = EnricherProcess(enricher_env(kafka_broker, t, tmp_path / "sb", t["group"]), tmp_path / "b")
    with running(a, b):
        wait_for(
            "both instances to own partitions",
            lambda: (
                a.log().count("RIB rebuilt") + b.log().count("RIB rebuilt") >= 4
                and "RIB rebuilt" in a.log()
                and "RIB rebuilt" in b.log()
            ),
            120,
        )
        first, n1 = _flows(1, T0 + 1000)
        produce(kafka_broker, t["flows"], first)
        out = read_json(kafka_broker, t["enriched"], n1, timeout=90)
        writers = {r["writer_id"].split("/")[1] for r in out}
        assert writers == {str(a.pid), str(b.pid)}  # the routers were split
        _check(out, version=0)
        a.stop(signal.SIGTERM)
        # b now owns every partition. Only the /16s change after the failover: the /24s and
        # the v6 prefixes a learnt must reach b through the changelog.
        s = {r: Stream(r, time_ms=T0 + 2000, seq=4) for r in ROUTERS}
        changes = [
            (r, s[r].update([f"10.{i}.0.0/16"], attrs=attrs(65000 + i, 2)), T0 + 2000)
            for i, r in enumerate(ROUTERS, start=1)
        ]
        produce(kafka_broker, t["bgp"], changes)
        later, n2 = _flows(2, T0 + 3000)
        produce(kafka_broker, t["flows"], later)
        out = read_json(kafka_broker, t["enriched"], n1 + n2, timeout=120)
        moved = [r for r in out if r["port_src"] == 2]
        assert len(moved) == n2
        assert {r["writer_id"].split("/")[1] for r in moved} == {str(b.pid)}
        _check(moved, version=0, v16_version=1)


def _check(records: list[dict[str, Any]], version: int, v16_version: int | None = None) -> None:
    v16 = version if v16_version is None else v16_version
    for r in records:
        i = ROUTERS.index(r["peer_ip_src"]) + 1
        expect = {}
        for p in _router_prefixes(i):
            net = ipaddress.ip_network(p)
            for side, addr in (("dst", r["ip_dst"]), ("src", r["ip_src"])):
                a = ipaddress.ip_address(addr)
                covers = a.version == net.version and a in net
                if covers and (side not in expect or net.prefixlen > expect[side][0]):
                    expect[side] = (net.prefixlen, p)
        for side, key in (("dst", "as_path"), ("src", "as_path_src")):
            if side not in expect:
                assert r[key] == "", r
                continue
            plen, p = expect[side]
            if ":" in p:
                want = f"{65200 + i}"
            elif plen == 16:
                want = f"{65000 + i}_{v16 + 1}"
            else:
                want = f"{65100 + i}_7_{version + 1}"
            assert r[key] == want, (side, r)


def test_exactly_once_crash_between_produce_and_commit(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2)
    produce(kafka_broker, t["bgp"], _bgp_table())
    flows, n = _flows(1, T0 + 1000)
    more, n_more = _flows(3, T0 + 2000)
    produce(kafka_broker, t["flows"], flows + more)
    total = n + n_more
    # a commit interval far longer than the crash takes: the first transaction stays open
    env = enricher_env(
        kafka_broker, t, tmp_path / "s", t["group"],
        PROCESSING_GUARANTEE="exactly-once", COMMIT_INTERVAL="300",
    )  # fmt: skip
    crashed = EnricherProcess(env, tmp_path / "crash.log")
    with running(crashed):
        uncommitted = read_json(kafka_broker, t["enriched"], total, timeout=120)
        assert len(uncommitted) >= total  # produced ...
        assert read_json(kafka_broker, t["enriched"], 0, committed_only=True) == []  # not committed
        crashed.stop(signal.SIGKILL)  # ... and killed before the commit
    env["COMMIT_INTERVAL"] = "1"
    again = EnricherProcess(env, tmp_path / "again.log")
    with running(again):
        committed = read_json(kafka_broker, t["enriched"], total, timeout=120, committed_only=True)
        wait_for(
            "the flows input to be committed",
            lambda: committed_caught_up(kafka_broker, t["group"] + "-enricher", t["flows"], 2),
            60,
        )
        committed = read_json(kafka_broker, t["enriched"], total, timeout=10, committed_only=True)
    keys = Counter((r["peer_ip_src"], r["ip_src"], r["ip_dst"], r["port_src"]) for r in committed)
    assert len(keys) == total  # nothing missing
    assert set(keys.values()) == {1}  # nothing twice
    assert all(r["writer_id"].endswith(f"/{again.pid}") for r in committed)
