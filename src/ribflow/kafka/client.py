"""The one place that turns Kafka connection settings into client configurations.

Every confluent-kafka ``Producer``, ``Consumer`` and ``AdminClient`` ribflow makes gets its
configuration from :func:`client_config`, every ``quixstreams.Application`` its connection from
:func:`quix_connection`; every producer its tuning, by what it writes, from
:func:`producer_config` (a Quix app's from :func:`producer_tuning`). A caller passes either
settings (any app's settings derive from :class:`~ribflow.kafka.settings.KafkaClientSettings`)
or a bare bootstrap address (a CLI's ``--broker``): then the security settings still come from
the environment.

:func:`check_connection` is the startup check: it turns rejected credentials, a failed TLS
handshake or a listener of the wrong protocol into one clear :class:`KafkaAccessError` line
instead of librdkafka retrying for ever.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from confluent_kafka import KafkaError, KafkaException
from pydantic import SecretStr

from ribflow.errors import ConfigError, EnvironmentProblem
from ribflow.kafka.settings import ENV, KafkaClientSettings

if TYPE_CHECKING:
    from quixstreams.kafka.configuration import ConnectionConfig

KafkaTarget = KafkaClientSettings | str
"""Settings, or a bootstrap address whose security settings come from the environment."""

log = logging.getLogger(__name__)

#: librdkafka messages that mean "this listener speaks another security protocol"
_PROTOCOL_HINTS = ("security.protocol", "PLAINTEXT broker listener", "SSL listener")


class KafkaAccessError(ConfigError):
    """Kafka refuses these settings: credentials, TLS trust or the listener's protocol."""


class KafkaUnreachable(EnvironmentProblem):
    """No broker answered at the configured address in time."""


def kafka_settings(kafka: KafkaTarget) -> KafkaClientSettings:
    """The settings themselves, or the environment's with ``kafka`` as the bootstrap address."""
    if isinstance(kafka, KafkaClientSettings):
        return kafka
    return KafkaClientSettings(Quix__Broker__Address=kafka)  # type: ignore[call-arg]  # env: rest


def plaintext(address: str) -> KafkaClientSettings:
    """PLAINTEXT settings for ``address``, whatever the environment says (the managed broker's
    own probes)."""
    return KafkaClientSettings.model_construct(broker_address=address)


@functools.cache
def _quix_cloud_connection(token: str) -> tuple[tuple[str, Any], ...]:
    """librdkafka settings of the Quix Cloud workspace of an SDK token (asked once)."""
    from quixstreams.platforms.quix.config import QuixKafkaConfigsBuilder
    from quixstreams.platforms.quix.env import QUIX_ENVIRONMENT

    builder = QuixKafkaConfigsBuilder.from_credentials(
        quix_sdk_token=token, quix_portal_api=QUIX_ENVIRONMENT.portal_api or ""
    )
    conf = builder.librdkafka_connection_config.as_librdkafka_dict(plaintext_secrets=True)
    return tuple(sorted({**conf, **builder.librdkafka_extra_config}.items()))


def _connection(s: KafkaClientSettings) -> dict[str, Any]:
    """The librdkafka connection settings (secrets in plain text: for the client only)."""
    if s.quix_sdk_token is not None:
        return dict(_quix_cloud_connection(s.quix_sdk_token.get_secret_value()))
    fields: dict[str, Any] = {
        "bootstrap_servers": s.broker_address,
        "security_protocol": s.security_protocol.lower(),
    }
    if s.uses_sasl:
        fields["sasl_mechanism"] = s.sasl_mechanism
        if s.sasl_mechanism == "OAUTHBEARER":
            fields["sasl_oauthbearer_method"] = s.sasl_oauthbearer_method
            for name in (
                "sasl_oauthbearer_client_id",
                "sasl_oauthbearer_client_secret",
                "sasl_oauthbearer_token_endpoint_url",
                "sasl_oauthbearer_scope",
                "sasl_oauthbearer_extensions",
            ):
                fields[name] = getattr(s, name)
        else:
            fields["sasl_username"] = s.sasl_username
            fields["sasl_password"] = s.sasl_password
    if s.uses_tls:
        fields["ssl_ca_location"] = s.ssl_ca_location
        fields["ssl_certificate_location"] = s.ssl_certificate_location
        fields["ssl_key_location"] = s.ssl_key_location
        fields["ssl_key_password"] = s.ssl_key_password
        fields["ssl_endpoint_identification_algorithm"] = s.ssl_endpoint_identification_algorithm
    return {
        k.replace("_", "."): v.get_secret_value() if isinstance(v, SecretStr) else v
        for k, v in fields.items()
        if v is not None
    }


