"""The ready-made Druid/Imply Kafka ingestion specs read the fields our topics really carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ribflow.settings import AppSettings

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "docs" / "druid"
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "lab"


def schema_types(name: str) -> dict[str, str]:
    """property -> JSON type ('integer' / 'string') from schemas/<name>.v1.json."""
    schema = json.loads((REPO / "schemas" / f"{name}.v1.json").read_text())
    defs = schema.get("$defs", {})
    props: dict[str, Any] = dict(schema.get("properties", {}))
    for branch in schema.get("allOf", []):
        props.update({k: v for k, v in branch.get("then", {}).get("properties", {}).items()
                      if isinstance(v, dict)})
    out = {}
    for key, prop in props.items():
        if "$ref" in prop:
            prop = defs[prop["$ref"].rsplit("/", 1)[1]]
        kind = prop.get("type")
        if kind is None and "const" in prop:
            kind = "integer" if isinstance(prop["const"], int) else "string"
        if kind is None and "enum" in prop:
            kind = "integer" if all(isinstance(e, int) for e in prop["enum"]) else "string"
        if kind is None and "oneOf" in prop:
            kind = "string"
        out[key] = kind if isinstance(kind, str) else "string"
    return out


@pytest.mark.parametrize(
    ("spec_name", "schema", "topic"),
    [
        ("flows-enriched", "flows-enriched", AppSettings.model_fields["flows_enriched_topic"]),
        ("bgp-rib-dump", "bgp-rib-dump", AppSettings.model_fields["bgp_rib_dump_topic"]),
    ],
)
def test_spec_matches_the_topic_contract(spec_name: str, schema: str, topic: Any) -> None:
    spec = json.loads((SPECS / f"{spec_name}.json").read_text())
    assert spec["type"] == "kafka"
    io = spec["spec"]["ioConfig"]
    assert io["type"] == "kafka" and io["topic"] == topic.default
    assert io["inputFormat"]["type"] == "json"
    assert io["consumerProperties"]["bootstrap.servers"]
    data = spec["spec"]["dataSchema"]
    types = schema_types(schema)
    ts = data["timestampSpec"]
    assert types[ts["column"]] == "string" and ts["format"] == "yyyy-MM-dd HH:mm:ss"
    names = set()
    for dim in data["dimensionsSpec"]["dimensions"]:
        assert dim["name"] in types, f"{dim['name']} is not a field of {schema}"
        want = "long" if types[dim["name"]] == "integer" else "string"
        assert dim["type"] == want, dim
        names.add(dim["name"])
    for metric in data["metricsSpec"]:
        if "fieldName" in metric:
            assert types[metric["fieldName"]] == "integer", metric
            names.add(metric["fieldName"])
    assert ts["column"] not in names


def test_flows_spec_reads_pmacct_records() -> None:
    # the same spec suits pmacct's own output (the seed tutorial's source): every dimension
    # that nfacctd wrote in the lab's reference run is one the spec ingests with its type
    spec = json.loads((SPECS / "flows-enriched.json").read_text())
    dimensions = spec["spec"]["dataSchema"]["dimensionsSpec"]["dimensions"]
    dims = {d["name"]: d["type"] for d in dimensions}
    ref = [json.loads(line) for line in (REFERENCE / "pmacct-enriched-full.json").open()]
    for record in ref:
        for key, value in record.items():
            if key in dims:
                assert (dims[key] == "long") == isinstance(value, int), (key, value)
    covered = {k for r in ref for k in r} & set(dims)
    assert {"as_dst", "as_path", "peer_ip_dst", "peer_as_dst", "ip_dst"} <= covered
