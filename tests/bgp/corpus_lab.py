"""The events expected, line by line, from the lab captures: gobgpd 127.0.0.3 and BIRD 127.0.0.5
(tests/data/bgp/exabgp-samples.jsonl and exabgp-samples-bird.jsonl)."""

from __future__ import annotations

from typing import Any

from tests.bgp.corpus import eor, nlri, seq_path, session, update

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
