"""Routers sharing prefixes: the compiled tables share one prefix index per family for the
whole process, each table keeping only its own results. Every table must still answer as if
it were alone: the compiled tables are checked against one pure-Python table each (the
reference) under announcements and withdrawals of the same prefixes by several tables,
clears (session down), and tables dropped and rebuilt (partition revoke and assign); the
RouterRib-level behaviours run on both implementations.
"""

from __future__ import annotations

import gc
import random

import pytest

from ribflow.rib import lpm
from ribflow.rib.attrs import AttrPool
from ribflow.rib.lpm import LpmTable, new_table
from ribflow.rib.prefix import AFI_IP, AFI_IP6, parse_prefix
from ribflow.rib.table import RouterRib
from tests.rib.builders import attrs
from tests.rib.lpm_impl import require_compiled


def _pool_of_prefixes(rnd: random.Random, bits: int, n: int) -> list[tuple[int, int]]:
    """Nested and disjoint prefixes, default and host routes included."""
    lengths = [0, 8, 12, 16, 20, 23, 24, 25, 32] if bits == 32 else [0, 20, 32, 40, 48, 64, 128]
    out: set[tuple[int, int]] = set()
    while len(out) < n:
        length = rnd.choice(lengths)
        if out and rnd.random() < 0.5:  # under an existing prefix
            parent, plen = rnd.choice(sorted(out))
            value = parent | rnd.getrandbits(bits - plen) if plen < bits else parent
        else:
            value = rnd.getrandbits(bits)
        shift = bits - length
        out.add(((value >> shift) << shift, length))
    return sorted(out)


def _probes(rnd: random.Random, bits: int, prefixes: list[tuple[int, int]], n: int) -> list[int]:
    out = []
    for _ in range(n):
        network, length = rnd.choice(prefixes)
        out.append(network | (rnd.getrandbits(bits - length) if length < bits else 0))
    return [*out, 0, (1 << bits) - 1]


