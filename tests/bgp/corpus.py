"""Builders of the events expected from the real ExaBGP captures (tests/data/bgp).

The expected values were read off the JSON lines (tests/data/bgp/README.md): times are ExaBGP's
``time`` in ms (truncated), ``seq`` counts per router from 0, communities are 'asn:value'.
The events themselves are in tests/bgp/corpus_lab.py and tests/bgp/corpus_consolidate.py.
"""

from __future__ import annotations

from typing import Any

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
