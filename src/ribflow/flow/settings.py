"""Settings of the flow collector (`ribflow collector`, apps/collector): env names = aliases."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ribflow.flow.allowlist import parse_networks
from ribflow.settings import AppSettings
from ribflow.settings_groups import Compression, LingerMs, QueueMb, QueueMessages, RouterKeySettings

Backpressure = Literal["block", "drop"]


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]


class CollectorSettings(RouterKeySettings, AppSettings):
    """UDP listeners, agent map, Kafka producer and back-pressure of the flow collector."""

    listen_hosts: str = Field("0.0.0.0,::", alias="LISTEN_HOSTS")
    """Addresses to listen on, comma-separated (IPv4 and IPv6: one socket each)."""
    listen_ports: str = Field("2055,4739,6343", alias="LISTEN_PORTS")
    """UDP ports, comma-separated; any port takes any protocol (detected per packet)."""
    udp_rcvbuf_bytes: int = Field(32 << 20, alias="UDP_RCVBUF_BYTES", ge=65536, le=1 << 30)
    """Receive buffer per socket (SO_RCVBUFFORCE when allowed, else capped by net.core.rmem_max):
    how long a burst or a Kafka stall is absorbed before the kernel drops."""
    collector_workers: int = Field(1, alias="COLLECTOR_WORKERS", ge=1, le=64)
    """Receiver/decoder processes sharing every listener (SO_REUSEPORT), each with its own Kafka
    producer. The kernel keeps one exporter address+port on one worker, so template state stays
    local (an exporter sending from several source ports needs 1 worker); worker i serves /metrics
    on METRICS_PORT+1+i, the parent on METRICS_PORT all of them with a 'worker' label. A worker that
    dies stops them all."""
    agent_map_file: str = Field("", alias="AGENT_MAP_FILE")
    """pmacct-style bgp_agent_map file (bgp_ip=ROUTER ip=EXPORTER lines), re-read within 5 s when it
    changes (a broken file keeps the last good map); empty: none."""
    allowed_exporters: str = Field("", alias="ALLOWED_EXPORTERS")
    """Addresses/prefixes (IPv4, IPv6) allowed to send exports, comma-separated; export packets from
    any other source are dropped before decoding. Empty, and ALLOWED_EXPORTERS_FILE empty too: every
    source is taken (the lab's default)."""
    allowed_exporters_file: str = Field("", alias="ALLOWED_EXPORTERS_FILE")
    """pmacct nfacctd_allow_file: one address or prefix per line, '!' comments; bad lines skipped
    and counted, no entry at all denies everything. Adds to ALLOWED_EXPORTERS; re-read within 5 s
    when it changes (an unreadable file keeps the last good list)."""
    denied_source_labels: int = Field(64, alias="DENIED_SOURCE_LABELS", ge=0, le=100_000)
    """Distinct denied source addresses that get their own label in
    ribflow_collector_denied_packets_total; later ones are counted as 'other'."""
    pre_tag_map: str = Field("", alias="PRE_TAG_MAP")
    """pmacct pre_tag_map file (set_tag/set_tag2/set_label rules keyed by exporter, interfaces,
    direction, addresses...; first match wins): records get tag/tag2/label. Read at start; a key
    ribflow cannot evaluate refuses the map. Empty: none."""
    fallback_router: str = Field("", alias="FALLBACK_ROUTER")
    """Router key for exporters the agent map and BGP do not know (empty: the exporter address)."""
    follow_bgp_updates: bool = Field(True, alias="FOLLOW_BGP_UPDATES")
    """Read bgp-updates in the background to learn peers and router-ids for the map."""
    bgp_catchup_timeout_s: float = Field(30.0, alias="BGP_CATCHUP_TIMEOUT_S", ge=0, le=3600)
    """At start, how long to wait for bgp-updates to be read up to its end before listening (so the
    first flows already get the right router keys)."""
    backpressure: Backpressure = Field("block", alias="BACKPRESSURE")
    """When Kafka's local queue is full: 'block' (stop reading; the kernel buffer absorbs, then
    drops, counted) or 'drop' (keep reading, drop and count the records)."""
    kafka_queue_messages: QueueMessages = Field(100_000, alias="KAFKA_QUEUE_MESSAGES")
    """Bound of the producer's local queue in messages (the back-pressure point)."""
    kafka_queue_mb: QueueMb = Field(256, alias="KAFKA_QUEUE_MB")
    """Bound of the producer's local queue in MiB."""
    linger_ms: LingerMs = Field(20, alias="COLLECTOR_LINGER_MS")
    compression: Compression = Field("lz4", alias="COLLECTOR_COMPRESSION")
    message_max_packets: int = Field(1, alias="MESSAGE_MAX_PACKETS", ge=1, le=1000)
    """Export packets of one exporter grouped into one flows message (1: one message per packet, the
    measured default)."""
    message_max_delay_ms: int = Field(50, alias="MESSAGE_MAX_DELAY_MS", ge=0, le=60_000)
    """Longest a grouped message waits for more packets (MESSAGE_MAX_PACKETS > 1)."""
    max_export_skew_ms: int = Field(300_000, alias="MAX_EXPORT_SKEW_MS", ge=0, le=7 * 86_400_000)
    """Largest distance (ms) between an export packet's export time and its arrival for the export
    time to become the Kafka timestamp of its flows message; beyond it (an exporter clock off by
    hours or days, a replayed capture) the arrival time is used, so retention and the broker's
    timestamp limits never drop the message. The record keeps its export time (time_export_ms). 0:
    always the arrival time."""
    dlq_partial: bool = Field(True, alias="DLQ_PARTIAL")
    """Also dead-letter packets that were only partly decoded (their records are still
    published)."""
    dlq_max_per_second: int = Field(1000, alias="DLQ_MAX_PER_SECOND", ge=0, le=1_000_000)
    """Dead letters written per second at most; beyond, packets are only counted."""
    restore_templates: bool = Field(True, alias="RESTORE_TEMPLATES")
    """Load templates/sampling state from the flow-templates topic at start."""
    restore_timeout_s: float = Field(30.0, alias="RESTORE_TIMEOUT_S", gt=0, le=600)
    """Longest wait for reading flow-templates at start (seconds)."""
    create_topics: bool = Field(True, alias="CREATE_TOPICS")
    """Create flows, sflow-counters, flow-templates and flows-dlq if missing."""
    stats_interval_s: float = Field(1.0, alias="STATS_INTERVAL_S", gt=0, le=60)
    """How often kernel drop counters and queue gauges are read (seconds)."""
    stop_flush_s: float = Field(15.0, alias="STOP_FLUSH_S", ge=0, le=600)
    """Longest wait for Kafka to take the queued messages at shutdown (seconds)."""
    template_timeout_s: float = Field(0.0, alias="TEMPLATE_TIMEOUT_S", ge=0, le=30 * 86400)
    """NetFlow v9/IPFIX templates an exporter has not sent again within this many seconds are
    dropped (a tombstone in flow-templates; counted in ribflow_collector_templates_expired_total):
    its data then waits for the next template. Restored templates count from the start (with
    COLLECTOR_WORKERS > 1, restored templates a worker is never sent are left to the worker that
    is). 0: kept until replaced (exporters re-send every few minutes or packets: set it well
    above that)."""

    @field_validator("listen_hosts")
    @classmethod
    def _check_hosts(cls, value: str) -> str:
        hosts = _split(value)
        if not hosts:
            raise ValueError("at least one listen address is needed")
        for h in hosts:
            ipaddress.ip_address(h)
        return value

    @field_validator("listen_ports")
    @classmethod
    def _check_ports(cls, value: str) -> str:
        ports = _split(value)
        if not ports or not all(p.isdigit() and 0 <= int(p) <= 65535 for p in ports):
            raise ValueError(f"not a list of ports 0-65535: {value!r}")
        return value

    @field_validator("fallback_router")
    @classmethod
    def _check_fallback(cls, value: str) -> str:
        return value.strip()

    @field_validator("allowed_exporters")
    @classmethod
    def _check_allowed(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _check_worker_ports(self) -> CollectorSettings:
        if self.metrics_port and self.metrics_port + self.collector_workers > 65535:
            raise ValueError("METRICS_PORT+COLLECTOR_WORKERS must stay <= 65535 (worker ports)")
        return self

    def hosts(self) -> list[str]:
        return _split(self.listen_hosts)

    def ports(self) -> list[int]:
        return [int(p) for p in _split(self.listen_ports)]
