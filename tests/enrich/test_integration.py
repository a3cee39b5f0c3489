"""The enricher against real Kafka: enrichment end to end, dumps, table topic, DLQ, refusal.

Inputs are bgp-updates and flows messages built per their schemas; expectations are computed
from what the test announced (the route a destination falls in), and outputs are read back with
kcat.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.schemas import validate
from tests.enrich.kafka_io import (
    REPO,
    EnricherProcess,
    enricher_env,
    kcat_read,
    produce,
    read_json,
    running,
)
from tests.rib.builders import NOW_MS, Stream, attrs, flow, flows_message

pytestmark = pytest.mark.integration

T0 = NOW_MS  # recent: see tests/rib/builders.py
ROUTERS = {  # router key -> (its prefixes, AS path)
    "127.0.0.3": (["203.0.113.0/24", "10.20.0.0/16", "2001:db8:100::/48"], (65010, 65020)),
    "127.0.0.5": (["203.0.113.0/24", "198.51.100.0/24"], (65030,)),
    "10.0.0.7": (["0.0.0.0/0"], (64999, 65001)),
}


def _bgp_messages() -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    for router, (prefixes, path) in ROUTERS.items():
        s = Stream(router, time_ms=T0)
        out.append((router, s.session("up"), s.time_ms))
        v4 = [p for p in prefixes if ":" not in p]
        v6 = [p for p in prefixes if ":" in p]
        comms = [f"65001:{path[-1] % 65536}"]
        msg = s.update(v4, attrs=attrs(*path, med=7, communities=comms))
        out.append((router, msg, s.time_ms))
        if v6:
            msg = s.update(v6, next_hop="2001:db8::1", attrs=attrs(*path, communities=comms))
            out.append((router, msg, s.time_ms))
        out.append((router, s.eor(), s.time_ms))
    for _, msg, _ in out:
        validate("bgp-updates.v1", msg)
    return out


def _flow_messages(port_base: int, t: int) -> tuple[list[tuple[str, Any, int]], int]:
    msgs: list[tuple[str, Any, int]] = []
    count = 0
    for i, router in enumerate(ROUTERS):
        records = [
            flow("10.20.1.1", "203.0.113.9", sport=port_base + i, exporter=router, time_ms=t),
            flow("192.0.2.1", "198.51.100.20", sport=port_base + i, exporter=router, time_ms=t),
            flow(
                "2001:db8:100::1",
                "2001:db8:100::2",
                sport=port_base + i,
                exporter=router,
                time_ms=t,
            ),
        ]
        msg = flows_message(router, router, records)
        validate("flows.v1", msg)
        msgs.append((router, msg, t))
        count += len(records)
    return msgs, count


def _expected_as_path(router: str, dst: str) -> str:
    prefixes, path = ROUTERS[router]
    import ipaddress

    addr = ipaddress.ip_address(dst)
    nets = [ipaddress.ip_network(p) for p in prefixes]
    best = max(
        (n for n in nets if n.version == addr.version and addr in n),
        key=lambda n: n.prefixlen,
        default=None,
    )
    return "_".join(map(str, path)) if best is not None else ""


def _check_enriched(records: list[dict[str, Any]]) -> None:
    for r in records:
        validate("flows-enriched.v1", r)
        router = r["peer_ip_src"]  # the test's exporters are their routers
        assert r["as_path"] == _expected_as_path(router, r["ip_dst"]), r
        assert r["as_path_src"] == _expected_as_path(router, r["ip_src"]), r


def test_enrichment_end_to_end_with_dumps_and_table(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=4)
    produce(kafka_broker, t["bgp"], _bgp_messages())
    flows, n_records = _flow_messages(40000, T0 + 10_000)
    produce(kafka_broker, t["flows"], flows)
    env = enricher_env(kafka_broker, t, tmp_path / "state", t["group"], RIB_DUMP_INTERVAL="2")
    proc = EnricherProcess(env, tmp_path / "enricher.log")
    with running(proc):
        enriched = read_json(kafka_broker, t["enriched"], n_records, timeout=90)
        assert len(enriched) == n_records, proc.log()[-3000:]
        _check_enriched(enriched)
        by_dst = {(r["peer_ip_src"], r["ip_dst"]): r for r in enriched}
        r = by_dst[("127.0.0.3", "203.0.113.9")]
        assert (r["as_dst"], r["peer_as_dst"], r["med"], r["local_pref"]) == (65020, 65010, 7, 100)
        assert (r["net_dst"], r["mask_dst"], r["comms"]) == ("203.0.113.0", 24, "65001:65020")
        assert (r["as_src"], r["net_src"], r["mask_src"]) == (65020, "10.20.0.0", 16)
        r = by_dst[("127.0.0.5", "203.0.113.9")]
        assert (r["as_dst"], r["as_src"], r["peer_ip_dst"]) == (65030, 0, "192.0.2.1")
        r = by_dst[("10.0.0.7", "2001:db8:100::2")]  # v4 default only: v6 unrouted
        assert (r["as_dst"], r["net_dst"], r["peer_ip_dst"]) == (0, "::", "::")
        # the compacted table: one record per path, keyed router|prefix|path-id
        table = kcat_read(kafka_broker, t["rib"], 6)
        assert len(table) == 6  # one record per path: 3 + 2 + 1
        keys = {k.decode() for k, _ in table}
        assert "127.0.0.3|2001:db8:100::/48|0" in keys and "10.0.0.7|0.0.0.0/0|0" in keys
        for _, value in table:
            assert value is not None
            validate("bgp-rib.v1", orjson.loads(value))
        # periodic dumps (every 2 s): init, one per path, close for each router
        dumps = read_json(kafka_broker, t["dump"], 13, timeout=60)
        for d in dumps:
            validate("bgp-rib-dump.v1", d)
        closes = {d["peer_ip_src"]: d["entries"] for d in dumps if d["event_type"] == "dump_close"}
        assert closes == {"127.0.0.3": 3, "127.0.0.5": 2, "10.0.0.7": 1}
        dumped = {d["ip_prefix"] for d in dumps if d["event_type"] == "dump"}
        assert dumped == {p for ps, _ in ROUTERS.values() for p in ps}


def test_session_down_flushes_and_writes_tombstones(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2)
    s = Stream("127.0.0.3", time_ms=T0)
    msgs = [
        ("127.0.0.3", s.session("up"), T0),
        ("127.0.0.3", s.update(["203.0.113.0/24", "10.0.0.0/8"], attrs=attrs(65010)), T0 + 1),
        ("127.0.0.3", s.session("down", reason="notification"), T0 + 2),
    ]
    produce(kafka_broker, t["bgp"], msgs)
    rec = flow("10.1.1.1", "203.0.113.1", exporter="127.0.0.3", time_ms=T0 + 5)
    produce(
        kafka_broker, t["flows"], [("127.0.0.3", flows_message("127.0.0.3", "e", [rec]), T0 + 5)]
    )
    proc = EnricherProcess(
        enricher_env(kafka_broker, t, tmp_path / "s", t["group"]), tmp_path / "l"
    )
    with running(proc):
        (out,) = read_json(kafka_broker, t["enriched"], 1, timeout=90)
        assert out["as_dst"] == 0 and out["as_path"] == ""  # flow after the session loss
        table = kcat_read(kafka_broker, t["rib"], 4)
        assert [v for _, v in table].count(None) == 2


def test_garbage_goes_to_dead_letter_topics_and_the_app_keeps_going(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2)
    s = Stream("127.0.0.3", time_ms=T0)
    produce(
        kafka_broker,
        t["bgp"],
        [
            ("127.0.0.3", b"\xff\xfe garbage", T0),
            ("127.0.0.3", {"v": 1, "type": "update", "router": "x"}, T0 + 1),
            ("127.0.0.3", s.update(["203.0.113.0/24"], attrs=attrs(65010)), T0 + 2),
        ],
    )
    good = flows_message("127.0.0.3", "e", [flow("1.1.1.1", "203.0.113.5", time_ms=T0 + 9)])
    produce(
        kafka_broker,
        t["flows"],
        [
            ("127.0.0.3", b"not json at all", T0 + 5),
            ("127.0.0.3", {"v": 1, "records": [{"src_addr": "::1"}]}, T0 + 6),
            ("127.0.0.3", good, T0 + 9),
        ],
    )
    proc = EnricherProcess(
        enricher_env(kafka_broker, t, tmp_path / "s", t["group"]), tmp_path / "l"
    )
    with running(proc):
        (out,) = read_json(kafka_broker, t["enriched"], 1, timeout=90)
        assert out["as_dst"] == 65010
        bgp_dlq = read_json(kafka_broker, t["bgp"] + "-dlq", 2)
        flows_dlq = read_json(kafka_broker, t["flows"] + "-dlq", 2)
        for env in bgp_dlq + flows_dlq:
            validate("dlq.v1", env)
        assert sorted(e["reason"] for e in bgp_dlq) == ["bad_json", "bad_message"]
        assert sorted(e["reason"] for e in flows_dlq) == ["bad_json", "bad_record"]
        assert bgp_dlq[0]["source_topic"] == t["bgp"]
        assert proc.alive()


def test_refuses_to_start_when_inputs_are_not_copartitioned(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2, flows_partitions=3)
    env = enricher_env(kafka_broker, t, tmp_path / "s", t["group"])
    done = subprocess.run(
        [sys.executable, "-m", "ribflow", "enricher"],
        env={**env, "PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "same partition count" in done.stderr
    assert f"{t['bgp']}=2" in done.stderr and f"{t['flows']}=3" in done.stderr
