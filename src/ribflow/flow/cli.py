"""`ribflow decode FILE.pcap [FILE…]`: decode captured export packets offline, like the collector.

Reads pcap/pcapng files in order with one Dispatcher (templates learnt in file order, across
files), takes each UDP datagram's source address as the exporter and its capture time as the
arrival time, and prints one JSON flow record per line on stdout (the records the live path
publishes). A summary — packets, records, errors by kind — goes to stderr. The exit status is
non-zero only when a file cannot be read at all; bad packets are counted, not fatal.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import BinaryIO

import orjson

from ribflow.errors import Bug
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import CaptureError, iter_datagrams
from ribflow.logs import setup_logging
from ribflow.settings import command_parser


def _parse_ports(text: str) -> set[int]:
    try:
        ports = {int(p) for p in text.split(",") if p.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port list: {text!r}") from None
    if not ports or not all(0 < p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"ports must be 1-65535: {text!r}")
    return ports


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "decode",
        "Decode NetFlow v5/v9, IPFIX and sFlow v5 export packets from pcap/pcapng captures: "
        "one JSON flow record per line on stdout, a summary on stderr.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng capture(s), in order")
    p.add_argument(
        "--ports", type=_parse_ports, default=None, metavar="P[,P…]",
        help="only decode UDP datagrams sent to these destination ports (default: all; the "
        "protocol is detected from each packet, so no port-to-protocol map is needed)",
    )
    p.add_argument(
        "--counters", action="store_true",
        help="also print sFlow counter samples (objects with \"counter\": true)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    p.add_argument(
        "--verbose", "-v", action="store_true",
        help="log each kind of decoding problem (rate-limited) on stderr",
    )
    return p


class Summary:
    """What a run saw, for the stderr summary."""

    def __init__(self) -> None:
        self.files = 0
        self.unreadable = 0
        self.packets = 0
        self.skipped = 0
        self.records = 0
        self.counters = 0
        self.rejected = 0
        self.by_version: Counter[str] = Counter()

    def render(self, errors: Counter[str]) -> str:
        versions = " ".join(f"{k}={v}" for k, v in sorted(self.by_version.items())) or "-"
        errs = " ".join(f"{k}={v}" for k, v in sorted(errors.items())) or "none"
        lines = [
            f"files: {self.files} ({self.unreadable} unreadable)",
            f"packets: {self.packets} decoded-by-protocol: {versions} "
            f"rejected: {self.rejected} skipped-by-port: {self.skipped}",
            f"records: {self.records} counter-samples: {self.counters}",
            f"errors: {errs}",
        ]
        return "\n".join(lines)


# the summary's names of the Dispatcher's protocol labels
_SHORT = {"netflow5": "v5", "netflow9": "v9", "ipfix": "ipfix", "sflow": "sflow5"}


def run(
    files: Sequence[str], out: BinaryIO, ports: set[int] | None = None,
    counters: bool = False, dispatcher: Dispatcher | None = None,
) -> tuple[Summary, Dispatcher]:
    """Decode ``files`` in order, writing JSON lines to ``out``."""
    d = dispatcher or Dispatcher()
    s = Summary()
    dumps = orjson.dumps
    for path in files:
        s.files += 1
        try:
            datagrams = iter_datagrams(path)
            buf: list[bytes] = []
            for dg in datagrams:
                if ports is not None and dg.dport not in ports:
                    s.skipped += 1
                    continue
                s.packets += 1
                try:
                    result = d.decode(dg.payload, dg.src, dg.ts_ms)
                except (FlowDecodeError, Bug):
                    s.rejected += 1
                    continue
                s.by_version[_SHORT.get(result.protocol, "other")] += 1
                s.records += len(result.records)
                buf.extend(dumps(r) for r in result.records)
                if counters and result.counters:
                    s.counters += len(result.counters)
                    buf.extend(dumps({**c, "counter": True}) for c in result.counters)
                if len(buf) >= 1024:
                    out.write(b"\n".join(buf) + b"\n")
                    buf.clear()
            if buf:
                out.write(b"\n".join(buf) + b"\n")
        except (OSError, CaptureError) as exc:
            s.unreadable += 1
            print(f"ribflow decode: cannot read {path}: {exc}", file=sys.stderr)
    d.flush()
    return s, d


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("WARNING" if args.verbose else "ERROR")
    summary, dispatcher = run(args.files, sys.stdout.buffer, args.ports, args.counters)
    sys.stdout.buffer.flush()
    if not args.quiet:
        print(summary.render(dispatcher.errors), file=sys.stderr)
    return 1 if summary.unreadable else 0
