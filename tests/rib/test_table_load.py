"""RouterRib.load (the rebuild's bulk announce) ends where the same announces end."""

from __future__ import annotations

import random

from ribflow.rib import AFI_IP
from ribflow.rib.attrs import AttrPool
from ribflow.rib.table import RouterRib


def _state(rib: RouterRib) -> list[tuple[int, int, int, int, bytes]]:
    return sorted((r.afi, r.network, r.length, r.path_id, r.attrs.key) for r in rib.routes())


def test_load_matches_announce_with_add_path_and_replacements() -> None:
    rnd = random.Random(3)
    batches = []
    for b in range(30):
        paths = [
            (rnd.choice([8, 16, 24]), rnd.randrange(64) << 24, rnd.choice([0, 0, 0, 1, 2]))
            for _ in range(40)
        ]
        batches.append((f"192.0.2.{b % 4}", b % 5, paths))
    pools = AttrPool(), AttrPool()
    bulk, single = RouterRib(pools[0]), RouterRib(pools[1])
    for next_hop, asn, paths in batches:
        body = {"origin": "igp", "as_path": [{"type": "as-sequence", "asns": [asn]}]}
        a, b = pools[0].intern(body, next_hop), pools[1].intern(body, next_hop)
        bulk.load(AFI_IP, ((ln, (net >> (32 - ln)) << (32 - ln), pid) for ln, net, pid in paths), a)
        for ln, net, pid in paths:
            single.announce(AFI_IP, (net >> (32 - ln)) << (32 - ln), ln, pid, b)
    assert _state(bulk) == _state(single)
    assert len(bulk) == len(single) and bulk.next_hops == single.next_hops
    assert sorted((a.key, a.refs) for a in pools[0]._sets.values()) == sorted(
        (a.key, a.refs) for a in pools[1]._sets.values()
    )
