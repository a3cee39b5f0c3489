"""pre_tag_map parsing and evaluation (pmacct's file format); nfacctd agreement is in
test_isp_pmacct.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ribflow.flow.app import main as app_main
from ribflow.flow.pretag import PreTagMap, PreTagMapError, parse_pre_tag_map


def rec(**over: Any) -> dict[str, Any]:
    base = {"exporter": "192.0.2.1", "src_addr": "10.0.0.1", "dst_addr": "198.51.100.7",
            "in_if": 3, "out_if": 4, "direction": "ingress", "proto": 6, "vlan": None,
            "domain": 0}  # fmt: skip
    return {**base, **over}


def tagged(text: str, *records: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    recs = list(records)
    PreTagMap(parse_pre_tag_map(text)).apply(recs)
    return [(r.get("tag"), r.get("tag2"), r.get("label")) for r in recs]


def test_first_full_match_wins_per_exporter() -> None:
    text = """
! comment
set_tag=1 ip=192.0.2.2 in=3
set_tag=2 ip=192.0.2.0/24 in=3 direction=1
set_label=edge ip=192.0.2.0/24 in=-7 ip_proto=tcp
set_tag2=9 src_net=10.0.0.0/8
"""
    assert tagged(text, rec(), rec(direction="egress"), rec(in_if=7), rec(exporter="2001:db8::1"))\
        == [(None, None, "edge"), (2, None, None), (None, 9, None), (None, 9, None)]  # fmt: skip


def test_v6_rules_and_addresses() -> None:
    text = "set_tag=5 ip=2001:db8::/32 dst_net=2001:db8:b::/48 bgp_nexthop=2001:db8::ff\n"
    got = tagged(
        text,
        rec(exporter="2001:db8::1", dst_addr="2001:db8:b::2", bgp_next_hop="2001:db8::ff"),
        rec(exporter="2001:db8::1", dst_addr="2001:db8:b::2", bgp_next_hop=None),
        rec(dst_addr="2001:db8:b::2", bgp_next_hop="2001:db8::ff"),
    )
    assert got == [(5, None, None), (None, None, None), (None, None, None)]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("set_tag=1 filter='tcp'", "not supported"),
        ("set_tag=1 jeq=eval", "not supported"),
        ("set_tag=1 set_label=x", "exactly one"),
        ("ip=192.0.2.1 in=3", "exactly one"),
        ("set_tag=0", "1..2^64-1"),
        ("set_tag=5++", "1..2^64-1"),
        ("set_tag=1 in=x", "in=x"),
        ("set_tag=1 ip=300.1.1.1", "bad ip"),
        ("set_tag=1 direction=2", "direction=2"),
        ("set_tag=1 in", "not key=value"),
    ],
)
def test_maps_ribflow_cannot_evaluate_are_refused(line: str, why: str) -> None:
    with pytest.raises(PreTagMapError, match=re.escape(why)) as exc:
        parse_pre_tag_map("! first\n" + line + "\n")
    assert "line 2" in str(exc.value)


def test_the_collector_refuses_to_start_with_a_broken_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "pretag.map"
    bad.write_text("set_tag=1 stack=sum\n")
    monkeypatch.setenv("PRE_TAG_MAP", str(bad))
    monkeypatch.setenv("LISTEN_PORTS", "0")
    assert app_main([]) == 2
    monkeypatch.setenv("PRE_TAG_MAP", str(tmp_path / "missing.map"))
    assert app_main([]) == 2
