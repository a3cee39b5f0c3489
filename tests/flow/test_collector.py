"""Collector pieces with in-process fakes: publishing, keys, back-pressure, DLQ, UDP drops.

The live path (real Kafka, softflowd, tshark, a collector subprocess) is in
test_collector_live.py; these tests pin the behaviour each piece promises.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from ribflow.agentmap import AgentMap, RouterResolver, parse_agent_map
from ribflow.bgp.keys import RouterKeys
from ribflow.flow.batching import FlowBatcher, FlowMessage, KeyChooser
from ribflow.flow.collector import Collector, Topics
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.settings import CollectorSettings
from ribflow.flow.sflow import SflowDecoder
from ribflow.flow.state import DecoderState
from ribflow.flow.types import DecodeResult
from ribflow.flow.udp import open_listener, socket_stats
from ribflow.schemas import validate
from tests.fixtures.producer import FakeProducer
from tests.flow.netflow_support import NOW_MS, data_set, ipfix_packet, ipfix_template_set
from tests.rib.lpm_impl import use_impl

SFLOW = Path(__file__).resolve().parents[1] / "data" / "sflow"
TOPICS = Topics(
    flows="flows", counters="sflow-counters", templates="flow-templates", dlq="flows-dlq"
)


@pytest.fixture(autouse=True, params=["pure", "compiled"])
def record_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test once with the Python decoders (dict records) and once with the compiled
    codecs (records as JSON, ribflow_lpm), as ``RIBFLOW_PURE_LPM`` chooses."""
    impl = str(request.param)
    use_impl(impl, monkeypatch)
    return impl


def make(
    producer: FakeProducer,
    decoder: Any = None,
    resolver: RouterResolver | None = None,
    **kw: Any,
) -> Collector:
    return Collector(
        [],
        decoder or Dispatcher(),
        producer,
        resolver or RouterResolver(),
        TOPICS,
        KeyChooser(RouterKeys(1)),
        **kw,
    )


def sflow_datagrams() -> list[bytes]:
    return [d.payload for d in iter_datagrams(SFLOW / "lab-flows-sflow.pcap")]


def test_one_message_per_export_packet_keyed_by_router() -> None:
    producer = FakeProducer()
    resolver = RouterResolver(AgentMap(parse_agent_map("bgp_ip=10.0.0.3 ip=127.0.0.1")))
    resolver.observe("127.0.0.3", "10.0.0.3")
    c = make(producer, SflowDecoder(), resolver)
    packets = sflow_datagrams()
    for p in packets:
        c.process(p, "127.0.0.1", 1_700_000_000_000)
    msgs = [(t, k, ts) for t, _v, k, ts in producer.sent]
    assert len(msgs) == len(packets) == 24
    assert {(t, k) for t, k, _ in msgs} == {("flows", b"127.0.0.3")}
    values = producer.values("flows")
    assert sum(len(v["records"]) for v in values) == 152
    for v in values:
        validate("flows.v1", v)
        assert v["router"] == "127.0.0.3" and v["exporter"] == "127.0.0.1"
    assert all(ts == 1_700_000_000_000 for *_, ts in msgs)  # sFlow: no export clock


def test_counter_samples_go_to_their_topic() -> None:
    producer = FakeProducer()
    c = make(producer, SflowDecoder(), RouterResolver(fallback="127.0.0.9"))
    for d in iter_datagrams(SFLOW / "ndpi-sflow.pcap"):
        c.process(d.payload, d.src, d.ts_ms)
    counters = producer.values("sflow-counters")
    assert len(counters) == 8 and len(producer.values("flows")) == 1
    for sample in counters:
        validate("sflow-counters.v1", sample)
        assert sample["router"] == "127.0.0.9"
    assert {k for t, _v, k, _ts in producer.sent} == {b"127.0.0.9"}


def test_garbage_goes_to_the_dead_letter_topic_and_the_rest_goes_on() -> None:
    producer = FakeProducer()
    c = make(producer)
    c.process(b"\x00\x09garbage", "192.0.2.1", 1)
    c.process(b"", "192.0.2.1", 1)
    c.process(sflow_datagrams()[0], "127.0.0.1", 2)
    dead = producer.values("flows-dlq")
    assert len(dead) == 2 and len(producer.values("flows")) == 1
    for env in dead:
        validate("dlq.v1", env)
        assert env["component"] == "collector" and env["source_key"] == "192.0.2.1"
    assert dead[0]["raw_b64"] == "AAlnYXJiYWdl"