def _same(compiled: LpmTable[object], pure: LpmTable[object], probes: list[int]) -> None:
    assert len(compiled) == len(pure)
    assert compiled.lookup_many(probes) == pure.lookup_many(probes)
    assert [compiled.lookup(a) for a in probes[:20]] == pure.lookup_many(probes[:20])
    packed = b"".join(a.to_bytes(compiled.bits // 8, "big") for a in probes)
    assert compiled.lookup_packed(packed) == pure.lookup_many(probes)
    assert compiled.lengths() == pure.lengths()


@pytest.mark.parametrize("bits", [32, 128])
def test_tables_sharing_prefixes_answer_as_if_alone(bits: int) -> None:
    require_compiled()
    compiled_mod = lpm.COMPILED
    assert compiled_mod is not None
    gc.collect()
    base = compiled_mod.index_count()
    rnd = random.Random(bits * 7)
    prefixes = _pool_of_prefixes(rnd, bits, 400)
    probes = _probes(rnd, bits, prefixes, 300)
    values = [f"set{i}" for i in range(12)]
    n = 6
    compiled: list[LpmTable[object]] = [new_table(bits, pure=False) for _ in range(n)]
    pure: list[LpmTable[object]] = [new_table(bits, pure=True) for _ in range(n)]
    # every table takes most of the shared prefixes (the dense case), one only a few (sparse)
    for i in range(n):
        share = 0.05 if i == n - 1 else 0.9
        for network, length in prefixes:
            if rnd.random() < share:
                value = rnd.choice(values)
                assert compiled[i].insert(network, length, value) is pure[i].insert(
                    network, length, value
                )
    for i in range(n):
        _same(compiled[i], pure[i], probes)
    for step in range(3000):
        i = rnd.randrange(n)
        network, length = rnd.choice(prefixes)
        op = rnd.random()
        if op < 0.45:  # announce (new or replacing), often a prefix other tables hold
            value = rnd.choice(values)
            assert compiled[i].insert(network, length, value) is pure[i].insert(
                network, length, value
            )
        elif op < 0.9:  # withdraw, held or not
            assert compiled[i].remove(network, length) is pure[i].remove(network, length)
        elif op < 0.95:
            assert compiled[i].get(network, length) is pure[i].get(network, length)
        elif op < 0.98:  # session down: the table is emptied, the others keep theirs
            compiled[i].clear()
            pure[i].clear()
        else:  # partition revoked, then assigned again: the table dropped and rebuilt
            entries = pure[i].sorted_items()
            del compiled[i]
            gc.collect()
            compiled.insert(i, new_table(bits, pure=False))
            for network, length, value in entries:
                compiled[i].insert(network, length, value)
        if step % 100 == 0:
            for j in range(n):
                _same(compiled[j], pure[j], probes)
    held: set[tuple[int, int]] = set()
    for c, p in zip(compiled, pure, strict=True):
        _same(c, p, probes)
        assert c.sorted_items() == p.sorted_items()
        assert sorted(c.items(), key=lambda e: (e[0], e[1])) == p.sorted_items()
        held.update((network, length) for network, length, _ in p.sorted_items())
    # the index holds each prefix once, whatever the number of tables holding it
    assert compiled_mod.index_count() - base == len(held)
    for c in compiled[:-1]:
        c.clear()
    del compiled[:-1]
    gc.collect()
    assert compiled_mod.index_count() - base == len(compiled[0])
    compiled[0].clear()
    assert compiled_mod.index_count() == base


def _rib(pool: AttrPool) -> RouterRib:
    return RouterRib(pool)


def _announce(rib: RouterRib, pool: AttrPool, prefix: str, asn: int, nh: str = "192.0.2.1",
              path_id: int = 0) -> None:  # fmt: skip
    (afi, network, length), _ = parse_prefix(prefix)
    rib.announce(afi, network, length, path_id, pool.intern(attrs(asn), nh))


def _withdraw(rib: RouterRib, prefix: str, path_id: int = 0) -> None:
    (afi, network, length), _ = parse_prefix(prefix)
    rib.withdraw(afi, network, length, path_id)


def _origin(rib: RouterRib, address: int, afi: int = AFI_IP, nh: str | None = None) -> str:
    found = rib.lookup(afi, address, nh)
    if found is None:
        return "-"
    length, route = found
    return f"/{length} {route.as_path_str}"


A1 = (10 << 24) | (1 << 16) | (2 << 8) | 3  # 10.1.2.3


def test_routers_announcing_and_withdrawing_the_same_prefixes(lpm_impl: str) -> None:
    pool = AttrPool()
    a, b = _rib(pool), _rib(pool)
    for rib, asn in ((a, 100), (b, 200)):
        _announce(rib, pool, "10.0.0.0/8", asn)
        _announce(rib, pool, "10.1.0.0/16", asn + 1)
        _announce(rib, pool, "10.1.2.0/24", asn + 2)
        _announce(rib, pool, "2001:db8::/32", asn + 3, nh="2001:db8::1")
    assert (_origin(a, A1), _origin(b, A1)) == ("/24 102", "/24 202")
    _withdraw(a, "10.1.2.0/24")  # only a's: b still has it
    assert (_origin(a, A1), _origin(b, A1)) == ("/16 101", "/24 202")
    _withdraw(b, "10.1.0.0/16")
    _withdraw(b, "10.1.2.0/24")
    assert (_origin(a, A1), _origin(b, A1)) == ("/16 101", "/8 200")
    _announce(b, pool, "10.1.2.0/24", 205)  # back for b alone
    assert (_origin(a, A1), _origin(b, A1)) == ("/16 101", "/24 205")
    assert a.get(AFI_IP, 10 << 24 | 1 << 16 | 2 << 8, 24, 0) is None
    assert len(a) == 3 and len(b) == 3
    v6 = 0x20010DB8 << 96 | 5
    assert (_origin(a, v6, AFI_IP6), _origin(b, v6, AFI_IP6)) == ("/32 103", "/32 203")


def test_session_down_of_one_router_leaves_the_others_intact(lpm_impl: str) -> None:
    pool = AttrPool()
    ribs = [_rib(pool) for _ in range(3)]
    for i, rib in enumerate(ribs):
        _announce(rib, pool, "10.0.0.0/8", 100 + i)
        _announce(rib, pool, "10.1.2.0/24", 200 + i)
        _announce(rib, pool, "2001:db8::/32", 300 + i, nh="2001:db8::1")
    removed = ribs[1].clear()
    assert len(removed) == 3 and len(ribs[1]) == 0
    assert [_origin(r, A1) for r in ribs] == ["/24 200", "-", "/24 202"]
    assert list(ribs[1].routes()) == []
    assert [len(list(r.routes())) for r in ribs] == [3, 0, 3]
    _announce(ribs[1], pool, "10.0.0.0/8", 111)  # the session comes back
    assert [_origin(r, A1) for r in ribs] == ["/24 200", "/8 111", "/24 202"]
    for rib in ribs:
        rib.clear()
    pool.sweep()
    assert len(pool) == 0


def test_add_path_per_router_on_a_shared_prefix(lpm_impl: str) -> None:
    pool = AttrPool()
    a, b = _rib(pool), _rib(pool)
    _announce(a, pool, "192.0.2.0/24", 1, nh="10.9.0.1", path_id=1)
    _announce(a, pool, "192.0.2.0/24", 2, nh="10.9.0.2", path_id=2)
    _announce(b, pool, "192.0.2.0/24", 3, nh="10.9.0.3", path_id=1)
    _announce(b, pool, "192.0.0.0/16", 4, nh="10.9.0.2", path_id=1)
    address = (192 << 24) | (2 << 8) | 77
    assert _origin(a, address, nh="10.9.0.2") == "/24 2"
    assert _origin(a, address, nh="10.9.0.1") == "/24 1"
    # b's /24 has no path via 10.9.0.2, its covering /16 has: pmacct's walk, in b's table only
    assert _origin(b, address, nh="10.9.0.2") == "/16 4"
    assert _origin(b, address, nh="10.9.0.1") == "/24 3"
    _withdraw(a, "192.0.2.0/24", 1)
    assert _origin(a, address, nh="10.9.0.1") == "/24 2"
    assert _origin(b, address) == "/24 3"
