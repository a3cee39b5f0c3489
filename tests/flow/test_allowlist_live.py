"""Only known exporters, for real: two softflowd exporting from two loopback source addresses to
one `ribflow collector` (1 and 2 SO_REUSEPORT workers) with a real Kafka; only the allowed one's
flows reach `flows` (with the fallback router's key: never the denied one's), the denied one is
counted per source, and so is an IPv6 source (::1) that neither list names.

softflowd has no option for its source address (``-S`` picks an interface, not an address), so
the kernel's source selection is steered: a host route per collector address in the ``local``
table with a ``src`` hint (``local 127.0.2.11/32 dev lo src 127.0.2.21``) makes every datagram
to 127.0.2.11 leave from 127.0.2.21, and to 127.0.2.12 from 127.0.2.22. Only this test area's
range (127.0.2.0/24) is touched and the routes are removed afterwards. tshark captures lo while
softflowd runs: the source addresses the collector sees are asserted from that capture, and the
expected flow records and denied packet counts are tshark's.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.capture import Capture, fields
from tests.fixtures.waiting import wait_for
from tests.flow.collector_harness import collector, kcat_records, need, tshark_cflow
from tests.flow.netflow_support import LAB
from tests.flow.test_collector import sflow_datagrams
from tests.flow.test_collector_live import CFLOW_FIELDS

pytestmark = pytest.mark.integration

ALLOWED, DENIED = "127.0.2.21", "127.0.2.22"  # exporters' source addresses
TO_ALLOWED, TO_DENIED = "127.0.2.11", "127.0.2.12"  # collector addresses each one sends to
FALLBACK = "10.9.9.9"


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("ip"), *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def source_routes() -> Iterator[None]:
    """Datagrams to TO_ALLOWED leave from ALLOWED, to TO_DENIED from DENIED (kernel routes)."""
    routes = [(TO_ALLOWED, ALLOWED), (TO_DENIED, DENIED)]
    try:
        for dst, src in routes:
            got = ip("route", "replace", "table", "local", "local", f"{dst}/32", "dev", "lo",
                     "src", src)  # fmt: skip
            assert got.returncode == 0, f"cannot add the source route for {dst}: {got.stderr}"
            seen = ip("route", "get", dst).stdout
            assert f"src {src}" in seen, f"the kernel would not send to {dst} from {src}: {seen}"
        yield
    finally:
        for dst, src in routes:
            ip("route", "del", "table", "local", "local", f"{dst}/32", "dev", "lo", "src", src)


def softflowd(dest: str, port: int, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    """softflowd replaying the lab traffic to ``dest`` (no -c: with a control socket given,
    softflowd 1.1.0 reading a file waits for a control connection before it starts)."""
    with open(workdir / f"{name}.out", "wb") as out:
        return subprocess.Popen(
            [need("softflowd"), "-r", str(LAB / "traffic.pcap"), "-n", f"{dest}:{port}", "-v",
             "9", "-d", "-p", str(workdir / f"{name}.pid")],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_only_the_allowed_softflowd_reaches_flows(
    workers: int,
    tmp_path: Path,
    kafka_broker: str,
    topic_factory: Any,
    source_routes: None,
) -> None:
    allow = tmp_path / "allow.lst"
    allow.write_text(f"! exporters of this test\n{ALLOWED}\nnot-an-address\n2001:db8::/32\n")
    flows = topic_factory("flows")
    env = {
        "LISTEN_HOSTS": f"{TO_ALLOWED},{TO_DENIED},::1",
        "ALLOWED_EXPORTERS_FILE": str(allow),
        "ALLOWED_EXPORTERS": "2001:db8::1",
        "FALLBACK_ROUTER": FALLBACK,
        "COLLECTOR_WORKERS": str(workers),
        "FOLLOW_BGP_UPDATES": "false",
        "RESTORE_TEMPLATES": "false",
        "FLOWS_TOPIC": flows,
        "SFLOW_COUNTERS_TOPIC": topic_factory("sflow-counters"),
        "FLOW_TEMPLATES_TOPIC": topic_factory("templates", config={"cleanup.policy": "compact"}),
        "DLQ_SUFFIX": "-dlq",
    }
    with collector(tmp_path, kafka_broker, env) as c:
        assert "exporters: only" in c.log_text()
        pcap = tmp_path / "lo.pcap"
        cap = Capture(pcap, f"udp dst port {c.port}")
        try:
            procs = [softflowd(TO_ALLOWED, c.port, tmp_path, "a"),
                     softflowd(TO_DENIED, c.port, tmp_path, "b")]  # fmt: skip
            for p, name in zip(procs, "ab", strict=True):
                try:
                    rc = p.wait(60)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.wait(10)
                assert rc == 0, (tmp_path / f"{name}.out").read_text()
            time.sleep(2.0)  # what is in flight on lo reaches tshark
        finally:
            cap.stop()
        # what the wire carried: each softflowd from the source address meant for it
        pairs = {(s, d) for s, d in fields(pcap, "ip.src", "ip.dst")}
        assert pairs == {(ALLOWED, TO_ALLOWED), (DENIED, TO_DENIED)}, pairs
        denied_packets = len(fields(pcap, "frame.number", display=f"ip.src=={DENIED}"))
        allowed_pcap = tmp_path / "allowed.pcap"
        subprocess.run([need("tshark"), "-r", str(pcap), "-Y", f"ip.src=={ALLOWED}", "-w",
                        str(allowed_pcap)], check=True, timeout=120)  # fmt: skip
        expected = tshark_cflow(allowed_pcap, c.port)
        assert denied_packets > 0 and len(expected) > 0

        wait_for(
            f"{denied_packets} denied packets counted for {DENIED}",
            lambda: c.metric("ribflow_collector_denied_packets_total", f'source="{DENIED}"')
            == denied_packets,
            60,
        )
        msgs, records = kcat_records(kafka_broker, flows, len(expected))
        time.sleep(2.0)  # anything more (there must not be) would arrive by now
        msgs, records = kcat_records(kafka_broker, flows, len(expected))
        assert c.metric("ribflow_collector_denied_packets_total", f'source="{ALLOWED}"') == 0
        # an IPv6 source that is in neither list is denied too
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
            s6.sendto(sflow_datagrams()[0], ("::1", c.port))
        wait_for("the IPv6 packet counted as denied", lambda: c.metric(
            "ribflow_collector_denied_packets_total", 'source="::1"') == 1, 30)  # fmt: skip
        assert c.metric("ribflow_bad_input_total", 'reason="bad_allow_line"') >= 1
        assert "not an allowed exporter" in c.log_text()
    assert len(records) == len(expected)
    for m in msgs:
        value = json.loads(m["payload"])
        assert value["exporter"] == ALLOWED and m["key"] == FALLBACK
    assert {r["exporter"] for r in records} == {ALLOWED}
    key = lambda r: tuple(r[f] for f in CFLOW_FIELDS)  # noqa: E731
    assert sorted(map(key, records)) == sorted(map(key, expected))
