"""The compiled ``ribflow_lpm`` table against the pure-Python ``PrefixTable``, call by call.

Both get the same random sequence of inserts (some replacing), removes (some of absent
prefixes), exact gets, single lookups and batch lookups (``lookup_many``, ``lookup_packed``),
in both families, with default routes, host routes (/32, /128) and nested prefixes; every
return value, the size, the length list and the entry listings must agree. Under CI a missing
compiled module fails the tests.
"""

from __future__ import annotations

import gc
import random
import weakref

import pytest

from ribflow.rib import lpm
from ribflow.rib.lpm import LpmTable, PrefixTable, new_table
from tests.rib.lpm_impl import require_compiled


def test_compiled_module_is_installed() -> None:
    require_compiled()
    assert not isinstance(new_table(32, pure=False), PrefixTable)
    assert not isinstance(new_table(128, pure=False), PrefixTable)


def test_environment_forces_the_pure_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lpm.PURE_ENV, "1")
    assert isinstance(new_table(32), PrefixTable)
    monkeypatch.setenv(lpm.PURE_ENV, "0")
    assert isinstance(new_table(32), PrefixTable) == (lpm.COMPILED is None)


def _prefix(rnd: random.Random, bits: int, present: list[tuple[int, int]]) -> tuple[int, int]:
    length = rnd.choice([0, 1, 8, 15, 16, 17, 24, 31, 32] if bits == 32 else
                        [0, 16, 31, 32, 33, 48, 64, 127, 128])  # fmt: skip
    if present and rnd.random() < 0.4:
        parent, plen = rnd.choice(present)
        value = parent | rnd.getrandbits(bits - plen) if plen < bits else parent
    else:
        value = rnd.getrandbits(bits)
    shift = bits - length
    return (value >> shift) << shift, length


def _addresses(rnd: random.Random, bits: int, present: list[tuple[int, int]], n: int) -> list[int]:
    """Addresses inside present prefixes (host bits random), anywhere, and the extremes."""
    out = []
    for _ in range(n):
        if present and rnd.random() < 0.7:
            network, length = rnd.choice(present)
            out.append(network | (rnd.getrandbits(bits - length) if length < bits else 0))
        else:
            out.append(rnd.choice([0, (1 << bits) - 1, rnd.getrandbits(bits)]))
    return out


