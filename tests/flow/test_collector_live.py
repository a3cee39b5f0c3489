"""The collector as it runs: a `ribflow collector` process, real Kafka, real exporters' packets.

Expected values come from the independent tools run here: tshark decodes the same export packets
(saved to a pcap), kcat reads what the collector published, softflowd produces the NetFlow/IPFIX.
`ribflow decode` of the same pcap must give the very same records as the live path.
"""

from __future__ import annotations

import base64
import json
import signal
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from ribflow.flow.pcap import iter_datagrams
from ribflow.schemas import validate
from tests.flow.collector_harness import (
    DATA,
    collector,
    kcat,
    kcat_records,
    ribflow_decode,
    softflowd_export,
    stop,
    tshark_cflow,
)
from tests.flow.sflow_build import write_pcap
from tests.flow.test_sflow_tshark import COMPARED, frames

pytestmark = pytest.mark.integration

AGENT_MAP = "! the lab's map: softflowd/pmacctd on 127.0.0.1 -> router-id 10.0.0.3\n" \
    "bgp_ip=10.0.0.3\t\tip=127.0.0.1\n"  # fmt: skip
ROUTER = "127.0.0.3"  # the session address ExaBGP sees for router-id 10.0.0.3
# fields tshark shows for NetFlow/IPFIX records (ICMP type/code are not ports in v9/IPFIX)
CFLOW_FIELDS = ("src_addr", "dst_addr", "proto", "packets", "bytes", "in_if", "out_if", "tos")


@pytest.fixture
def topics(topic_factory: Any, kafka_broker: str) -> Iterator[dict[str, str]]:
    """Fresh topics for one collector run (the DLQ one is named after the flows topic)."""
    t = {
        "FLOWS_TOPIC": topic_factory("flows"),
        "SFLOW_COUNTERS_TOPIC": topic_factory("sflow-counters"),
        "FLOW_TEMPLATES_TOPIC": topic_factory(
            "flow-templates", config={"cleanup.policy": "compact"}
        ),
        "BGP_UPDATES_TOPIC": topic_factory("bgp-updates"),
    }
    dlq = t["FLOWS_TOPIC"] + "-dlq"
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    admin.create_topics([NewTopic(dlq, 1, 1)])[dlq].result(timeout=30)
    yield {**t, "DLQ": dlq}
    for fut in admin.delete_topics([dlq], operation_timeout=30).values():
        fut.result(timeout=30)


