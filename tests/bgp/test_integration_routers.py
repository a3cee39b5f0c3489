"""Real routers -> ExaBGP -> bridge -> real Kafka, read back with kcat and checked field by field.

gobgpd (route reflector, AS 65001, ADD-PATH send) and BIRD (second router) peer with one ExaBGP
speaker that also has 118 passive neighbours nobody connects to (120 in its configuration). The
routes are injected with gobgp's CLI and ``gobgp mrt inject`` (for what the CLI cannot set:
confederation segments, atomic-aggregate, an unknown attribute); the expected values below are
those inputs, and the ADD-PATH path ids are the ones gobgp itself reports sending (adj-out).
The tests of this module share one lab (tests/bgp/routers_lab.py) and run in file order.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.bgp.lab import (
    BIRD,
    GOBGP,
    Daemon,
    gobgp,
    speaker_env,
    start_bird,
    start_gobgpd,
    start_speaker,
    wait_for,
)
from tests.bgp.routers_lab import (
    Lab,
    adj_out_path_ids,
    announced,
    eors,
    header_ok,
    inject_mrt_routes,
    load_gobgp,
    neighbours_file,
)
from tests.fixtures.kafka import delete_topics, free_port

pytestmark = pytest.mark.integration

RR = {"originator_id": "10.0.0.21", "cluster_list": ["10.0.0.21"]}


@pytest.fixture(scope="module")
def lab(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("bgp-lab")
    topic = f"test-bgp-updates-{os.getpid()}-{int(time.time())}"
    daemons: list[Daemon] = []
    try:
        gobgpd = start_gobgpd(workdir)
        daemons.append(gobgpd)
        load_gobgp()
        inject_mrt_routes(workdir)
        wait_for(
            "gobgp's RIB",
            lambda: "198.51.100.0/24" in gobgp("global", "rib", "-a", "ipv4").stdout,
            30,
        )
        bird = start_bird(workdir)
        daemons.append(bird)
        port = free_port()
        env = speaker_env(
            kafka_broker,
            topic,
            workdir,
            BGP_NEIGHBORS_FILE=str(neighbours_file(workdir)),
            METRICS_PORT=str(port),
        )
        speaker = start_speaker(env, workdir)
        daemons.append(speaker)
        yield Lab(kafka_broker, topic, workdir, gobgpd, bird, speaker, port)
    finally:
        for d in reversed(daemons):
            d.stop()
        delete_topics(kafka_broker, topic, f"{topic}-dlq")


def test_gobgp_initial_table_field_by_field(lab: Lab) -> None:
    events = wait_for(
        "gobgp's End-of-RIB for both families",
        lambda: (
            (evs := lab.events(GOBGP)) and eors(evs) >= {"ipv4 unicast", "ipv6 unicast"} and evs
        ),
        90,
    )
    epoch = events[0]["epoch"]
    assert [e["seq"] for e in events] == list(range(len(events))), "per-router seq, no gaps"
    assert all(e["epoch"] == epoch for e in events)
    assert (events[0]["type"], events[0]["state"], events[0]["reason"]) == (
        "session",
        "down",
        "bridge-restart",
    )
    up = next(i for i, e in enumerate(events) if e["type"] == "session" and e["state"] == "up")
    for e in events[up:]:
        header_ok(e, GOBGP, "10.0.0.21")  # the router's id, learnt from its OPEN
    routes = announced(events)
    sent = adj_out_path_ids()
    # ADD-PATH: both paths of 203.0.113.0/24, with the ids gobgp says it used
    (pid_a,) = [pid for pfx, pid in sent["192.0.2.1"] if pfx == "203.0.113.0/24"]
    (pid_b,) = [pid for pfx, pid in sent["192.0.2.2"] if pfx == "203.0.113.0/24"]
    assert pid_a != pid_b and pid_a > 0 and pid_b > 0
    assert routes[("203.0.113.0/24", pid_a)] == (
        "192.0.2.1",
        "ipv4 unicast",
        {
            "origin": "igp",
            "as_path": [
                {"type": "as-sequence", "asns": [65010, 4200000001]},
                {"type": "as-set", "asns": [65100, 65101]},
            ],
            "med": 50,
            "local_pref": 200,
            "communities": ["65001:100", "65535:65281"],
            "large_communities": ["65001:1:1", "4200000001:2:3"],
            "ext_communities": ["target:65001:7"],
            "aggregator": "65020:192.0.2.9",
            **RR,
        },
    )
    assert routes[("203.0.113.0/24", pid_b)] == (
        "192.0.2.2",
        "ipv4 unicast",
        {
            "origin": "egp",
            "as_path": [{"type": "as-sequence", "asns": [65011]}],
            "local_pref": 90,
            **RR,
        },
    )
    (pid_c,) = [pid for pfx, pid in sent["192.0.2.7"] if pfx == "198.51.100.0/24"]
    assert routes[("198.51.100.0/24", pid_c)] == (
        "192.0.2.7",
        "ipv4 unicast",
        {
            "origin": "incomplete",
            "as_path": [
                {"type": "confed-sequence", "asns": [65500, 65501]},
                {"type": "as-sequence", "asns": [65010, 4200000002]},
                {"type": "confed-set", "asns": [65502]},
                {"type": "as-set", "asns": [65100, 65101]},
            ],
            "med": 4000000000,
            "local_pref": 100,  # gobgp adds the iBGP default
            "atomic_aggregate": True,
            "aggregator": "4200000003:192.0.2.99",
            "raw": {"attribute-0x63-0xE0": "0xdeadbeef"},  # gobgp sets the partial bit
            **RR,
        },
    )
    (pid_d,) = [pid for pfx, pid in sent["2001:db8::1"] if pfx == "2001:db8:100::/48"]
    assert routes[("2001:db8:100::/48", pid_d)] == (
        "2001:db8::1",
        "ipv6 unicast",
        {
            "origin": "incomplete",
            "as_path": [{"type": "as-sequence", "asns": [65030, 4200000009]}],
            "med": 7,
            "local_pref": 100,
            "communities": ["65001:600"],
            "large_communities": ["65001:6:6"],
            "ext_communities": ["target:65001:8"],
            **RR,
        },
    )
    assert {k[0] for k in routes} == {
        "203.0.113.0/24",
        "198.51.100.0/24",
        "100.64.0.0/32",
        "2001:db8:100::/48",
    }


def test_bird_initial_table_field_by_field(lab: Lab) -> None:
    events = wait_for(
        "BIRD's End-of-RIB for both families",
        lambda: (evs := lab.events(BIRD)) and eors(evs) >= {"ipv4 unicast", "ipv6 unicast"} and evs,
        90,
    )
    assert [e["seq"] for e in events] == list(range(len(events)))
    up = next(i for i, e in enumerate(events) if e["type"] == "session" and e["state"] == "up")
    for e in events[up:]:
        header_ok(e, BIRD, "10.0.0.22")
    routes = announced(events)
    assert routes == {
        ("203.0.113.0/24", 0): (
            "192.0.2.5",
            "ipv4 unicast",
            {
                "origin": "igp",
                "as_path": [{"type": "as-sequence", "asns": [65010, 65020]}],
                "med": 55,
                "local_pref": 210,
                "communities": ["65001:100"],
                "large_communities": ["65001:5:5"],
            },
        ),
        ("192.0.2.128/25", 0): (
            "192.0.2.5",
            "ipv4 unicast",
            {
                "origin": "incomplete",
                "as_path": [{"type": "as-sequence", "asns": [4200000001]}],
                "local_pref": 90,
                "communities": ["65535:65281"],
                "ext_communities": ["target:65001:9"],
            },
        ),
        ("2001:db8:300::/48", 0): (
            "2001:db8::5",
            "ipv6 unicast",
            {
                "origin": "igp",
                "as_path": [{"type": "as-sequence", "asns": [65061, 65060]}],
                "local_pref": 300,
                "large_communities": ["65001:3:3"],
            },
        ),
    }


def test_live_announce_and_withdraws_with_path_ids(lab: Lab) -> None:
    before = len(lab.events(GOBGP))
    sent = adj_out_path_ids()
    (pid_b,) = [pid for pfx, pid in sent["192.0.2.2"] if pfx == "203.0.113.0/24"]
    (pid_v6,) = [pid for pfx, pid in sent["2001:db8::1"] if pfx == "2001:db8:100::/48"]
    gobgp(
        "global",
        "rib",
        "-a",
        "ipv4",
        "add",
        "192.0.2.64/26",
        "origin",
        "igp",
        "aspath",
        "4200000100",
        "nexthop",
        "192.0.2.3",
        "local-pref",
        "111",
    )
    gobgp("global", "rib", "-a", "ipv4", "del", "203.0.113.0/24", "identifier", "20")
    gobgp("global", "rib", "-a", "ipv6", "del", "2001:db8:100::/48")
    new = wait_for(
        "the live changes",
        lambda: (
            (evs := lab.events(GOBGP)[before:])
            and sum(1 for e in evs if e["type"] == "update") >= 3
            and evs
        ),
        60,
    )
    updates = [e for e in new if e["type"] == "update"]
    withdrawn = {
        (g["family"], n["prefix"], n["path_id"])
        for e in updates
        for g in e["withdraw"]
        for n in g["nlri"]
    }
    assert withdrawn == {
        ("ipv4 unicast", "203.0.113.0/24", pid_b),
        ("ipv6 unicast", "2001:db8:100::/48", pid_v6),
    }
    assert all(e["attrs"] == {} for e in updates if e["withdraw"])
    (live,) = [e for e in updates if e["announce"]]
    assert live["announce"][0]["next_hop"] == "192.0.2.3"
    assert live["announce"][0]["nlri"][0]["prefix"] == "192.0.2.64/26"
    assert live["attrs"]["as_path"] == [{"type": "as-sequence", "asns": [4200000100]}]
    assert live["attrs"]["local_pref"] == 111
    seqs = [e["seq"] for e in lab.events(GOBGP)]
    assert seqs == list(range(len(seqs)))


def test_metrics_are_served(lab: Lab) -> None:
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{lab.metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    lines = {
        ln.split(" ")[0]: float(ln.split(" ")[1])
        for ln in body.splitlines()
        if ln and not ln.startswith("#")
    }
    assert lines["ribflow_bridge_lines_total"] > 0
    assert lines['ribflow_bridge_events_total{type="update"}'] >= 7
    assert lines['ribflow_bridge_sessions{state="up"}'] == 2
    assert "ribflow_bridge_buffer_fill_ratio" in lines


def test_bridge_restart_relearns_the_table_under_a_new_epoch(lab: Lab) -> None:
    old = lab.events(GOBGP)
    old_epoch = old[-1]["epoch"]
    pid = lab.bridge_pid()
    assert pid is not None, "the bridge runs as ExaBGP's child"
    os.kill(pid, signal.SIGKILL)  # a crash, not a clean stop: ExaBGP respawns it

    def relearnt() -> list[dict[str, Any]] | None:
        evs = [e for e in lab.events(GOBGP) if e["epoch"] != old_epoch]
        routes = announced(evs)
        return (
            evs
            if (
                "198.51.100.0/24" in {k[0] for k in routes}
                and "192.0.2.64/26" in {k[0] for k in routes}
            )
            else None
        )

    new = wait_for("the table under the new epoch", relearnt, 90)
    assert new[0]["epoch"] > old_epoch
    assert [e["seq"] for e in new] == list(range(len(new)))
    assert (new[0]["state"], new[0]["reason"]) == ("down", "bridge-restart")
    assert (new[1]["type"], new[1]["state"], new[1]["reason"]) == (
        "session",
        "up",
        "bridge-restart",
    )
    routes = announced(new)
    # the withdrawn paths stay withdrawn: the refresh resends what the router has now
    assert {k[0] for k in routes} == {
        "203.0.113.0/24",
        "198.51.100.0/24",
        "100.64.0.0/32",
        "192.0.2.64/26",
    }
    assert [nh for (pfx, _), (nh, _, _) in routes.items() if pfx == "203.0.113.0/24"] == [
        "192.0.2.1"
    ]
    # BIRD's table is relearnt as well
    bird = wait_for(
        "BIRD's table under the new epoch",
        lambda: (evs := lab.events(BIRD, new[0]["epoch"])) and len(announced(evs)) == 3 and evs,
        60,
    )
    assert (bird[1]["state"], bird[1]["reason"]) == ("up", "bridge-restart")


def test_router_stop_gives_a_down_at_once(lab: Lab) -> None:
    before = len(lab.events(GOBGP))
    stopped = time.time()
    lab.gobgpd.stop()
    down = wait_for(
        "the down event of the stopped router",
        lambda: next(
            (
                e
                for e in lab.events(GOBGP)[before:]
                if e["type"] == "session" and e["state"] == "down"
            ),
            None,
        ),
        30,
        every=0.2,
    )
    assert "notification received" in down["reason"] or "closing" in down["reason"]
    assert down["time_ms"] / 1000 - stopped < 10


def test_exabgp_shutdown_closes_the_remaining_session(lab: Lab) -> None:
    before = len(lab.events(BIRD))
    assert lab.speaker.stop() == 0
    evs = lab.events(BIRD)[before:]
    downs = [e for e in evs if e["type"] == "session" and e["state"] == "down"]
    assert downs, "BIRD's session is reported down when ExaBGP stops"
    assert lab.bird.alive()
