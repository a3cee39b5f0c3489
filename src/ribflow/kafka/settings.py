"""How every ribflow app, CLI and the lab connect to Kafka: address, TLS and SASL.

The env names follow quixstreams' ``ConnectionConfig`` field names with a ``KAFKA_`` prefix
(``KAFKA_SASL_USERNAME`` is ``sasl_username``), next to Quix's own ``Quix__Broker__Address`` and
``Quix__Sdk__Token``. Secrets are :class:`pydantic.SecretStr`: they print as ``**********`` in
any repr, dump or validation error. :mod:`ribflow.kafka.client` turns these settings into the
confluent-kafka and Quix Streams configurations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BROKER = "127.0.0.1:9092"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


#: settings that hold secrets (SecretStr): never written to a file, a log or a status line
SECRET_FIELDS = ("quix_sdk_token", "sasl_password", "sasl_oauthbearer_client_secret",
                 "ssl_key_password")  # fmt: skip


def secrets_from_env() -> dict[str, str]:
    """The secret settings present in the process environment, by env name (for a program that
    rebuilds settings from a snapshot without secrets, like ``ribflow lab status``)."""
    wanted = {ENV[n].lower(): ENV[n] for n in SECRET_FIELDS}
    return {wanted[k.lower()]: v for k, v in os.environ.items() if k.lower() in wanted}


def _upper(v: object) -> object:
    return v.strip().upper() if isinstance(v, str) else v


def _empty_none(v: object) -> object:
    return None if isinstance(v, str) and not v.strip() else v


class KafkaClientSettings(BaseSettings):
    """Where Kafka is and how to authenticate to it (the base of every app's settings)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        validate_default=True,
        # a validation error would otherwise quote its input, which can hold a password
        hide_input_in_errors=True,
        # each setting's description is the docstring under it (the README's line)
        use_attribute_docstrings=True,
    )

    broker_address: str = Field(DEFAULT_BROKER, alias="Quix__Broker__Address", min_length=1)
    """Kafka bootstrap servers (host:port[,host:port])."""
    quix_sdk_token: SecretStr | None = Field(None, alias="Quix__Sdk__Token")
    """Quix Cloud SDK token: when set, Quix Cloud supplies the Kafka connection (the KAFKA_*
    settings are not used)."""
    security_protocol: SecurityProtocol = Field("PLAINTEXT", alias="KAFKA_SECURITY_PROTOCOL")
    """Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: SaslMechanism | None = Field(None, alias="KAFKA_SASL_MECHANISM")
    """SASL mechanism (required with SASL_*): PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."""
    sasl_username: str | None = Field(None, alias="KAFKA_SASL_USERNAME")
    """SASL user (PLAIN, SCRAM)."""
    sasl_password: SecretStr | None = Field(None, alias="KAFKA_SASL_PASSWORD")
    """SASL password (PLAIN, SCRAM); never logged."""
    sasl_oauthbearer_method: Literal["default", "oidc"] = Field(
        "oidc", alias="KAFKA_SASL_OAUTHBEARER_METHOD"
    )
    """OAUTHBEARER token source: oidc (client credentials from the token endpoint) or default
    (librdkafka's unsecured test tokens)."""
    sasl_oauthbearer_client_id: str | None = Field(None, alias="KAFKA_SASL_OAUTHBEARER_CLIENT_ID")
    """OIDC client id (OAUTHBEARER)."""
    sasl_oauthbearer_client_secret: SecretStr | None = Field(
        None, alias="KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET"
    )
    """OIDC client secret (OAUTHBEARER); never logged."""
    sasl_oauthbearer_token_endpoint_url: str | None = Field(
        None, alias="KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL"
    )
    """OIDC token endpoint URL (OAUTHBEARER)."""
    sasl_oauthbearer_scope: str | None = Field(None, alias="KAFKA_SASL_OAUTHBEARER_SCOPE")
    """OIDC scope (optional)."""
    sasl_oauthbearer_extensions: str | None = Field(None, alias="KAFKA_SASL_OAUTHBEARER_EXTENSIONS")
    """SASL extensions key=value[,key=value] (e.g. Confluent Cloud's
    logicalCluster=...,identityPoolId=...)."""
    ssl_ca_location: str | None = Field(None, alias="KAFKA_SSL_CA_LOCATION")
    """CA certificate file (PEM) that signed the brokers' certificates (default: the system's
    CAs)."""
    ssl_certificate_location: str | None = Field(None, alias="KAFKA_SSL_CERTIFICATE_LOCATION")
    """Client certificate file (PEM) for mutual TLS."""
    ssl_key_location: str | None = Field(None, alias="KAFKA_SSL_KEY_LOCATION")
    """Client private key file (PEM)."""
    ssl_key_password: SecretStr | None = Field(None, alias="KAFKA_SSL_KEY_PASSWORD")
    """Password of the client key; never logged."""
    ssl_endpoint_identification_algorithm: Literal["https", "none"] = Field(
        "https", alias="KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"
    )
    """https: the broker certificate must name the host connected to; none: do not check (not for
    production)."""

    _upper_protocol = field_validator("security_protocol", "sasl_mechanism", mode="before")(_upper)
    _empty = field_validator(
        "quix_sdk_token",
        "sasl_mechanism",
        "sasl_username",
        "sasl_password",
        "sasl_oauthbearer_client_id",
        "sasl_oauthbearer_client_secret",
        "sasl_oauthbearer_token_endpoint_url",
        "sasl_oauthbearer_scope",
        "sasl_oauthbearer_extensions",
        "ssl_ca_location",
        "ssl_certificate_location",
        "ssl_key_location",
        "ssl_key_password",
        mode="before",
    )(_empty_none)

    @field_validator("ssl_ca_location", "ssl_certificate_location", "ssl_key_location")
    @classmethod
    def _file_exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"no such file: {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> KafkaClientSettings:
        if self.quix_sdk_token is not None:
            return self
        proto = self.security_protocol
        if proto.startswith("SASL_"):
            mech = self.sasl_mechanism
            if mech is None:
                raise ValueError(f"{ENV['sasl_mechanism']} is required with {proto}")
            if mech == "OAUTHBEARER" and self.sasl_oauthbearer_method == "oidc":
                need = ["sasl_oauthbearer_client_id", "sasl_oauthbearer_client_secret",
                        "sasl_oauthbearer_token_endpoint_url"]  # fmt: skip
            elif mech != "OAUTHBEARER":
                need = ["sasl_username", "sasl_password"]
            else:
                need = []
            missing = [ENV[n] for n in need if getattr(self, n) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)} required with {proto} and {mech}")
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError(
                f"{ENV['ssl_certificate_location']} and {ENV['ssl_key_location']} go together"
            )
        return self

    @property
    def uses_tls(self) -> bool:
        return self.quix_sdk_token is None and self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.quix_sdk_token is None and self.security_protocol.startswith("SASL_")

    def connection_env(self) -> dict[str, str]:
        """The env of these settings (secrets included, as the lab hands them to its apps)."""
        env = {}
        for name, var in ENV.items():
            value = getattr(self, name)
            if value is None:
                continue
            env[var] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return env

    def describe(self) -> str:
        """One line about the connection for logs and status output (no secret in it)."""
        if self.quix_sdk_token is not None:
            return "Quix Cloud (Quix__Sdk__Token)"
        out = f"{self.broker_address} {self.security_protocol}"
        if self.uses_sasl:
            who = self.sasl_username or self.sasl_oauthbearer_client_id or ""
            out += f" {self.sasl_mechanism}" + (f" as {who}" if who else "")
        return out


#: env name of each connection setting (what error messages and the lab's children use)
ENV: dict[str, str] = {name: str(f.alias) for name, f in KafkaClientSettings.model_fields.items()}
