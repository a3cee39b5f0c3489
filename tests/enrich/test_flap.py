"""Stale routes after a flapping BGP session, end to end with every component real.

A real gobgpd router (the lab renderer :class:`~ribflow.lab.router.RouterConfig`) peers with a
real ExaBGP whose JSON goes through the ribflow bridge into a ``bgp-updates`` topic; a real
``ribflow enricher`` process consumes it. The session flaps three ways: gobgpd stopped and
started again, hold-timer expiry (ExaBGP frozen with SIGSTOP, so the router drops the session
on its own), and ``gobgp neighbor disable``/``enable``; the router's table changes while the
session is down. (``gobgp neighbor reset`` is not used: gobgpd 3.10 then refuses the speaker
for 30 s whatever ``idle-hold-time-after-reset`` says, which would double the runtime.)

After the last re-establishment and End-of-RIB the enricher must hold exactly the router's
table: the expected values come from gobgpd itself (``gobgp global rib -j`` and its own
longest-prefix lookups), and the enricher's side is read back with kcat (its compacted
``bgp-rib`` table topic, materialised, and the enriched flows).

Loopback addresses 127.0.0.150 (gobgpd) and 127.0.0.151 (ExaBGP), gRPC port 50250 only. Every
daemon is stopped by its pid, also when the test fails.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.lab.errors import StartFailed
from ribflow.lab.router import Gobgp, Peer, RouterConfig, gobgpd_argv, path_attributes
from ribflow.schemas import validate
from tests.bgp.lab import Daemon, children
from tests.bgp.lab import kcat_read as kcat_envelopes
from tests.enrich.kafka_io import EnricherProcess, enricher_env, kcat_read, produce, read_json
from tests.fixtures import waiting
from tests.rib.builders import flow, flows_message

pytestmark = pytest.mark.integration

ROUTER = "127.0.0.150"
EXA = "127.0.0.151"
GRPC = 50250
ASN = 65001
PARTITIONS = 2
HOLD = 9  # seconds, both sides
SYNC_TIMEOUT = 60.0  # "it never came": a re-sync takes a few seconds

P1, P2, P3 = "203.0.113.0/24", "198.51.100.0/24", "100.64.10.0/24"
PATH_X, PATH_Y, PATH_P2, PATH_P3 = [65010, 65020], [65030, 65040, 65050], [65060], [65070, 65080]

Table = dict[str, tuple[tuple[int, ...], str | None]]  # prefix -> (AS path, next hop)


def router_toml() -> str:
    """gobgpd with ExaBGP as passive route-reflector client, hold time 9 s (keepalive 3 s)."""
    peer = Peer(EXA, hold_time=HOLD, connect_retry=1, description="flap-test-exabgp")
    return RouterConfig(ROUTER, "10.0.0.150", ASN, (peer,)).toml()


def wait_for(what: str, check: Callable[[], Any], timeout: float = SYNC_TIMEOUT) -> Any:
    """Poll ``check`` until truthy (returned); fail with ``what`` after ``timeout``."""
    return waiting.wait_for(what, check, timeout)


@dataclass
class FlapLab:
    """gobgpd + ExaBGP/bridge + enricher over one set of topics; daemons stopped by pid."""

    broker: str
    topics: dict[str, str]
    workdir: Path
    cli: Gobgp = field(default_factory=lambda: Gobgp(ROUTER, GRPC, timeout=30))
    routes: dict[str, list[int]] = field(default_factory=dict)  # what the router originates
    router: Daemon | None = None
    speaker: Daemon | None = None
    enricher: EnricherProcess | None = None
    frozen: list[int] = field(default_factory=list)  # ExaBGP pids stopped with SIGSTOP
    starts: int = 0
    flows_sent: int = 0

    # -- the router ---------------------------------------------------------------------------
    def start_router(self) -> None:
        conf = self.workdir / "gobgpd.toml"
        conf.write_text(router_toml())
        self.starts += 1
        log = self.workdir / f"gobgpd-{self.starts}.log"
        self.router = Daemon("gobgpd", gobgpd_argv(conf, f"{ROUTER}:{GRPC}"), log)
        wait_for("gobgpd's API", lambda: self.cli.answers() or not self.router_alive(), 30)
        assert self.router_alive(), self.router.tail()
        for prefix, as_path in self.routes.items():
            self.originate(prefix, as_path)

    def router_alive(self) -> bool:
        return self.router is not None and self.router.alive()

    def stop_router(self) -> None:
        if self.router is not None:
            self.router.stop()

    def originate(self, prefix: str, as_path: list[int]) -> None:
        """Announce (or replace) a local route of the router (when gobgpd is not running, the
        next :meth:`start_router` announces it)."""
        self.routes[prefix] = as_path
        if self.router_alive():
            self.cli.add_route(prefix, as_path=as_path, next_hop="10.255.0.1")

    def withdraw(self, prefix: str) -> None:
        self.routes.pop(prefix)
        if self.router_alive():
            self.cli.delete_route(prefix)

    def state(self) -> str:
        try:
            return self.cli.neighbor_state(EXA)
        except (StartFailed, ValueError):  # no API (restarting) or no answer: not established
            return "down"

    def router_table(self) -> Table:
        """gobgpd's own best paths (``gobgp global rib -j``), both families."""
        out: Table = {}
        for family in ("ipv4", "ipv6"):
            data = json.loads(self.cli.run("global", "rib", "-a", family, "-j") or "{}")
            for prefix, paths in data.items():
                best = next((p for p in paths if p.get("best")), paths[0])
                attrs = path_attributes(best)
                out[prefix] = (tuple(attrs["as_path"]), attrs["next_hop"])
        return out

    # -- the speaker ----------------------------------------------------------------------
    def freeze_speaker(self) -> None:
        """SIGSTOP ExaBGP (the speaker's child, by pid): it stops sending keepalives, so the
        router's hold timer expires and it drops the session on its own."""
        assert self.speaker is not None
        pids = children(self.speaker.pid)
        assert pids, "ExaBGP is not running under the speaker"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            self.frozen.append(pid)

    def thaw_speaker(self) -> None:
        while self.frozen:
            os.kill(self.frozen.pop(), signal.SIGCONT)

    # -- the enricher's side ------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """bgp-updates events of the router, in (epoch, seq) order (kcat)."""
        evs = [m["value"] for m in kcat_envelopes(self.broker, self.topics["bgp"])]
        evs = [e for e in evs if e and e.get("router") == ROUTER]
        return sorted(evs, key=lambda e: (e["epoch"], e["seq"]))

    def sessions(self) -> tuple[int, int, bool]:
        """(session ups, losses of an established session, End-of-RIB ipv4 after the last up).

        ExaBGP also reports "down" for connection attempts the router refused (and the bridge
        starts with one of its own): only a "down" after an "up" is a flap."""
        evs = self.events()
        ups, downs, last, was_up = 0, 0, len(evs), False
        for i, e in enumerate(evs):
            if e["type"] != "session":
                continue
            if e["state"] == "up":
                ups, last, was_up = ups + 1, i, True
            elif e["state"] == "down" and was_up:
                downs, was_up = downs + 1, False
        eor = any(e["type"] == "eor" and e["family"] == "ipv4 unicast" for e in evs[last:])
        return ups, downs, eor

    def wait_downs(self, downs: int, what: str) -> None:
        """Wait until the bridge reported ``downs`` session losses since the first up."""
        wait_for(what, lambda: self.sessions()[1] >= downs)

    def wait_ups(self, ups: int, what: str) -> None:
        wait_for(what, lambda: self.sessions()[0] >= ups)

    def enricher_table(self) -> Table:
        """The compacted bgp-rib topic materialised: last value per key, tombstones delete."""
        latest: dict[str, bytes | None] = {}
        for raw_key, raw in kcat_read(self.broker, self.topics["rib"], 0, timeout=0):
            latest[raw_key.decode()] = raw
        out: Table = {}
        for key, value in latest.items():
            if value is None:
                continue
            rec = orjson.loads(value)
            validate("bgp-rib.v1", rec)
            router, prefix, _ = key.split("|")
            assert (router, prefix) == (rec["router"], rec["prefix"]), key
            if router != ROUTER:
                continue
            as_path = tuple(a for seg in rec["attrs"].get("as_path", []) for a in seg["asns"])
            assert prefix not in out, f"two paths for {prefix} (no ADD-PATH here): {key}"
            out[prefix] = (as_path, rec["attrs"]["next_hop"])
        return out

    def wait_synced(self, ups: int) -> Table:
        """Wait for session up number ``ups`` and its End-of-RIB in bgp-updates, then for the
        enricher's table to equal the router's; returns that table."""
        wait_for(f"session #{ups} established", lambda: self.state() == "established")
        wait_for(
            f"session up #{ups} and End-of-RIB in bgp-updates",
            lambda: (s := self.sessions())[0] >= ups and s[2],
        )
        assert self.sessions()[0] == ups, "more session ups than flaps"
        table = self.router_table()
        assert set(table) == set(self.routes), (table, self.routes)
        try:
            wait_for(
                "the enricher's bgp-rib to equal gobgpd's RIB",
                lambda: self.enricher_table() == table,
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n router: {table}\n enricher: {self.enricher_table()}"
            ) from None
        assert self.router_table() == table, "the router changed while we compared"
        assert self.enricher is not None and self.enricher.alive(), self.enricher_log()
        return table

    def enricher_log(self) -> str:
        return self.enricher.log()[-3000:] if self.enricher else ""

    # -- flows --------------------------------------------------------------------------------
    def enrich(self, destinations: list[str]) -> dict[str, dict[str, Any]]:
        """Send one flow to each destination; the enriched records by destination."""
        now = int(time.time() * 1000)
        records = [
            flow("10.99.0.1", dst, exporter=ROUTER, sport=30000 + self.flows_sent + i, time_ms=now)
            for i, dst in enumerate(destinations)
        ]
        first = 30000 + self.flows_sent
        message = flows_message(ROUTER, ROUTER, records)
        produce(self.broker, self.topics["flows"], [(ROUTER, message, now)])
        self.flows_sent += len(records)
        got = read_json(self.broker, self.topics["enriched"], self.flows_sent, timeout=60)
        mine = [r for r in got if r["port_src"] >= first]
        assert len(mine) == len(destinations), (mine, self.enricher_log())
        for r in mine:
            validate("flows-enriched.v1", r)
        return {r["ip_dst"]: r for r in mine}

    def check_flows(self, destinations: list[str]) -> None:
        """Enriched flows agree with gobgpd's own longest-prefix match for each destination."""
        got = self.enrich(destinations)
        for dst in destinations:
            best = self.cli.lookup(dst)
            r = got[dst]
            if best is None:
                assert (r["as_path"], r["as_dst"], r["mask_dst"]) == ("", 0, 0), r
                continue
            net, mask = best["prefix"].split("/")
            want = ("_".join(map(str, best["as_path"])), best["as_path"][-1], net, int(mask))
            assert (r["as_path"], r["as_dst"], r["net_dst"], r["mask_dst"]) == want, r


