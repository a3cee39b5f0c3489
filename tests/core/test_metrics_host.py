"""METRICS_HOST: every long-running app serves /metrics on the address it names, and only there.

Each app is started for real (its `ribflow` command, real Kafka) with METRICS_HOST set to an
address of this test area (127.0.2.40-.43, or ::1), then its endpoint must answer on that
address and a connection to the same port on 127.0.0.1 must be refused. The collector is also
run with two workers (the parent's relabelling endpoint and each worker's own port, on IPv6).
The lab passes METRICS_HOST=127.0.0.1 to every app it starts (checked on its rendered env).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ribflow.settings import AppSettings
from tests.fixtures.kafka import REPO
from tests.fixtures.ports import free_port_run
from tests.fixtures.waiting import wait_for


def test_metrics_host_must_be_an_address() -> None:
    assert AppSettings(METRICS_HOST=" ::1 ").metrics_host == "::1"  # type: ignore[call-arg]
    assert AppSettings().metrics_host == "127.0.0.1"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="is not an IP address"):
        AppSettings(METRICS_HOST="metrics.example")  # type: ignore[call-arg]


def test_the_lab_binds_every_app_to_loopback(tmp_path: Path) -> None:
    from ribflow.lab import components
    from ribflow.lab.settings import LabSettings

    s = LabSettings(LAB_METRICS_PORT_BASE=19100)  # type: ignore[call-arg]
    paths = components.LabPaths(tmp_path)
    for app in components.APPS:
        env = components.app_env(s, paths, app)
        assert env["METRICS_HOST"] == "127.0.0.1", app
        assert int(env["METRICS_PORT"]) >= 19100, app


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/metrics" if ":" in host else f"http://{host}:{port}/metrics"


def serves(host: str, port: int) -> str | None:
    try:
        with urllib.request.urlopen(url(host, port), timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def refused_on_loopback(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


def run_app(
    tmp_path: Path, name: str, argv: list[str], env: dict[str, str], stdin: Any = None
) -> subprocess.Popen[bytes]:
    work = tmp_path / name
    work.mkdir()
    full = {
        **{k: v for k, v in os.environ.items() if k != "METRICS_PORT"},
        "PYTHONPATH": str(REPO / "src"),
        "Quix__State__Dir": str(work / "state"),
        "Quix__Consumer__Group": f"metrics-host-{name}-{os.getpid()}",
        "PARTITIONS": "1",
        **env,
    }
    with open(work / "out.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ribflow", *argv], env=full, cwd=work, stdout=out,
            stderr=subprocess.STDOUT, stdin=stdin if stdin is not None else subprocess.DEVNULL,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("app", "host", "workers"),
    [
        ("collector", "127.0.2.40", 1),
        ("collector", "::1", 2),
        ("bridge", "127.0.2.41", 1),
        ("enricher", "127.0.2.42", 1),
        ("aggregator", "127.0.2.43", 1),
    ],
)
def test_each_app_serves_metrics_only_on_metrics_host(
    app: str, host: str, workers: int, tmp_path: Path, kafka_broker: str, topic_factory: Any
) -> None:
    port = free_port_run(host, 1 + (workers if workers > 1 else 0))
    env = {
        "Quix__Broker__Address": kafka_broker,
        "METRICS_HOST": host,
        "METRICS_PORT": str(port),
        "BGP_UPDATES_TOPIC": topic_factory("bgp-updates"),
        "FLOWS_TOPIC": topic_factory("flows"),
        "FLOWS_ENRICHED_TOPIC": topic_factory("flows-enriched"),
        "FLOWS_AGGREGATED_TOPIC": topic_factory("flows-aggregated"),
        "FLOW_TEMPLATES_TOPIC": topic_factory("templates", config={"cleanup.policy": "compact"}),
        "SFLOW_COUNTERS_TOPIC": topic_factory("sflow-counters"),
    }
    stdin = None
    if app == "collector":
        env |= {"LISTEN_HOSTS": "127.0.0.1", "LISTEN_PORTS": "0", "FOLLOW_BGP_UPDATES": "false",
                "RESTORE_TEMPLATES": "false", "COLLECTOR_WORKERS": str(workers)}  # fmt: skip
    if app == "bridge":
        stdin = subprocess.PIPE  # ExaBGP's API pipe: kept open until the test ends
    proc = run_app(tmp_path, app, [app], env, stdin)
    log = tmp_path / app / "out.log"
    ports = [port] + [port + 1 + i for i in range(workers)] if workers > 1 else [port]
    try:
        for p in ports:
            body = wait_for(
                f"{app}'s /metrics on {url(host, p)}",
                lambda p=p: serves(host, p) or (proc.poll() is not None and "exited"),  # type: ignore[misc]
                120,
            )
            assert proc.poll() is None, log.read_text(errors="replace")
            assert "ribflow_" in body or "python_info" in body, body[:300]
            assert refused_on_loopback(p), f"{app} also answers on 127.0.0.1:{p}"
        if workers > 1:
            assert 'ribflow_collector_worker_up{worker="1"} 1.0' in (serves(host, port) or "")
    finally:
        stop(proc)
