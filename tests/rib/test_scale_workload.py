"""benchmarks/bench_scale.py's routers: the same prefixes, attribute sets from one shared pool,
bgp-updates v1 messages as the bridge writes them."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from ribflow.schemas import validate
from tests.fixtures.synth import SynthTable

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_scale import router_messages, router_names


def _routes(messages: list[bytes]) -> dict[str, str]:
    """prefix -> canonical attributes + next hop, from a router's messages."""
    out = {}
    for raw in messages:
        m = orjson.loads(raw)
        validate("bgp-updates.v1", m)
        for group in m.get("announce", []):
            sig = orjson.dumps(m["attrs"], option=orjson.OPT_SORT_KEYS).decode() + group["next_hop"]
            for nlri in group["nlri"]:
                out[nlri["prefix"]] = sig
    return out


def test_routers_share_prefixes_and_a_pool_of_attribute_sets() -> None:
    table = SynthTable(3000, routes_per_set=3000 / 40, seed=9)
    names = router_names(3)
    assert len(set(names)) == 3
    tables = [_routes(list(router_messages(table, r, i, 0.2, 1))) for i, r in enumerate(names)]
    prefixes = {r.prefix for r in table.routes}
    pool = len(table.sets4) + len(table.sets6)
    for routes in tables:
        assert set(routes) == prefixes
    assert len({sig for routes in tables for sig in routes.values()}) <= pool
    # about 20 % of a router's prefixes take another set than the table's, differently per router
    differ = [sum(t[p] != tables[0][p] for p in prefixes) for t in tables[1:]]
    assert all(0.15 * len(prefixes) < d < 0.5 * len(prefixes) for d in differ), differ
    assert list(router_messages(table, names[0], 0, 0.2, 1)) == list(
        router_messages(table, names[0], 0, 0.2, 1)
    )
