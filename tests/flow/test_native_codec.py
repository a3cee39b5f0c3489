"""The compiled data-set codecs (``ribflow_lpm.DataCodec``, ``codegen_native``) against Python.

The reference is what the collector produced before the compiled path existed: the generated
Python decoder's dict records, serialised by ``orjson`` (``batching.encode_message``). The
compiled path (``Dispatcher.encode_records``: records as JSON fragments, written by the compiled
codec where the template has one, else by Python) must give the same bytes, record counts and
problem reasons for every packet:

* every packet of the repo's captures (tests/data/flows), packet by packet, templates learnt
  in order, each capture as its own exporter;
* thousands of random fixed-length templates (base-record elements at every length, unknown
  and enterprise elements, time and sampling variants) with random records and per-call values
  (uptime wrap, NTP times before 1970, sampling tables, values beyond 64 bits);
* mutated real packets (bit flips, truncation, lying lengths): both paths agree and neither
  raises anything but the packet's own FlowDecodeError.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ribflow.agentmap import RouterResolver
from ribflow.bgp.keys import RouterKeys
from ribflow.errors import Bug
from ribflow.flow import codegen_native
from ribflow.flow.batching import KeyChooser, encode_message, encode_parts
from ribflow.flow.codegen import FieldSpec, compile_template
from ribflow.flow.collector import Collector, Topics
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.types import DecodeResult
from tests.fixtures.producer import FakeProducer
from tests.flow.netflow_support import DATA, NOW_MS
from tests.flow.test_netflow_bad_input import mutate, mutation
from tests.rib.lpm_impl import require_compiled

CAPTURES = sorted(p for p in DATA.rglob("*.pcap*") if p.is_file())
Outcome = tuple[Any, ...]


@pytest.fixture(autouse=True)
def _compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    require_compiled()
    monkeypatch.delenv("RIBFLOW_PURE_LPM", raising=False)


def decoded(d: Dispatcher, packet: bytes, exporter: str) -> tuple[Outcome, DecodeResult | None]:
    """What the collector would publish of ``packet`` (message bytes, count, reasons); result."""
    try:
        r = d.decode(packet, exporter, NOW_MS)
    except FlowDecodeError as exc:
        return ("raised", exc.reason), None
    except Bug as exc:
        if isinstance(exc.__cause__, orjson.JSONEncodeError):
            return ("unencodable",), None  # the JSON path meets it in the decoder
        raise
    try:
        if r.encoded:
            value = encode_parts("r", exporter, r.encoded)
        else:
            value = encode_message("r", exporter, r.records)
    except orjson.JSONEncodeError:
        return ("unencodable",), None  # the dict path meets it in the batcher
    return (value, r.record_count, r.errors, r.protocol), r


def outcome(d: Dispatcher, packet: bytes, exporter: str) -> Outcome:
    return decoded(d, packet, exporter)[0]


def pair() -> tuple[Dispatcher, Dispatcher]:
    pure, compiled = Dispatcher(), Dispatcher()
    compiled.encode_records(True)
    return pure, compiled


def test_real_captures_give_the_same_bytes() -> None:
    native = total = 0
    for path in CAPTURES:
        pure, compiled = pair()
        exporter = f"cap-{path.stem}"
        for dg in iter_datagrams(path):
            want = outcome(pure, dg.payload, exporter)
            got, r = decoded(compiled, dg.payload, exporter)
            assert got == want, (path.name, dg.payload[:32].hex())
            if r is not None:
                native += r.native_records
                total += r.record_count
        assert pure.flush().errors == compiled.flush().errors
        assert pure.errors == compiled.errors, path.name
    assert total > 500
    assert native > total // 4, (native, total)  # the compiled codecs did take part


# -- random templates -----------------------------------------------------------------------
_BASE_IES = (
    1, 2, 23, 24, 85, 86, 231, 298, 4, 5, 6, 7, 11, 180, 181, 182, 183, 9, 13, 29, 30, 10, 14,
    252, 253, 16, 17, 58, 243, 61, 21, 22, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160,
    34, 48, 50, 302, 305, 306, 309, 310, 200, 999, 3,
)  # fmt: skip
_ADDRESS_IES = (8, 12, 27, 28, 15, 62, 18, 63)
# (element, length or 0: any integer length); VRF ids/names and tunnels stay with Python
_EXTRA = (
    *((ie, 3) for ie in range(70, 80)), *((ie, 3) for ie in range(70, 80)), (70, 4), (72, 0),
    (90, 8), (90, 4), (89, 0), (56, 6), (80, 6), (81, 6), (57, 6), (56, 4), (256, 0), (59, 0),
    (254, 0), (58, 0), (243, 0), (61, 0), (497, 32), (497, 16), (497, 20), (505, 48), (234, 4),
    (236, 8), (27, 16), (4, 1),
)  # fmt: skip
_EXTRA_IES = frozenset(ie for ie, _ln in _EXTRA) - {27, 4, 61, 58}


def random_template(rnd: random.Random) -> tuple[int, tuple[FieldSpec, ...]]:
    version = rnd.choice((9, 10))
    fields: list[FieldSpec] = []
    for _ in range(rnd.randint(1, 24)):
        if rnd.random() < 0.3:
            ie = rnd.choice(_ADDRESS_IES)
            length = rnd.choice((4, 16, 4, 16, 3, 8))
        else:
            ie = rnd.choice(_BASE_IES)
            length = rnd.choice((1, 2, 4, 8, 1, 2, 4, 8, 3, 5, 6, 7))
        pen = 0
        if version == 10 and rnd.random() < 0.03:
            pen = rnd.choice((9, 29305))
        if rnd.random() < 0.25:  # the extra keys (codegen_extra)
            ie, length = rnd.choice(_EXTRA)
            length = length or rnd.choice((1, 2, 3, 4, 8))
            if ie == 505 and version == 10:
                pen = 2011
        fields.append((ie, length, pen))
    return version, tuple(fields)


def random_value(rnd: random.Random, length: int) -> bytes:
    mode = rnd.random()
    if mode < 0.2:
        return bytes(length)
    if mode < 0.3:
        return b"\xff" * length
    if mode < 0.5:
        return bytes(length - 1) + bytes([rnd.randrange(256)]) if length else b""
    return rnd.randbytes(length)


def random_call(rnd: random.Random) -> tuple[Any, ...]:
    big = (1 << 64) - 1
    uptime = rnd.choice((0, 1000, rnd.randrange(1 << 32), (1 << 32) - 1))
    sysinit = rnd.choice((None, NOW_MS - 10**9, rnd.randrange(1 << 64), big, 0))
    choices = (1, 100, 1000, rnd.randrange(1 << 64))
    rates = {k: rnd.choice(choices) for k in range(rnd.randint(0, 4))}
    rate = rnd.choice((1, 1000, rnd.randrange(1 << 32)))
    anchor = rnd.choice((NOW_MS, 0, rnd.randrange(1 << 42)))
    return (rnd.randrange(1 << 32), NOW_MS, anchor, anchor, uptime, sysinit, rates, rate)


def test_random_templates_give_the_same_bytes() -> None:
    rnd = random.Random(12)
    covered = unencodable = with_extras = 0
    for _ in range(4000):
        version, fields = random_template(rnd)
        codec = compile_template(version, fields)
        if codec.native is None:
            continue
        covered += 1
        with_extras += any(ie in _EXTRA_IES for ie, _ln, _pen in fields)
        for _call in range(3):
            body = b"".join(
                b"".join(random_value(rnd, ln) for _ie, ln, _pen in fields)
                for _ in range(rnd.randint(0, 4))
            ) + bytes(rnd.randint(0, codec.size - 1))  # padding after the last record
            domain, recv, tex, anchor, uptime, sysinit, rates, rate = random_call(rnd)
            out: list[dict[str, Any]] = []
            codec.decode(body[: len(body) - len(body) % codec.size], out, "192.0.2.9", domain,
                         recv, tex, anchor, uptime, sysinit, rates, rate)  # fmt: skip
            got = codec.native.encode(body, b'"192.0.2.9"', domain, recv, tex, anchor, uptime,
                                      sysinit, rates, rate)  # fmt: skip
            try:
                want = orjson.dumps(out)[1:-1]
            except orjson.JSONEncodeError:
                assert got is None, fields  # Python then decides (and fails the same way)
                unencodable += 1
                continue
            assert got is not None, fields
            assert got == (want, len(out)), (fields, want, got[0])
    assert covered > 1500, covered
    assert with_extras > 500, with_extras
    assert unencodable > 0


def test_v5_program_matches_the_python_decoder() -> None:
    rnd = random.Random(5)
    for _ in range(300):
        n = rnd.randint(0, 30)
        head = bytes([0, 5]) + n.to_bytes(2, "big") + rnd.randbytes(20)
        packet = (
            head
            + b"".join(b"".join(random_value(rnd, 4) for _ in range(12)) for _ in range(n))
            + rnd.randbytes(rnd.randint(0, 47))
        )
        pure, compiled = pair()
        assert outcome(compiled, packet, "192.0.2.5") == outcome(pure, packet, "192.0.2.5")
    assert codegen_native.V5 is not None


# -- mutated real packets -------------------------------------------------------------------
def _corpus() -> list[tuple[int, bytes]]:
    return [(i, dg.payload) for i, p in enumerate(CAPTURES) for dg in iter_datagrams(p)]


CORPUS = _corpus()


def _warm(d: Dispatcher) -> Dispatcher:
    for i, payload in CORPUS:
        with contextlib.suppress(FlowDecodeError):
            d.decode(payload, f"fuzz-{i}", NOW_MS)
    return d


PURE, COMPILED = _warm(Dispatcher()), Dispatcher()
COMPILED.encode_records(True)
_warm(COMPILED)


@settings(
    max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.integers(0, len(CORPUS) - 1), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_packets_agree(index: int, ops: list[tuple[str, int, int]]) -> None:
    source, payload = CORPUS[index]
    packet = mutate(payload, ops)
    before = Counter(COMPILED.errors)
    want = outcome(PURE, packet, f"fuzz-{source}")
    got = outcome(COMPILED, packet, f"fuzz-{source}")
    assert got == want
    if want != ("unencodable",):
        assert COMPILED.errors.get("internal-error", 0) == before.get("internal-error", 0)


# -- the collector ----------------------------------------------------------------------------
@pytest.mark.parametrize("max_packets", [1, 10])
def test_the_collector_publishes_the_same_messages(
    max_packets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both implementations through ``Collector.process``: the same Kafka messages, one
    exporter mixing NetFlow v5/v9, IPFIX and sFlow (grouped: dict and JSON records together)."""
    packets = [
        dg.payload
        for name in ("lab/flows-v9.pcap", "lab/flows-ipfix.pcap", "lab/flows-v5.pcap",
                     "tcpdump/sflow_multiple_counter_30_pdus.pcap", "../sflow/lab-flows-sflow.pcap")
        for dg in iter_datagrams(DATA / name)
    ]  # fmt: skip
    sent = {}
    for impl in ("pure", "compiled"):
        monkeypatch.setenv("RIBFLOW_PURE_LPM", "1" if impl == "pure" else "0")
        producer = FakeProducer()
        c = Collector([], Dispatcher(), producer, RouterResolver(), Topics("f", "c", "t", "d"),
                      KeyChooser(RouterKeys(1)), max_packets=max_packets)  # fmt: skip
        assert c.encoding == (impl == "compiled")
        for i, p in enumerate(packets):
            c.process(p, "192.0.2.7", NOW_MS + i)
        c.flush_batches()
        sent[impl] = producer.sent
        paths = dict(c.tallies.record_paths)
        if impl == "compiled":
            assert paths.get("compiled", 0) > 50 and paths.get("python", 0) > 50, paths
        else:
            assert "compiled" not in paths
    assert sent["pure"] == sent["compiled"]
    assert len(sent["pure"]) > 5
