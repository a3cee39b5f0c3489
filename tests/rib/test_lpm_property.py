"""Longest-prefix match vs a brute-force oracle: random RIBs, 100k lookups, zero mismatches.

The oracle knows nothing of the index: it keeps a plain dict of prefixes and, for every address,
tries all lengths from /32 (/128) down. The RIB side goes through RouterRib (announce,
withdraw, ADD-PATH entries) so the whole lookup path is under test, not only PrefixTable.
Every test runs against both table implementations (the ``lpm_impl`` fixture): the
pure-Python one and the compiled ``ribflow_lpm`` one.
"""

from __future__ import annotations

import random

import pytest

from ribflow.rib import AFI_IP, AFI_IP6, AttrPool, RouterRib
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.lpm import PrefixTable

pytestmark = pytest.mark.usefixtures("lpm_impl")


def test_the_rib_uses_the_chosen_implementation(lpm_impl: str) -> None:
    rib = RouterRib(AttrPool())
    assert isinstance(rib.v4, PrefixTable) == (lpm_impl == "pure")
    assert isinstance(rib.v6, PrefixTable) == (lpm_impl == "pure")


V4_LENGTHS = [0, 1, 7, 8, 9, 12, 15, 16, 17, 19, 20, 22, 23, 24, 24, 24, 24, 25, 28, 30, 31, 32]
V6_LENGTHS = [0, 3, 16, 19, 29, 32, 32, 33, 36, 40, 44, 48, 48, 48, 56, 64, 96, 127, 128]


class Oracle:
    def __init__(self) -> None:
        self.routes: dict[tuple[int, int, int], RouteAttrs] = {}

    def lookup(self, afi: int, address: int) -> tuple[int, RouteAttrs] | None:
        bits = 32 if afi == AFI_IP else 128
        for length in range(bits, -1, -1):
            shift = bits - length
            found = self.routes.get((afi, (address >> shift) << shift, length))
            if found is not None:
                return length, found
        return None


def _random_prefix(rnd: random.Random, afi: int, base: list[tuple[int, int]]) -> tuple[int, int]:
    bits = 32 if afi == AFI_IP else 128
    length = rnd.choice(V4_LENGTHS if afi == AFI_IP else V6_LENGTHS)
    if base and rnd.random() < 0.4:  # a more-specific (or less-specific) of an existing one
        parent, plen = rnd.choice(base)
        value = parent | rnd.getrandbits(bits - plen) if plen < bits else parent
    elif afi == AFI_IP6:
        value = (
            (0x2001 << 112) | rnd.getrandbits(112) if rnd.random() < 0.8 else rnd.getrandbits(128)
        )
    else:
        value = rnd.getrandbits(bits)
    shift = bits - length
    return (value >> shift) << shift, length