def host(prefix: str, n: int = 9) -> str:
    """An address inside ``prefix``."""
    return str(ipaddress.ip_network(prefix)[n])


@contextmanager
def flap_lab(
    broker: str, topics: dict[str, str], workdir: Path, routes: dict[str, list[int]]
) -> Iterator[FlapLab]:
    """Router (with ``routes``), enricher, then ExaBGP + bridge; all stopped by pid at the end."""
    lab = FlapLab(broker, topics, workdir)
    lab.routes = dict(routes)
    try:
        lab.start_router()
        env = enricher_env(broker, topics, workdir / "state", topics["group"])
        lab.enricher = EnricherProcess(env, workdir / "enricher.log").start()
        mine = ("BGP_", "BRIDGE_", "EXABGP_")
        speaker_env = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
        speaker_env.update(
            {
                "Quix__Broker__Address": broker,
                "BGP_UPDATES_TOPIC": topics["bgp"],
                "PARTITIONS": str(PARTITIONS),
                "BGP_NEIGHBORS": ROUTER,
                "BGP_LOCAL_ADDRESS": EXA,
                "BGP_ROUTER_ID": "10.0.0.151",
                "BGP_HOLD_TIME": str(HOLD),
                "EXABGP_CONFIG_DIR": str(workdir / "exabgp"),
                "LOG_LEVEL": "INFO",
            }
        )
        cmd = [sys.executable, "-m", "ribflow", "exabgp", "run"]
        lab.speaker = Daemon("speaker", cmd, workdir / "speaker.log", env=speaker_env)
        yield lab
    finally:
        lab.thaw_speaker()
        if lab.speaker is not None:
            lab.speaker.stop()
        if lab.enricher is not None:
            lab.enricher.stop()
        lab.stop_router()


