"""The events expected, line by line, from the consolidate capture: gobgpd 127.0.0.21 with
ADD-PATH, confederations, AS sets and an unknown attribute
(tests/data/bgp/exabgp-consolidate-gobgp.jsonl)."""

from __future__ import annotations

from typing import Any

from tests.bgp.corpus import eor, nlri, seq_path, session, update

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
