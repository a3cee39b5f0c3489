"""`ribflow kafka up --sasl-ssl-port`: the managed broker with a SASL_SSL listener, from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ribflow.kafka.client import check_connection
from ribflow.kafka.settings import KafkaClientSettings
from tests.fixtures.kafka import free_port
from tests.flow.collector_harness import need
from tests.security.secure_io import REPO

pytestmark = pytest.mark.integration

HOST = "127.0.1.2"


def kafka_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ribflow", "kafka", *args],
        env={**env, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_up_with_a_sasl_ssl_listener_then_down(tmp_path: Path) -> None:
    password = "cli-Pa55-" + os.urandom(6).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Quix__", "KAFKA_"))}
    env.update(KAFKA_SASL_USERNAME="cli-user", KAFKA_SASL_PASSWORD=password)
    port, sasl_port = free_port(HOST), free_port(HOST)
    where = ["--host", HOST, "--port", str(port), "--controller-port", str(free_port(HOST)),
             "--data-dir", str(tmp_path / "kafka")]  # fmt: skip
    up = kafka_cli("up", *where, "--sasl-ssl-port", str(sasl_port), env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        ca = tmp_path / "kafka" / "tls" / "ca.pem"
        assert f"SASL_SSL on {HOST}:{sasl_port}" in up.stdout
        assert f"KAFKA_SSL_CA_LOCATION={ca}" in up.stdout
        assert password not in up.stdout + up.stderr
        assert password not in (tmp_path / "kafka" / "broker.json").read_text()
        # the broker certificate names 127.0.0.1 and localhost (and the listener's address)
        sans = subprocess.run(
            [need("openssl"), "x509", "-noout", "-ext", "subjectAltName",
             "-in", str(tmp_path / "kafka" / "tls" / "broker.crt")],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "127.0.0.1" in sans and "localhost" in sans and HOST in sans
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"):
            settings = KafkaClientSettings(
                Quix__Broker__Address=f"{HOST}:{sasl_port}",
                KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                KAFKA_SASL_MECHANISM=mechanism,
                KAFKA_SASL_USERNAME="cli-user",
                KAFKA_SASL_PASSWORD=password,
                KAFKA_SSL_CA_LOCATION=str(ca),
            )
            assert check_connection(settings, timeout=30) == 1, mechanism
        status = kafka_cli("status", *where, env=env)
        assert status.returncode == 0 and "answers" in status.stdout
    finally:
        down = kafka_cli("down", *where, env=env)
    assert down.returncode == 0 and "stopped" in down.stdout


def test_a_sasl_ssl_listener_needs_its_user(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Quix__", "KAFKA_"))}
    done = kafka_cli("up", "--data-dir", str(tmp_path), "--sasl-ssl-port", "1", env=env)
    assert done.returncode == 2
    assert "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in done.stderr
