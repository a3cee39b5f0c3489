"""Only known exporters: which source addresses the collector takes export packets from.

File format: pmacct's ``nfacctd_allow_file`` (examples/allow.lst.example in pmacct): one IPv4 or
IPv6 address or prefix per line (``192.0.2.1``, ``2001:db8::/32``); whitespace anywhere in a line
is ignored, a line starting with ``!`` is a comment, blank lines are skipped. As in pmacct a bad
line is skipped (logged and counted as bad input, reason ``bad_allow_line``), not fatal, and a
file without any entry denies every source. A file with lines but not one valid entry is taken for
a broken file instead (most likely not an allow file at all): refused at start, and later the
last good list stays in force. The file is followed without a restart (:mod:`ribflow.watched`,
like the agent map).

:class:`ExporterGate` answers "is this source allowed?" for the receive loop: neither the file
nor ALLOWED_EXPORTERS set -> everything is (the lab's default); otherwise a source must be in one
of them. The UDP source address is what is checked (as pmacct does), before any decoding, so a
denied packet never touches template state, the agent map or Kafka. Denied packets are counted
per source under a bounded label set: the first ``max_labels`` distinct sources get their own
label, every later one is counted as ``other`` (spoofed sources cannot blow up the metric).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ribflow.errors import ConfigError
from ribflow.reject import Rejects
from ribflow.watched import WatchedFile

__all__ = ["AllowList", "AllowListError", "ExporterGate", "parse_allow_list", "parse_networks"]

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
COMPONENT = "allowlist"
_rejects = Rejects(COMPONENT, log)
BAD_LINE = "bad_allow_line"
_V4_MAPPED = bytes(10) + b"\xff\xff"
CACHE_MAX = 4096  # decisions remembered per source address (cleared when full)
OTHER = "other"


class AllowListError(ConfigError):
    """The allow file cannot be read, or nothing in it is an address or prefix."""


@dataclass(frozen=True, slots=True)
class AllowList:
    """The entries of one version of an allow file, and its skipped lines (number, text)."""

    networks: tuple[IPNetwork, ...]
    bad_lines: tuple[tuple[int, str], ...] = ()
    source: str = "<allow list>"


def _network(text: str) -> IPNetwork:
    """An address or prefix (host bits are masked off, as pmacct does); ValueError if neither."""
    net = ipaddress.ip_network(text, strict=False)
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        mapped = net.network_address.ipv4_mapped
        net = ipaddress.ip_network(f"{mapped}/{max(0, net.prefixlen - 96)}", strict=False)
    return net


def parse_allow_list(text: str, source: str = "<allow list>") -> AllowList:
    """Parse the file's text; bad lines are returned in ``bad_lines``, never raised."""
    nets: list[IPNetwork] = []
    bad: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = "".join(raw.split())
        if not line or line.startswith("!"):
            continue
        try:
            nets.append(_network(line))
        except ValueError:
            bad.append((number, raw.strip()[:100]))
    return AllowList(tuple(nets), tuple(bad), source)


