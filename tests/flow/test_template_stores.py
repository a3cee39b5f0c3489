"""The template store interface and its wrappers: persistence (the compacted topic) and expiry."""

from __future__ import annotations

import pytest

from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.state import DecoderState
from ribflow.flow.template_stores import ExpiringTemplateStore, PersistentTemplateStore
from ribflow.flow.templates import (
    MemoryTemplateStore,
    Template,
    TemplateLimits,
    TemplateStore,
    withdraw_all,
)
from tests.flow.netflow_support import (
    V9_FIELDS,
    data_set,
    decode,
    v9_packet,
    v9_rec,
    v9_template_set,
)

FIELDS = ((8, 4, 0), (12, 4, 0))
A = ("192.0.2.1", 9, 0, 256)
B = ("192.0.2.1", 9, 0, 257)
OPT = ("192.0.2.1", 9, 0, 258)


def tpl(tid: int) -> Template:
    return Template(9, tid, FIELDS)


def test_memory_store_is_the_bare_interface() -> None:
    store: TemplateStore = MemoryTemplateStore(TemplateLimits(per_exporter=2, total=10))
    assert store.put(A, tpl(256)) and not store.put(A, tpl(256))  # refresh: unchanged
    assert store.put(B, tpl(257))
    with pytest.raises(FlowDecodeError) as exc:
        store.put(OPT, tpl(258))
    assert exc.value.reason == "template-limit"
    assert not hasattr(store, "snapshot") and not hasattr(store, "drain_changes")
    assert withdraw_all(store, "192.0.2.1", 9, 0, options=False) == 2
    assert list(store.items()) == []


def test_persistence_logs_changes_and_round_trips_snapshots() -> None:
    store = PersistentTemplateStore(MemoryTemplateStore())
    store.put(A, tpl(256))
    store.put(A, tpl(256))  # same definition: no change to publish
    store.put(B, tpl(257))
    changes = store.drain_changes()
    assert list(changes) == ["tpl|192.0.2.1|9|0|256", "tpl|192.0.2.1|9|0|257"]
    assert store.drain_changes() == {}
    store.withdraw(B)
    assert store.drain_changes() == {"tpl|192.0.2.1|9|0|257": None}  # a tombstone
    saved = store.snapshot()
    fresh = PersistentTemplateStore(MemoryTemplateStore())
    fresh.restore({**saved, "tpl|junk": b"{", "tpl|192.0.2.1|9|0|300": b"{not json"})
    assert fresh.snapshot() == saved
    assert fresh.drain_changes() == {}  # restored state is persisted already
    assert fresh.get(A) is not None and fresh.get(A).same_as(tpl(256))  # type: ignore[union-attr]


def test_expiry_withdraws_what_the_exporter_stopped_sending() -> None:
    now = [1000.0]
    persisted = PersistentTemplateStore(MemoryTemplateStore())
    store = ExpiringTemplateStore(persisted, max_age=60, clock=lambda: now[0])
    store.put(A, tpl(256))
    store.put(B, tpl(257))
    persisted.drain_changes()
    now[0] = 1040.0
    store.put(A, tpl(256))  # refreshed (same definition): its age starts again
    now[0] = 1070.0
    assert store.expire() == 1
    assert store.get(A) is not None and store.get(B) is None
    assert persisted.drain_changes() == {"tpl|192.0.2.1|9|0|257": None}  # tombstoned in the topic
    now[0] = 1101.0
    assert store.expire() == 1 and list(store.items()) == []
    with pytest.raises(ValueError):
        ExpiringTemplateStore(persisted, max_age=0)


def test_restored_templates_age_from_the_first_sweep_that_sees_them() -> None:
    now = [0.0]
    saved = {"tpl|192.0.2.1|9|0|256": tpl(256).encode()}
    persisted = PersistentTemplateStore(MemoryTemplateStore())
    store = ExpiringTemplateStore(persisted, max_age=10, clock=lambda: now[0])
    persisted.restore(saved)
    now[0] = 100.0
    assert store.expire() == 0  # first seen now
    now[0] = 111.0
    assert store.expire() == 1


