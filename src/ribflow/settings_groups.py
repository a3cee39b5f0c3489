"""Groups of settings that more than one app has, each declared once.

An app's settings class composes the groups it needs next to :class:`ribflow.settings.AppSettings`
(the Kafka client group, :class:`ribflow.kafka.settings.KafkaClientSettings`, is its base)::

    class CollectorSettings(RouterKeySettings, AppSettings): ...

A group is listed before ``AppSettings`` so that the app's configuration (env names as aliases,
``.env``, hidden inputs) is the one in force. The README shows each group once
(:mod:`ribflow.settings_doc`). Where two apps need the same kind of setting under their own env
names (the bridge's and the collector's producers), the meaning, type and bounds are declared once
as an annotated type below and each app gives it its env name and default.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from ribflow.bgp.keys import RouterKeyMode
from ribflow.kafka.settings import KafkaClientSettings

__all__ = [
    "AutoOffsetReset",
    "Compression",
    "EnrichedFormatSettings",
    "Guarantee",
    "LingerMs",
    "OffsetReset",
    "OutputSettings",
    "ProcessingGuarantee",
    "QueueMb",
    "QueueMessages",
    "RouterKeyMode",
    "RouterKeySettings",
    "SettingsGroup",
    "StreamingSettings",
    "WriterName",
    "parse_hot_routers",
]

Guarantee = Literal["at-least-once", "exactly-once"]
OffsetReset = Literal["earliest", "latest"]

_ITEMS = re.compile(r"[\s,]+")

#: longest commit interval with exactly-once: brokers abort transactions older than 15 minutes
MAX_TRANSACTION_INTERVAL = 450


def parse_hot_routers(text: str) -> dict[str, int]:
    """``'10.0.0.3=4, 127.0.0.3=2'`` -> ``{'10.0.0.3': 4, '127.0.0.3': 2}``."""
    out: dict[str, int] = {}
    for item in _ITEMS.split(text.strip()):
        if not item:
            continue
        router, sep, count = item.partition("=")
        if not sep or not count.isdigit() or not 1 <= int(count) <= 256 or not router:
            raise ValueError(f"BGP_HOT_ROUTERS item {item!r} is not ROUTER=N (1..256)")
        out[router] = int(count)
    return out


class SettingsGroup(BaseSettings):
    """Base of the groups: the env conventions of every ribflow app."""

    model_config = KafkaClientSettings.model_config


class RouterKeySettings(SettingsGroup):
    """Router keys and shards: the bridge writes them, the collector must write the same."""

    bgp_router_key: RouterKeyMode = Field("peer", alias="BGP_ROUTER_KEY")
    """Router key: 'peer' (session address) or 'router-id' (from the router's OPEN); the bridge and
    the collector must agree."""
    bgp_shards: int = Field(1, alias="BGP_SHARDS", ge=1, le=256)
    """Key shards of every router: >1 keys a router's events '<router>/<shard>' (the bridge writes
    each event to all shards) and spreads its flows over those keys round-robin (the collector)."""
    bgp_hot_routers: str = Field("", alias="BGP_HOT_ROUTERS")
    """Per-router shard counts overriding BGP_SHARDS: 'ROUTER=N[,ROUTER=N...]'."""

    @field_validator("bgp_hot_routers")
    @classmethod
    def _check_hot(cls, value: str) -> str:
        parse_hot_routers(value)
        return value

    def hot_routers(self) -> dict[str, int]:
        return parse_hot_routers(self.bgp_hot_routers)


ProcessingGuarantee = Annotated[
    Guarantee,
    Field(
        alias="PROCESSING_GUARANTEE",
        description="exactly-once: Kafka transactions (read_committed), a restart neither loses "
        "nor repeats output; at-least-once: cheaper, but after a crash the input of the last "
        "commit interval can be processed twice.",
    ),
]
AutoOffsetReset = Annotated[
    OffsetReset,
    Field(
        alias="AUTO_OFFSET_RESET",
        description="Where a new consumer group starts reading its input: earliest (the "
        "enricher, so the RIB sees every update) or latest.",
    ),
]


class StreamingSettings(SettingsGroup):
    """Processing guarantee, commits and start offset of a Quix Streams app (enricher,
    aggregator); an app with other defaults restates the field with its own default."""

    processing_guarantee: ProcessingGuarantee = "at-least-once"
    commit_interval: float = Field(5.0, alias="COMMIT_INTERVAL", gt=0, le=3600)
    """Seconds between checkpoints (offsets, state changelog and, with exactly-once, the Kafka
    transaction: then at most 450 s)."""
    auto_offset_reset: AutoOffsetReset = "earliest"

    @model_validator(mode="after")
    def _transaction_fits(self) -> StreamingSettings:
        if (
            self.processing_guarantee == "exactly-once"
            and self.commit_interval > MAX_TRANSACTION_INTERVAL
        ):
            raise ValueError(
                f"COMMIT_INTERVAL must be <= {MAX_TRANSACTION_INTERVAL} s with exactly-once: a "
                "checkpoint is one Kafka transaction and brokers abort transactions older than "
                "15 minutes by default"
            )
        return self


WriterName = Annotated[
    str,
    Field(
        alias="WRITER_NAME",
        min_length=1,
        max_length=100,
        description="Name part of writer_id ('name/pid') in every record the app writes.",
    ),
]


class OutputSettings(SettingsGroup):
    """How records are written, in pmacct's terms (enricher, aggregator; the replay formats as
    the enricher does)."""

    writer_name: WriterName = "ribflow-enricher"
    timestamps_since_epoch: bool = Field(False, alias="TIMESTAMPS_SINCE_EPOCH")
    """Write timestamps (in aggregates stamp_inserted/stamp_updated) as epoch seconds instead of
    'YYYY-MM-DD HH:MM:SS' (UTC), like pmacct's timestamps_since_epoch."""


