"""MRT: the RIS TABLE_DUMP reader against bgpdump's own decode, and gobgpd loading what we write."""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import random
import struct
from pathlib import Path

import pytest

from ribflow.lab.table import generated_entries, ris_table
from ribflow.mrt.attributes import (
    AGGREGATOR,
    AS4_AGGREGATOR,
    AS4_PATH,
    AS_PATH,
    AS_SEQUENCE,
    AS_SET,
    FLAG_EXTENDED,
    FLAG_OPTIONAL,
    FLAG_TRANSITIVE,
    ORIGIN,
    attribute,
    decode_as_path,
    decode_path,
    encode_as_path,
    iter_attributes,
    widen_attributes,
)
from ribflow.mrt.tables import (
    RibEntry,
    one_per_prefix,
    read_entries,
    write_table_dump_v2,
)
from tests.lab.fixtures import MRT_GRPC, MRT_ROUTER, RIS_DUMP, bgpdump_lines, running_gobgpd

ORIGINS = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}


def bgpdump_fields(entry: RibEntry) -> list[str]:
    """Our decode of one entry, in `bgpdump -m` columns 3..11."""
    p = decode_path(entry.attrs)
    comms = " ".join(f"{a}:{b}" for a, b in p.communities)
    return [
        entry.peer_ip,
        str(entry.peer_as),
        str(entry.prefix),
        p.as_path_text(),
        ORIGINS[p.origin or 0],
        p.next_hop or "",
        str(p.local_pref or 0),
        str(p.med or 0),
        comms,
    ]


def test_ris_dump_reader_agrees_with_bgpdump_on_every_entry() -> None:
    expected = bgpdump_lines()
    with gzip.open(RIS_DUMP, "rb") as fh:
        entries = list(read_entries(fh))  # type: ignore[arg-type]
    assert len(entries) == len(expected) == 115_521
    mismatches = [
        (got, want[3:12])
        for got, want in zip((bgpdump_fields(e) for e in entries), expected, strict=True)
        if got != want[3:12]
    ]
    assert not mismatches[:5], f"{len(mismatches)} entries differ from bgpdump"
    # atomic aggregate and aggregator columns too (AS_SET paths carry them)
    for entry, want in zip(entries, expected, strict=True):
        p = decode_path(entry.attrs)
        assert ("AG" if p.atomic_aggregate else "NAG") == want[12]
        aggr = f"{p.aggregator[0]} {p.aggregator[1]}" if p.aggregator else ""
        assert aggr == want[13]


def test_one_route_per_prefix_prefers_the_full_table_peer() -> None:
    with gzip.open(RIS_DUMP, "rb") as fh:
        entries = one_per_prefix(read_entries(fh))  # type: ignore[arg-type]
    prefixes = {e.prefix for e in entries}
    assert len(prefixes) == len(entries) == len({ln[5] for ln in bgpdump_lines()}) == 112_988
    peers = [e.peer_ip for e in entries]
    assert peers.count("193.203.0.1") == 112_986  # AS1853's table; 2 prefixes only elsewhere


def test_widening_merges_as4_path_and_aggregator() -> None:
    two = encode_as_path([(AS_SEQUENCE, [1853, 23456, 23456])], width=2)
    four = encode_as_path([(AS_SEQUENCE, [4200000001, 70000])], width=4)
    attrs = attribute(FLAG_TRANSITIVE, ORIGIN, b"\x00")
    attrs += attribute(FLAG_TRANSITIVE, AS_PATH, two)
    attrs += attribute(
        FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, struct.pack("!H4s", 23456, bytes(4))
    )
    attrs += attribute(FLAG_OPTIONAL | FLAG_TRANSITIVE, AS4_PATH, four)
    attrs += attribute(
        FLAG_OPTIONAL | FLAG_TRANSITIVE,
        AS4_AGGREGATOR,
        struct.pack("!I4s", 70000, bytes([192, 0, 2, 1])),
    )
    wide = widen_attributes(attrs)
    codes = [c for _, c, _ in iter_attributes(wide)]
    assert AS4_PATH not in codes and AS4_AGGREGATOR not in codes
    p = decode_path(wide)
    assert p.as_path == [(AS_SEQUENCE, [1853, 4200000001, 70000])]
    assert p.aggregator == (70000, "192.0.2.1")