def _attrs(pool: AttrPool, rnd: random.Random, n: int) -> list[RouteAttrs]:
    sets = []
    for i in range(n):
        sets.append(
            pool.intern(
                {"origin": "igp", "as_path": [{"type": "as-sequence", "asns": [65000 + i]}]},
                f"192.0.2.{i % 250 + 1}",
            )
        )
    return sets


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ribs_match_the_oracle(seed: int) -> None:
    rnd = random.Random(seed)
    pool = AttrPool()
    rib = RouterRib(pool)
    oracle = Oracle()
    sets = _attrs(pool, rnd, 200)
    present: dict[int, list[tuple[int, int]]] = {AFI_IP: [], AFI_IP6: []}
    # build: announces (some replacing), withdraws, a default route that comes and goes
    for step in range(12000):
        afi = AFI_IP if rnd.random() < 0.7 else AFI_IP6
        op = rnd.random()
        if op < 0.75 or not present[afi]:
            network, length = _random_prefix(rnd, afi, present[afi])
            attrs = rnd.choice(sets)
            rib.announce(afi, network, length, 0, attrs)
            if (afi, network, length) not in oracle.routes:
                present[afi].append((network, length))
            oracle.routes[(afi, network, length)] = attrs
        else:
            network, length = present[afi].pop(rnd.randrange(len(present[afi])))
            assert rib.withdraw(afi, network, length, 0) is not None
            del oracle.routes[(afi, network, length)]
        if step == 6000:
            for fam in (AFI_IP, AFI_IP6):
                rib.announce(fam, 0, 0, 0, sets[0])
                oracle.routes[(fam, 0, 0)] = sets[0]
                if (0, 0) not in present[fam]:
                    present[fam].append((0, 0))
    assert len(rib) == len(oracle.routes)
    mismatches = 0
    asked: dict[int, list[int]] = {AFI_IP: [], AFI_IP6: []}
    for i in range(100_000):
        afi = AFI_IP if i % 10 < 7 else AFI_IP6
        bits = 32 if afi == AFI_IP else 128
        if present[afi] and rnd.random() < 0.6:  # inside a known prefix, else anywhere
            network, length = rnd.choice(present[afi])
            address = network | (rnd.getrandbits(bits - length) if length < bits else 0)
        else:
            address = rnd.getrandbits(bits)
        asked[afi].append(address)
        if rib.lookup(afi, address) != oracle.lookup(afi, address):
            mismatches += 1
    assert mismatches == 0
    # the batch lookups of the prefix tables: same answers, in order
    for afi, table in ((AFI_IP, rib.v4), (AFI_IP6, rib.v6)):
        size = table.bits // 8
        expected = [oracle.lookup(afi, a) for a in asked[afi]]
        assert table.lookup_many(asked[afi]) == expected
        packed = b"".join(a.to_bytes(size, "big") for a in asked[afi])
        assert table.lookup_packed(packed) == expected


def test_default_route_and_more_specifics() -> None:
    pool = AttrPool()
    rib = RouterRib(pool)
    a, b, c = _attrs(pool, random.Random(0), 3)
    rib.announce(AFI_IP, 0, 0, 0, a)
    rib.announce(AFI_IP, 10 << 24, 8, 0, b)
    rib.announce(AFI_IP, (10 << 24) | (1 << 16) | (2 << 8), 24, 0, c)
    assert rib.lookup(AFI_IP, (10 << 24) | (1 << 16) | (2 << 8) | 3) == (24, c)
    assert rib.lookup(AFI_IP, (10 << 24) | 5) == (8, b)
    assert rib.lookup(AFI_IP, 11 << 24) == (0, a)
    rib.withdraw(AFI_IP, 10 << 24, 8, 0)
    assert rib.lookup(AFI_IP, (10 << 24) | 5) == (0, a)
    rib.withdraw(AFI_IP, 0, 0, 0)
    assert rib.lookup(AFI_IP, (10 << 24) | 5) is None
    assert rib.lookup(AFI_IP6, 1) is None


def test_lookups_interleaved_with_changes_never_see_stale_answers() -> None:
    """The per-block caches must be invalidated by every change that could affect them."""
    rnd = random.Random(7)
    pool = AttrPool()
    rib = RouterRib(pool)
    oracle = Oracle()
    sets = _attrs(pool, rnd, 20)
    present: list[tuple[int, int]] = []
    probes = [rnd.getrandbits(32) for _ in range(50)]
    for _ in range(5000):
        if rnd.random() < 0.6 or not present:
            network, length = _random_prefix(rnd, AFI_IP, present)
            attrs = rnd.choice(sets)
            rib.announce(AFI_IP, network, length, 0, attrs)
            if (AFI_IP, network, length) not in oracle.routes:
                present.append((network, length))
            oracle.routes[(AFI_IP, network, length)] = attrs
        else:
            network, length = present.pop(rnd.randrange(len(present)))
            rib.withdraw(AFI_IP, network, length, 0)
            del oracle.routes[(AFI_IP, network, length)]
        for address in rnd.sample(probes, 5):
            assert rib.lookup(AFI_IP, address) == oracle.lookup(AFI_IP, address)
