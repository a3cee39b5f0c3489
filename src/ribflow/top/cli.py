"""`ribflow top`: a live terminal view of flows-enriched over a sliding window.

Top destination ASes, AS paths, BGP next hops and peer ASes by bytes, each with its share and a
sparkline of the window. `--once` reads what the topic holds for the window and prints one
plain frame (for scripts, tests and the README); otherwise the frame is redrawn every
`--refresh` seconds until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from confluent_kafka import KafkaException

from ribflow.settings import DEFAULT_BROKER, AppSettings, command_parser, load
from ribflow.top.render import render
from ribflow.top.source import TopicReader
from ribflow.top.window import SlidingWindow

HIDE_CURSOR, SHOW_CURSOR, HOME_CLEAR = "\x1b[?25l", "\x1b[?25h", "\x1b[H\x1b[2J"


def _parser() -> argparse.ArgumentParser:
    p = command_parser("top", __doc__)
    p.add_argument(
        "--broker",
        help=f"Kafka bootstrap servers (default: Quix__Broker__Address or {DEFAULT_BROKER})",
    )
    p.add_argument(
        "--topic", help="topic of enriched flows (default: FLOWS_ENRICHED_TOPIC or flows-enriched)"
    )
    p.add_argument("--window", type=float, default=60.0, help="sliding window, seconds")
    p.add_argument("--buckets", type=int, default=15, help="sparkline points per window")
    p.add_argument("--refresh", type=float, default=2.0, help="seconds between frames")
    p.add_argument("--top", type=int, default=8, help="rows per panel")
    p.add_argument("--width", type=int, default=0, help="frame width (default: the terminal's)")
    p.add_argument(
        "--once", "--snapshot", action="store_true", help="print one plain frame and exit"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="--once: longest read, seconds")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    return p


def _use_colour(choice: str, once: bool) -> bool:
    if choice == "always":
        return True
    if choice == "never" or once or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.window <= 0 or args.buckets < 1 or args.top < 1:
        print("ribflow top: --window, --buckets and --top must be positive", file=sys.stderr)
        return 2
    given = {"Quix__Broker__Address": args.broker, "FLOWS_ENRICHED_TOPIC": args.topic}
    settings = load(AppSettings, "ribflow top", **{k: v for k, v in given.items() if v})
    topic = settings.flows_enriched_topic
    width = args.width or min(shutil.get_terminal_size((110, 40)).columns, 140)
    colour = _use_colour(args.color, args.once)
    window = SlidingWindow(args.window, args.buckets)
    started = time.time()
    try:
        reader = TopicReader(settings, topic, started - args.window)
    except KafkaException as exc:
        print(f"ribflow top: {exc}", file=sys.stderr)
        return 1
    source = f"{topic} @ {settings.broker_address}"
    try:
        if args.once:
            deadline = time.monotonic() + args.timeout
            while not reader.at_end() and time.monotonic() < deadline:
                for ts, record in reader.poll(min(1.0, deadline - time.monotonic())):
                    window.add(record, ts, started)
            snap = window.snapshot(started, args.top)
            sys.stdout.write(render(snap, source=source, colour=colour, width=width, top=args.top))
            return 0
        return _live(reader, window, args, source, colour, width)
    finally:
        reader.close()


def _live(
    reader: TopicReader,
    window: SlidingWindow,
    args: argparse.Namespace,
    source: str,
    colour: bool,
    width: int,
) -> int:
    out = sys.stdout
    tty = out.isatty()
    if tty:
        out.write(HIDE_CURSOR)
    try:
        while True:
            for ts, record in reader.poll(args.refresh):
                window.add(record, ts, time.time())
            frame = render(window.snapshot(time.time(), args.top), source=source,
                           colour=colour, width=width, top=args.top)
            out.write((HOME_CLEAR if tty else "") + frame + ("" if tty else "\n"))
            out.flush()
    except KeyboardInterrupt:
        return 0
    finally:
        if tty:
            out.write(SHOW_CURSOR)
            out.flush()
