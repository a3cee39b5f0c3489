"""Router keys and hot-router shards."""

from __future__ import annotations

import pytest

from ribflow.bgp.keys import RouterKeys, shard_keys


def test_one_shard_is_the_bare_router() -> None:
    assert shard_keys("127.0.0.3", 1) == (b"127.0.0.3",)
    assert shard_keys("2001:db8::1", 2) == (b"2001:db8::1/0", b"2001:db8::1/1")


def test_hot_routers_override_the_default() -> None:
    keys = RouterKeys(default_shards=2, hot={"10.0.0.3": 4})
    assert keys.keys("10.0.0.1") == (b"10.0.0.1/0", b"10.0.0.1/1")
    assert len(keys.keys("10.0.0.3")) == 4
    keys.set_shards("10.0.0.1", 1)
    assert keys.keys("10.0.0.1") == (b"10.0.0.1",)
    with pytest.raises(ValueError):
        RouterKeys(default_shards=0)
