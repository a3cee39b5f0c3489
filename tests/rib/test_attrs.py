"""Attribute sets: interning, reference counts and the strings pmacct derives from them."""

from __future__ import annotations

import pytest

from ribflow.rib import AttrPool, BadEvent
from ribflow.rib.attrs import RouteAttrs, canonical_key


def make(attrs: dict[str, object], next_hop: str | None = "192.0.2.1") -> RouteAttrs:
    return RouteAttrs(canonical_key(attrs, next_hop), attrs, next_hop)


def seg(kind: str, *asns: int) -> dict[str, object]:
    return {"type": kind, "asns": list(asns)}


def test_as_path_text_follows_pmacct() -> None:
    a = make(
        {
            "as_path": [
                seg("confed-sequence", 65001, 65002),
                seg("as-sequence", 3356),
                seg("as-sequence", 174, 174),  # merged into the previous sequence
                seg("as-set", 300, 100, 200, 100),  # sorted, de-duplicated
                seg("confed-set", 9, 8),
            ]
        }
    )
    assert a.as_path_str == "(65001 65002) 3356 174 174 {100,200,300} [8,9]"
    assert a.last_as == 9
    assert a.first_as == 65001  # pmacct reads the first number, skipping "("


def test_peer_as_is_zero_when_the_path_opens_with_a_set() -> None:
    a = make({"as_path": [seg("as-set", 2, 1), seg("as-sequence", 7)]})
    assert (a.as_path_str, a.first_as, a.last_as) == ("{1,2} 7", 0, 7)


def test_empty_path_gives_as_zero() -> None:
    a = make({"origin": "igp"})
    assert (a.as_path_str, a.first_as, a.last_as) == ("", 0, 0)


def test_communities_sorted_unique_with_well_known_names() -> None:
    a = make(
        {
            "communities": ["65535:65281", "65001:300", "65001:300", "0:0", "65535:65283"],
            "large_communities": ["65001:2:3", "65001:1:1", "64512:9:9"],
            "ext_communities": ["target:65001:1", "origin:65001:2", "l2info:19:0:1500:0"],
        }
    )
    assert a.comms_str == "internet 65001:300 no-export local-AS"
    assert a.lcomms_str == "64512:9:9 65001:1:1 65001:2:3"
    assert a.ecomms_str == "RT:65001:1 SoO:65001:2 l2info:19:0:1500:0"


def test_origin_codes_and_best_path_rank() -> None:
    assert make({"origin": "igp"}).origin_code == "i"
    assert make({"origin": "egp"}).origin_code == "e"
    assert make({"origin": "incomplete"}).origin_code == "u"
    assert make({}).origin_code == "u"
    high_lp = make({"local_pref": 200, "as_path": [seg("as-sequence", 1, 2, 3)]})
    short = make({"as_path": [seg("as-sequence", 1)]})
    assert high_lp.rank < short.rank


def test_next_hop_is_normalised() -> None:
    assert make({}, "2001:0db8:0000::0001").next_hop == "2001:db8::1"


@pytest.mark.parametrize(
    "bad",
    [
        {"origin": "sideways"},
        {"as_path": "1 2 3"},
        {"as_path": [{"type": "as-sequence", "asns": [-1]}]},
        {"as_path": [{"type": "as-sequence", "asns": [2**32]}]},
        {"as_path": [{"type": "weird", "asns": [1]}]},
        {"med": "10"},
        {"communities": ["70000:1"]},
        {"communities": ["1-2"]},
        {"large_communities": ["1:2"]},
    ],
)
def test_bad_attributes_raise(bad: dict[str, object]) -> None:
    with pytest.raises(BadEvent):
        make(bad)


def test_bad_next_hop_raises() -> None:
    with pytest.raises(BadEvent):
        make({}, "not-an-address")


def test_pool_interns_and_forgets_unused_sets() -> None:
    pool = AttrPool()
    body = {"origin": "igp", "as_path": [seg("as-sequence", 1)]}
    a = pool.intern(body, "192.0.2.1")
    assert pool.intern(dict(reversed(list(body.items()))), "192.0.2.1") is a  # key order irrelevant
    assert pool.intern(body, "192.0.2.2") is not a  # next hop is part of the set
    pool.acquire(a)
    pool.acquire(a)
    pool.release(a)
    assert pool.intern_key(a.key) is a
    pool.release(a)
    assert pool.sweep() == 1  # the 192.0.2.2 set was never used
    assert len(pool) == 0
    restored = pool.intern_key(a.key)  # from persisted bytes, parsed once
    assert restored.as_path_str == "1" and restored.next_hop == "192.0.2.1"
