"""The agent map: which BGP router's RIB enriches the flows of each exporter.

File format (pmacct's ``bgp_agent_map``): one entry per line, ``bgp_ip=A ip=B`` (any order,
whitespace separated), ``!`` starts a comment line, blank lines are ignored. ``ip`` is the
exporter's address (or a prefix such as ``10.1.0.0/16``; the longest match wins, an exact
address before any prefix); ``bgp_ip`` names the BGP router: its session address as ExaBGP sees
it (the router key) or its BGP router-id. Keys pmacct knows but ribflow does not use
(``bgp_port``, ``filter``, ``in``, ``out``) are refused rather than silently ignored.

Resolution (:meth:`RouterResolver.router_for`), in this order:
1. an exporter listed in the file -> its ``bgp_ip``;
2. an unlisted exporter that is itself a known BGP peer address or router-id -> itself;
3. otherwise the fallback router when one is configured, else the exporter address itself.
The router so named is then written as the router key: its session address (a router-id is
translated once a BGP session announced it, learnt from ``bgp-updates``; until then it stays
as written), or, with key mode ``router-id`` (the bridge's BGP_ROUTER_KEY), its router-id.

A map loaded from a file is followed without a restart (:class:`ribflow.watched.WatchedFile`,
shared with the collector's exporter allowlist): :class:`RouterResolver` looks at the file's
modification time, size and inode at most every ``reload_interval`` seconds and, when they
changed, parses it again and starts answering from the new map (cached answers are dropped). A
file that became unreadable or broken is refused: the previous map stays in force, and the
problem is logged (rate-limited) and counted as bad input (reason ``bad_agent_map``).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ribflow.errors import ConfigError
from ribflow.mapfile import map_lines
from ribflow.watched import FileStamp, WatchedFile, file_stamp

__all__ = ["AgentMap", "AgentMapEntry", "AgentMapError", "RouterResolver", "parse_agent_map"]

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_UNSUPPORTED = ("bgp_port", "filter", "in", "out", "set_tag", "tag", "label")


class AgentMapError(ConfigError):
    """The agent map file is broken (the message names the file and line)."""


@dataclass(frozen=True, slots=True)
class AgentMapEntry:
    """One line: flows from ``exporters`` use the RIB of the router named by ``bgp_ip``."""

    bgp_ip: str
    exporters: IPNetwork
    line: int


def _address(value: str, key: str, where: str) -> str:
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise AgentMapError(f"{where}: {key}={value!r} is not an IP address") from None


def _network(value: str, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise AgentMapError(f"{where}: ip={value!r} is not an address or prefix ({exc})") from None


def parse_agent_map(text: str, source: str = "<agent map>") -> list[AgentMapEntry]:
    """Parse the file's text; raises :class:`AgentMapError` on the first broken line."""
    entries: list[AgentMapEntry] = []
    seen: dict[IPNetwork, AgentMapEntry] = {}
    for number, where, fields in map_lines(
        text, source, AgentMapError, what="agent map", known=("bgp_ip", "ip"),
        unsupported=_UNSUPPORTED, known_hint=" (expected bgp_ip= and ip=)",
    ):  # fmt: skip
        for key in ("bgp_ip", "ip"):
            if key not in fields:
                raise AgentMapError(f"{where}: {key}= is missing")
        entry = AgentMapEntry(
            bgp_ip=_address(fields["bgp_ip"], "bgp_ip", where),
            exporters=_network(fields["ip"], where),
            line=number,
        )
        earlier = seen.get(entry.exporters)
        if earlier is not None and earlier.bgp_ip != entry.bgp_ip:
            raise AgentMapError(
                f"{where}: ip={entry.exporters} already mapped to {earlier.bgp_ip} on line "
                f"{earlier.line}"
            )
        seen[entry.exporters] = entry
        entries.append(entry)
    return entries


