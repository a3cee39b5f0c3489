"""The compiled ``ribflow_lpm`` table against the pure-Python ``PrefixTable``, call by call.

Both get the same random sequence of inserts (some replacing), removes (some of absent
prefixes), exact gets and lookups, in both families; every return value, the size, the length
list and the entry listings must agree. Under CI a missing compiled module fails the tests.
"""

from __future__ import annotations

import random

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
        else:
            network, length = rnd.choice(present)
            address = network | (rnd.getrandbits(bits - length) if length < bits else 0)
            for a in (address, rnd.getrandbits(bits)):
                assert compiled.lookup(a) == pure.lookup(a)
        if step == 10000:
            compiled.clear()
            pure.clear()
            present.clear()
    assert len(compiled) == len(pure)
    assert compiled.lengths() == pure.lengths()
    assert compiled.sorted_items() == pure.sorted_items()
    assert sorted(compiled.items(), key=lambda e: (e[0], e[1])) == pure.sorted_items()
    # out of the family's range: no match, as in the pure table
    for address in (-1, 1 << bits, 1 << (bits + 40)):
        assert compiled.lookup(address) is None
        assert pure.lookup(address) is None


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
    assert len(table) == 0