def test_partial_packets_keep_their_records_and_are_dead_lettered() -> None:
    class Partial:
        def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
            rec = SflowDecoder().decode(sflow_datagrams()[0], exporter, received_ms).records
            return DecodeResult(records=rec, errors=["missing-template"])

    producer = FakeProducer()
    make(producer, Partial()).process(b"x", "192.0.2.1", 5)
    assert len(producer.values("flows")) == 1
    (env,) = producer.values("flows-dlq")
    assert env["reason"] == "missing-template" and "records kept" in env["detail"]
    producer = FakeProducer()
    make(producer, Partial(), dlq_partial=False).process(b"x", "192.0.2.1", 5)
    assert producer.values("flows-dlq") == []


def test_dead_letters_are_bounded_per_second() -> None:
    producer = FakeProducer()
    c = make(producer, dlq_max_per_second=3)
    for _ in range(10):
        c.process(b"junk", "192.0.2.1", 1)
    assert len(producer.values("flows-dlq")) <= 6  # at most 3 per wall-clock second


def test_backpressure_drop_counts_and_block_waits() -> None:
    packet = sflow_datagrams()[0]
    dropping = FakeProducer(full=1)
    c = make(dropping, SflowDecoder(), backpressure="drop")
    c.process(packet, "127.0.0.1", 1)
    c.process(packet, "127.0.0.1", 1)
    assert len(dropping.values("flows")) == 1
    assert c.dropped_records == len(SflowDecoder().decode(packet, "x", 1).records)
    blocking = FakeProducer(full=3)
    c = make(blocking, SflowDecoder(), backpressure="block")
    c.process(packet, "127.0.0.1", 1)
    assert len(blocking.values("flows")) == 1 and c.dropped_records == 0
    assert blocking.polls >= 3  # it served the producer while waiting


def test_grouping_several_packets_per_message() -> None:
    sent: list[FlowMessage] = []
    b = FlowBatcher(KeyChooser(RouterKeys(1)), 3, 50)
    rec = {"exporter": "e"}
    assert b.add("r", "e", [rec], 10, now_ms=1000) is None
    assert b.add("r", "e", [rec, rec], 11, now_ms=1001) is None
    assert b.add("r2", "e2", [rec], 12, now_ms=1001) is None
    done = b.add("r", "e", [rec], 13, now_ms=1002)
    assert done is not None
    sent.append(done)
    assert [(k, n, ts) for k, _v, ts, n in sent] == [(b"r", 4, 10)]
    assert b.flush_due(now_ms=1040) == []
    sent.extend(b.flush_due(now_ms=1051))
    assert [(k, n) for k, _v, _ts, n in sent] == [(b"r", 4), (b"r2", 1)]
    assert b.flush() == []
    assert orjson.loads(sent[1][1]) == {"v": 1, "router": "r2", "exporter": "e2", "records": [rec]}


def test_hot_routers_spread_over_shard_keys() -> None:
    keys = KeyChooser(RouterKeys(1, {"127.0.0.3": 3}))
    assert [keys.key("127.0.0.3") for _ in range(4)] == [
        b"127.0.0.3/0", b"127.0.0.3/1", b"127.0.0.3/2", b"127.0.0.3/0",
    ]  # fmt: skip
    assert keys.key("127.0.0.4") == b"127.0.0.4"


def test_template_changes_are_written_and_tombstoned() -> None:
    class Stateful(SflowDecoder):
        def __init__(self) -> None:
            self.pending: dict[str, bytes | None] = {"tpl|a": b"1", "tpl|b": None}

        templates_expired = 0

        def drain_changes(self) -> dict[str, bytes | None]:
            out, self.pending = self.pending, {}
            return out

    producer = FakeProducer()
    c = make(producer, Stateful())
    c._sync_templates()
    c._sync_templates()
    assert [(t, v, k) for t, v, k, _ in producer.sent] == [
        ("flow-templates", b"1", b"tpl|a"),
        ("flow-templates", None, b"tpl|b"),
    ]


def test_expired_templates_are_counted_in_their_metric() -> None:
    """TEMPLATE_TIMEOUT_S drops a template as the collector drains the decoder's changes; the
    next stats publish adds it to ribflow_collector_templates_expired_total, once."""
    from prometheus_client import REGISTRY

    def expired() -> float:
        return REGISTRY.get_sample_value("ribflow_collector_templates_expired_total") or 0.0

    now = [0.0]
    producer = FakeProducer()
    c = make(producer, Dispatcher(DecoderState(template_max_age=30, clock=lambda: now[0])))
    before = expired()
    c.process(ipfix_packet(ipfix_template_set(256, [(8, 4), (12, 4)])), "192.0.2.9", NOW_MS)
    c._sync_templates()
    c._stats()
    assert expired() == before
    now[0] = 31.0
    c._sync_templates()  # the template is tombstoned in flow-templates ...
    assert producer.sent[-1][:3] == ("flow-templates", None, b"tpl|192.0.2.9|10|0|256")
    c._stats()  # ... and counted
    assert expired() == before + 1
    c._stats()
    assert expired() == before + 1