def load_allow_list(path: Path) -> AllowList:
    """Read, parse and report one version of the allow file (bad lines logged and counted)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AllowListError(f"cannot read allow file {path}: {exc}") from None
    allow = parse_allow_list(text, str(path))
    if allow.bad_lines and not allow.networks:
        raise AllowListError(
            f"allow file {path}: none of its {len(allow.bad_lines)} lines is an address or "
            f"prefix (line {allow.bad_lines[0][0]}: {allow.bad_lines[0][1]!r})"
        )
    for number, line in allow.bad_lines:
        _rejects.reject(
            None, BAD_LINE,
            message=f"allow file {path}:{number}: {line!r} is not an address or prefix: skipped",
        )  # fmt: skip
    if not allow.networks:
        log.warning("allow file %s has no entries: every exporter is denied", path)
    else:
        log.info("allow file %s: %d entries", path, len(allow.networks))
    return allow


def parse_networks(text: str) -> list[IPNetwork]:
    """ALLOWED_EXPORTERS: addresses/prefixes separated by commas (or ';'/whitespace)."""
    out = []
    for item in text.replace(";", ",").replace(",", " ").split():
        try:
            out.append(_network(item))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or prefix") from None
    return out


class _Matcher:
    """Address -> allowed, over a fixed set of networks (integer compares per family)."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.v4 = [(int(n.network_address), int(n.netmask)) for n in networks if n.version == 4]
        self.v6 = [(int(n.network_address), int(n.netmask)) for n in networks if n.version == 6]

    def __call__(self, address: str) -> bool:
        try:  # inet_pton: a C parse, cheaper than ipaddress (spoofed floods miss the cache)
            if ":" in address:
                packed = socket.inet_pton(socket.AF_INET6, address.split("%", 1)[0])
                if packed[:12] == _V4_MAPPED:
                    packed = packed[12:]
            else:
                packed = socket.inet_pton(socket.AF_INET, address)
        except (OSError, ValueError):
            return False
        value = int.from_bytes(packed, "big")
        nets = self.v4 if len(packed) == 4 else self.v6
        return any(value & mask == net for net, mask in nets)


class ExporterGate:
    """Allowed sources: ``networks`` (the setting) plus the watched allow file, if any.

    ``open`` is True when neither is configured: every source is allowed.
    """

    def __init__(
        self,
        networks: Iterable[IPNetwork] = (),
        allow_file: WatchedFile[AllowList] | None = None,
        max_labels: int = 64,
    ) -> None:
        self.static = list(networks)
        self.allow_file = allow_file
        self.open = not self.static and allow_file is None
        self.max_labels = max_labels
        self._labels: set[str] = set()
        self._version = -1
        self._cache: dict[str, bool] = {}
        self._match = self._rebuild()

    @classmethod
    def from_settings(
        cls,
        allowed: str,
        allow_file: str,
        max_labels: int = 64,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> ExporterGate:
        """Build from ALLOWED_EXPORTERS and ALLOWED_EXPORTERS_FILE (raises ConfigError)."""
        try:
            static = parse_networks(allowed)
        except ValueError as exc:
            raise AllowListError(f"ALLOWED_EXPORTERS: {exc}") from None
        watched = None
        if allow_file:
            watched = WatchedFile.open(
                allow_file, load_allow_list, what="allow file", component=COMPONENT,
                reason="bad_allow_file", reload_interval=reload_interval, clock=clock,
            )  # fmt: skip
        return cls(static, watched, max_labels)

    def _rebuild(self) -> _Matcher:
        nets = list(self.static)
        if self.allow_file is not None:
            nets += self.allow_file.value.networks
            self._version = self.allow_file.version
        self._cache = {}
        return _Matcher(nets)

    def allows(self, source: str) -> bool:
        """Whether export packets from ``source`` (the UDP source address) are taken."""
        if self.open:
            return True
        watched = self.allow_file
        if watched is not None and watched.due():
            watched.check()
            if watched.version != self._version:
                self._match = self._rebuild()
                log.info("allow file %s reloaded: %d entries", watched.path,
                         len(watched.value.networks))  # fmt: skip
        hit = self._cache.get(source)
        if hit is None:
            hit = self._match(source)
            if len(self._cache) >= CACHE_MAX:
                self._cache = {}
            self._cache[source] = hit
        return hit

    def label(self, source: str) -> str:
        """The metric label of a denied source: itself for the first ``max_labels``, else
        ``other``."""
        if source in self._labels:
            return source
        if len(self._labels) < self.max_labels:
            self._labels.add(source)
            return source
        return OTHER

    def describe(self) -> str:
        if self.open:
            return "every source (no ALLOWED_EXPORTERS / ALLOWED_EXPORTERS_FILE)"
        parts = [f"{len(self.static)} from ALLOWED_EXPORTERS"] if self.static else []
        if self.allow_file is not None:
            n = len(self.allow_file.value.networks)
            parts.append(f"{n} from {self.allow_file.path}")
        return "only " + " + ".join(parts)
