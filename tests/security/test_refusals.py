"""Kafka refusing an app's settings: one clear line and a quick exit, never a retry storm, and
never the password in anything the app prints.

Each app runs as a real process against the session's SASL_SSL broker (tests/security/conftest.py)
with one setting wrong: the password, the listener (PLAINTEXT port with SASL_SSL settings and the
other way round) or the CA.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.security.secure_io import SecureKafka, ribflow, ribflow_env

pytestmark = pytest.mark.integration

WRONG = "wrong-Pa55word-for-the-test"
QUICK_S = 45.0  # process start (imports) on a loaded machine + the check itself

#: every entry point that talks to Kafka, with the arguments it needs to get that far
APPS = {
    "collector": ["collector"],
    "bridge": ["bridge"],
    "enricher": ["enricher"],
    "aggregator": ["aggregator"],
    "replay": ["replay", "--from=-1h", "--to=now"],
    "replay checkpoint": ["replay", "checkpoint"],
    "topics": ["topics"],
}


def run_refused(kafka: SecureKafka, tmp_path: Path, app: str, **env: str) -> tuple[str, float]:
    started = time.monotonic()
    done = ribflow(*APPS[app], env=ribflow_env(kafka, PARTITIONS="1", **env), cwd=tmp_path,
                   timeout=120)  # fmt: skip
    took = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    return out, took


def refusal_lines(out: str, app: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith(f"ribflow {app}: ")]


@pytest.mark.parametrize("app", list(APPS))
def test_wrong_password_is_one_line_naming_the_settings(
    secure_kafka: SecureKafka, tmp_path: Path, app: str
) -> None:
    out, took = run_refused(secure_kafka, tmp_path, app, KAFKA_SASL_PASSWORD=WRONG)
    (line,) = refusal_lines(out, app)
    assert f"rejected the credentials of KAFKA_SASL_USERNAME={secure_kafka.user}" in line
    assert "check KAFKA_SASL_PASSWORD" in line and secure_kafka.secure in line
    assert took < QUICK_S, f"{app} took {took:.0f}s to give up"
    assert "FAIL|" not in out and "Authentication failed" not in out.replace(line, "")
    assert WRONG not in out and secure_kafka.password not in out


@pytest.mark.parametrize("app", ["enricher", "collector"])
def test_the_plaintext_listener_is_refused_with_sasl_ssl_settings(
    secure_kafka: SecureKafka, tmp_path: Path, app: str
) -> None:
    out, took = run_refused(secure_kafka, tmp_path, app, Quix__Broker__Address=secure_kafka.plain)
    (line,) = refusal_lines(out, app)
    assert "speaks another security protocol than KAFKA_SECURITY_PROTOCOL=SASL_SSL" in line
    assert "PLAINTEXT broker listener" in line and took < QUICK_S
    assert secure_kafka.password not in out


def test_plaintext_settings_are_refused_by_the_sasl_ssl_listener(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    out, took = run_refused(secure_kafka, tmp_path, "topics", KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
    (line,) = refusal_lines(out, "topics")
    assert "speaks another security protocol than KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in line
    assert took < QUICK_S


def test_an_untrusted_broker_certificate_names_the_ca_setting(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    out, _ = run_refused(secure_kafka, tmp_path, "enricher", KAFKA_SSL_CA_LOCATION="")
    (line,) = refusal_lines(out, "enricher")
    assert "TLS with Kafka at" in line and "certificate verify failed" in line
    assert "check KAFKA_SSL_CA_LOCATION (the system's CAs)" in line


def test_bad_settings_never_print_the_password(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    # SASL_SSL without a mechanism: pydantic's error must not quote its input
    done = ribflow("enricher", env=ribflow_env(secure_kafka, KAFKA_SASL_MECHANISM=""),
                   cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "KAFKA_SASL_MECHANISM is required with SASL_SSL" in done.stderr
    assert secure_kafka.password not in done.stdout + done.stderr


def test_the_lab_refuses_a_secured_kafka_it_cannot_log_in_to(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """A secured Kafka is always external to the lab (it starts PLAINTEXT brokers only): wrong
    credentials stop `ribflow lab up` before it starts anything."""
    env = ribflow_env(secure_kafka, KAFKA_SASL_PASSWORD=WRONG, LAB_DIR=str(tmp_path / "lab"))
    started = time.monotonic()
    done = ribflow("lab", "up", env=env, cwd=tmp_path, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    (line,) = refusal_lines(out, "lab up")
    assert f"rejected the credentials of KAFKA_SASL_USERNAME={secure_kafka.user}" in line
    assert time.monotonic() - started < QUICK_S and WRONG not in out
