"""State keys and the bgp-rib records: round trips and the table contract."""

from __future__ import annotations

import orjson
import pytest

from ribflow.enrich.codec import META_KEY, parse_route_key, route_key, table_key, table_value
from ribflow.rib import AFI_IP, AFI_IP6, AttrPool, Route, parse_prefix
from ribflow.schemas import validate


@pytest.mark.parametrize(
    ("prefix", "path_id"),
    [("0.0.0.0/0", 0), ("203.0.113.0/24", 7), ("255.255.255.255/32", 2**32 - 1),
     ("::/0", 0), ("2001:db8::/32", 1), ("ffff::1/128", 3)],
)  # fmt: skip
def test_route_keys_round_trip(prefix: str, path_id: int) -> None:
    (afi, network, length), _ = parse_prefix(prefix)
    key = route_key(afi, network, length, path_id)
    assert len(key) == (11 if afi == AFI_IP else 23)
    assert parse_route_key(key) == (afi, network, length, path_id)


def test_other_keys_are_not_routes() -> None:
    assert parse_route_key(META_KEY) is None
    assert parse_route_key(b"r" + bytes(10)) is None  # wrong family byte
    assert parse_route_key(b"x" * 11) is None


def test_table_record_follows_its_schema() -> None:
    pool = AttrPool()
    attrs = pool.intern({"origin": "igp", "as_path": [{"type": "as-sequence", "asns": [1]}]},
                        "2001:db8::1")  # fmt: skip
    (afi, network, length), _ = parse_prefix("2001:db8:100::/48")
    route = Route(afi, network, length, 3, attrs)
    assert table_key("127.0.0.3", route) == b"127.0.0.3|2001:db8:100::/48|3"
    value = orjson.loads(table_value("127.0.0.3", "127.0.0.3", route, 42))
    validate("bgp-rib.v1", value)
    assert value["afi"] == AFI_IP6 and value["attrs"]["next_hop"] == "2001:db8::1"
