"""Every line of the real ExaBGP captures -> the events written here by hand, field by field.

The expected values were read off the JSON lines (tests/data/bgp/README.md): times are ExaBGP's
``time`` in ms (truncated), ``seq`` counts per router from 0, communities are 'asn:value'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ribflow.bgp.parser import EventBuilder
from ribflow.schemas import validate

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp"
EPOCH = 1_700_000_000_000


def head(
    kind: str, peer: str, local: str, seq: int, time_ms: int, rid: str | None
) -> dict[str, Any]:
    return {
        "v": 1,
        "type": kind,
        "router": peer,
        "peer": peer,
        "peer_as": 65001,
        "local": local,
        "local_as": 65001,
        "router_id": rid,
        "time_ms": time_ms,
        "epoch": EPOCH,
        "seq": seq,
    }


def session(
    peer: str, local: str, seq: int, t: int, rid: str | None, state: str, reason: str | None = None
) -> dict[str, Any]:
    return {**head("session", peer, local, seq, t, rid), "state": state, "reason": reason}


def eor(peer: str, local: str, seq: int, t: int, rid: str, family: str) -> dict[str, Any]:
    return {**head("eor", peer, local, seq, t, rid), "family": family}


def update(
    peer: str,
    local: str,
    seq: int,
    t: int,
    rid: str,
    attrs: dict[str, Any],
    announce: list[dict[str, Any]] | None = None,
    withdraw: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        **head("update", peer, local, seq, t, rid),
        "attrs": attrs,
        "announce": announce or [],
        "withdraw": withdraw or [],
    }


def seq_path(*asns: int) -> list[dict[str, Any]]:
    return [{"type": "as-sequence", "asns": list(asns)}]


def nlri(prefix: str, path_id: int = 0) -> dict[str, Any]:
    return {"prefix": prefix, "path_id": path_id}


# ---------------------------------------------------------------- gobgpd 127.0.0.3 (lab)
G, GL, GID = "127.0.0.3", "127.0.0.2", "10.0.0.3"
RR = {"originator_id": "10.0.0.3", "cluster_list": ["10.0.0.3"]}
A_203 = {
    "origin": "igp",
    "as_path": seq_path(65010, 65020),
    "med": 50,
    "local_pref": 200,
    "communities": ["65001:100", "65001:200"],
    **RR,
    "large_communities": ["65001:1:1", "65001:2:3"],
}
A_198 = {
    "origin": "egp",
    "as_path": seq_path(65030),
    "med": 10,
    "local_pref": 150,
    "communities": ["65001:300", "65535:65281"],
    **RR,
}
A_10_20 = {
    "origin": "incomplete",
    "as_path": seq_path(65040, 65041, 65042),
    "local_pref": 100,
    **RR,
    "large_communities": ["65040:100:200"],
}
A_V6_100 = {
    "origin": "igp",
    "as_path": seq_path(65010, 65020),
    "med": 20,
    "local_pref": 250,
    "communities": ["65001:600"],
    **RR,
    "large_communities": ["65001:6:6"],
}
A_V6_200 = {"origin": "igp", "as_path": seq_path(65050), "local_pref": 120, **RR}

SAMPLES: list[list[dict[str, Any]]] = [
    [session(G, GL, 0, 1795886452516, None, "connected")],
    [],  # open: the router's id 10.0.0.3 is remembered
    [session(G, GL, 1, 1795886452521, GID, "up")],
    [
        update(
            G,
            GL,
            2,
            1795886452522,
            GID,
            A_203,
            [{"family": "ipv4 unicast", "next_hop": "192.0.2.1", "nlri": [nlri("203.0.113.0/24")]}],
        )
    ],
    [
        update(
            G,
            GL,
            3,
            1795886452523,
            GID,
            A_198,
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.2",
                    "nlri": [nlri("198.51.100.0/24")],
                }
            ],
        )
    ],
    [
        update(
            G,
            GL,
            4,
            1795886452523,
            GID,
            A_10_20,
            [{"family": "ipv4 unicast", "next_hop": "192.0.2.3", "nlri": [nlri("10.20.0.0/16")]}],
        )
    ],
    [eor(G, GL, 5, 1795886452523, GID, "ipv4 unicast")],
    [
        update(
            G,
            GL,
            6,
            1795886452524,
            GID,
            A_V6_100,
            [
                {
                    "family": "ipv6 unicast",
                    "next_hop": "2001:db8::1",
                    "nlri": [nlri("2001:db8:100::/48")],
                }
            ],
        )
    ],
    [
        update(
            G,
            GL,
            7,
            1795886452524,
            GID,
            A_V6_200,
            [
                {
                    "family": "ipv6 unicast",
                    "next_hop": "2001:db8::2",
                    "nlri": [nlri("2001:db8:200::/48")],
                }
            ],
        )
    ],
    [eor(G, GL, 8, 1795886452525, GID, "ipv6 unicast")],
    [
        update(
            G,
            GL,
            9,
            1795886459423,
            GID,
            {},
            withdraw=[{"family": "ipv4 unicast", "nlri": [nlri("10.20.0.0/16")]}],
        )
    ],
    [
        update(
            G,
            GL,
            10,
            1795886459432,
            GID,
            {},
            withdraw=[{"family": "ipv6 unicast", "nlri": [nlri("2001:db8:200::/48")]}],
        )
    ],
    [],  # notification (6,2): its reason arrives with the down
    [session(G, GL, 11, 1795886460450, GID, "down", "notification received (6,2)")],
    [session(G, GL, 12, 1795886470532, GID, "connected")],
    [],  # open again
    [session(G, GL, 13, 1795886470537, GID, "up")],
    [
        update(
            G,
            GL,
            14,
            1795886470537,
            GID,
            A_203,
            [{"family": "ipv4 unicast", "next_hop": "192.0.2.1", "nlri": [nlri("203.0.113.0/24")]}],
        )
    ],
    [
        update(
            G,
            GL,
            15,
            1795886470538,
            GID,
            A_198,
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.2",
                    "nlri": [nlri("198.51.100.0/24")],
                }
            ],
        )
    ],
    [eor(G, GL, 16, 1795886470538, GID, "ipv4 unicast")],
    [
        update(
            G,
            GL,
            17,
            1795886470539,
            GID,
            A_V6_100,
            [
                {
                    "family": "ipv6 unicast",
                    "next_hop": "2001:db8::1",
                    "nlri": [nlri("2001:db8:100::/48")],
                }
            ],
        )
    ],
    [eor(G, GL, 18, 1795886470539, GID, "ipv6 unicast")],
    [],  # notification (6,3)
    [session(G, GL, 19, 1795886427796, GID, "down", "notification received (6,3)")],
    [],  # ExaBGP shutdown: the only session is already down
    [session(G, GL, 20, 1795888221593, GID, "down", "closing connection")],
]

# ---------------------------------------------------------------- BIRD 127.0.0.5 (lab)
B, BID = "127.0.0.5", "10.0.0.5"
BIRD: list[list[dict[str, Any]]] = [
    [session(B, GL, 0, 1795888163556, None, "connected")],
    [],
    [session(B, GL, 1, 1795888163560, BID, "up")],
    [
        update(
            B,
            GL,
            2,
            1795888163562,
            BID,
            {
                "origin": "incomplete",
                "as_path": seq_path(4200000001),
                "local_pref": 90,
                "communities": ["65535:65281"],
            },
            [{"family": "ipv4 unicast", "next_hop": "192.0.2.5", "nlri": [nlri("192.0.2.128/25")]}],
        )
    ],
    [
        update(
            B,
            GL,
            3,
            1795888163563,
            BID,
            {
                "origin": "igp",
                "as_path": seq_path(65010, 65020),
                "med": 55,
                "local_pref": 210,
                "communities": ["65001:100"],
                "large_communities": ["65001:5:5"],
            },
            [{"family": "ipv4 unicast", "next_hop": "192.0.2.5", "nlri": [nlri("203.0.113.0/24")]}],
        )
    ],
    [eor(B, GL, 4, 1795888163563, BID, "ipv4 unicast")],
    [
        update(
            B,
            GL,
            5,
            1795888163563,
            BID,
            {
                "origin": "igp",
                "as_path": seq_path(65061, 65060),
                "local_pref": 300,
                "large_communities": ["65001:3:3"],
            },
            [
                {
                    "family": "ipv6 unicast",
                    "next_hop": "2001:db8::5",
                    "nlri": [nlri("2001:db8:300::/48")],
                }
            ],
        )
    ],
    [eor(B, GL, 6, 1795888163564, BID, "ipv6 unicast")],
    [
        update(
            B,
            GL,
            7,
            1795888174934,
            BID,
            {},
            withdraw=[{"family": "ipv6 unicast", "nlri": [nlri("2001:db8:300::/48")]}],
        )
    ],
    [],
    [session(B, GL, 8, 1795888176941, BID, "down", "notification received (6,2)")],
    [],
]

# ---------------------------------------------------------------- gobgpd 127.0.0.21 (consolidate)
C, CL, CID = "127.0.0.21", "127.0.0.20", "10.0.0.21"
RR21 = {"originator_id": "10.0.0.21", "cluster_list": ["10.0.0.21"]}
CONSOLIDATE: list[list[dict[str, Any]]] = [
    [session(C, CL, 0, 1795893471910, None, "connected")],
    [],
    [session(C, CL, 1, 1795893471916, CID, "up")],
    [
        update(
            C,
            CL,
            2,
            1795893471917,
            CID,
            {
                "origin": "igp",
                "as_path": [
                    {"type": "as-sequence", "asns": [65010, 4200000001]},
                    {"type": "as-set", "asns": [65100, 65101]},
                ],
                "med": 50,
                "local_pref": 200,
                "aggregator": "65020:192.0.2.9",
                "communities": ["65001:100", "65535:65281"],
                **RR21,
                "ext_communities": ["target:65001:7"],
                "large_communities": ["65001:1:1", "4200000001:2:3"],
            },
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.1",
                    "nlri": [nlri("203.0.113.0/24", 1)],
                }
            ],
        )
    ],
    [
        update(
            C,
            CL,
            3,
            1795893471917,
            CID,
            {"origin": "egp", "as_path": seq_path(65011), "local_pref": 90, **RR21},
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.2",
                    "nlri": [nlri("203.0.113.0/24", 2)],
                }
            ],
        )
    ],
    [
        update(
            C,
            CL,
            4,
            1795893471917,
            CID,
            {
                "origin": "incomplete",
                # ExaBGP's JSON says as-sequence four times; the raw bytes say confed-sequence,
                # as-sequence, confed-set, as-set (what mk2 injected into gobgpd)
                "as_path": [
                    {"type": "confed-sequence", "asns": [65500, 65501]},
                    {"type": "as-sequence", "asns": [65010, 4200000002]},
                    {"type": "confed-set", "asns": [65502]},
                    {"type": "as-set", "asns": [65100, 65101]},
                ],
                "local_pref": 100,
                "atomic_aggregate": True,
                "aggregator": "4200000003:192.0.2.99",
                **RR21,
                "raw": {"attribute-0x63-0xE0": "0xdeadbeef"},
            },
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.7",
                    "nlri": [nlri("198.51.100.0/24", 1)],
                }
            ],
        )
    ],
    [
        update(
            C,
            CL,
            5,
            1795893471918,
            CID,
            {"origin": "igp", "local_pref": 100, **RR21},
            [
                {
                    "family": "ipv4 unicast",
                    "next_hop": "192.0.2.250",
                    "nlri": [nlri("100.64.0.0/32", 1)],
                }
            ],
        )
    ],
    [eor(C, CL, 6, 1795893471918, CID, "ipv4 unicast")],
    [
        update(
            C,
            CL,
            7,
            1795893471918,
            CID,
            {
                "origin": "incomplete",
                "as_path": seq_path(65030, 4200000009),
                "med": 7,
                "local_pref": 100,
                "communities": ["65001:600"],
                **RR21,
                "ext_communities": ["target:65001:8"],
                "large_communities": ["65001:6:6"],
            },
            [
                {
                    "family": "ipv6 unicast",
                    "next_hop": "2001:db8::1",
                    "nlri": [nlri("2001:db8:100::/48", 1)],
                }
            ],
        )
    ],
    [eor(C, CL, 8, 1795893471918, CID, "ipv6 unicast")],
    [
        update(
            C,
            CL,
            9,
            1795893477772,
            CID,
            {},
            withdraw=[{"family": "ipv4 unicast", "nlri": [nlri("203.0.113.0/24", 2)]}],
        )
    ],
    [
        update(
            C,
            CL,
            10,
            1795893477784,
            CID,
            {},
            withdraw=[{"family": "ipv6 unicast", "nlri": [nlri("2001:db8:100::/48", 1)]}],
        )
    ],
    [],
    [session(C, CL, 11, 1795893479791, CID, "down", "notification received (6,3)")],
    [session(C, CL, 12, 1795893479802, CID, "connected")],
    [session(C, CL, 13, 1795893479803, CID, "down", "closing connection")],
    [session(C, CL, 14, 1795893480822, CID, "connected")],
    [session(C, CL, 15, 1795893480822, CID, "down", "closing connection")],
    [],  # shutdown: the session is down already
]

CORPORA = [
    ("exabgp-samples.jsonl", SAMPLES),
    ("exabgp-samples-bird.jsonl", BIRD),
    ("exabgp-consolidate-gobgp.jsonl", CONSOLIDATE),
]


@pytest.mark.parametrize(("name", "expected"), CORPORA, ids=[c[0] for c in CORPORA])
def test_every_line_gives_the_hand_written_events(
    name: str, expected: list[list[dict[str, Any]]]
) -> None:
    lines = (DATA / name).read_bytes().splitlines()
    assert len(lines) == len(expected), "one expectation per line"
    builder = EventBuilder(epoch_ms=EPOCH)
    for number, (line, want) in enumerate(zip(lines, expected, strict=True), 1):
        got = builder.feed(line)
        events = [event for _, event in got]
        assert len(events) == len(want), f"line {number}: {len(events)} events, want {len(want)}"
        for event, wanted in zip(events, want, strict=True):
            for field in sorted(set(event) | set(wanted)):
                assert event.get(field, "<absent>") == wanted.get(field, "<absent>"), (
                    f"{name} line {number} field {field!r}"
                )
        for keys, event in got:
            assert keys == (event["router"].encode(),)
            validate("bgp-updates.v1", event)


def test_without_the_raw_bytes_confederations_stay_as_exabgp_labels_them() -> None:
    """BGP_WIRE_ASPATH=false: the parsed JSON is taken as is (ExaBGP's confed label bug shows)."""
    lines = (DATA / "exabgp-consolidate-gobgp.jsonl").read_bytes().splitlines()
    builder = EventBuilder(epoch_ms=EPOCH, wire_aspath=False)
    events = [e for line in lines for _, e in builder.feed(line)]
    confed = next(
        e
        for e in events
        if e["type"] == "update" and e["announce"] and e["announce"][0]["next_hop"] == "192.0.2.7"
    )
    assert [s["type"] for s in confed["attrs"]["as_path"]] == [
        "as-sequence",
        "as-sequence",
        "as-sequence",
        "as-set",
    ]


def test_router_id_key_mode_keys_by_the_id_from_the_open() -> None:
    lines = (DATA / "exabgp-samples-bird.jsonl").read_bytes().splitlines()
    builder = EventBuilder(epoch_ms=EPOCH, key_mode="router-id")
    got = [kv for line in lines for kv in builder.feed(line)]
    # before the OPEN the only name for the router is its address
    assert got[0][1]["router"] == "127.0.0.5" and got[0][0] == (b"127.0.0.5",)
    assert {e["router"] for _, e in got[1:]} == {"10.0.0.5"}
    assert all(k == (b"10.0.0.5",) for k, _ in got[1:])
    assert [e["seq"] for _, e in got[1:]] == list(range(len(got) - 1))
