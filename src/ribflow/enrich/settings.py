"""The enricher's settings (env names are the aliases; apps/enricher/app.yaml declares them)."""

from __future__ import annotations

import hashlib
import os
import socket

from pydantic import Field

from ribflow.settings import AppSettings
from ribflow.settings_groups import EnrichedFormatSettings, OutputSettings, StreamingSettings


class EnricherSettings(EnrichedFormatSettings, StreamingSettings, OutputSettings, AppSettings):
    """Settings of ``ribflow enricher`` (RIB per router + longest-prefix join of flows)."""

    group_suffix: str = Field("-enricher", alias="CONSUMER_GROUP_SUFFIX")
    """Appended to Quix__Consumer__Group to name the enricher's consumer group."""
    session_timeout_ms: int = Field(45000, alias="SESSION_TIMEOUT_MS", ge=6000, le=300000)
    """Kafka session.timeout.ms: how fast a dead instance's routers move."""
    rib_dump_interval: int = Field(60, alias="RIB_DUMP_INTERVAL", ge=0, le=86400)
    """Seconds between pmacct-style RIB dumps per router to bgp-rib-dump (0: off)."""
    rib_table: bool = Field(True, alias="RIB_TABLE")
    """Maintain the compacted bgp-rib table topic (key: router, prefix, path id)."""
    flow_to_rd_map: str = Field("", alias="FLOW_TO_RD_MAP")
    """pmacct-style flow_to_rd_map file (id=RD ip=EXPORTER [in=|out=|vlan=|bgp_nexthop=] lines): the
    L3VPN RD whose table enriches flows without an RD of their own; re-read within 5 s when it
    changes (a broken file keeps the last good map)."""
    transactional_id: str = Field("", alias="TRANSACTIONAL_ID", max_length=200)
    """exactly-once producer id; empty: derived from group, host and state dir, so a restarted
    instance fences its crashed predecessor at once."""
    rocksdb_write_buffer_mb: int = Field(16, alias="ROCKSDB_WRITE_BUFFER_MB", ge=1, le=1024)
    """RocksDB memtable size per partition (two of them); the store is only written and scanned,
    lookups are served from memory."""
    rocksdb_block_cache_mb: int = Field(16, alias="ROCKSDB_BLOCK_CACHE_MB", ge=1, le=65536)
    """RocksDB block cache shared by the partitions (Quix's default is 1 GiB)."""
    consumer_queued_messages: int = Field(
        2000, alias="CONSUMER_QUEUED_MIN_MESSAGES", ge=100, le=10_000_000
    )
    """librdkafka queued.min.messages: messages prefetched per input partition (librdkafka's 100000
    holds a whole table load in memory; 2000 keeps pace)."""
    max_poll_records_buffer: int = Field(10000, alias="MAX_PARTITION_BUFFER", ge=100, le=1_000_000)
    """Messages buffered per partition for timestamp alignment of the two inputs (lower saves memory
    but each pause and resume stalls: 2000 made a load 4x slower)."""
    group_instance_id: str = Field(
        "", alias="GROUP_INSTANCE_ID", max_length=200, pattern=r"^[A-Za-z0-9._-]*$"
    )
    """Kafka group.instance.id (static membership); empty: derived from group, host and state dir,
    so a restarted instance takes its partitions back at once instead of after SESSION_TIMEOUT_MS;
    'off': dynamic membership (a stopped instance's partitions move at once, a restarted one waits
    for the session timeout)."""
    startup_hold_s: float = Field(15.0, alias="STARTUP_HOLD_S", ge=0, le=600)
    """After a partition is assigned its flows wait in memory (and checkpoints wait with them) until
    the bgp-updates backlog present at the assignment is applied, at most this many seconds, so the
    first flows see the restored RIB (0: no hold)."""
    fetch_wait_max_ms: int = Field(50, alias="FETCH_WAIT_MAX_MS", ge=10, le=5000)
    """librdkafka fetch.wait.max.ms of the enricher's consumer: an idle fetch holds the broker
    connection this long, and the offset and watermark queries of a partition assignment wait
    behind it (librdkafka's 500 ms made a restart's assignment take seconds)."""

    @property
    def group_id(self) -> str:
        return f"{self.consumer_group}{self.group_suffix}"

    def _instance_name(self) -> str:
        """Stable per instance: the same host and state directory give the same name."""
        where = f"{socket.gethostname()}:{os.path.abspath(self.state_dir)}"
        digest = hashlib.sha1(where.encode()).hexdigest()[:12]
        return f"{self.group_id}-{digest}"

    def resolved_transactional_id(self) -> str:
        """Stable per instance: the same host and state directory give the same id."""
        return self.transactional_id or self._instance_name()

    def resolved_group_instance_id(self) -> str | None:
        """group.instance.id of the consumer (None: dynamic membership)."""
        if self.group_instance_id == "off":
            return None
        return self.group_instance_id or self._instance_name()