def test_long_paths_use_extended_length_and_split_segments() -> None:
    path = list(range(64512, 64512 + 300))  # 300 ASNs: two segments, 1.2 kB
    value = encode_as_path([(AS_SEQUENCE, path), (AS_SET, [1, 2])])
    attr = attribute(FLAG_TRANSITIVE, AS_PATH, value)
    assert attr[0] & FLAG_EXTENDED
    ((_, code, back),) = list(iter_attributes(attr))
    assert code == AS_PATH
    segs = decode_as_path(back)
    assert [a for k, s in segs if k == AS_SEQUENCE for a in s] == path
    assert segs[-1] == (AS_SET, [1, 2])


def test_table_dump_v2_round_trip(tmp_path: Path) -> None:
    entries = generated_entries(500, 100, seed=7, router_as=65001)
    out = tmp_path / "t.mrt"
    assert write_table_dump_v2(out, entries, tail_repeat=50) == 600
    with open(out, "rb") as fh:
        back = list(read_entries(fh))
    assert len(back) == 650  # the last 50 records repeated for gobgp's lost tail
    assert [(e.prefix, e.attrs) for e in back[:600]] == [(e.prefix, e.attrs) for e in entries]
    assert back[600:] == back[550:600]


def test_generated_table_is_disjoint_and_public() -> None:
    entries = generated_entries(5000, 0, seed=1, router_as=65001)
    nets = sorted(e.prefix for e in entries if e.prefix.version == 4)
    for a, b in itertools.pairwise(nets):
        assert not a.overlaps(b)
    assert all(n.is_global for n in nets)


@pytest.mark.integration
def test_gobgpd_loads_the_converted_ris_table(tmp_path: Path) -> None:
    """gobgp reads our TABLE_DUMP_V2 back: every prefix, with bgpdump's AS path and next hop."""
    table = ris_table(RIS_DUMP, tmp_path / "ris.mrt", "10.0.0.3")
    expect = {ln[5]: ln for ln in bgpdump_lines() if ln[3] == "193.203.0.1"}
    with running_gobgpd(tmp_path, MRT_ROUTER, MRT_GRPC) as gobgp:
        gobgp.inject_mrt(table.path)
        assert gobgp.rib_count("ipv4") == table.count_v4 == 112_988
        sample = random.Random(3).sample(sorted(expect), 80)
        sample += [p for p in expect if "{" in expect[p][6]][:10]  # AS_SET paths too
        for prefix in sample:
            net = ipaddress.ip_network(prefix)
            host = str(net.network_address + (1 if net.num_addresses > 1 else 0))
            got = gobgp.lookup(host)
            assert got is not None, prefix
            if got["prefix"] != prefix:  # a more specific prefix exists: check that one
                continue
            want = expect[prefix]
            text = []
            for kind, asns in got["segments"]:
                if kind == AS_SET:
                    text.append("{" + ",".join(map(str, asns)) + "}")
                else:
                    text.extend(map(str, asns))
            assert " ".join(text) == want[6], prefix
            assert got["next_hop"] == want[8], prefix


@pytest.mark.integration
def test_gobgpd_loads_a_generated_table_with_ipv6(tmp_path: Path) -> None:
    from ribflow.lab.table import generated_table

    table = generated_table(tmp_path / "g.mrt", 2000, 500, seed=5, router_as=65001, rid="10.0.0.3")
    entries = {e.prefix: e for e in generated_entries(2000, 500, seed=5, router_as=65001)}
    with running_gobgpd(tmp_path, MRT_ROUTER, MRT_GRPC) as gobgp:
        gobgp.inject_mrt(table.path)
        assert gobgp.rib_count("ipv4") == 2000
        assert gobgp.rib_count("ipv6") == 500
        for net in random.Random(9).sample(sorted(entries, key=str), 60):
            got = gobgp.lookup(str(net.network_address + 1))
            assert got is not None and got["prefix"] == str(net)
            p = decode_path(entries[net].attrs)
            assert got["as_path"] == p.as_path[0][1]
            assert got["next_hop"] == p.next_hop
            assert got["local_pref"] == p.local_pref
            assert got["communities"] == [f"{a}:{b}" for a, b in p.communities]
