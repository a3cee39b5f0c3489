"""Reading and writing the SASL_SSL listener from tests: kcat (the independent client) with a
-F configuration file, and ribflow processes with the Kafka settings in their environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ribflow.kafka.settings import KafkaClientSettings
from tests.flow.collector_harness import need

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SecureKafka:
    plain: str  # the PLAINTEXT listener (also what the broker itself uses)
    secure: str  # the SASL_SSL listener
    ca: Path
    user: str
    password: str = field(repr=False)
    kcat_config: Path  # a kcat -F file for the SASL_SSL listener (the password stays off argv)

    def env(self, mechanism: str = "SCRAM-SHA-512", **over: str) -> dict[str, str]:
        """An app's Kafka settings for the SASL_SSL listener, as environment variables."""
        env = {
            "Quix__Broker__Address": self.secure,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": self.user,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SSL_CA_LOCATION": str(self.ca),
        }
        env.update(over)
        return env

    def settings(self, **over: str) -> KafkaClientSettings:
        return KafkaClientSettings(**self.env(**over))


def kcat_secure(kafka: SecureKafka, topic: str, until: int, timeout: float = 90.0) -> list[Any]:
    """The JSON values of ``topic`` read by kcat over SASL_SSL, once there are ``until``."""
    exe = need("kcat")
    cmd = [exe, "-F", str(kafka.kcat_config), "-b", kafka.secure, "-C", "-t", topic,
           "-o", "beginning", "-e", "-q", "-f", "%s\\n"]  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        values = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        if len(values) >= until or time.monotonic() > deadline:
            return values
        time.sleep(0.5)


def ribflow_env(kafka: SecureKafka, **settings: str) -> dict[str, str]:
    """A child's environment: this one without Kafka/topic settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("Quix__", "KAFKA_", "BGP_", "FLOWS_", "REPLAY_"))}  # fmt: skip
    env.update(kafka.env(), PYTHONPATH=str(REPO / "src"), LOG_LEVEL="INFO")
    env.update(settings)
    return env


def ribflow(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 180.0, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ribflow ARGS`` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "ribflow", *args],
        input=stdin.decode(),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_ribflow(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m ribflow ARGS`` with its output in ``log`` (stop it with :func:`stop`)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ribflow", *args],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
