"""The one Kafka client configuration factory: settings -> confluent-kafka and Quix configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ribflow.kafka.client import client_config, connection_config, kafka_settings, quix_connection
from ribflow.kafka.settings import ENV, KafkaClientSettings, secrets_from_env
from ribflow.lab.settings import LabSettings
from ribflow.lab.state import KafkaState, LabState, settings_snapshot
from ribflow.settings import AppSettings

PASSWORD = "s3cr3t-Pa55word"

SCRAM = {
    "Quix__Broker__Address": "kafka.example:9096",
    "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "KAFKA_SASL_MECHANISM": "scram-sha-512",
    "KAFKA_SASL_USERNAME": "ribflow",
    "KAFKA_SASL_PASSWORD": PASSWORD,
}


def test_plaintext_is_the_default() -> None:
    assert client_config(AppSettings()) == {  # type: ignore[call-arg]
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "plaintext",
    }


def test_sasl_ssl_scram_maps_to_librdkafka_names(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not parsed here\n")
    s = AppSettings(**SCRAM, KAFKA_SSL_CA_LOCATION=str(ca))
    assert client_config(s, {"linger.ms": 5}) == {
        "bootstrap.servers": "kafka.example:9096",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "ribflow",
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(ca),
        "ssl.endpoint.identification.algorithm": "https",
        "linger.ms": 5,
    }


def test_quix_connection_carries_the_same_settings_as_secrets() -> None:
    s = AppSettings(**SCRAM)
    conn = quix_connection(s)["broker_address"]
    assert conn.bootstrap_servers == "kafka.example:9096"
    assert conn.security_protocol == "sasl_ssl"
    assert conn.sasl_mechanism == "SCRAM-SHA-512"
    assert conn.sasl_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(conn) and PASSWORD not in str(conn)
    assert conn.as_librdkafka_dict() == client_config(s)


def test_oidc_client_credentials() -> None:
    s = AppSettings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="OAUTHBEARER",
        KAFKA_SASL_OAUTHBEARER_CLIENT_ID="svc",
        KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET=PASSWORD,
        KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL="https://idp.example/token",
        KAFKA_SASL_OAUTHBEARER_SCOPE="kafka",
        KAFKA_SASL_OAUTHBEARER_EXTENSIONS="logicalCluster=lkc-1,identityPoolId=pool-2",
    )
    conf = client_config(s)
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.id"] == "svc"
    assert conf["sasl.oauthbearer.client.secret"] == PASSWORD
    assert conf["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/token"
    assert conf["sasl.oauthbearer.extensions"] == "logicalCluster=lkc-1,identityPoolId=pool-2"
    assert "sasl.username" not in conf


def test_quix_sdk_token_lets_quix_connect() -> None:
    s = AppSettings(Quix__Sdk__Token=PASSWORD, KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    assert quix_connection(s) == {"quix_sdk_token": PASSWORD}
    assert PASSWORD not in repr(s) and s.describe() == "Quix Cloud (Quix__Sdk__Token)"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": "u",
            },
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"},
            "no such file",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_incomplete_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError) as info:
        AppSettings(**env)
    assert named in str(info.value)


def test_validation_errors_never_quote_the_password() -> None:
    with pytest.raises(ValidationError) as info:
        AppSettings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_PASSWORD=PASSWORD)
    assert PASSWORD not in str(info.value)


def test_a_bare_address_takes_the_security_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SCRAM.items():
        monkeypatch.setenv(name, value)
    conf = client_config("other.example:9096")  # a CLI's --broker
    assert conf["bootstrap.servers"] == "other.example:9096"
    assert conf["sasl.password"] == PASSWORD
    assert kafka_settings("x:1").sasl_username == "ribflow"


def test_extra_may_not_redefine_the_connection() -> None:
    with pytest.raises(ValueError, match=r"security\.protocol"):
        client_config(AppSettings(), {"security.protocol": "plaintext"})  # type: ignore[call-arg]


def test_lab_state_holds_no_secret_and_gets_them_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SCRAM.items():
        monkeypatch.setenv(name, value)
    s = LabSettings(LAB_DIR=str(tmp_path))
    snap = settings_snapshot(s)
    assert PASSWORD not in str(snap) and snap["KAFKA_SASL_USERNAME"] == "ribflow"
    assert secrets_from_env() == {"KAFKA_SASL_PASSWORD": PASSWORD}
    rebuilt = LabState(snap, KafkaState(address=s.broker_address)).lab_settings()
    assert rebuilt.sasl_password is not None
    assert rebuilt.sasl_password.get_secret_value() == PASSWORD


def test_connection_env_round_trips() -> None:
    s = AppSettings(**SCRAM)
    again = KafkaClientSettings(**s.connection_env())
    assert client_config(again) == client_config(s)
    assert set(s.connection_env()) <= set(ENV.values())
    assert connection_config(s).sasl_username == "ribflow"


def test_no_dump_or_repr_shows_a_secret() -> None:
    s = AppSettings(
        **SCRAM,
        KAFKA_SSL_KEY_PASSWORD=PASSWORD + "-key",
        KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET=PASSWORD + "-oidc",
    )
    texts = [repr(s), str(s), s.describe(), str(s.model_dump()), s.model_dump_json(),
             repr(connection_config(s)), str(connection_config(s))]  # fmt: skip
    for text in texts:
        assert PASSWORD not in text
    assert s.describe() == "kafka.example:9096 SASL_SSL SCRAM-SHA-512 as ribflow"
    from ribflow.kafka.local import BrokerConfig

    assert PASSWORD not in repr(BrokerConfig(sasl_ssl_port=9094, sasl_users={"u": PASSWORD}))


def test_scram_credentials_are_salted_not_plain() -> None:
    from ribflow.kafka.secure import scram_arguments

    args = scram_arguments({"ribflow": PASSWORD})
    assert len(args) == 4 and args[0] == "--add-scram"
    assert "SCRAM-SHA-256=[name=ribflow,iterations=8192,salt=" in args[1]
    assert "SCRAM-SHA-512=[name=ribflow,iterations=8192,salt=" in args[3]
    assert all(PASSWORD not in a for a in args)


def test_a_broker_that_does_not_answer_yet_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ribflow.kafka.client import KafkaUnreachable, check_connection, startup_check
    from tests.fixtures.kafka import free_port

    nobody = f"127.0.1.4:{free_port('127.0.1.4')}"  # nothing listens there
    with pytest.raises(KafkaUnreachable, match=r"no Kafka broker answered at 127\.0\.1\.4"):
        check_connection(nobody, timeout=1.0)
    assert startup_check(nobody, "test", timeout=1.0) is None  # the app goes on and waits
    assert "starting anyway" in caplog.text
