"""The synthetic table generator: seeded, schema-valid, shaped like a real table."""

from __future__ import annotations

import ipaddress
from collections import Counter

from ribflow.schemas import validate
from tests.fixtures.synth import SynthTable


def test_seeded_schema_valid_and_realistic() -> None:
    a, b = SynthTable(5000, seed=3), SynthTable(5000, seed=3)
    assert [r.prefix for r in a.routes] == [r.prefix for r in b.routes]
    assert len({(r.afi, r.network, r.length) for r in a.routes}) == 5000
    lengths = Counter(r.length for r in a.routes if r.afi == 1)
    assert lengths.most_common(1)[0][0] == 24
    msgs = list(a.updates("127.0.0.3"))
    for m in msgs[:50] + msgs[-3:]:
        validate("bgp-updates.v1", m)
    assert sum(len(g["nlri"]) for m in msgs for g in m.get("announce", [])) == 5000
    assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))
    nets = [ipaddress.ip_network(r.prefix) for r in a.routes if r.afi == 1]
    some = nets[:300]
    more_specific = sum(
        1
        for m in some
        for n in nets
        if n.prefixlen < m.prefixlen and m.subnet_of(n)  # type: ignore[arg-type]
    )
    assert more_specific > 0


def test_flows_fall_inside_the_table() -> None:
    t = SynthTable(2000, seed=5)
    nets = [ipaddress.ip_network(r.prefix) for r in t.routes]
    for rec in t.flow_records(50, "10.0.0.1"):
        validate("flows.v1", {"v": 1, "router": "r", "exporter": "10.0.0.1", "records": [rec]})
        for addr in (rec["src_addr"], rec["dst_addr"]):
            ip = ipaddress.ip_address(addr)
            assert any(ip in n for n in nets if n.version == ip.version)
