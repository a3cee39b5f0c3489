"""Settings of the aggregation stage, in the seed's (pmacct's) vocabulary.

``AGGREGATE`` takes nfacctd's ``aggregate:`` line as it is; ``REFRESH_TIME`` and ``HISTORY``
are ``kafka_refresh_time`` and ``kafka_history``; ``RENORMALIZE`` is ``nfacctd_renormalize``;
``MARKERS`` is ``kafka_markers``; ``TIME_SOURCE=arrival`` is ``nfacctd_time_new: true``.
"""

from __future__ import annotations

import hashlib

from pydantic import Field, field_validator, model_validator

from ribflow.aggregate.errors import AggregateConfigError
from ribflow.aggregate.primitives import Primitive, parse_aggregate
from ribflow.aggregate.records import TimeSource
from ribflow.aggregate.timebins import TimeBins, parse_duration
from ribflow.settings import AppSettings
from ribflow.settings_groups import (
    AutoOffsetReset,
    OutputSettings,
    ProcessingGuarantee,
    StreamingSettings,
    WriterName,
)

__all__ = ["SEED_AGGREGATE", "AggregatorSettings"]

#: The ``aggregate:`` line of the seed tutorial's nfacctd configuration.
SEED_AGGREGATE = (
    "src_host, dst_host,in_iface, out_iface, timestamp_start, timestamp_end, src_port, "
    "dst_port, proto, tos, tcpflags, tag, src_as, dst_as, peer_src_as, peer_dst_as, "
    "peer_src_ip, peer_dst_ip, local_pref, as_path"
)


class AggregatorSettings(StreamingSettings, OutputSettings, AppSettings):
    """pmacct-style aggregation of flows-enriched into flows-aggregated."""

    aggregate: str = Field(SEED_AGGREGATE, alias="AGGREGATE", min_length=1)
    """pmacct primitives to aggregate by, comma separated, exactly as in nfacctd's `aggregate:`
    (src_host, dst_host, src_port, proto, src_as, as_path, std_comm, ...; `none` for one total per
    bin)."""
    refresh_time: int = Field(60, alias="REFRESH_TIME", ge=1, le=86400)
    """Seconds between flushes, like kafka_refresh_time: the length of the tumbling windows (on the
    flows' time)."""
    history: str = Field("", alias="HISTORY")
    """Time bin of stamp_inserted, like kafka_history (60, 30s, 5m, 1h, 1d); empty: the refresh
    time. Bin and refresh time must divide one another."""
    grace: int = Field(10, alias="GRACE", ge=0, le=86400)
    """Seconds a window waits for late flows after its end; flows later than that are counted
    (ribflow_aggregate_late_total) and sent to the DLQ."""
    idle_timeout: float = Field(30.0, alias="IDLE_TIMEOUT", gt=0, le=86400)
    """Seconds (wall clock) after which an input partition that sends no flows and has no unread
    flows at the broker (lag 0) stops holding windows open. Windows close when the slowest active
    input partition's flow time passes their end + GRACE."""
    idle_flush: str = Field("auto", alias="IDLE_FLUSH")
    """Seconds (wall clock) without any flow on a partition after which its watermark moves on with
    the wall clock from its last value, so that the windows of an exporter that went quiet are
    written (pmacct flushes on the wall clock); only while the input has no unread flows at the
    broker (lag 0): a backlog is never cut short; `auto`: REFRESH_TIME + GRACE; `off`: windows close
    only when later flows come."""
    time_source: TimeSource = Field("arrival", alias="TIME_SOURCE")
    """Flow time that picks the window: arrival (timestamp_arrival, like nfacctd_time_new: true),
    start, end, export, or kafka (message timestamp). Records without the field, or with pmacct's
    zero time in it, use the message timestamp."""
    renormalize: bool = Field(True, alias="RENORMALIZE")
    """Multiply packets and bytes by the record's sampling_rate when it is above 1
    (nfacctd_renormalize); sampling_rate is then reported as 1."""
    processing_guarantee: ProcessingGuarantee = "exactly-once"
    markers: bool = Field(False, alias="MARKERS")
    """Write purge_init / purge_close around each flush, like kafka_markers."""
    multi_values: int = Field(0, alias="MULTI_VALUES", ge=0, le=100_000)
    """Records per flows-aggregated message, newline-separated, like kafka_multi_values (the records
    of one flush of one partition, in messages of up to this many, without a Kafka key); 0 or 1: one
    record per message (keyed by the aggregation key)."""
    writer_name: WriterName = "ribflow-aggregator"
    fetch_partition_bytes: int = Field(65536, alias="FETCH_PARTITION_BYTES", ge=1024, le=64 * 2**20)
    """Kafka max.partition.fetch.bytes of the app's consumer. Small values interleave the input
    partitions finely while a backlog is read, so one partition's flows do not run far ahead of
    another's (which would make the others late)."""
    auto_offset_reset: AutoOffsetReset = "latest"

    @field_validator("aggregate")
    @classmethod
    def _known_primitives(cls, value: str) -> str:
        try:
            parse_aggregate(value)
        except AggregateConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("history")
    @classmethod
    def _history_value(cls, value: str) -> str:
        if value.strip():
            try:
                parse_duration(value)
            except AggregateConfigError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("idle_flush")
    @classmethod
    def _idle_flush_value(cls, value: str) -> str:
        text = value.strip().lower()
        if text in ("auto", "off"):
            return text
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError(f"IDLE_FLUSH must be auto, off or seconds, not {value!r}") from None
        if not 0 < seconds <= 86400:
            raise ValueError(f"IDLE_FLUSH must be in (0, 86400] seconds, not {value!r}")
        return text

    def idle_flush_s(self) -> float | None:
        """Seconds of quiet before a partition's windows close on the wall clock (None: off)."""
        if self.idle_flush == "off":
            return None
        if self.idle_flush == "auto":
            return float(self.refresh_time + self.grace)
        return float(self.idle_flush)

    @model_validator(mode="after")
    def _bins_fit(self) -> AggregatorSettings:
        self.time_bins()
        return self

    def primitives(self) -> tuple[Primitive, ...]:
        return parse_aggregate(self.aggregate)

    def time_bins(self) -> TimeBins:
        try:
            return TimeBins.from_pmacct(self.refresh_time, self.history or None, self.grace)
        except AggregateConfigError as exc:
            raise ValueError(str(exc)) from None

    def layout_id(self) -> str:
        """Short hash of the key layout and window length: names the state store and the
        state topic, so a changed aggregate list never reads the old list's state."""
        names = ",".join(p.name for p in self.primitives())
        text = f"{names}|{self.time_bins().window_ms}"
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def group(self) -> str:
        return f"{self.consumer_group}-aggregator"
