"""The per-domain stores of options-learnt state: bounded, keyed and drained alike."""

from __future__ import annotations

import pytest

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.exporter_info import ExporterInfoStore
from ribflow.flow.sampling import SamplingStore

A = ("192.0.2.1", 9, 0)
B = ("192.0.2.2", 10, 7)


def test_sampling_is_bounded_per_domain_and_per_sampler() -> None:
    store = SamplingStore(max_domains=1, max_samplers=1)
    store.set_rate(A, 5, 100)
    with pytest.raises(FlowDecodeError) as domains:
        store.set_rate(B, None, 10)
    with pytest.raises(FlowDecodeError) as samplers:
        store.set_rate(A, 6, 100)
    assert (domains.value.reason, samplers.value.reason) == ("sampling-limit", "sampling-limit")
    assert "too many exporter domains" in str(domains.value)
    store.set_sysinit(A, 1234)
    assert store.drain_changes() == {"smp|192.0.2.1|9|0|5": b"100", "sys|192.0.2.1|9|0": b"1234"}
    assert store.drain_changes() == {}


def test_exporter_info_is_bounded_per_domain_and_per_table() -> None:
    store = ExporterInfoStore(max_domains=1, max_entries=1)
    store.set_interface(A, 3, "xe-0/0/0", None)
    with pytest.raises(FlowDecodeError) as domains:
        store.set_vrf(B, 1, rd="0:65001:1")
    with pytest.raises(FlowDecodeError) as full:
        store.set_vrf(A, 1, rd="0:65001:1")
    assert (domains.value.reason, full.value.reason) == ("options-limit", "options-limit")
    assert "too many exporter domains" in str(domains.value)
    assert "options tables full" in str(full.value)
    assert store.drain_changes() == {"ifn|192.0.2.1|9|0|3": b'{"name":"xe-0/0/0","descr":null}'}
    assert store.drain_changes() == {}
    fresh = ExporterInfoStore(max_entries=0)  # a new domain is created before tables are full
    fresh.set_vrf(B, 1, name="blue")
    assert list(fresh.drain_changes()) == ["vrf|192.0.2.2|10|7|1"]