@pytest.mark.parametrize("bits", [32, 128])
def test_same_answers_as_the_pure_table(bits: int) -> None:
    require_compiled()
    rnd = random.Random(bits)
    pure: LpmTable[object] = new_table(bits, pure=True)
    compiled: LpmTable[object] = new_table(bits, pure=False)
    values = [object() for _ in range(50)]
    present: list[tuple[int, int]] = []
    for step in range(20000):
        op = rnd.random()
        if op < 0.5 or not present:
            network, length = _prefix(rnd, bits, present)
            value = rnd.choice(values)
            assert compiled.insert(network, length, value) is pure.insert(network, length, value)
            present.append((network, length))
        elif op < 0.7:
            network, length = (
                present.pop(rnd.randrange(len(present)))
                if rnd.random() < 0.8
                else _prefix(rnd, bits, [])
            )
            assert compiled.remove(network, length) is pure.remove(network, length)
        elif op < 0.8:
            network, length = rnd.choice(present)
            network |= rnd.getrandbits(bits - length) if length < bits else 0  # host bits
            assert compiled.get(network, length) is pure.get(network, length)
        elif op < 0.93:
            network, length = rnd.choice(present)
            address = network | (rnd.getrandbits(bits - length) if length < bits else 0)
            for a in (address, rnd.getrandbits(bits)):
                assert compiled.lookup(a) == pure.lookup(a)
        else:
            batch = _addresses(rnd, bits, present, rnd.randrange(0, 40))
            expected = pure.lookup_many(batch)
            assert expected == [pure.lookup(a) for a in batch]
            assert compiled.lookup_many(batch) == expected
            assert compiled.lookup_many(iter(batch)) == expected
            packed = b"".join(a.to_bytes(bits // 8, "big") for a in batch)
            assert compiled.lookup_packed(packed) == pure.lookup_packed(packed) == expected
        if step == 10000:
            compiled.clear()
            pure.clear()
            present.clear()
    assert len(compiled) == len(pure)
    assert compiled.lengths() == pure.lengths()
    assert compiled.sorted_items() == pure.sorted_items()
    assert sorted(compiled.items(), key=lambda e: (e[0], e[1])) == pure.sorted_items()
    # out of the family's range: no match, as in the pure table
    for address in (-1, 1 << bits, 1 << (bits + 40), -(1 << 70)):
        assert compiled.lookup(address) is None
        assert pure.lookup(address) is None
    outside = [-1, 1 << bits, 5, 1 << (bits + 40)]
    assert compiled.lookup_many(outside) == pure.lookup_many(outside)


@pytest.mark.parametrize("bits", [32, 128])
def test_nested_prefixes_of_every_length(bits: int) -> None:
    """A chain of prefixes of one address at every length /0../bits, removed in random order:
    lookups of addresses that leave the chain at every bit give the same answer in both."""
    require_compiled()
    rnd = random.Random(bits + 1)
    pure: LpmTable[object] = new_table(bits, pure=True)
    compiled: LpmTable[object] = new_table(bits, pure=False)
    anchor = rnd.getrandbits(bits)
    chain = [((anchor >> (bits - n)) << (bits - n) if n else 0, n) for n in range(bits + 1)]
    # an address that agrees with the anchor up to bit n and differs at bit n
    probes = [anchor ^ (1 << (bits - 1 - n)) for n in range(bits)] + [anchor]
    for network, length in chain:
        value = f"{network}/{length}"
        assert compiled.insert(network, length, value) is pure.insert(network, length, value)
    assert compiled.lookup_many(probes) == pure.lookup_many(probes)
    assert [r[0] for r in pure.lookup_many(probes) if r] == list(range(bits + 1))
    assert compiled.sorted_items() == pure.sorted_items()
    rnd.shuffle(chain)
    for network, length in chain:
        assert compiled.remove(network, length) is pure.remove(network, length)
        assert compiled.lookup_many(probes) == pure.lookup_many(probes)
        assert compiled.lengths() == pure.lengths()
    assert len(compiled) == 0
    assert compiled.lookup(anchor) is None


def test_bad_arguments_are_refused() -> None:
    require_compiled()
    table = new_table(32, pure=False)
    with pytest.raises(ValueError):
        table.insert(0, 33, "x")
    with pytest.raises(ValueError):
        table.insert(1 << 32, 8, "x")
    with pytest.raises(TypeError):
        table.lookup("10.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        new_table(64, pure=False)
    for impl in (table, new_table(32, pure=True)):
        with pytest.raises(ValueError):
            impl.lookup_packed(b"\x0a\x00\x00")  # not a multiple of 4 bytes
        assert impl.lookup_packed(b"") == []
    with pytest.raises(TypeError):
        table.lookup_many(["10.0.0.1"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        new_table(128, pure=False).lookup("::1")  # type: ignore[arg-type]
    assert len(table) == 0


class _Value:
    """A value that can be watched with a weak reference."""


def test_results_are_shared_between_tables_and_released() -> None:
    """The compiled tables share one (length, value) tuple per distinct pair, process-wide;
    replacing, removing, clearing and dropping tables give the values back."""
    require_compiled()
    compiled = lpm.COMPILED
    assert compiled is not None
    gc.collect()
    gc.disable()  # no collection of other tests' tables while counting
    try:
        base = compiled.shared_count()
        value = _Value()
        watch = weakref.ref(value)
        a, b = new_table(32, pure=False), new_table(32, pure=False)
        a.insert(10 << 24, 8, value)
        b.insert(10 << 24, 8, value)
        b.insert(11 << 24, 8, value)
        b.insert(12 << 24, 9, value)
        assert compiled.shared_count() == base + 2  # (8, value) and (9, value)
        hit = a.lookup(10 << 24 | 1)
        assert hit == (8, value)
        assert hit is b.lookup(11 << 24 | 7)  # the very same tuple
        del a, hit
        assert compiled.shared_count() == base + 2
        assert b.insert(11 << 24, 8, "other") is value
        assert b.remove(12 << 24, 9) is value
        assert compiled.shared_count() == base + 2  # (8, value) and (8, "other")
        b.clear()
        assert compiled.shared_count() == base
        c = new_table(128, pure=False)
        c.insert(1, 128, value)
        del value
        assert watch() is not None  # the table keeps it alive
        del c
        assert watch() is None
        assert compiled.shared_count() == base
    finally:
        gc.enable()
