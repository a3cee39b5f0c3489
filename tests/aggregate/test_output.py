"""pmacct JSON of aggregated records and markers, validated by schemas/flows-aggregated.v1."""

from __future__ import annotations

import json

import orjson
import pytest

from ribflow.aggregate import REGISTRY, TimeBins, parse_aggregate
from ribflow.aggregate.output import PurgeWriter
from ribflow.aggregate.records import RowBuilder
from ribflow.schemas import SCHEMA_DIR, ValidationError, validate

SCHEMA = "flows-aggregated.v1"
BINS = TimeBins.from_pmacct(60, "5m", 0)
SPEC = "src_host, dst_host, proto, tcpflags, src_as, as_path, std_comm, peer_dst_ip, sampling_rate"


def writer(spec: str = SPEC, **kw: object) -> PurgeWriter:
    return PurgeWriter(
        parse_aggregate(spec),
        BINS,
        "agg",
        clock=lambda: 1_714_557_845.7,
        pid=42,
        **kw,  # type: ignore[arg-type]
    )


def purge_of(record: dict[str, object], ts_ms: int = 1_714_557_790_000) -> dict[str, object]:
    row = RowBuilder(parse_aggregate(SPEC), BINS).row(record, ts_ms)
    out: dict[str, object] = json.loads(writer().purge(row[0], BINS.window_start(row[1]), row[2:]))
    return out


RECORD = {
    "ip_src": "10.0.0.1", "ip_dst": "2001:db8::1", "ip_proto": "tcp", "tcp_flags": "27",
    "as_src": 64512, "as_path": "65010_65020", "comms": "65001:1_65001:2",
    "peer_ip_dst": "192.0.2.1", "packets": 3, "bytes": 180, "sampling_rate": 10,
}  # fmt: skip


def test_purge_record_is_pmacct_json() -> None:
    out = purge_of(RECORD)
    assert list(out) == [
        "event_type", "as_src", "comms", "as_path", "peer_ip_dst", "ip_src", "ip_dst",
        "tcp_flags", "ip_proto", "sampling_rate", "stamp_inserted", "stamp_updated",
        "flows", "packets", "bytes", "writer_id",
    ]  # fmt: skip
    assert out["event_type"] == "purge" and out["writer_id"] == "agg/42"
    assert out["stamp_inserted"] == "2024-05-01 10:00:00"  # 5 m bin of 10:03:10
    assert out["stamp_updated"] == "2024-05-01 10:04:05"
    assert (out["flows"], out["packets"], out["bytes"], out["sampling_rate"]) == (1, 30, 1800, 1)
    validate(SCHEMA, out)


def test_markers_and_epoch_stamps() -> None:
    w = writer(since_epoch=True)
    init, close = json.loads(w.purge_init()), json.loads(w.purge_close(7, 1))
    assert init == {"event_type": "purge_init", "writer_id": "agg/42"}
    assert close == {
        "event_type": "purge_close", "writer_id": "agg/42", "purged_entries": 7,
        "total_entries": 7, "duration": 1,
    }  # fmt: skip
    validate(SCHEMA, init)
    validate(SCHEMA, close)
    key = orjson.dumps(["10.0.0.1"]).decode()
    out = json.loads(PurgeWriter(parse_aggregate("src_host"), BINS, "a", since_epoch=True)
                     .purge(key, 1_714_557_780_000, [1, 2, 3]))  # fmt: skip
    assert out["stamp_inserted"] == "1714557600"
    validate(SCHEMA, out)


def test_every_registry_key_is_in_the_schema() -> None:
    schema = json.loads((SCHEMA_DIR / f"{SCHEMA}.json").read_text())
    props = schema["$defs"]["purge"]["properties"]
    kind_ref = {"int": "#/$defs/uint", "path": "#/$defs/path", "flags": "#/$defs/flags",
                "time": "#/$defs/time"}  # fmt: skip
    for p in REGISTRY:
        spec = props[p.output_key]
        if p.kind in kind_ref:
            assert spec["$ref"] == kind_ref[p.kind], p.name
        else:
            assert spec["type"] == "string", p.name


@pytest.mark.parametrize(
    "broken",
    [
        {"bytes": None},
        {"packets": -1},
        {"flows": "1"},
        {"tcp_flags": 27},
        {"as_src": "64512"},
        {"stamp_inserted": "2024-05-01T10:00:00Z"},
        {"writer_id": "agg"},
        {"event_type": "purge_ini"},
        {"ip_srcc": "10.0.0.1"},
    ],
)
def test_broken_record_rejected(broken: dict[str, object]) -> None:
    good = purge_of(RECORD)
    validate(SCHEMA, good)
    bad = {**good, **broken}
    if broken.get("bytes", 0) is None:
        del bad["bytes"]
    with pytest.raises(ValidationError):
        validate(SCHEMA, bad)


def test_flush_messages_keyed_batched_and_bracketed() -> None:
    w = writer("src_host")
    closed = [(0, {'["a"]': [1, 2, 3], '["b"]': [4, 5, 6]}), (60_000, {'["a"]': [7, 8, 9]})]
    messages = list(w.flush(closed))
    assert [n for _, _, n in messages] == [1, 1, 1]
    assert [k for k, _, _ in messages] == [b'["a"]', b'["b"]', b'["a"]']  # the aggregation key
    assert [orjson.loads(v)["bytes"] for _, v, _ in messages] == [3, 6, 9]
    batched = list(w.flush(closed, markers=True, per_message=2))
    assert [n for _, _, n in batched] == [0, 2, 1, 0]
    assert [k for k, _, _ in batched] == [None] * 4
    kinds = [[orjson.loads(line)["event_type"] for line in v.split(b"\n")] for _, v, _ in batched]
    assert kinds == [["purge_init"], ["purge", "purge"], ["purge"], ["purge_close"]]
    assert orjson.loads(batched[-1][1])["purged_entries"] == 3
