"""A managed Kafka with a PLAINTEXT and a SASL_SSL (SCRAM) listener, for the whole session.

It runs on 127.0.1.1 (this area's loopback address) on free ports, with its own data directory,
CA and SCRAM user; it is stopped at the end of the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ribflow.kafka.local import BrokerConfig
from tests.fixtures.kafka import free_port, managed_broker
from tests.security.secure_io import SecureKafka

HOST = "127.0.1.1"
USER = "ribflow-app"


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    password = f"pw-{uuid.uuid4().hex}"
    cfg = BrokerConfig(
        host=HOST,
        port=free_port(HOST),
        controller_port=free_port(HOST),
        sasl_ssl_port=free_port(HOST),
        data_dir=tmp_path_factory.mktemp("secure-kafka"),
        sasl_users={USER: password},
    )
    with managed_broker(cfg):
        kcat = cfg.data_dir / "kcat.conf"
        kcat.write_text(
            # Debian's kcat (librdkafka 2.0) cannot do SCRAM with Kafka 4: PLAIN over TLS
            "security.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\n"
            f"sasl.username={USER}\nsasl.password={password}\nssl.ca.location={cfg.ca_file}\n"
        )
        kcat.chmod(0o600)
        yield SecureKafka(cfg.address, cfg.secure_address, cfg.ca_file, USER, password, kcat)