def test_flapping_session_leaves_no_stale_route(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=PARTITIONS)
    dsts = [host(P1), host(P2), host(P3)]
    with flap_lab(kafka_broker, t, tmp_path, {P1: PATH_X, P2: PATH_P2}) as lab:
        lab.wait_synced(1)
        lab.check_flows(dsts)  # before: P1 via X, P2 routed, P3 unrouted
        assert lab.cli.lookup(host(P1))["as_path"] == PATH_X  # type: ignore[index]

        lab.stop_router()  # flap 1: gobgpd itself goes away and comes back (routes re-added)
        lab.wait_downs(1, "the bridge to report the session down")
        lab.start_router()
        lab.wait_synced(2)

        lab.freeze_speaker()  # flap 2: hold timer expiry; the router changes meanwhile
        wait_for("gobgpd's hold timer to expire", lambda: lab.state() != "established", 3 * HOLD)
        lab.withdraw(P2)
        lab.originate(P1, PATH_Y)
        lab.originate(P3, PATH_P3)
        lab.thaw_speaker()
        lab.wait_synced(3)

        lab.cli.run("neighbor", EXA, "disable")  # flap 3: administrative shutdown, no change
        lab.wait_downs(3, "the session down")
        lab.cli.run("neighbor", EXA, "enable")
        table = lab.wait_synced(4)
        assert lab.sessions()[1] == 3

        assert table == {P1: (tuple(PATH_Y), "10.255.0.1"), P3: (tuple(PATH_P3), "10.255.0.1")}
        lab.check_flows(dsts)  # after: P1 via Y, P2 unenriched (no stale route), P3 via its path
        after = lab.enrich([host(P2, 77)])[host(P2, 77)]
        assert (after["as_path"], after["as_dst"]) == ("", 0), "stale P2 route"


