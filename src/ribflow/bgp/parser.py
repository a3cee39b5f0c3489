"""ExaBGP JSON lines -> bgp-updates events (sans I/O: bytes in, (keys, event) pairs out).

:class:`EventBuilder` holds what one bridge process (one *epoch*) knows: the peers (router-id map,
session state), the sequence number of each router and the key of each router. ``feed(line)``
turns one line of ExaBGP's API stream into zero or more events:

=================  ==========================================================================
ExaBGP ``type``    events
=================  ==========================================================================
``state``          ``session`` (connected / up / down + reason)
``open``           none; the router's BGP identifier goes into the peer -> router-id map
``update``         ``update`` (attributes once; announce grouped by family and next hop;
                   withdraws), or ``eor`` for an End-of-RIB marker
``refresh``        ``refresh`` (route-refresh / enhanced route-refresh BoRR, EoRR)
``notification``   none (the ``state down`` that follows carries the reason); the neighbour-
                   less ``shutdown`` one gives a ``down`` for every live session
(a JSON list)      ExaBGP's ``show neighbor json`` answer: an ``up`` (bridge-restart) for each
                   session established before this epoch, which is also queued for a refresh
keepalive, ...     none (counted)
=================  ==========================================================================

A line that is not JSON, not an object, of an unknown type or missing what its type needs raises
:class:`~ribflow.bgp.errors.BadLine` (the bridge dead-letters it). Unknown families and
attributes are not errors: they travel raw.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ribflow.bgp.attrs import apply_wire_types, normalise_attrs
from ribflow.bgp.errors import BadLine
from ribflow.bgp.events import (
    REASON_BRIDGE_RESTART,
    REASON_EXABGP_SHUTDOWN,
    VERSION,
    Announce,
    Attrs,
    Event,
    Withdraw,
)
from ribflow.bgp.keys import RouterKeyMode, RouterKeys
from ribflow.bgp.neighbors import NeighborSpec
from ribflow.bgp.nlri import NlriReader
from ribflow.bgp.peers import Peer, PeerTable
from ribflow.bgp.rd import RdReader
from ribflow.bgp.repair import repair_line
from ribflow.bgp.wire import aspath_segment_types

Keyed = tuple[tuple[bytes, ...], Event]

SESSION_STATES = frozenset({"connected", "up", "down"})
# known ExaBGP message types that carry nothing for the topic
IGNORED_TYPES = frozenset({"keepalive", "negotiated", "fsm", "signal", "operational"})
# answers ExaBGP writes when API acknowledgements are on (we turn them off; tolerate them anyway)
ACK_LINES = frozenset({b"done", b"error", b"shutdown"})
_MAX32 = 0xFFFFFFFF
_MAX_TIME = 1 << 42  # ms: year 2109


def _asn(value: Any) -> int | None:
    """An AS number as the schema wants it, or None."""
    return value if type(value) is int and 0 <= value <= _MAX32 else None


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


class EventBuilder:
    """Turns ExaBGP API lines into keyed events for one epoch of the bridge."""

    def __init__(
        self,
        epoch_ms: int,
        keys: RouterKeys | None = None,
        key_mode: RouterKeyMode = "peer",
        wire_aspath: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.epoch = epoch_ms
        self.keys = keys or RouterKeys()
        self.key_mode = key_mode
        self.wire_aspath = wire_aspath
        self.peers = PeerTable()
        self.stats: Counter[str] = Counter()
        self.shutdown_seen = False  # set by ExaBGP's shutdown notification (the bridge flushes)
        # (peer address, families) whose table must be asked again (sessions older than the epoch)
        self.refresh_wanted: list[tuple[str, list[str]]] = []
        self._clock = clock
        self._seq: dict[str, int] = {}
        self._nlri = NlriReader(self.stats)
        self._dispatch: dict[str, Callable[[dict[str, Any]], list[Keyed]]] = {
            "update": self._update,
            "state": self._state,
            "open": self._open,
            "refresh": self._refresh,
            "notification": self._notification,
        }

    # ------------------------------------------------------------------ entry points
    def feed(self, line: bytes | str) -> list[Keyed]:
        """Events of one ExaBGP line (possibly none). Raises :class:`BadLine`."""
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            stripped = (
                line.strip() if isinstance(line, bytes) else line.strip().encode("utf-8", "replace")
            )
            if stripped in ACK_LINES:
                self.stats["ignored:ack"] += 1
                return []
            msg = repair_line(line, self.stats)
            if msg is None:
                raise BadLine("invalid-json", str(exc)) from None
        handler: Callable[[Any], list[Keyed]] | None
        if type(msg) is dict:
            kind = msg.get("type")
            handler = self._dispatch.get(kind) if type(kind) is str else None
            if handler is None:
                if type(kind) is str and kind in IGNORED_TYPES:
                    self.stats[f"ignored:{kind}"] += 1
                    return []
                raise BadLine("unknown-message", f"type {kind!r:.80}")
        elif type(msg) is list and msg and all(type(i) is dict and "peer" in i for i in msg):
            kind, handler = "snapshot", self._snapshot
        else:
            raise BadLine("not-an-object", type(msg).__name__)
        try:
            return handler(msg)
        except BadLine:
            raise
        except Exception as exc:  # whatever the shape, a bad line is the sender's problem
            raise BadLine("malformed", f"{kind}: {type(exc).__name__}: {exc}") from None

    def start(self, neighbors: Iterable[NeighborSpec] = ()) -> list[Keyed]:
        """Events of a bridge start: a ``down`` (reason ``bridge-restart``) per configured
        neighbour, so every consumer drops what an earlier epoch left for that router."""
        out: list[Keyed] = []
        now = self._now_ms()
        for spec in neighbors:
            peer = self.peers.get(spec.address)
            peer.router_id = spec.router_id
            peer.peer_as = spec.peer_as
            if spec.shards:
                self.keys.set_shards(self.router_of(peer), spec.shards)
            out.append(self._session(peer, "down", REASON_BRIDGE_RESTART, now))
        return out

    def router_of(self, peer: Peer) -> str:
        """The router key (without shard) of a peer."""
        if self.key_mode == "router-id" and peer.router_id:
            return peer.router_id
        return peer.address

    # ------------------------------------------------------------------ helpers
    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _time_ms(self, msg: dict[str, Any]) -> int:
        t = msg.get("time")
        if type(t) is float or type(t) is int:
            ms = int(t * 1000)
            if 0 <= ms < _MAX_TIME:
                return ms
        self.stats["time-from-bridge"] += 1
        return self._now_ms()

    def _peer(self, msg: dict[str, Any]) -> Peer:
        n = msg["neighbor"]
        addr = n["address"]
        address = addr["peer"]
        if type(address) is not str or not address:
            raise BadLine("malformed", "neighbor.address.peer is not an address")
        peer = self.peers.get(address)
        peer.local = _text(addr.get("local"))
        asn = n.get("asn")
        if asn:
            peer.local_as = _asn(asn.get("local"))
            peer.peer_as = _asn(asn.get("peer"))
        return peer

    def _header(self, peer: Peer, kind: str, time_ms: int) -> dict[str, Any]:
        router = self.router_of(peer)
        seq = self._seq.get(router, 0)
        self._seq[router] = seq + 1
        return {
            "v": VERSION,
            "type": kind,
            "router": router,
            "peer": peer.address,
            "peer_as": peer.peer_as,
            "local": peer.local,
            "local_as": peer.local_as,
            "router_id": peer.router_id,
            "time_ms": time_ms,
            "epoch": self.epoch,
            "seq": seq,
        }

    def _keyed(self, event: dict[str, Any]) -> Keyed:
        self.stats[f"event:{event['type']}"] += 1
        return self.keys.keys(event["router"]), event  # type: ignore[return-value]

    def _session(self, peer: Peer, state: str, reason: str | None, time_ms: int) -> Keyed:
        peer.state = state
        event = self._header(peer, "session", time_ms)
        event["state"] = state
        event["reason"] = reason
        return self._keyed(event)

    def _established(self, peer: Peer, time_ms: int, out: list[Keyed]) -> None:
        """A route message from a peer ExaBGP has not reported up in this epoch: the session
        was up before the bridge (re)started. Say so (once) before its first route event."""
        if not peer.seen_up and not peer.assumed_up:
            peer.assumed_up = True
            out.append(self._session(peer, "up", REASON_BRIDGE_RESTART, time_ms))

    # ------------------------------------------------------------------ message types
    def _state(self, msg: dict[str, Any]) -> list[Keyed]:
        peer = self._peer(msg)
        n = msg["neighbor"]
        state = n["state"]
        if state not in SESSION_STATES:
            raise BadLine("unknown-state", f"state {state!r}")
        reason = n.get("reason") if state == "down" else None
        if reason is not None and type(reason) is not str:
            reason = str(reason)
        if state == "up":
            peer.seen_up = True
        elif state == "down":
            peer.seen_up = peer.assumed_up = False
        return [self._session(peer, state, reason, self._time_ms(msg))]

    def _snapshot(self, items: list[dict[str, Any]]) -> list[Keyed]:
        """ExaBGP's answer to ``show neighbor json`` (the bridge asks at start): sessions that
        are up but were not reported up in this epoch were established before this bridge, so
        their table went to an earlier one. Each gets an ``up`` (bridge-restart) and is put in
        ``refresh_wanted`` (the bridge asks ExaBGP for a route refresh)."""
        out: list[Keyed] = []
        now = self._now_ms()
        self.stats["snapshot"] += 1
        for item in items:
            remote = item.get("peer")
            if not isinstance(remote, dict) or not isinstance(remote.get("address"), str):
                continue
            if item.get("state") != "up":
                continue
            peer = self.peers.get(remote["address"])
            if peer.seen_up or peer.refreshed:
                continue
            peer.router_id = _text(remote.get("id")) or peer.router_id
            peer.peer_as = _asn(remote.get("as")) or peer.peer_as
            local = item.get("local")
            if isinstance(local, dict):
                peer.local = _text(local.get("address")) or peer.local
                peer.local_as = _asn(local.get("as")) or peer.local_as
            self._established(peer, now, out)
            families = [f for f in item.get("families", []) if isinstance(f, str)]
            peer.refreshed = True
            self.refresh_wanted.append((peer.address, families))
        return out

    def _received(self, msg: dict[str, Any], what: str) -> tuple[Peer, dict[str, Any]] | None:
        """The peer and the ``neighbor`` part of a message the router sent; None (counted as
        ignored) for the copy of one ExaBGP sent."""
        peer = self._peer(msg)
        n: dict[str, Any] = msg["neighbor"]
        if n.get("direction", "receive") != "receive":
            self.stats[f"ignored:{what}-sent"] += 1
            return None
        return peer, n

    def _open(self, msg: dict[str, Any]) -> list[Keyed]:
        if (received := self._received(msg, "open")) is None:
            return []
        peer, n = received
        opened = n["open"]
        router_id = opened.get("router_id")
        if isinstance(router_id, str):
            peer.router_id = router_id
        caps = opened.get("capabilities")
        if isinstance(caps, dict):
            peer.asn4 = "65" in caps
        self.stats["open"] += 1
        return []

    def _notification(self, msg: dict[str, Any]) -> list[Keyed]:
        if "neighbor" not in msg:
            if msg.get("notification") != "shutdown":
                raise BadLine("unknown-notification", repr(msg.get("notification"))[:80])
            now = self._time_ms(msg)
            self.shutdown_seen = True
            return [
                self._session(p, "down", REASON_EXABGP_SHUTDOWN, now)
                for p in self.peers
                if p.state in ("up", "connected")
            ]
        peer = self._peer(msg)
        note = msg["neighbor"]["notification"]
        peer.last_notification = f"{note.get('code')},{note.get('subcode')}"
        self.stats["notification"] += 1
        return []

    def _refresh(self, msg: dict[str, Any]) -> list[Keyed]:
        peer = self._peer(msg)
        n = msg["neighbor"]
        rr = n["route-refresh"]
        time_ms = self._time_ms(msg)
        out: list[Keyed] = []
        self._established(peer, time_ms, out)
        event = self._header(peer, "refresh", time_ms)
        event["family"] = f"{rr['afi']} {rr['safi']}"
        event["subtype"] = str(rr.get("subtype", ""))
        out.append(self._keyed(event))
        return out

    def _update(self, msg: dict[str, Any]) -> list[Keyed]:
        if (received := self._received(msg, "update")) is None:
            return []
        peer, n = received
        message = n["message"]
        time_ms = self._time_ms(msg)
        out: list[Keyed] = []
        update = message.get("update")
        if update is None:
            eor = message.get("eor")
            if eor is None:
                raise BadLine("unknown-update", f"message keys {sorted(message)[:5]}")
            self._established(peer, time_ms, out)
            event = self._header(peer, "eor", time_ms)
            event["family"] = f"{eor['afi']} {eor['safi']}"
            out.append(self._keyed(event))
            return out

        body = msg.get("body")
        rds = RdReader(body if type(body) is str else None)
        announce: list[Announce] = []
        for family, by_next_hop in update.get("announce", {}).items():
            for next_hop, items in by_next_hop.items():
                nlri = self._nlri.nlris(items, rds)
                self.stats["nlri:announce"] += len(nlri)
                announce.append(
                    {
                        "family": family,
                        "next_hop": None if next_hop == "null" else next_hop,
                        "nlri": nlri,
                    }
                )
        withdraw: list[Withdraw] = []
        for family, items in update.get("withdraw", {}).items():
            nlri = self._nlri.nlris(items, rds)
            self.stats["nlri:withdraw"] += len(nlri)
            withdraw.append({"family": family, "nlri": nlri})
        if not announce and not withdraw:
            self.stats["ignored:empty-update"] += 1
            return []

        if rds.guessed:
            self.stats["rd-type-guessed"] += rds.guessed
        source = update.get("attribute")
        attrs: Attrs = normalise_attrs(source, self._bad_attr) if source else {}
        if self.wire_aspath and "as_path" in attrs and type(body) is str:
            apply_wire_types(attrs, aspath_segment_types(body, peer.asn4))

        self._established(peer, time_ms, out)
        event = self._header(peer, "update", time_ms)
        event["attrs"] = attrs
        event["announce"] = announce
        event["withdraw"] = withdraw
        out.append(self._keyed(event))
        return out

    # ------------------------------------------------------------------ attributes
    def _bad_attr(self, name: str) -> None:
        self.stats[f"attr-raw:{name}"] += 1
