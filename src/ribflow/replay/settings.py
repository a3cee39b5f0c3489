"""Settings of ``ribflow replay`` (env names are the aliases).

Flow records are formatted exactly as the live enricher formats them: the replay's one settings
object has the enricher's formatting groups, read from the same environment
(:class:`~ribflow.settings_groups.EnrichedFormatSettings`: ``AS_PATH_AS_ARRAY``,
``COMMS_AS_ARRAY``, ``TIMESTAMPS_USEC``, ``OUTPUT_FIELDS``, ``ENRICHED_BATCH``, ...;
:class:`~ribflow.settings_groups.OutputSettings`: ``WRITER_NAME``, ``TIMESTAMPS_SINCE_EPOCH``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ribflow.settings import AppSettings
from ribflow.settings_groups import EnrichedFormatSettings, OutputSettings

ProgressMode = Literal["auto", "always", "never"]


class ReplaySettings(EnrichedFormatSettings, OutputSettings, AppSettings):
    """Settings of ``ribflow replay`` and ``ribflow replay checkpoint``."""

    group_suffix: str = Field("-replay", alias="REPLAY_GROUP_SUFFIX", pattern=r"^[A-Za-z0-9._-]*$")
    """Appended to Quix__Consumer__Group, then the window, to name a replay's own consumer group
    (never the live enricher's)."""
    topic_prefix: str = Field(
        "flows-enriched.replay",
        alias="REPLAY_TOPIC_PREFIX",
        min_length=1,
        max_length=150,
        pattern=r"^[A-Za-z0-9._-]+$",
    )
    """Default output topic of a replay: '<prefix>.<window>', recreated by each run of that
    window."""
    lateness_ms: int = Field(2000, alias="REPLAY_LATENESS_MS", ge=0, le=3_600_000)
    """How far out of timestamp order a router's flows (and the BGP events that precede them) may
    land and still be enriched exactly; flows are held this long."""
    max_pending_events: int = Field(
        500_000, alias="REPLAY_MAX_PENDING_EVENTS", ge=1000, le=100_000_000
    )
    """BGP events held per router until that router's flows reach their time; beyond it the oldest
    are applied early (counted as unverified)."""
    idle_timeout: float = Field(30.0, alias="REPLAY_IDLE_TIMEOUT", gt=0, le=3600)
    """Seconds without any input message after which a replay stops waiting for the end of its
    window (reported as incomplete)."""
    progress: ProgressMode = Field("auto", alias="REPLAY_PROGRESS")
    """Progress bar on stderr: auto (when stderr is a terminal, else a line every 10 s), always
    (redrawn in place), never."""
    partition_buffer: int = Field(10000, alias="REPLAY_PARTITION_BUFFER", ge=100, le=1_000_000)
    """Messages buffered per partition for Quix's timestamp alignment."""
    writer_id: str = Field("", alias="REPLAY_WRITER_ID", max_length=128)
    """writer_id of replayed records; empty: '<WRITER_NAME>/replay' (no pid, so two replays of a
    window write identical records)."""
    checkpoint_topic: str = Field(
        "bgp-rib-checkpoints", alias="CHECKPOINT_TOPIC", min_length=1, pattern=r"^[A-Za-z0-9._-]+$"
    )
    """Topic of periodic RIB checkpoints (co-partitioned with bgp-updates)."""
    checkpoint_interval: int = Field(3600, alias="CHECKPOINT_INTERVAL", ge=60, le=7 * 86400)
    """Seconds between checkpoints written by `ribflow replay checkpoint --every` (cuts aligned to
    multiples of it)."""
    checkpoint_retention_hours: int = Field(
        8 * 24, alias="CHECKPOINT_RETENTION_HOURS", ge=1, le=24 * 3650
    )
    """retention.ms of the checkpoint topic when ribflow creates it; keep it >= the bgp-updates
    retention."""
    checkpoint_chunk: int = Field(2000, alias="CHECKPOINT_CHUNK_ROUTES", ge=10, le=20000)
    """Routes per checkpoint message (keeps messages well under 1 MB)."""

    def group_id(self, label: str) -> str:
        """Consumer group of the replay of one window."""
        return f"{self.consumer_group}{self.group_suffix}-{label}"

    def output_topic(self, label: str) -> str:
        return f"{self.topic_prefix}.{label}"