def test_many_rapid_flaps_leave_exactly_the_routers_table(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=PARTITIONS)
    start = {f"100.70.{i}.0/24": [65100 + i] for i in range(6)}
    flaps = 5
    with flap_lab(kafka_broker, t, tmp_path, start) as lab:
        lab.wait_synced(1)
        for n in range(flaps):
            # each flap: down, one withdrawal, one moved path and one new prefix, up again,
            # without waiting for the enricher in between; gobgpd restarts and administrative
            # shutdowns alternate (a restart is the quicker: no idle hold after it)
            restart = n % 2 == 0
            if restart:
                lab.stop_router()
            else:
                lab.cli.run("neighbor", EXA, "disable")
            lab.wait_downs(n + 1, f"flap {n + 1}: session down")
            lab.withdraw(sorted(lab.routes)[0])
            moved = sorted(lab.routes)[-1]
            lab.originate(moved, [*lab.routes[moved], 64900 + n])
            lab.originate(f"100.71.{n}.0/24", [64800 + n])
            if restart:
                lab.start_router()
            else:
                lab.cli.run("neighbor", EXA, "enable")
            lab.wait_ups(n + 2, f"flap {n + 1}: session up again")
        table = lab.wait_synced(flaps + 1)
        assert len(table) == len(start) - flaps + flaps
        gone = [p for p in start if p not in table]
        assert len(gone) == flaps
        lab.check_flows([host(p) for p in sorted(set(start) | set(table))])