def connection_config(kafka: KafkaTarget) -> ConnectionConfig:
    """The Quix Streams ``ConnectionConfig`` of these settings (its secrets are ``SecretStr``)."""

    from quixstreams.kafka import configuration  # imported when used: it takes half a second

    conf = _connection(kafka_settings(kafka))
    return configuration.ConnectionConfig.from_librdkafka_dict(conf, ignore_extras=True)


def client_config(kafka: KafkaTarget, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """confluent-kafka configuration: the connection part from ``kafka``, tuning from ``extra``.

    ``extra`` holds the client's own librdkafka settings (``group.id``, ``linger.ms``, callbacks);
    it may not redefine the connection (that would bypass the security settings).
    """
    config = _connection(kafka_settings(kafka))
    for key, value in (extra or {}).items():
        if key in config and key != "client.id":
            raise ValueError(f"{key} is a connection setting: it comes from the Kafka settings")
        config[key] = value
    return config


ProducerRole = Literal["data", "log", "replay", "state", "streaming"]
"""What a producer writes, which decides its librdkafka tuning (see :func:`producer_tuning`)."""

_ROLES: dict[ProducerRole, dict[str, Any]] = {
    # the collector's flows: throughput first (large lz4 batches), only failures reported
    "data": {
        "linger.ms": 20,
        "compression.type": "lz4",
        "batch.size": 1 << 20,
        "delivery.report.only.error": True,
    },
    # bgp-updates, the RIB's source: every message once and in order; retriable errors wait for
    # ever (back-pressure), never drop; success is counted from the queue length
    "log": {
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 0,
        "linger.ms": 5,
        "compression.type": "lz4",
        "delivery.report.only.error": True,
    },
    # the replay's output: no duplicates or reordering on retries
    "replay": {
        "enable.idempotence": True,
        "linger.ms": 20,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
    },
    # checkpoints of state: few large messages, contiguous
    "state": {
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 50,
        "message.max.bytes": 4 * 1024 * 1024,
    },
    # a Quix Streams app's producer (transactional under exactly-once: see producer_tuning)
    "streaming": {"linger.ms": 20, "compression.type": "lz4"},
}


class _Streaming(Protocol):
    """The part of :class:`~ribflow.settings_groups.StreamingSettings` a producer depends on."""

    @property
    def processing_guarantee(self) -> str: ...

    @property
    def commit_interval(self) -> float: ...


def producer_tuning(
    role: ProducerRole,
    *,
    linger_ms: int | None = None,
    compression: str | None = None,
    queue_messages: int | None = None,
    queue_mb: int | None = None,
    streaming: _Streaming | None = None,
    transactional_id: str | None = None,
) -> dict[str, Any]:
    """The librdkafka producer settings of ``role`` (no connection: Quix adds its own).

    The keywords are an app's own settings for them (each app names them its own way):
    batching delay, codec, the queue's bounds; for ``streaming`` the app's streaming settings,
    whose commit interval sets the transaction timeout and whose exactly-once guarantee makes
    the producer transactional with ``transactional_id``.
    """
    conf = dict(_ROLES[role])
    if linger_ms is not None:
        conf["linger.ms"] = linger_ms
    if compression is not None:
        conf["compression.type"] = compression
    if queue_messages is not None:
        conf["queue.buffering.max.messages"] = queue_messages
    if queue_mb is not None:
        conf["queue.buffering.max.kbytes"] = queue_mb * 1024
    if streaming is not None:
        # a checkpoint's transaction must outlive the commit interval (broker max: 15 min)
        conf["transaction.timeout.ms"] = max(60_000, int(streaming.commit_interval * 2000))
        if streaming.processing_guarantee == "exactly-once":
            if not transactional_id:
                raise ValueError("an exactly-once producer needs a transactional_id")
            conf["transactional.id"] = transactional_id
    return conf


def producer_config(
    kafka: KafkaTarget,
    role: ProducerRole,
    extra: Mapping[str, Any] | None = None,
    *,
    linger_ms: int | None = None,
    compression: str | None = None,
    queue_messages: int | None = None,
    queue_mb: int | None = None,
) -> dict[str, Any]:
    """confluent-kafka ``Producer`` configuration: the connection from ``kafka``, the tuning of
    ``role`` with the app's own values (see :func:`producer_tuning`), then ``extra`` (the
    client's own: ``client.id``, callbacks)."""
    tuning = producer_tuning(
        role,
        linger_ms=linger_ms,
        compression=compression,
        queue_messages=queue_messages,
        queue_mb=queue_mb,
    )
    return client_config(kafka, {**tuning, **(extra or {})})


def quix_connection(kafka: KafkaClientSettings) -> dict[str, Any]:
    """Keyword arguments of ``quixstreams.Application`` that say how to reach Kafka."""
    if kafka.quix_sdk_token is not None:
        return {"quix_sdk_token": kafka.quix_sdk_token.get_secret_value()}
    return {"broker_address": connection_config(kafka)}


def _access_error(s: KafkaClientSettings, code: int, reason: str) -> KafkaAccessError | None:
    """The clear error for a librdkafka error that retrying cannot fix (None: retry it)."""
    where = f"Kafka at {s.broker_address}"
    proto = f"{ENV['security_protocol']}={s.security_protocol}"
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        if not s.uses_sasl:
            return KafkaAccessError(f"{where} wants authentication ({reason}); check {proto}")
        if s.sasl_mechanism == "OAUTHBEARER":
            who = f"{ENV['sasl_oauthbearer_client_id']}={s.sasl_oauthbearer_client_id}"
            check = ENV["sasl_oauthbearer_client_secret"]
        else:
            who = f"{ENV['sasl_username']}={s.sasl_username}"
            check = f"{ENV['sasl_password']} and {ENV['sasl_mechanism']}={s.sasl_mechanism}"
        return KafkaAccessError(
            f"{where} rejected the credentials of {who} ({reason}); check {check}"
        )
    if any(hint in reason for hint in _PROTOCOL_HINTS) or (
        not s.uses_tls and "closed by peer" in reason and "state APIVERSION_QUERY" in reason
    ):
        return KafkaAccessError(f"{where} speaks another security protocol than {proto} ({reason})")
    if code == KafkaError._SSL:
        ca = s.ssl_ca_location or "the system's CAs"
        return KafkaAccessError(
            f"TLS with {where} failed ({reason}); check {ENV['ssl_ca_location']} ({ca}) and "
            f"that this listener speaks {proto}"
        )
    return None


def _reason(text: str) -> str:
    # librdkafka prefixes "sasl_ssl://127.0.0.1:9093/bootstrap: "; the address is said already
    if "/bootstrap: " in text:
        text = text.split("/bootstrap: ", 1)[1]
    return " ".join(text.split())[:300]


class _Seen(logging.Handler):
    """librdkafka's log lines of one client (a closed connection is only said there)."""

    def __init__(self, into: list[tuple[int, str]]) -> None:
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append((KafkaError._TRANSPORT, record.getMessage()))


def check_connection(kafka: KafkaTarget, timeout: float = 15.0) -> int:
    """Fetch cluster metadata once; returns the number of brokers.

    Raises :class:`KafkaAccessError` as soon as librdkafka reports an error retrying cannot fix
    (credentials, TLS, protocol), :class:`KafkaUnreachable` when nothing answered in ``timeout``.
    """
    from confluent_kafka.admin import AdminClient

    s = kafka_settings(kafka)
    seen: list[tuple[int, str]] = []
    logger = logging.Logger("ribflow.kafka.check")  # private: not in the logging tree
    logger.addHandler(_Seen(seen))

    def on_error(err: KafkaError) -> None:
        seen.append((err.code(), err.str()))

    conf = client_config(s, {"error_cb": on_error, "client.id": "ribflow-check"})
    admin = AdminClient(conf, logger=logger)
    deadline = time.monotonic() + timeout
    done = 0
    while True:
        left = deadline - time.monotonic()
        try:
            md = admin.list_topics(timeout=max(0.1, min(1.0, left)))
            if md.brokers:
                return len(md.brokers)
        except KafkaException as exc:
            err = exc.args[0]
            seen.append((err.code(), err.str()))
        admin.poll(0)
        for code, text in seen[done:]:
            fatal = _access_error(s, code, _reason(text))
            if fatal is not None:
                raise fatal
        done = len(seen)
        if left <= 0:
            last = f" (last error: {_reason(seen[-1][1])})" if seen else ""
            raise KafkaUnreachable(
                f"no Kafka broker answered at {s.broker_address} within {timeout:.0f} s{last}"
            )


def startup_check(kafka: KafkaTarget, app: str, timeout: float = 10.0) -> int | None:
    """An app's first contact with Kafka: None to go on, or the exit status (2) after printing
    one line naming the setting Kafka refused. A broker that does not answer yet is only
    logged: every app waits for Kafka the way it always did."""
    try:
        check_connection(kafka, timeout)
    except KafkaAccessError as exc:
        print(f"ribflow {app}: {exc}", file=sys.stderr, flush=True)
        return 2
    except KafkaUnreachable as exc:
        log.warning("%s; starting anyway", exc)
    return None
