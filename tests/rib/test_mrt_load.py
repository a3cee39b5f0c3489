"""The MRT reader against bgpdump's own decode of the same files (the expected values)."""

from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from ribflow.mrt.tables import MrtStats, read_rib
from ribflow.mrt.tables import Route as RibEntry
from ribflow.rib import AttrPool, RouterMeta, RouterRib, RouterState, apply_event, parse_event
from ribflow.schemas import validate

DATA = Path(__file__).resolve().parents[1] / "data" / "rib"
ORIGINS = {"igp": "IGP", "egp": "EGP", "incomplete": "INCOMPLETE"}


def _path_text(attrs: dict[str, Any]) -> str:
    parts = []
    for seg in attrs.get("as_path", []):
        if seg["type"] == "as-set":
            parts.append("{" + ",".join(map(str, seg["asns"])) + "}")
        else:
            parts.append(" ".join(map(str, seg["asns"])))
    return " ".join(parts)


def _bgpdump_fields(e: RibEntry, with_path_id: bool) -> list[str]:
    a = e.attrs
    fields = [e.peer, str(e.peer_as), e.prefix]
    if with_path_id:
        fields.append(str(e.path_id))
    fields += [
        _path_text(a),
        ORIGINS[a.get("origin", "incomplete")],
        e.next_hop or "",
        str(a.get("local_pref", 0)),
        str(a.get("med", 0)),
        " ".join(a.get("communities", [])),
        "AG" if a.get("atomic_aggregate") else "NAG",
    ]
    return fields


def _expected(name: str) -> list[list[str]]:
    with gzip.open(DATA / name, "rt") as f:
        return [line.rstrip("\n").split("|") for line in f if line.strip()]


def test_table_dump_v1_matches_bgpdump_entry_by_entry() -> None:
    stats = MrtStats()
    ours = list(read_rib(DATA / "bview.20020722.2337.gz", stats))
    theirs = _expected("bview.20020722.2337.gz.bgp.gz")
    assert stats.skipped == {} and len(ours) == len(theirs) == 115_521
    mismatches = []
    for mine, line in zip(ours, theirs, strict=True):
        expected = [line[3], line[4], line[5], line[6], line[7], line[8], line[9], line[10],
                    line[11], line[12]]  # fmt: skip
        if _bgpdump_fields(mine, with_path_id=False) != expected:
            mismatches.append((_bgpdump_fields(mine, False), expected))
    assert not mismatches, mismatches[:3]


@pytest.mark.parametrize(
    "name", ["bview.ipv4_unicast_add_path.gz", "bview.ipv6_unicast_add_path.gz"]
)
def test_add_path_table_dump_v2_matches_bgpdump(name: str) -> None:
    ours = list(read_rib(DATA / name))
    theirs = _expected(name + ".bgp.gz")
    assert len(ours) == len(theirs) > 0
    for mine, line in zip(ours, theirs, strict=True):
        got = _bgpdump_fields(mine, with_path_id=True)
        expected = line[3:14]
        del got[6], expected[6]  # bgpdump prints 255.255.255.255 for MP_REACH-only next hops
        assert got == expected
    assert len({(e.prefix, e.path_id) for e in ours}) == len(ours) > len({e.prefix for e in ours})


def test_a_real_table_loads_into_ribs_through_bgp_updates_events() -> None:
    pool = AttrPool()
    ribs: dict[str, RouterState] = {}
    seq: dict[str, int] = {}

    class Sink:
        def routes_set(self, *a: object) -> None: ...
        def route_deleted(self, *a: object) -> None: ...
        def meta_changed(self, *a: object) -> None: ...

    for e in read_rib(DATA / "bview.20020722.2337.gz"):
        seq[e.peer] = seq.get(e.peer, 0) + 1
        family = "ipv6 unicast" if ":" in e.prefix else "ipv4 unicast"
        msg = {"v": 1, "type": "update", "router": e.peer, "peer": e.peer, "time_ms": 1,
               "epoch": 1, "seq": seq[e.peer], "attrs": e.attrs, "withdraw": [],
               "announce": [{"family": family, "next_hop": e.next_hop,
                             "nlri": [{"prefix": e.prefix}]}]}  # fmt: skip
        if seq[e.peer] <= 3:
            validate("bgp-updates.v1", msg)
        state = ribs.setdefault(e.peer, RouterState(RouterMeta(e.peer), RouterRib(pool)))
        result = apply_event(state, parse_event(msg), pool, Sink())
        assert not result.errors
    assert sum(len(s.rib) for s in ribs.values()) == 115_521
    assert len(ribs) == 36
    big = ribs["193.203.0.1"].rib
    assert big.prefixes == 112_986
    # an address of 24.223.0.0/18 (an AS_SET route) that no more-specific covers, per bgpdump
    agg = ipaddress.ip_network("24.223.0.0/18")
    longer = [
        ipaddress.ip_network(line[5])
        for line in _expected("bview.20020722.2337.gz.bgp.gz")
        if line[3] == "193.203.0.1" and ":" not in line[5]
    ]
    longer = [n for n in longer if n.prefixlen > 18 and n.subnet_of(agg)]  # type: ignore[arg-type]
    address = next(a for a in agg.hosts() if not any(a in n for n in longer))
    found = big.lookup(1, int(address))
    assert found is not None and found[0] == 18
    assert found[1].as_path_str == "1853 1239 13659 {701,13659}"  # pmacct sorts the set
    assert found[1].last_as == 13659
