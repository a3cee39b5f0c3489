"""Fuzz the flow decoders with mutated real packets and count what happens.

    .venv/bin/python benchmarks/fuzz_decoders.py [--packets 1000000] [--seed 1] [--validate 0.01]

Corpus: every export packet of the captures in tests/data/flows (NetFlow v5/v9, IPFIX) and
tests/data/sflow (sFlow v5, decoded through the Dispatcher by ribflow.flow.sflow). One
Dispatcher first learns every capture's templates (each capture as its own exporter), then
decodes --packets mutated copies: 1-4 random mutations each among bit flips, truncation, 16-bit
length/count lies, random bytes and spliced repeats. Prints outcomes per protocol (records out,
partial with errors, rejected by reason) and the number of internal errors (bugs: must be 0).
A --validate fraction of the records is checked against schemas/flows.v1.json; cheaper
must-hold checks run on every record.

--compiled also decodes every mutated packet with a second Dispatcher that writes records as
JSON through the compiled codecs (``ribflow_lpm.DataCodec``, what the collector uses): its
messages must be byte-identical to the Python decoders' (mismatches are printed and counted:
must be 0), and the records it wrote are the ones checked.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from ribflow.errors import Bug
from ribflow.flow import codegen_native
from ribflow.flow.batching import encode_message, encode_parts
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.types import DecodeResult
from ribflow.schemas import validator

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "flows"
SFLOW_DATA = DATA.parent / "sflow"  # the sFlow helper's captures, when present
LENGTHS = (0, 1, 2, 3, 4, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
NOW_MS = 1_790_000_000_000


def corpus() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for path in sorted([*DATA.rglob("*.pcap"), *SFLOW_DATA.glob("*.pcap")]):
        if "traffic" in path.name:
            continue
        out += [(path.name, dg.payload) for dg in iter_datagrams(path) if len(dg.payload) >= 4]
    return out


def protocol(payload: bytes) -> str:
    if payload[:4] == b"\x00\x00\x00\x05":
        return "sflow5"
    return {5: "v5", 9: "v9", 10: "ipfix"}.get((payload[0] << 8) | payload[1], "other")


def mutate(data: bytes, rnd: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        if not buf:
            break
        pos = rnd.randrange(len(buf))
        op = rnd.random()
        if op < 0.35:
            buf[pos] ^= 1 << rnd.randrange(8)
        elif op < 0.5:
            del buf[pos:]
        elif op < 0.8 and pos + 2 <= len(buf):
            buf[pos : pos + 2] = struct.pack("!H", rnd.choice(LENGTHS))
        elif op < 0.9:
            buf[pos] = rnd.randrange(256)
        else:
            buf[pos:pos] = buf[pos : pos + rnd.randint(1, 64)]
    return bytes(buf)


def check(rec: dict[str, Any]) -> None:
    """Invariants every record must hold (cheap subset of the schema, run on all of them)."""
    assert isinstance(rec["src_addr"], str) and isinstance(rec["dst_addr"], str)
    assert isinstance(rec["packets"], int) and rec["packets"] >= 0
    assert isinstance(rec["bytes"], int) and rec["bytes"] >= 0
    assert isinstance(rec["sampling_rate"], int) and rec["sampling_rate"] >= 1
    for k in ("start_ms", "end_ms"):
        assert rec[k] is None or rec[k] >= 0, (k, rec[k])


def _twin(packets: list[tuple[str, bytes]], exporter_of: dict[str, str]) -> Dispatcher:
    """A Dispatcher writing records as JSON (the compiled codecs), warmed like the first."""
    if not codegen_native.available():
        raise SystemExit("--compiled: ribflow_lpm is not importable (or RIBFLOW_PURE_LPM is set)")
    twin = Dispatcher()
    twin.encode_records(True)
    for name, payload in packets:
        with contextlib.suppress(FlowDecodeError):
            twin.decode(payload, exporter_of[name], NOW_MS)
    return twin


def _compare(
    twin: Dispatcher, pkt: bytes, exporter: str, now: int, want: DecodeResult
) -> tuple[bool, list[dict[str, Any]], int]:
    """Decode ``pkt`` with the compiled path: (same bytes and reasons, its records, native)."""
    try:
        got = twin.decode(pkt, exporter, now)
    except Bug as exc:
        print("MISMATCH compiled path raised", exc, file=sys.stderr)
        return False, [], 0
    try:
        ref = encode_message("r", exporter, want.records)
    except orjson.JSONEncodeError:
        ref = b"unencodable"
    value = encode_parts("r", exporter, got.encoded) if got.encoded else encode_message(
        "r", exporter, got.records
    )  # fmt: skip
    same = value == ref and got.errors == want.errors and got.record_count == len(want.records)
    if not same:
        print("MISMATCH", pkt.hex(), file=sys.stderr)
    return same, orjson.loads(value)["records"], got.native_records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--validate",
        type=float,
        default=0.01,
        help="fraction of records validated against the JSON schema",
    )
    ap.add_argument("--compiled", action="store_true",
                    help="also the compiled record path, compared byte for byte")  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # problems are counted below, not logged
    rnd = random.Random(args.seed)
    packets = corpus()
    names = sorted({n for n, _ in packets})
    exporter_of = {n: f"fuzz-{i}" for i, n in enumerate(names)}
    d = Dispatcher()
    for name, payload in packets:
        with contextlib.suppress(FlowDecodeError):
            d.decode(payload, exporter_of[name], NOW_MS)
    d.errors.clear()
    twin = _twin(packets, exporter_of) if args.compiled else None
    mismatches = native = 0
    record_schema: Any = validator("flows.v1")
    record_schema = record_schema.evolve(
        schema={"$ref": "#/$defs/record", "$defs": record_schema.schema["$defs"]}
    )

    outcome: dict[str, Counter[str]] = {}
    records = validated = invalid = 0
    rejected: Counter[str] = Counter()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(args.packets):
        name, payload = packets[rnd.randrange(len(packets))]
        pkt = mutate(payload, rnd)
        proto = protocol(payload)
        tally = outcome.setdefault(proto, Counter())
        tally["packets"] += 1
        try:
            result = d.decode(pkt, exporter_of[name], NOW_MS + i)
        except (FlowDecodeError, Bug) as exc:
            tally["rejected"] += 1
            rejected[exc.reason] += 1
            continue
        recs = result.records
        if twin is not None:
            same, recs, n = _compare(twin, pkt, exporter_of[name], NOW_MS + i, result)
            mismatches += not same
            native += n
        tally["partial" if result.errors else "clean"] += 1
        tally["records"] += len(recs)
        records += len(recs)
        for rec in recs:
            check(rec)
            if rnd.random() < args.validate:
                validated += 1
                if not record_schema.is_valid(rec):
                    invalid += 1
                    print("INVALID", rec, file=sys.stderr)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"corpus: {len(packets)} real packets from {len(names)} captures; seed {args.seed}")
    print(
        f"mutated packets: {args.packets:,} in {wall:.0f} s wall / {cpu:.0f} s CPU "
        f"({args.packets / cpu:,.0f} packets per CPU-second)"
    )
    print(
        f"{'protocol':<8} {'packets':>10} {'clean':>9} {'partial':>9} {'rejected':>9} "
        f"{'records':>10}"
    )
    for proto, t in sorted(outcome.items()):
        print(
            f"{proto:<8} {t['packets']:>10,} {t['clean']:>9,} {t['partial']:>9,} "
            f"{t['rejected']:>9,} {t['records']:>10,}"
        )
    print(
        "rejected packets by reason: " + ", ".join(f"{k}={v:,}" for k, v in rejected.most_common())
    )
    print(
        "all problems the dispatcher counted (rejections and partial): "
        + ", ".join(f"{k}={v:,}" for k, v in d.errors.most_common())
    )
    print(f"records: {records:,}; schema-validated sample: {validated:,}, invalid: {invalid}")
    if twin is not None:
        print(f"compiled path: {native:,} records by the compiled codecs; messages different "
              f"from the Python decoders': {mismatches}")  # fmt: skip
    internal = d.errors.get("internal-error", 0)
    print(f"internal errors (decoder bugs): {internal}")
    return 1 if internal or invalid or mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