def test_settings_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PORTS", "2055, 6343")
    monkeypatch.setenv("LISTEN_HOSTS", "127.0.0.1,::1")
    s = CollectorSettings()  # type: ignore[call-arg]
    assert s.ports() == [2055, 6343] and s.hosts() == ["127.0.0.1", "::1"]
    for name, bad in [
        ("LISTEN_PORTS", "2055,http"),
        ("LISTEN_HOSTS", "localhost"),
        ("BACKPRESSURE", "maybe"),
        ("BGP_HOT_ROUTERS", "r=0"),
        ("UDP_RCVBUF_BYTES", "10"),
    ]:
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValidationError):
            CollectorSettings()  # type: ignore[call-arg]
        monkeypatch.delenv(name)


def test_listeners_v4_v6_and_drop_measurement() -> None:
    """Kernel drops on a listener are seen in /proc (a tiny buffer, nobody reading)."""
    v4 = open_listener("127.0.0.1", 0, 65536)
    v6 = open_listener("::1", 0, 65536)
    try:
        assert v6.family == socket.AF_INET6 and v6.label.startswith("[::1]:")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
            s6.sendto(b"hello", ("::1", v6.port))
        time.sleep(0.05)
        assert v6.sock.recvfrom(100)[0] == b"hello"
        before = socket_stats({v4.inode})[v4.inode]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(2000):
                s.sendto(b"x" * 1400, ("127.0.0.1", v4.port))
        after = socket_stats({v4.inode})[v4.inode]
        assert after.drops > before.drops and after.rx_queue > 0
    finally:
        v4.close()
        v6.close()


def test_the_collector_logs_and_counts_what_the_decoder_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prometheus_client import REGISTRY

    from tests.flow.test_sflow import crafted

    def metric(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    names = [
        ("ribflow_flow_decode_errors_total", {"reason": "truncated"}),
        ("ribflow_collector_packets_total", {"protocol": "netflow9"}),
        ("ribflow_collector_packets_total", {"protocol": "sflow"}),
        ("ribflow_sflow_samples_skipped_total", {"reason": "no_ip_header"}),
        ("ribflow_bad_input_total", {"component": "collector", "reason": "truncated"}),
    ]
    before = [metric(n, **lbl) for n, lbl in names]
    producer = FakeProducer()
    c = make(producer)
    with caplog.at_level(logging.WARNING, logger="ribflow.flow.collector"):
        c.process(b"\x00\x09garbage", "192.0.2.1", 1)
        c.process(crafted()[1], "192.0.2.1", 2)
    c.tallies.publish()
    after = [metric(n, **lbl) for n, lbl in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1]
    [line] = [r.getMessage() for r in caplog.records]  # one line, from the collector
    assert line.startswith("rejected packet from 192.0.2.1: truncated "), line
    [msg] = producer.values("flows")
    assert msg["exporter"] == "2001:db8::a"  # the agent the decoder reported


def test_a_value_json_cannot_hold_rejects_its_packet_only() -> None:
    """An 8-byte flowStartSeconds of 2^63 gives a time beyond 64 bits in milliseconds: that
    packet is dead-lettered as our own fault (both record paths), the collector goes on, and
    the packets grouped before it keep their records."""
    fields = [(8, 4), (12, 4), (150, 8)]
    template = ipfix_template_set(256, fields)

    def data(start_s: int) -> bytes:
        rec = bytes([192, 0, 2, 1, 198, 51, 100, 1]) + start_s.to_bytes(8, "big")
        return ipfix_packet(data_set(256, rec))

    producer = FakeProducer()
    c = make(producer, max_packets=3)
    c.process(ipfix_packet(template), "192.0.2.9", NOW_MS)
    c.process(data(NOW_MS // 1000), "192.0.2.9", NOW_MS)
    c.process(data(1 << 63), "192.0.2.9", NOW_MS)
    c.process(data(NOW_MS // 1000), "192.0.2.9", NOW_MS)
    c.process(data(NOW_MS // 1000), "192.0.2.9", NOW_MS)  # the third good one completes a message
    (env,) = producer.values("flows-dlq")
    assert env["reason"] == "internal-error" and env["source_key"] == "192.0.2.9"
    assert "record not encodable as JSON" in env["detail"]  # one helper says it: json_fragment
    (msg,) = producer.values("flows")
    assert [r["src_addr"] for r in msg["records"]] == ["192.0.2.1"] * 3
