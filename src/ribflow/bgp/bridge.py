"""The bridge loop: ExaBGP's JSON lines on a file descriptor -> events on Kafka.

Runs in the main process (ExaBGP's API pipe is our stdin; Quix sources would get /dev/null).
Reads big chunks with ``os.read`` and splits lines itself (no per-line syscalls), turns each line
into events with :class:`~ribflow.bgp.parser.EventBuilder`, and produces each event under every
key of its router through the :class:`~ribflow.bgp.outbox.Outbox` (bounded, back-pressure).

* Bad line -> dead-letter topic (raw text + reason), counted, logged rate-limited; carry on.
* Start -> ``down``/``bridge-restart`` per configured neighbour, then (``BRIDGE_RESYNC=refresh``)
  ``show neighbor json`` written to ExaBGP on stdout; each session its answer lists as up that
  was not reported up in this epoch (it was established for an earlier bridge) gets ``neighbor
  <ip> announce route-refresh <family>``: the router resends its table under the new epoch.
* ExaBGP's ``shutdown`` -> ``down`` for each live session, flushed at once.
* stdin closed -> flush (BRIDGE_EOF_FLUSH_SECONDS) and exit; SIGTERM (``stop()``) -> read what is
  already in the pipe, flush (BRIDGE_STOP_FLUSH_SECONDS), exit.
* A permanent delivery failure -> stop with exit code 3: the restart re-learns the table.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import BinaryIO

import orjson

from ribflow.bgp.errors import BadLine
from ribflow.bgp.metrics import BridgeMetrics
from ribflow.bgp.neighbors import NeighborSpec
from ribflow.bgp.outbox import Outbox
from ribflow.bgp.parser import EventBuilder, Keyed
from ribflow.dlq import DeadLetters
from ribflow.reject import Rejects

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_DELIVERY_FAILED = 3
READ_SIZE = 1 << 20
PUBLISH_EVERY = 0.5
POLL_EVERY = 0.1
COALESCE_BELOW = 16 << 10
COALESCE_WAIT = 0.005


@dataclass(eq=False)
class Bridge:
    """One bridge process: reads ``infd`` until EOF or :meth:`stop`, produces to ``topic``."""

    builder: EventBuilder
    outbox: Outbox
    topic: str
    dlq: DeadLetters
    _: KW_ONLY
    infd: int = 0
    commands: BinaryIO | None = None
    refresh_families: Sequence[str] = ()
    stop_flush_seconds: float = 1.5
    eof_flush_seconds: float = 120.0
    metrics: BridgeMetrics = field(default_factory=BridgeMetrics)
    exit_code: int = field(default=EXIT_OK, init=False)

    def __post_init__(self) -> None:
        self.refresh_families = list(self.refresh_families)
        self.tally: Counter[str] = self.outbox.tally
        self._stopping = False
        self.rejects = Rejects("bridge", log, self.dlq)
        self._next_publish = 0.0
        self.outbox.on_fatal = self._delivery_failed
        self.outbox.on_wait = self._maybe_publish

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Finish soon: what is already in the pipe is still read and delivered (signal-safe)."""
        self._stopping = True

    def run(self, neighbors: Iterable[NeighborSpec] = ()) -> int:
        """Process input until EOF or stop; returns the exit code."""
        neighbors = list(neighbors)
        self.metrics.configured(n.address for n in neighbors)
        self._emit(self.builder.start(neighbors))
        self._ask_sessions()
        pending = b""
        eof = False
        next_poll = 0.0
        while not self._stopping:
            ready, _, _ = select.select([self.infd], [], [], POLL_EVERY)
            if ready:
                chunk = os.read(self.infd, READ_SIZE)
                if not chunk:
                    eof = True
                    break
                pending = self._chunk(pending, chunk)
                if len(chunk) < COALESCE_BELOW:
                    # ExaBGP writes a line at a time: let a few accumulate rather than pay
                    # the loop for each one (5 ms of latency at most)
                    time.sleep(COALESCE_WAIT)
            now = time.monotonic()
            if now >= next_poll:  # delivery reports (errors only) and metrics, not per chunk
                next_poll = now + POLL_EVERY
                self.outbox.poll()
                self._maybe_publish()
        if not eof:
            pending = self._drain(pending)
        if pending.strip():
            self._line(pending)
        return self._finish(self.eof_flush_seconds if eof else self.stop_flush_seconds)

    # ------------------------------------------------------------------ input
    def _chunk(self, pending: bytes, chunk: bytes) -> bytes:
        lines = chunk.split(b"\n")
        if pending:
            lines[0] = pending + lines[0]
        rest = lines.pop()
        line = self._line
        for raw in lines:
            line(raw)
        return rest

    def _drain(self, pending: bytes) -> bytes:
        """After stop(): read what ExaBGP already wrote, without waiting for more."""
        try:
            os.set_blocking(self.infd, False)
        except OSError:
            return pending
        while True:
            try:
                chunk = os.read(self.infd, READ_SIZE)
            except BlockingIOError:
                return pending
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                return pending
            if not chunk:
                return pending
            pending = self._chunk(pending, chunk)

    def _line(self, raw: bytes) -> None:
        self.tally["lines"] += 1
        if not raw or raw.isspace():
            return
        try:
            events = self.builder.feed(raw)
        except BadLine as exc:
            self._dead_letter(raw, exc)
            return
        if events:
            self._emit(events)
            if self.builder.refresh_wanted:
                self._refresh_old_sessions()
            if self.builder.shutdown_seen:
                self.builder.shutdown_seen = False
                self.outbox.flush(self.stop_flush_seconds)

    def _dead_letter(self, raw: bytes, exc: BadLine) -> None:
        self.tally[f"error:{exc.reason}"] += 1  # counted in bulk (BridgeMetrics.publish)
        self.rejects.reject(
            raw.rstrip(b"\r"), exc.reason, exc.detail[:500],
            message=f"bad ExaBGP line ({exc}): {raw!r:.200}", count=False,
        )  # fmt: skip

    # ------------------------------------------------------------------ output
    def _emit(self, events: list[Keyed]) -> None:
        produce = self.outbox.produce
        topic = self.topic
        for keys, event in events:
            value = orjson.dumps(event)
            ts = event["time_ms"]
            for key in keys:
                produce(topic, value, key, ts)

    def _command(self, *lines: str) -> None:
        """Write API commands to ExaBGP (our stdout is its command pipe)."""
        if self.commands is None:
            return
        try:
            for text in lines:
                self.commands.write(text.encode() + b"\n")
            self.commands.flush()
        except OSError as exc:
            log.warning("could not write to ExaBGP (%s): %s", exc, lines)

    def _ask_sessions(self) -> None:
        """Ask ExaBGP which sessions are up (answer: a JSON list on stdin, see the parser)."""
        if self.refresh_families:
            self._command("show neighbor json")

    def _refresh_old_sessions(self) -> None:
        """Route refresh for the sessions established before this epoch (their table went to
        an earlier bridge): the router sends its whole table again, under our epoch."""
        wanted, self.builder.refresh_wanted = self.builder.refresh_wanted, []
        for address, families in wanted:
            fams = [f for f in families if f in self.refresh_families] or self.refresh_families
            self._command(*(f"neighbor {address} announce route-refresh {f}" for f in fams))
            log.info("asked %s for its table again (route refresh: %s)", address, ", ".join(fams))

    def _delivery_failed(
        self, topic: str, error: str, key: bytes | None, value: bytes | None
    ) -> None:
        if topic != self.dlq.topic and value is not None:
            try:
                self.dlq.send(
                    value, "delivery-failed", source_topic=topic, source_key=key, detail=error
                )
            except Exception as exc:  # the DLQ may be refused for the same reason
                log.error("could not dead-letter the refused event either: %s", exc)
        if topic == self.topic:
            self.exit_code = EXIT_DELIVERY_FAILED
            self.stop()

    # ------------------------------------------------------------------ housekeeping
    def _maybe_publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_publish:
            return
        self._next_publish = now + PUBLISH_EVERY
        self.metrics.publish(self.tally)
        self.metrics.publish(self.builder.stats)
        self.metrics.buffer(self.outbox.in_flight(), self.outbox.capacity)
        self.metrics.sessions({s: self.builder.peers.count(s) for s in ("connected", "up", "down")})
        peers = self.builder.peers
        self.metrics.neighbors(lambda a: peers.get(a).state if peers.known(a) else None)

    def _finish(self, timeout: float) -> int:
        missing = self.outbox.flush(timeout)
        self._maybe_publish(force=True)
        if missing:
            log.error(
                "%d events still unacknowledged by Kafka after %.1fs: exiting without them "
                "(the next bridge epoch re-learns the table)",
                missing,
                timeout,
            )
            return self.exit_code or EXIT_UNDELIVERED
        log.info(
            "bridge done: %d lines, %d messages, %d bad lines",
            self.tally["lines"],
            self.tally["messages"],
            sum(v for k, v in self.tally.items() if k.startswith("error:")),
        )
        return self.exit_code
