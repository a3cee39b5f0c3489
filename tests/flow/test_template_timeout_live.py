"""TEMPLATE_TIMEOUT_S on the running collector, with a real exporter's packets.

softflowd exports the lab traffic as NetFlow v9 in two datagrams: the first carries its
templates and data, the second data only. tshark says how many flow records each holds. A
`ribflow collector` process with TEMPLATE_TIMEOUT_S=2 gets the first datagram, then nothing
for longer than the timeout: its templates must be dropped (tombstones in flow-templates,
read back with kcat; counted in ribflow_collector_templates_expired_total), the data-only
datagram then waits for them, and when the exporter sends its templates again the held
records and the new ones are published.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_for
from tests.flow.collector_harness import collector, kcat, kcat_records, softflowd_export
from tests.flow.collector_harness import tshark_cflow as tshark_records
from tests.flow.sflow_build import write_pcap
from tests.flow.test_collector_live import CFLOW_FIELDS, collector_env, topics

pytestmark = pytest.mark.integration

__all__ = ["topics"]  # the fixture, used by name

HOST = "127.0.55.1"  # the collector's listener and /metrics
EXPORTER = "127.0.55.2"  # where the datagrams come from
TIMEOUT_S = 2


def _tshark_count(tmp_path: Path, name: str, datagrams: list[bytes]) -> list[dict[str, Any]]:
    pcap = tmp_path / f"{name}.pcap"
    write_pcap(pcap, datagrams, dport=2055, src=EXPORTER, dst=HOST)
    return tshark_records(pcap, 2055)


def _projection(rec: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(rec[k] for k in CFLOW_FIELDS)


def _metric(metrics_port: int, name: str) -> float:
    """The sum of a counter's samples (over its labels) on the collector's /metrics."""
    url = f"http://{HOST}:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def _templates(broker: str, topic: str) -> tuple[set[str], set[str]]:
    """(keys written with a template, keys whose latest message is a tombstone)."""
    written: set[str] = set()
    latest: dict[str, Any] = {}
    for m in kcat(broker, topic, 1, timeout=10):
        key = m.get("key") or ""
        if key.startswith(f"tpl|{EXPORTER}|"):
            latest[key] = m.get("payload")
            if m.get("payload") is not None:
                written.add(key)
    return written, {k for k, v in latest.items() if v is None}


def test_templates_not_refreshed_within_the_timeout_are_dropped(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    first, data_only = (d.payload for d in softflowd_export(9, tmp_path))
    first_expected = _tshark_count(tmp_path, "first", [first])
    both_expected = _tshark_count(tmp_path, "both", [first, data_only])
    assert 0 < len(first_expected) < len(both_expected)
    assert _tshark_count(tmp_path, "alone", [data_only]) == []  # no template: nothing decodes
    port, metrics_port = free_port(HOST, "udp"), free_port(HOST)
    env = collector_env(
        topics, tmp_path, FOLLOW_BGP_UPDATES="false", TEMPLATE_TIMEOUT_S=str(TIMEOUT_S),
        LISTEN_HOSTS=HOST, LISTEN_PORTS=str(port), METRICS_HOST=HOST,
        METRICS_PORT=str(metrics_port),
    )  # fmt: skip
    flows, templates = topics["FLOWS_TOPIC"], topics["FLOW_TEMPLATES_TOPIC"]
    with (
        collector(tmp_path, kafka_broker, env) as c,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as exporter,
    ):
        exporter.bind((EXPORTER, 0))
        sent_at = time.monotonic()
        exporter.sendto(first, (HOST, port))
        kcat_records(kafka_broker, flows, len(first_expected))

        def saved() -> set[str]:
            return _templates(kafka_broker, templates)[0]

        written = wait_for("the templates in flow-templates", saved, 30)

        def tombstoned() -> set[str] | None:
            gone = _templates(kafka_broker, templates)[1]
            return gone if gone >= written else None

        dropped = wait_for("every template tombstoned", tombstoned, 30)
        assert time.monotonic() - sent_at >= TIMEOUT_S  # not before the timeout
        assert dropped == written

        def expired() -> float | None:
            n = _metric(metrics_port, "ribflow_collector_templates_expired_total")
            return n if n >= len(written) else None

        assert wait_for("the expired templates counted", expired, 10) == len(written)
        exporter.sendto(data_only, (HOST, port))
        time.sleep(3)  # held, not decoded: its templates are gone
        _msgs, held = kcat_records(kafka_broker, flows, len(first_expected))
        assert len(held) == len(first_expected), c.log_text()[-2000:]
        exporter.sendto(first, (HOST, port))  # the exporter sends its templates again
        want = len(first_expected) + len(both_expected)
        _msgs, records = kcat_records(kafka_broker, flows, want)
        assert _metric(metrics_port, "ribflow_collector_rejected_packets_total") == 0
    assert len(records) == want
    expected = Counter(map(_projection, first_expected + both_expected))
    assert Counter(map(_projection, records)) == expected
