"""The aggregator reads what the enricher writes: records made by the enricher's own pmacct
encoder (valid flows-enriched.v1) become the rows pmacct's rules give."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from ribflow.aggregate import RowBuilder, TimeBins, parse_aggregate
from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.rib.prefix import AFI_IP
from ribflow.schemas import validate

BINS = TimeBins.from_pmacct(10, None, 0)
FLOW: dict[str, Any] = {
    "exporter": "192.0.2.1", "version": 9, "time_received_ms": 1_714_557_605_123,
    "start_ms": None, "end_ms": 1_714_557_604_000, "src_addr": "10.0.0.1",
    "dst_addr": "10.0.0.2", "src_port": 1234, "dst_port": 443, "proto": 6, "tcp_flags": 27,
    "packets": 3, "bytes": 180, "sampling_rate": 10, "in_if": 1,
}  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [
        FormatOptions(),
        FormatOptions(comms_as_array=True, as_path_as_array=True, timestamps_usec=True),
        FormatOptions(timestamps_since_epoch=True),
    ],
)
def test_enricher_records_aggregate(options: FormatOptions) -> None:
    text = FlowFormatter(options).record_json(FLOW, AFI_IP, None, None)
    record = orjson.loads(text)
    validate("flows-enriched.v1", record)
    spec = "peer_src_ip, src_host, dst_port, proto, tcpflags, src_as, as_path, std_comm"
    builder = RowBuilder(parse_aggregate(spec), BINS, "arrival")
    key, ts, flows, packets, bytes_ = builder.row(record, kafka_ts_ms=42)
    empty: Any = [] if options.comms_as_array else ""
    assert json.loads(key) == [0, empty, empty, "192.0.2.1", "10.0.0.1", 443, "27", "tcp"]
    assert ts == 1_714_557_605_000 + (123 if options.timestamps_usec else 0)
    assert (flows, packets, bytes_) == (1, 30, 1800)  # sampled 1:10, renormalised
    # the flow has no start time: the enricher writes pmacct's zero time, the message's is used
    assert RowBuilder(parse_aggregate("none"), BINS, "start").row(record, 42)[1] == 42
