"""Fuzz the sFlow decoder with mutated real datagrams: it may refuse, never crash.

Two runs over the same corpus (every datagram of tests/data/sflow plus the crafted ones):
hypothesis-driven mutations (shrinks a failure to a small case), and a plain seeded mutation
loop whose size is set by RIBFLOW_FUZZ_N (default 20,000 here; 1,000,000 for the benchmark-style
run: ``RIBFLOW_FUZZ_N=1000000 pytest tests/flow/test_sflow_fuzz.py -k loop``).
"""

from __future__ import annotations

import os
import random
import struct
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.sflow import SflowDecoder
from ribflow.flow.types import DecodeResult
from ribflow.schemas import validate
from tests.flow.test_sflow import crafted

DATA = Path(__file__).resolve().parents[1] / "data" / "sflow"
INTERESTING = (0, 1, 2, 3, 4, 0x3FFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 1 << 20)
DECODER = SflowDecoder()


@cache
def corpus() -> tuple[bytes, ...]:
    out = [dg.payload for pcap in sorted(DATA.glob("*.pcap")) for dg in iter_datagrams(pcap)]
    out += crafted()
    return tuple(p for p in out if p[:4] == b"\x00\x00\x00\x05")


def check(data: bytes, full: bool = False) -> DecodeResult | None:
    """Decode; anything but a result or FlowDecodeError fails. ``full``: schema-check output."""
    try:
        res = DECODER.decode(data, "192.0.2.1", 1_700_000_000_000)
    except FlowDecodeError as exc:
        assert exc.reason.startswith("sflow_")
        return None
    assert isinstance(res, DecodeResult)
    for rec in res.records:
        assert isinstance(rec["src_addr"], str) and isinstance(rec["bytes"], int)
        if full:
            validate("flows.v1", {"v": 1, "router": "r", "exporter": "e", "records": [rec]})
    if full:
        for sample in res.counters:
            validate("sflow-counters.v1", {**sample, "router": "r"})
    return res


def mutate(data: bytes, rng: random.Random, rounds: int) -> bytes:
    buf = bytearray(data)
    for _ in range(rounds):
        op = rng.randrange(5)
        if not buf:
            break
        if op == 0:  # a length/count word gets an absurd or off-by-a-bit value
            pos = rng.randrange(0, max(1, len(buf) - 3)) & ~3
            value = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.getrandbits(32)
            if pos + 4 <= len(buf):
                struct.pack_into("!I", buf, pos, value)
        elif op == 1:  # bit flip
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 2:  # truncate
            del buf[rng.randrange(len(buf)) :]
        elif op == 3:  # insert junk
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.choice((1, 2, 4, 8, 64)))
        else:  # delete a slice
            pos = rng.randrange(len(buf))
            del buf[pos : pos + rng.choice((1, 4, 8, 40))]
    return bytes(buf)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hypothesis_mutations(data: st.DataObject) -> None:
    packet = data.draw(st.sampled_from(corpus()))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rounds = data.draw(st.integers(1, 6))
    check(mutate(packet, random.Random(seed), rounds), full=True)


@given(st.binary(max_size=600))
@settings(max_examples=500, deadline=None)
def test_hypothesis_random_bytes_after_a_valid_header(tail: bytes) -> None:
    check(b"\x00\x00\x00\x05\x00\x00\x00\x01\xc0\x00\x02\x01" + tail, full=True)


def test_mutation_loop() -> None:
    n = int(os.environ.get("RIBFLOW_FUZZ_N", "20000"))
    rng = random.Random(20261128)
    packets = corpus()
    stats: dict[str, Any] = {"decoded": 0, "refused": 0, "records": 0}
    for i in range(n):
        res = check(mutate(packets[i % len(packets)], rng, rng.randint(1, 4)), full=i % 500 == 0)
        if res is None:
            stats["refused"] += 1
        else:
            stats["decoded"] += 1
            stats["records"] += len(res.records)
    # both outcomes must occur, or the mutations are not reaching the decoder's checks
    assert stats["decoded"] > n // 10 and stats["refused"] > n // 100, stats