def collector_env(topics: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    agent_map = tmp_path / "bgp_agent.map"
    agent_map.write_text(AGENT_MAP)
    env = {k: v for k, v in topics.items() if k != "DLQ"}
    env.update(DLQ_SUFFIX="-dlq", AGENT_MAP_FILE=str(agent_map), **extra)
    return env


def announce_session(broker: str, topic: str, peer: str, router_id: str) -> None:
    """What the bridge writes when a BGP session comes up (schemas/bgp-updates.v1.json)."""
    event = {"v": 1, "type": "session", "state": "up", "router": peer, "peer": peer,
             "router_id": router_id, "time_ms": 1, "epoch": 1, "seq": 0}  # fmt: skip
    validate("bgp-updates.v1", event)
    p = Producer({"bootstrap.servers": broker})
    p.produce(topic, orjson.dumps(event), peer.encode())
    assert p.flush(30) == 0


def assert_cflow_equal(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want) > 0
    for i, (rec, exp) in enumerate(zip(got, want, strict=True)):
        for key in CFLOW_FIELDS:
            assert rec[key] == exp[key], f"record {i} {key}"
        if rec["proto"] in (6, 17):
            assert (rec["src_port"], rec["dst_port"]) == (exp["src_port"], exp["dst_port"])
        if "tcp_flags" in exp and rec["proto"] == 6:
            assert rec["tcp_flags"] == exp["tcp_flags"], f"record {i} tcp_flags"
        if "start_ms" in exp:
            assert (rec["start_ms"], rec["end_ms"]) == (exp["start_ms"], exp["end_ms"]), i


# --- (a) softflowd -> collector -> Kafka == tshark == ribflow decode -----------------------


@pytest.mark.parametrize("version", [9, 10, 5])
def test_softflowd_through_the_collector(
    version: int, tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    datagrams = [d.payload for d in softflowd_export(version, tmp_path)]
    pcap = tmp_path / f"softflowd-v{version}.pcap"
    write_pcap(pcap, datagrams, dport=2055, src="127.0.0.1", dst="127.0.0.1")
    expected = tshark_cflow(pcap, 2055)
    announce_session(kafka_broker, topics["BGP_UPDATES_TOPIC"], ROUTER, "10.0.0.3")
    with collector(tmp_path, kafka_broker, collector_env(topics, tmp_path)) as c:
        c.send(datagrams)
        msgs, records = kcat_records(kafka_broker, topics["FLOWS_TOPIC"], len(expected))
        assert c.metric("ribflow_collector_udp_receive_drops_total") == 0
    assert_cflow_equal(records, expected)
    # one message per export packet that carried records, keyed by the router, stamped with
    # the packet's export time
    with_records = sum(1 for d in datagrams if len(d) > 100)
    assert 0 < len(msgs) <= with_records
    for m in msgs:
        value = json.loads(m["payload"])
        validate("flows.v1", value)
        assert m["key"] == ROUTER and value["router"] == ROUTER
        assert value["exporter"] == "127.0.0.1"
        assert {r["exporter"] for r in value["records"]} == {"127.0.0.1"}
        assert m["ts"] == value["records"][0]["time_export_ms"]
    # the offline command gives the very same records (the arrival time aside)
    offline = ribflow_decode(pcap)
    strip = [{k: v for k, v in r.items() if k != "time_received_ms"} for r in records]
    assert strip == [{k: v for k, v in r.items() if k != "time_received_ms"} for r in offline]


# --- (b) sFlow -> collector -> Kafka == tshark ---------------------------------------------


def test_sflow_through_the_collector(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    lab = DATA / "lab-flows-sflow.pcap"
    mixed = DATA / "sflow_multiple_counter_30_pdus.pcap"
    v6 = DATA / "sflow-print-v6.pcap"
    want_flows = [f for p in (lab, v6) for fr in frames(p) for f in fr.flows]
    want_counters = [c for p in (mixed, v6) for fr in frames(p) for c in fr.counters]
    # the NetFlow v5 packets of the mixed stream (tshark does not take them for sFlow):
    mixed_frames = frames(mixed)
    v5 = [d.payload for d, fr in zip(iter_datagrams(mixed), mixed_frames, strict=True)
          if not fr.sflow]  # fmt: skip
    assert len(v5) == 5
    v5_pcap = tmp_path / "mixed-netflow5.pcap"
    write_pcap(v5_pcap, v5, dport=2055, src="127.0.0.1", dst="127.0.0.1")
    want_v5 = tshark_cflow(v5_pcap, 2055)
    announce_session(kafka_broker, topics["BGP_UPDATES_TOPIC"], ROUTER, "10.0.0.3")
    env = collector_env(topics, tmp_path, FALLBACK_ROUTER="127.0.0.99")
    with collector(tmp_path, kafka_broker, env) as c:
        for p in (lab, mixed, v6):
            c.send([d.payload for d in iter_datagrams(p)])
        _msgs, records = kcat_records(
            kafka_broker, topics["FLOWS_TOPIC"], len(want_flows) + len(want_v5)
        )
        counters = kcat(kafka_broker, topics["SFLOW_COUNTERS_TOPIC"], len(want_counters))
    sflow_recs = [r for r in records if r["version"] == 5005]
    assert len(sflow_recs) == len(want_flows) == 152 + 13
    for i, (rec, want) in enumerate(zip(sflow_recs, want_flows, strict=True)):
        for key in COMPARED:
            assert rec[key] == want.get(key), f"sample {i} {key}"
    assert_cflow_equal([r for r in records if r["version"] == 5], want_v5)
    assert len(counters) == len(want_counters) == 144 + 48
    for m, want_c in zip(counters, want_counters, strict=True):
        value = json.loads(m["payload"])
        validate("sflow-counters.v1", value)
        for key in ("exporter", "domain", "sample_seq", "source_id_type", "source_id_index"):
            assert value[key] == want_c[key], key
        # agents 15.184.x.x and 30::1:1:1 are in no map and no BGP session: fallback router
        assert m["key"] == value["router"] == "127.0.0.99"


# --- (c) restart: templates come back from flow-templates ----------------------------------


def strip_templates_v9(packet: bytes) -> bytes:
    """The packet without its template and options-template flowsets (ids 0 and 1)."""
    out, off = bytearray(packet[:20]), 20
    while off + 4 <= len(packet):
        fid, length = struct.unpack_from("!HH", packet, off)
        if length < 4:
            break
        if fid >= 256:
            out += packet[off : off + length]
        off += length
    return bytes(out)


def test_restart_decodes_at_once(tmp_path: Path, kafka_broker: str, topics: dict[str, str]) -> None:
    datagrams = [d.payload for d in softflowd_export(9, tmp_path)]
    pcap = tmp_path / "v9.pcap"
    write_pcap(pcap, datagrams, dport=2055, src="127.0.0.1", dst="127.0.0.1")
    expected = tshark_cflow(pcap, 2055)
    data_only = [strip_templates_v9(d) for d in datagrams]
    assert len(data_only[0]) < len(datagrams[0])  # softflowd sends its templates first
    env = collector_env(topics, tmp_path, FOLLOW_BGP_UPDATES="false")
    with collector(tmp_path, kafka_broker, env, name="first") as first:
        first.send(datagrams)
        kcat_records(kafka_broker, topics["FLOWS_TOPIC"], len(expected))
        saved = kcat(kafka_broker, topics["FLOW_TEMPLATES_TOPIC"], 4)
        assert any(m["key"].startswith("tpl|127.0.0.1|9|0|") for m in saved)
        stop(first.proc, signal.SIGKILL)  # no goodbye: only what was written as it happened
    with collector(tmp_path, kafka_broker, env, name="second") as second:
        assert "restored 0 " not in second.log_text()
        second.send(data_only)
        _msgs, records = kcat_records(kafka_broker, topics["FLOWS_TOPIC"], 2 * len(expected))
        assert second.metric("ribflow_collector_rejected_packets_total") == 0
    assert len(records) == 2 * len(expected)
    assert_cflow_equal(records[len(expected) :], expected)


# --- (d) garbage -> flows-dlq, and the collector keeps going ---------------------------------


def test_garbage_is_dead_lettered_and_counted(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    good = [d.payload for d in iter_datagrams(DATA / "ndpi-sflow.pcap")]
    sflow_cut = good[0][:30]
    garbage = [b"", b"\x00\x09", b"hello world", sflow_cut, b"\x00\x0a" + b"\xff" * 300]
    env = collector_env(topics, tmp_path, FOLLOW_BGP_UPDATES="false")
    with collector(tmp_path, kafka_broker, env) as c:
        c.send(garbage[:3] + good[:1] + garbage[3:] + good[1:])
        dead = kcat(kafka_broker, topics["DLQ"], len(garbage))
        _msgs, records = kcat_records(kafka_broker, topics["FLOWS_TOPIC"], 1)
        counters = kcat(kafka_broker, topics["SFLOW_COUNTERS_TOPIC"], 8)
        rejected = c.metric("ribflow_collector_rejected_packets_total")
        assert c.proc.poll() is None
    assert len(dead) == len(garbage) and rejected == len(garbage)
    raws = {json.loads(m["payload"])["raw_b64"] for m in dead}
    assert raws == {base64.b64encode(g).decode() for g in garbage}
    for m in dead:
        env_ = json.loads(m["payload"])
        validate("dlq.v1", env_)
        assert env_["component"] == "collector" and env_["reason"]
    assert len(records) == 1 and len(counters) == 8


# --- (e) receive-buffer overruns are measured, not hidden ---------------------------------


def test_kernel_drops_are_exposed(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    """Freeze the collector (SIGSTOP), overrun its small receive buffer, thaw it: the drops the
    kernel counts for its socket in /proc/net/udp show up in its metric."""
    packet = next(iter(iter_datagrams(DATA / "lab-flows-sflow.pcap"))).payload
    env = collector_env(topics, tmp_path, FOLLOW_BGP_UPDATES="false", UDP_RCVBUF_BYTES="65536")
    with collector(tmp_path, kafka_broker, env) as c:
        before = proc_udp_drops(c.port)
        c.proc.send_signal(signal.SIGSTOP)
        try:
            c.send([packet] * 3000, pace_every=10_000)
        finally:
            c.proc.send_signal(signal.SIGCONT)
        kernel = proc_udp_drops(c.port) - before
        assert kernel > 0
        deadline = time.monotonic() + 30
        while c.metric("ribflow_collector_udp_receive_drops_total") < kernel:
            assert time.monotonic() < deadline, c.metrics()
            time.sleep(0.2)
        assert c.metric("ribflow_collector_udp_receive_drops_total") == kernel
        # every datagram the kernel kept reaches Kafka (7 samples each in this capture)
        _msgs, records = kcat_records(kafka_broker, topics["FLOWS_TOPIC"], (3000 - kernel) * 7)
    assert len(records) == (3000 - kernel) * 7


def proc_udp_drops(port: int) -> int:
    """The kernel's drop count of the UDP socket bound to 127.0.0.1:port (/proc/net/udp)."""
    key = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 12 and parts[1] == key:
                return int(parts[12])
    raise AssertionError(f"no UDP socket on 127.0.0.1:{port}")
