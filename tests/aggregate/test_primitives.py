"""pmacct primitive names -> output keys, order, and refusal of what is unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ribflow.aggregate import AggregateConfigError, parse_aggregate
from ribflow.aggregate.primitives import REGISTRY, primitive
from ribflow.aggregate.settings import SEED_AGGREGATE

DATA = Path(__file__).resolve().parents[1] / "data" / "aggregate"

# The issue's list plus the seed's, with the JSON key pmacct writes for each (pmacct's
# plugin_cmn_json.c / the documentation of print_output json), written out independently of
# the registry.
ISSUE_PRIMITIVES = {
    "src_host": "ip_src",
    "dst_host": "ip_dst",
    "src_net": "net_src",
    "dst_net": "net_dst",
    "src_mask": "mask_src",
    "dst_mask": "mask_dst",
    "src_port": "port_src",
    "dst_port": "port_dst",
    "proto": "ip_proto",
    "tos": "tos",
    "tcpflags": "tcp_flags",
    "in_iface": "iface_in",
    "out_iface": "iface_out",
    "src_as": "as_src",
    "dst_as": "as_dst",
    "peer_src_as": "peer_as_src",
    "peer_dst_as": "peer_as_dst",
    "peer_src_ip": "peer_ip_src",
    "peer_dst_ip": "peer_ip_dst",
    "as_path": "as_path",
    "src_as_path": "as_path_src",
    "local_pref": "local_pref",
    "med": "med",
    "std_comm": "comms",
    "ext_comm": "ecomms",
    "lrg_comm": "lcomms",
    "src_std_comm": "comms_src",
    "src_ext_comm": "ecomms_src",
    "src_lrg_comm": "lcomms_src",
    "src_local_pref": "local_pref_src",
    "src_med": "med_src",
    "timestamp_start": "timestamp_start",
    "timestamp_end": "timestamp_end",
    "timestamp_arrival": "timestamp_arrival",
    "sampling_rate": "sampling_rate",
    "tag": "tag",
    "export_proto_version": "export_proto_version",
}

# the aggregate lists of the lab's nfacctd.conf that made the reference files
LAB_FULL = (
    "peer_src_ip, src_host, dst_host, src_net, dst_net, src_mask, dst_mask, src_as, dst_as, "
    "peer_src_as, peer_dst_as, peer_dst_ip, as_path, src_as_path, local_pref, src_local_pref, "
    "med, src_med, std_comm, src_std_comm, lrg_comm, src_lrg_comm, src_port, dst_port, proto, "
    "tcpflags, export_proto_version"
)


@pytest.mark.parametrize(("name", "output_key"), sorted(ISSUE_PRIMITIVES.items()))
def test_issue_primitive_maps_to_pmacct_key(name: str, output_key: str) -> None:
    p = primitive(name)
    assert p.output_key == output_key
    # flows-enriched carries pmacct's keys: the record is read under the same name
    assert p.source_keys[0] == output_key
    assert parse_aggregate(name) == (p,)


def test_key_order_is_nfacctds_on_its_own_output() -> None:
    """nfacctd wrote pmacct-enriched-full.json with LAB_FULL: same keys, same order."""
    line = json.loads((DATA / "pmacct-enriched-full.json").read_text().splitlines()[0])
    pmacct_keys = [k for k in line if k not in ("event_type", "packets", "bytes")]
    ours = [p.output_key for p in parse_aggregate(LAB_FULL)]
    assert ours == pmacct_keys


def test_seed_line_parses_whatever_the_spacing() -> None:
    prims = parse_aggregate(SEED_AGGREGATE)
    assert len(prims) == 20
    names = {p.name for p in prims}
    assert {"in_iface", "tag", "peer_dst_ip", "as_path", "timestamp_end"} <= names
    # same result with spaces only, upper case, duplicates, in another order
    shuffled = " ".join(reversed([n.strip().upper() for n in SEED_AGGREGATE.split(",")]))
    assert parse_aggregate(shuffled + " SRC_HOST") == prims


def test_pseudo_primitives() -> None:
    assert parse_aggregate("none") == ()
    assert parse_aggregate("src_host, flows") == parse_aggregate("src_host")


def test_unknown_primitive_rejected_with_a_clear_message() -> None:
    with pytest.raises(AggregateConfigError) as err:
        parse_aggregate("src_host, dst_hots, peer_dst_ip")
    msg = str(err.value)
    assert "'dst_hots'" in msg and "did you mean dst_host" in msg
    with pytest.raises(AggregateConfigError, match="unknown aggregation primitive 'bogus'"):
        parse_aggregate("bogus")
    with pytest.raises(AggregateConfigError, match="count every flow twice"):
        parse_aggregate("sum_host")
    with pytest.raises(AggregateConfigError, match="empty"):
        parse_aggregate(" , ")


def test_registry_is_consistent() -> None:
    names = [p.name for p in REGISTRY]
    keys = [p.output_key for p in REGISTRY]
    assert len(set(names)) == len(names) and len(set(keys)) == len(keys)
