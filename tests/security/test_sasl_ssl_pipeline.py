"""The whole pipeline through a SASL_SSL (SCRAM-SHA-512) listener, and no password in any output.

bridge (ExaBGP JSON lines) -> bgp-updates; softflowd's NetFlow v9 -> collector -> flows;
enricher -> flows-enriched; aggregator -> flows-aggregated; ``ribflow replay`` -> its topic.
Every app gets only the SASL_SSL address and the KAFKA_* settings; kcat reads each output back
over SASL_SSL. Expected values come from tshark's decode of the same export and from the routes
the test announced; the password must not appear in any log, stderr, /metrics or status text.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.schemas import validate
from tests.flow.collector_harness import collector, softflowd_export, stop, tshark_cflow
from tests.flow.sflow_build import write_pcap
from tests.security.secure_io import SecureKafka, kcat_secure, ribflow, ribflow_env, start_ribflow

pytestmark = pytest.mark.integration

ROUTER = "127.0.1.20"  # the BGP session address the bridge keys the router by
EXPORTER = "127.0.0.1"  # softflowd's export comes from here (the collector harness sends it)
PATH = [65010, 65020]
PREFIXES = {"ipv4 unicast": ("192.0.2.1", ["0.0.0.0/1", "128.0.0.0/1"]),
            "ipv6 unicast": ("2001:db8::1", ["::/1", "8000::/1"])}  # fmt: skip


def exabgp_lines(t0: float) -> bytes:
    """What ExaBGP's JSON API prints for the routes of ROUTER at ``t0`` (one update per family).

    ``t0`` is recent (inside the topic's retention) and before the flows, which softflowd
    exports with the current time: a point-in-time replay finds the routes."""
    out = []
    for i, (family, (next_hop, nlri)) in enumerate(PREFIXES.items()):
        update = {
            "attribute": {
                "origin": "igp",
                "as-path": {"0": {"element": "as-sequence", "value": PATH}},
            },
            "announce": {family: {next_hop: [{"nlri": p} for p in nlri]}},
        }
        msg = {
            "type": "update",
            "time": t0 + i,
            "neighbor": {
                "address": {"local": "127.0.1.21", "peer": ROUTER},
                "asn": {"local": 65001, "peer": 65010},
                "direction": "receive",
                "message": {"update": update},
            },
        }
        out.append(orjson.dumps(msg) + b"\n")
    return b"".join(out)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def covered(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    return any(ip in ipaddress.ip_network(p) for _, nets in PREFIXES.values() for p in nets)


def test_every_component_through_sasl_ssl(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    topics = {
        "BGP_UPDATES_TOPIC": f"sec-{run}-bgp-updates",
        "FLOWS_TOPIC": f"sec-{run}-flows",
        "FLOWS_ENRICHED_TOPIC": f"sec-{run}-flows-enriched",
        "FLOWS_AGGREGATED_TOPIC": f"sec-{run}-flows-aggregated",
        "BGP_RIB_DUMP_TOPIC": f"sec-{run}-bgp-rib-dump",
        "BGP_RIB_TOPIC": f"sec-{run}-bgp-rib",
        "FLOW_TEMPLATES_TOPIC": f"sec-{run}-flow-templates",
        "SFLOW_COUNTERS_TOPIC": f"sec-{run}-sflow-counters",
    }
    common = {**topics, "PARTITIONS": "1", "Quix__Consumer__Group": f"sec-{run}"}
    outputs: list[str] = []  # every text a component printed, checked for the password last

    # -- the BGP bridge: ExaBGP JSON on stdin -> bgp-updates --------------------------------
    done = ribflow("bridge", env=ribflow_env(secure_kafka, **common), cwd=tmp_path,
                   stdin=exabgp_lines(time.time() - 600))  # fmt: skip
    outputs.append(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    events = kcat_secure(secure_kafka, topics["BGP_UPDATES_TOPIC"], 2)
    for event in events:
        validate("bgp-updates.v1", event)
    announced = {str(p) for e in events if e["type"] == "update" for p in _prefixes(e)}
    assert announced == {p for _, nets in PREFIXES.values() for p in nets}
    assert {e["router"] for e in events} == {ROUTER}

    # -- the collector: softflowd's NetFlow v9 export over UDP -> flows -----------------------
    datagrams = [d.payload for d in softflowd_export(9, tmp_path)]
    pcap = tmp_path / "v9.pcap"
    write_pcap(pcap, datagrams, dport=2055, src="127.0.0.1", dst="127.0.0.1")
    expected = tshark_cflow(pcap, 2055)
    assert expected and all(covered(r["dst_addr"]) for r in expected)
    env = ribflow_env(secure_kafka, **common, FALLBACK_ROUTER=ROUTER)
    with collector(tmp_path, secure_kafka.secure, env) as c:
        c.send(datagrams)
        flows = _records(kcat_secure(secure_kafka, topics["FLOWS_TOPIC"], 1), len(expected))
        metrics_text = c.metrics()
        outputs.append(metrics_text)
    outputs.append(c.log_text())
    assert sorted(_flow_key(r) for r in flows) == sorted(_flow_key(r) for r in expected)
    assert "ribflow_collector" in metrics_text

    # -- the enricher: bgp-updates + flows -> flows-enriched ---------------------------------
    env = ribflow_env(secure_kafka, **common, Quix__State__Dir=str(tmp_path / "enricher"),
                      COMMIT_INTERVAL="1", RIB_DUMP_INTERVAL="0")  # fmt: skip
    log = tmp_path / "enricher.log"
    proc = start_ribflow("enricher", env=env, log=log)
    try:
        enriched = kcat_secure(secure_kafka, topics["FLOWS_ENRICHED_TOPIC"], len(expected))
    finally:
        stop(proc)  # type: ignore[arg-type]
        outputs.append(log.read_text(errors="replace"))
    assert len(enriched) == len(expected), outputs[-1][-3000:]
    for r in enriched:
        validate("flows-enriched.v1", r)
        # pmacct's peer_ip_src is the exporter; the routes are those of its router (ROUTER)
        assert (r["as_dst"], r["as_path"], r["peer_ip_src"]) == (65020, "65010_65020", EXPORTER)

    # -- the aggregator: flows-enriched -> flows-aggregated (by destination AS) -------------
    env = ribflow_env(secure_kafka, **common, Quix__State__Dir=str(tmp_path / "aggregator"),
                      AGGREGATE="peer_src_ip,dst_as", REFRESH_TIME="5", GRACE="1",
                      AUTO_OFFSET_RESET="earliest", COMMIT_INTERVAL="1")  # fmt: skip
    log = tmp_path / "aggregator.log"
    proc = start_ribflow("aggregator", env=env, log=log)
    try:
        purged: list[dict[str, Any]] = []
        for _ in range(3):  # windows are written as the idle flush closes them
            rows = kcat_secure(secure_kafka, topics["FLOWS_AGGREGATED_TOPIC"], 1, timeout=120)
            purged = [r for r in rows if r.get("event_type") == "purge"]
            if sum(r["flows"] for r in purged) >= len(expected):
                break
    finally:
        stop(proc)  # type: ignore[arg-type]
        outputs.append(log.read_text(errors="replace"))
    assert sum(r["flows"] for r in purged) == len(expected), outputs[-1][-3000:]
    assert sum(r["bytes"] for r in purged) == sum(r["bytes"] for r in expected)
    assert {(r["peer_ip_src"], r["as_dst"]) for r in purged} == {(EXPORTER, 65020)}

    # -- replay: the same inputs, point in time, into its own topic ----------------------------
    times = [r["time_export_ms"] for r in flows]
    out_topic = f"sec-{run}-replay"
    env = ribflow_env(secure_kafka, **common, REPLAY_PROGRESS="never")
    done = ribflow("replay", "--from", iso(min(times) - 3_600_000),
                   "--to", iso(max(times) + 3_600_000), "--output", out_topic,
                   env=env, cwd=tmp_path, timeout=300)  # fmt: skip
    outputs.append(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    replayed = kcat_secure(secure_kafka, out_topic, len(expected))
    assert len(replayed) == len(expected)
    assert {(r["as_dst"], r["as_path"]) for r in replayed} == {(65020, "65010_65020")}, done.stderr

    # -- no component printed the password anywhere --------------------------------------------
    for text in outputs:
        assert text  # each component said something: the check below is not vacuous
        assert secure_kafka.password not in text


def _prefixes(event: dict[str, Any]) -> list[str]:
    return [str(n["prefix"]) for a in event.get("announce", []) for n in a["nlri"]]


def _records(messages: list[Any], n: int) -> list[dict[str, Any]]:
    records = [r for m in messages for r in m["records"]]
    assert len(records) >= n
    return records


def _flow_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["src_addr"], r["dst_addr"], r["proto"], r["packets"], r["bytes"])
