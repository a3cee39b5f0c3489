"""One settings object per app, read from the environment the way Quix does it.

Every app's settings class derives from :class:`AppSettings`. Env names are the field aliases:
Quix's own (``Quix__Broker__Address``, ``Quix__Consumer__Group``, ``Quix__State__Dir``) and, for
ribflow's settings, the UPPER_SNAKE names that the apps' app.yaml declare as variables. A ``.env``
file in the working directory is read too (that is what ``quix run`` uses). Each field's
description is the docstring under it; :mod:`ribflow.settings_doc` renders them for the README (a
test checks the README has a line for every setting). Settings that several apps share are
declared once, in :mod:`ribflow.settings_groups`.

Every app and CLI reads its settings with :func:`load`: on a bad value it prints one line per
problem (env name, the value given, what is expected) and exits with status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from ribflow.kafka.settings import DEFAULT_BROKER, SECRET_FIELDS, KafkaClientSettings

__all__ = [
    "DEFAULT_BROKER",
    "AppSettings",
    "LogLevel",
    "command_parser",
    "explain",
    "load",
    "settings_rows",
    "settings_table",
]

S = TypeVar("S", bound=BaseSettings)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class AppSettings(KafkaClientSettings):
    """Settings every ribflow app shares: Kafka connection (see :mod:`ribflow.kafka.settings`),
    topics, partitions, logging and metrics."""

    consumer_group: str = Field("ribflow", alias="Quix__Consumer__Group", min_length=1)
    """Kafka consumer group of the app (each app appends its own suffix)."""
    state_dir: str = Field("state", alias="Quix__State__Dir", min_length=1)
    """Directory of the app's local RocksDB state."""
    partitions: int = Field(4, alias="PARTITIONS", ge=1, le=1024)
    """Partition count of bgp-updates, flows and every topic joined with them."""
    replication_factor: int = Field(1, alias="REPLICATION_FACTOR", ge=1, le=7)
    """Replication factor of new topics."""
    log_level: LogLevel = Field("INFO", alias="LOG_LEVEL")
    """Python log level."""
    metrics_port: int = Field(0, alias="METRICS_PORT", ge=0, le=65535)
    """Port of the Prometheus /metrics endpoint (0: not served)."""
    metrics_host: str = Field("127.0.0.1", alias="METRICS_HOST")
    """Address the /metrics endpoint binds to (an IPv4/IPv6 address; 0.0.0.0 or :: for every
    interface). Loopback by default: expose it on purpose."""

    @field_validator("metrics_host")
    @classmethod
    def _check_metrics_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value.strip())
        except ValueError:
            raise ValueError(f"METRICS_HOST {value!r} is not an IP address") from None
        return value.strip()

    # topic names (their partitions and configs: ribflow.topics.catalogue)
    bgp_updates_topic: str = Field("bgp-updates", alias="BGP_UPDATES_TOPIC")
    """Topic of normalised BGP events."""
    flows_topic: str = Field("flows", alias="FLOWS_TOPIC")
    """Topic of decoded flows."""
    flows_enriched_topic: str = Field("flows-enriched", alias="FLOWS_ENRICHED_TOPIC")
    """Topic of enriched flows."""
    bgp_rib_dump_topic: str = Field("bgp-rib-dump", alias="BGP_RIB_DUMP_TOPIC")
    """Topic of periodic RIB dumps."""
    bgp_rib_topic: str = Field("bgp-rib", alias="BGP_RIB_TOPIC")
    """Compacted table topic of the RIB."""
    flow_templates_topic: str = Field("flow-templates", alias="FLOW_TEMPLATES_TOPIC")
    """Compacted topic of NetFlow v9/IPFIX templates and sampling state."""
    sflow_counters_topic: str = Field("sflow-counters", alias="SFLOW_COUNTERS_TOPIC")
    """Topic of sFlow counter samples."""
    flows_aggregated_topic: str = Field("flows-aggregated", alias="FLOWS_AGGREGATED_TOPIC")
    """Topic of pmacct-style aggregated flows."""
    dlq_suffix: str = Field("-dlq", alias="DLQ_SUFFIX")
    """Suffix of dead-letter topics (<topic><suffix>)."""

    def dlq_topic(self, topic: str) -> str:
        """Name of the dead-letter topic for what came from (or was meant for) ``topic``."""
        return f"{topic}{self.dlq_suffix}"


def settings_rows(
    cls: type[BaseSettings],
    names: Iterable[str] | None = None,
    notes: Mapping[str, str] | None = None,
) -> list[tuple[str, str, str]]:
    """(env name, default, description) of the fields ``names`` (default: all) of a settings
    class, for the README and ``--settings``; ``notes`` replace the description of a field."""
    rows = []
    for name in cls.model_fields if names is None else names:
        field = cls.model_fields[name]
        default: Any = "(computed)" if field.default_factory is not None else field.default
        about = (notes or {}).get(name) or " ".join((field.description or "").split())
        rows.append((field.alias or name.upper(), "" if default is None else str(default), about))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_table(
    cls: type[BaseSettings],
    names: Iterable[str] | None = None,
    notes: Mapping[str, str] | None = None,
) -> str:
    """A Markdown table of a settings class (or of the fields ``names``), as the README shows it."""
    out = ["| env | default | meaning |", "|---|---|---|"]
    rows = settings_rows(cls, names, notes)
    out += [f"| `{env}` | `{_cell(default)}` | {_cell(about)} |" for env, default, about in rows]
    return "\n".join(out)


def command_parser(
    name: str, description: str | None, settings: type[BaseSettings] | None = None
) -> argparse.ArgumentParser:
    """The argument parser of ``ribflow <name>``; with the command's settings class, its
    ``--settings`` flag, which prints the settings table and exits (as ``--version`` does)."""
    parser = argparse.ArgumentParser(prog=f"ribflow {name}", description=description)
    if settings is not None:
        shown = settings

        class _Show(argparse.Action):
            def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
                print(settings_table(shown))
                parser.exit()

        parser.add_argument("--settings", nargs=0, action=_Show, help="print the settings and exit")
    return parser


def _field_of(cls: type[BaseSettings], env: str) -> tuple[str, FieldInfo] | None:
    """The field name and field an error location (an env name or a field name) points at."""
    for name, field in cls.model_fields.items():
        if env.lower() in (name.lower(), (field.alias or "").lower()):
            return name, field
    return None


def explain(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    """One line per problem: ``ENV='value': what is wrong (ENV: what it is)``.

    Secret settings never show their value; a problem of several settings together (a model
    check) is one line naming them in its message."""
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        found = _field_of(cls, str(err["loc"][0])) if err["loc"] else None
        if found is None:
            lines.append(msg)
            continue
        name, field = found
        env = field.alias or name.upper()
        if err["type"] == "missing":
            value = "(not set)"
        elif name in SECRET_FIELDS or isinstance(err["input"], SecretStr):
            value = "'**********'"
        else:
            value = repr(err["input"])
        about = " ".join((field.description or "").split()).split(". ")[0].rstrip(".")
        expected = f" ({env}: {about})" if about else ""
        lines.append(f"{env}={value}: {msg}{expected}")
    return lines


def load(cls: type[S], prog: str = "ribflow", /, **overrides: Any) -> S:
    """The settings of an app or CLI from the environment (and ``.env``), with ``overrides`` by
    env name on top. Bad settings end the program: one ``prog: ENV='value': problem`` line per
    problem on stderr, then exit status 2."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        for line in explain(cls, exc):
            print(f"{prog}: {line}", file=sys.stderr)
        raise SystemExit(2) from None