def test_one_of_several_workers_keeps_the_restored_templates_it_is_never_sent() -> None:
    now = [0.0]
    saved = {"tpl|192.0.2.1|9|0|256": tpl(256).encode(), "tpl|192.0.2.1|9|0|257": tpl(257).encode()}
    persisted = PersistentTemplateStore(MemoryTemplateStore())
    store = ExpiringTemplateStore(persisted, 10, lambda: now[0], expire_restored=False)
    persisted.restore(saved)
    store.put(B, tpl(257))  # this worker's exporter sends 257 again
    now[0] = 11.0
    assert store.expire() == 1  # 257: sent here, then not for 11 s
    assert store.get(A) is not None  # 256: restored only, another worker's to keep or expire
    assert persisted.drain_changes() == {"tpl|192.0.2.1|9|0|257": None}
    now[0] = 1000.0
    assert store.expire() == 0 and store.get(A) is not None


def test_decoders_use_the_wrapped_store_through_the_interface() -> None:
    now = [0.0]
    state = DecoderState(template_max_age=30)
    assert state.expiring is not None
    state.expiring._clock = lambda: now[0]  # test clock (the store reads it on put/expire)
    d = Dispatcher(state)
    first = decode(d, v9_packet(v9_template_set(256, V9_FIELDS), data_set(256, v9_rec())))
    assert len(first.records) == 1
    assert list(d.drain_changes()) == ["tpl|192.0.2.1|9|0|256"]
    now[0] = 31.0
    assert state.expiring.expire() == 1
    assert d.drain_changes() == {"tpl|192.0.2.1|9|0|256": None}
    later = decode(d, v9_packet(data_set(256, v9_rec())))
    assert later.records == []  # held until the exporter sends the template again
    plain = DecoderState()
    assert plain.expiring is None and plain.templates is plain.persisted


def test_tick_expires_at_most_every_check_interval() -> None:
    now = [0.0]
    store = ExpiringTemplateStore(MemoryTemplateStore(), 10, lambda: now[0], check_every=5)
    store.put(A, tpl(256))
    now[0] = 11.0
    assert store.tick() == 1 and store.expired == 1  # due: first check at 5 s
    store.put(A, tpl(256))
    now[0] = 22.0  # A is 11 s old, but the next check is due at 16 s: it runs now
    assert store.tick() == 1
    store.put(B, tpl(257))
    now[0] = 26.0
    assert store.tick() == 0  # not due before 27 s: nothing scanned
    now[0] = 33.0
    assert store.tick() == 1 and store.expired == 3


def test_the_collector_state_drops_stale_templates_as_it_drains_changes() -> None:
    """TEMPLATE_TIMEOUT_S's path: the collector drains DecoderState's changes all the time; the
    templates older than the timeout come out as tombstones there, and their data waits."""
    now = [0.0]
    d = Dispatcher(DecoderState(template_max_age=30, clock=lambda: now[0]))
    decode(d, v9_packet(v9_template_set(256, V9_FIELDS), data_set(256, v9_rec())))
    assert list(d.drain_changes()) == ["tpl|192.0.2.1|9|0|256"]
    now[0] = 20.0
    assert len(decode(d, v9_packet(data_set(256, v9_rec()))).records) == 1  # data: no refresh
    assert d.drain_changes() == {}
    now[0] = 31.0
    assert d.drain_changes() == {"tpl|192.0.2.1|9|0|256": None}
    assert decode(d, v9_packet(data_set(256, v9_rec()))).records == []
    now[0] = 40.0  # the exporter sends it again: decoded again, persisted again
    again = decode(d, v9_packet(v9_template_set(256, V9_FIELDS), data_set(256, v9_rec())))
    assert len(again.records) >= 1
    assert list(d.drain_changes()) == ["tpl|192.0.2.1|9|0|256"]
