"""Settings of the local lab: where every process listens and what the lab loads and sends.

The defaults are the fixed lab addresses operators and scripts rely on (Kafka 127.0.0.1:9092, the
router on 127.0.0.3 AS 65001 with gRPC on 127.0.0.3:50051, ExaBGP on 127.0.0.2, the collector on
UDP 127.0.0.1:2055 and :6343). Every one of them can be overridden (env or `ribflow lab up`
options) so that tests can run a second lab on other loopback addresses and ports.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ribflow.settings import AppSettings

KafkaMode = Literal["auto", "managed", "external"]
TableKind = Literal["ris", "generated"]


DEFAULT_LAB_DIR = Path("~/.local/state/ribflow/lab")


def default_lab_dir() -> Path:
    """~/.local/state/ribflow/lab (or $RIBFLOW_HOME/lab), next to the managed Kafka's data."""
    env = os.environ.get("RIBFLOW_HOME")
    return Path(env) / "lab" if env else DEFAULT_LAB_DIR.expanduser()


def _ipv4(value: str) -> str:
    return str(ipaddress.IPv4Address(value))


class LabSettings(AppSettings):
    """Addresses, ports, table and traffic of `ribflow lab` (env names LAB_*)."""

    lab_dir: Path = Field(DEFAULT_LAB_DIR, alias="LAB_DIR")
    """Directory of the lab's state: configs, pid files, logs, table, traffic ($RIBFLOW_HOME/lab
    when RIBFLOW_HOME is set)."""
    kafka_mode: KafkaMode = Field("auto", alias="LAB_KAFKA")
    """auto: reuse the broker at Quix__Broker__Address if it answers, else start the managed one
    there; managed: start it unless it answers; external: never start one."""
    router_address: str = Field("127.0.0.3", alias="LAB_ROUTER_ADDRESS")
    """Router (gobgpd) BGP address."""
    router_as: int = Field(65001, alias="LAB_ROUTER_AS", ge=1, le=4294967295)
    """AS of the lab (iBGP)."""
    router_id: str = Field("10.0.0.3", alias="LAB_ROUTER_ID")
    """Router's BGP id."""
    router_grpc_port: int = Field(50051, alias="LAB_ROUTER_GRPC_PORT", ge=1, le=65535)
    """Router's gRPC API port (on the router address), for the gobgp CLI."""
    exabgp_address: str = Field("127.0.0.2", alias="LAB_EXABGP_ADDRESS")
    """ExaBGP's local BGP address."""
    exabgp_router_id: str = Field("10.0.0.2", alias="LAB_EXABGP_ROUTER_ID")
    """ExaBGP's own BGP id."""
    collector_address: str = Field("127.0.0.1", alias="LAB_COLLECTOR_ADDRESS")
    """Address the collector binds."""
    netflow_port: int = Field(2055, alias="LAB_NETFLOW_PORT", ge=1, le=65535)
    """Collector NetFlow/IPFIX port."""
    sflow_port: int = Field(6343, alias="LAB_SFLOW_PORT", ge=1, le=65535)
    """Collector sFlow port."""
    exporter_address: str = Field("127.0.0.1", alias="LAB_EXPORTER_ADDRESS")
    """Source address of the exporter's datagrams, mapped to the router (agent map)."""
    table: TableKind = Field("ris", alias="LAB_TABLE")
    """Router table: the 2002 RIS dump (ris) or a generated one (generated)."""
    ris_dump: Path | None = Field(None, alias="LAB_RIS_DUMP")
    """TABLE_DUMP (v1) file of the RIS table; default: the copy in tests/data/rib."""
    table_v4: int = Field(100_000, alias="LAB_TABLE_V4", ge=1, le=2_000_000)
    """Generated IPv4 routes."""
    table_v6: int = Field(20_000, alias="LAB_TABLE_V6", ge=0, le=500_000)
    """Generated IPv6 routes."""
    traffic_flows: int = Field(150, alias="LAB_TRAFFIC_FLOWS", ge=1, le=100_000)
    """Flows in one pass of the generated traffic."""
    traffic_interval: float = Field(2.0, alias="LAB_TRAFFIC_INTERVAL", gt=0.2, le=3600)
    """Seconds between passes (rate = flows per pass / interval; each pass sends 55-100% of the
    flows, varying slowly)."""
    netflow_version: Literal[5, 9, 10] = Field(9, alias="LAB_NETFLOW_VERSION")
    """Export version softflowd sends (5, 9, 10)."""
    rib_dump_interval: int = Field(300, alias="LAB_RIB_DUMP_INTERVAL", ge=0, le=86400)
    """Seconds between the lab enricher's RIB dumps (its RIB_DUMP_INTERVAL; a full table dumped
    every minute fills bgp-rib-dump fast on a laptop)."""
    topic_prefix: str = Field("", alias="LAB_TOPIC_PREFIX", pattern=r"^[A-Za-z0-9._-]*$")
    """Prefix of every topic name the lab uses (lets two labs share a broker)."""
    metrics_port_base: int = Field(0, alias="LAB_METRICS_PORT_BASE", ge=0, le=65500)
    """First /metrics port of the lab apps (bridge, collector, enricher, aggregator get
    base..base+3); 0: not served."""
    start_timeout: float = Field(180.0, alias="LAB_TIMEOUT", gt=0, le=3600)
    """Seconds `lab up` waits for each process to become healthy."""
    install: bool = Field(True, alias="LAB_INSTALL")
    """Install missing Debian packages with apt-get (root or password-less sudo)."""
    seed: int = Field(42, alias="LAB_SEED")
    """Seed of the generated table and traffic."""

    @field_validator(
        "router_address",
        "router_id",
        "exabgp_address",
        "exabgp_router_id",
        "collector_address",
        "exporter_address",
    )
    @classmethod
    def _v4_address(cls, value: str) -> str:
        return _ipv4(value)

    @field_validator("lab_dir")
    @classmethod
    def _lab_dir(cls, value: Path) -> Path:
        return default_lab_dir() if value == DEFAULT_LAB_DIR else value.expanduser()

    @model_validator(mode="after")
    def _distinct(self) -> LabSettings:
        if self.router_address == self.exabgp_address:
            raise ValueError("the router and ExaBGP need different addresses")
        if self.netflow_port == self.sflow_port:
            raise ValueError("the NetFlow and sFlow ports must differ")
        return self

    # -- derived names --------------------------------------------------------------------------
    @property
    def router_key(self) -> str:
        """The router key of the lab router: its BGP address as ExaBGP sees it."""
        return self.router_address

    @property
    def grpc_target(self) -> str:
        return f"{self.router_address}:{self.router_grpc_port}"

    def topic(self, name: str) -> str:
        """A topic name with the lab's prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def group_prefix(self) -> str:
        """Prefix of the lab apps' consumer groups."""
        return f"{self.topic_prefix}ribflow-lab"