class EnrichedFormatSettings(SettingsGroup):
    """How enriched flows are encoded, in pmacct's terms (enricher; the replay writes its
    records exactly as the live enricher does, from the same environment)."""

    enriched_batch: bool = Field(False, alias="ENRICHED_BATCH")
    """Write one NDJSON message per input batch instead of one JSON per flow."""
    as_path_as_array: bool = Field(False, alias="AS_PATH_AS_ARRAY")
    """Encode as_path / as_path_src as JSON arrays instead of '_'-joined strings."""
    comms_as_array: bool = Field(False, alias="COMMS_AS_ARRAY")
    """Encode comms, ecomms, lcomms (and *_src) as JSON arrays."""
    fwd_status_encode_as_string: bool = Field(False, alias="FWD_STATUS_ENCODE_AS_STRING")
    """Write fwd_status as pmacct's RFC 7270 text ('DROPPED ACL deny') instead of the decimal string
    (pmacct's fwd_status_encode_as_string)."""
    mpls_label_stack_encode_as_array: bool = Field(False, alias="MPLS_LABEL_STACK_ENCODE_AS_ARRAY")
    """Write mpls_label_stack as pmacct's array ['0-16000','1-17000'] instead of '16000_17000'
    (pmacct's mpls_label_stack_encode_as_array)."""
    pre_tag_label_encode_as_map: bool = Field(False, alias="PRE_TAG_LABEL_ENCODE_AS_MAP")
    """Write the collector's pre_tag_map label 'k1%v1,k2%v2' as the JSON map {'k1': 'v1', 'k2':
    'v2'} (pmacct's pre_tag_label_encode_as_map)."""
    timestamps_usec: bool = Field(False, alias="TIMESTAMPS_USEC")
    """Append microseconds to timestamps (pmacct's timestamps_secs: false)."""
    output_fields: str = Field("", alias="OUTPUT_FIELDS", pattern=r"^[a-z_,]*$")
    """Comma-separated keys to keep in enriched flows (empty: every key)."""

    def field_list(self) -> list[str] | None:
        names = [f for f in self.output_fields.split(",") if f]
        return names or None


# --- a producer's tuning (each app has its own env names for these) ---
LingerMs = Annotated[int, Field(ge=0, le=10_000, description="Producer batching delay (ms).")]
Compression = Annotated[
    Literal["none", "gzip", "snappy", "lz4", "zstd"],
    Field(description="Producer compression codec."),
]
QueueMessages = Annotated[int, Field(ge=100, le=10_000_000)]
QueueMb = Annotated[int, Field(ge=1, le=2_000_000)]