class AgentMap:
    """Exporter address -> ``bgp_ip`` lookups over parsed entries (exact, then longest prefix).

    ``source`` and ``stamp`` are set when the map was read from a file (:meth:`load`).
    """

    def __init__(
        self,
        entries: list[AgentMapEntry],
        source: Path | None = None,
        stamp: FileStamp | None = None,
    ) -> None:
        self.entries = list(entries)
        self.source, self.stamp = source, stamp
        self._hosts: dict[str, str] = {}
        self._prefixes: list[tuple[IPNetwork, str]] = []
        for e in self.entries:
            if e.exporters.num_addresses == 1:
                self._hosts[e.exporters.network_address.compressed] = e.bgp_ip
            else:
                self._prefixes.append((e.exporters, e.bgp_ip))
        self._prefixes.sort(key=lambda item: item[0].prefixlen, reverse=True)

    @classmethod
    def load(cls, path: str | Path) -> AgentMap:
        """Read and parse a map file (:class:`AgentMapError` names the broken line)."""
        p = Path(path)
        try:
            stamp = file_stamp(p)  # before reading: a change while reading is seen next time
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AgentMapError(f"cannot read agent map {p}: {exc}") from None
        return cls(parse_agent_map(text, str(p)), source=p, stamp=stamp)

    def lookup(self, exporter: str) -> str | None:
        """The ``bgp_ip`` for an exporter address, or None when no line covers it."""
        hit = self._hosts.get(exporter)
        if hit is not None or not self._prefixes:
            return hit
        try:
            addr = ipaddress.ip_address(exporter)
        except ValueError:
            return None
        for net, bgp_ip in self._prefixes:
            if addr.version == net.version and addr in net:
                return bgp_ip
        return None


class RouterResolver:
    """Exporter address -> router key, kept current with what BGP sessions announce.

    ``observe`` is called from the thread that follows ``bgp-updates``; ``router_for`` from the
    decoding thread. Answers are cached per exporter; any change of the peer table or of the
    agent map file (checked by ``router_for`` at most every ``reload_interval`` seconds, 0: never)
    clears them.
    """

    def __init__(
        self,
        agent_map: AgentMap | None = None,
        fallback: str | None = None,
        key_mode: str = "peer",
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if key_mode not in ("peer", "router-id"):
            raise ValueError(f"key mode {key_mode!r} is not 'peer' or 'router-id'")
        if reload_interval < 0:
            raise ValueError("reload_interval must be >= 0")
        self.agent_map = agent_map or AgentMap([])
        source = self.agent_map.source
        self._watch: WatchedFile[AgentMap] | None = None
        if source is not None and reload_interval > 0:
            self._watch = WatchedFile(
                source, AgentMap.load, self.agent_map, self.agent_map.stamp, what="agent map",
                component="agentmap", reason="bad_agent_map", reload_interval=reload_interval,
                clock=clock,
            )  # fmt: skip
        self.fallback = fallback or None
        self.key_mode = key_mode
        self._lock = threading.Lock()
        self._peers: dict[str, str | None] = {}  # session (peer) address -> router-id
        self._router_ids: dict[str, str] = {}  # router-id -> session address
        self._cache: dict[str, str] = {}

    def observe(self, peer: str, router_id: str | None = None) -> bool:
        """Learn that ``peer`` is a BGP session (with ``router_id`` when known).

        Returns whether anything changed.
        """
        with self._lock:
            changed = peer not in self._peers
            if changed:
                self._peers[peer] = None
            if router_id and self._router_ids.get(router_id) != peer:
                old = self._router_ids.get(router_id)
                self._router_ids[router_id] = peer
                self._peers[peer] = router_id
                log.info("router-id %s is BGP peer %s (was %s)", router_id, peer, old)
                changed = True
            if changed:
                self._cache = {}
            return changed

    def peer_for_router_id(self, router_id: str) -> str | None:
        return self._router_ids.get(router_id)

    def router_for(self, exporter: str) -> str:
        """The router key that the flows of ``exporter`` are keyed by."""
        watch = self._watch
        if watch is not None and watch.due():
            self.check_reload()
        cache = self._cache
        key = cache.get(exporter)
        if key is None:
            key = self._resolve(exporter)
            cache[exporter] = key
        return key

    def check_reload(self) -> bool:
        """Reload the agent map if its file changed; returns whether a new map is in force."""
        if self._watch is None or not self._watch.check():
            return False
        fresh = self._watch.value
        with self._lock:
            self.agent_map = fresh
            self._cache = {}
        log.info("agent map %s reloaded: %d entries", fresh.source, len(fresh.entries))
        return True

    def _router(self, exporter: str) -> str:
        """A name of the exporter's router: session address, router-id, fallback or itself."""
        bgp_ip = self.agent_map.lookup(exporter)
        if bgp_ip is not None:
            return bgp_ip
        if exporter in self._peers or exporter in self._router_ids:
            return exporter
        return self.fallback or exporter

    def _resolve(self, exporter: str) -> str:
        router = self._router(exporter)
        if self.key_mode == "router-id":
            return self._peers.get(router) or router
        if router in self._peers:
            return router
        return self._router_ids.get(router, router)
