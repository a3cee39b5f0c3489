"""The point-in-time mechanism with the real enricher engine (no Kafka): orders, ties, lateness,
late BGP, missing history, the pending limit, output partitions.

Inputs reach :class:`PointInTime` the way Quix's timestamp alignment delivers them: a head
merge of the two topics of a partition (:func:`merge`), ties broken either way.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ribflow.replay.window import Window
from tests.replay.fakes import DLQ, timeline
from tests.rib.builders import Stream, attrs, flow, flows_message

T0 = 1_700_000_000_000
MOVE = T0 + 60_000
R = "127.0.0.3"
X, Y = "65010_65020", "65030_65040"
Item = tuple[str, int, bytes, bytes]  # (topic, ts, key, value)


def bgp_history(router: str = R, move: int = MOVE, start: int = T0) -> list[Item]:
    s = Stream(router, epoch=start, time_ms=start)
    msgs = [s.session("up"), s.update(["203.0.113.0/24"], attrs=attrs(65010, 65020)), s.eor()]
    s.time_ms = move - 1
    msgs.append(s.update(["203.0.113.0/24"], attrs=attrs(65030, 65040)))
    return [("bgp", m["time_ms"], router.encode(), orjson.dumps(m)) for m in msgs]


def flows_at(times: list[int], router: str = R, port0: int = 1000) -> list[Item]:
    out = []
    for i, t in enumerate(times):
        rec = flow("10.0.0.1", "203.0.113.7", sport=port0 + i, exporter=router, time_ms=t)
        out.append(
            ("flows", t, router.encode(), orjson.dumps(flows_message(router, router, [rec])))
        )
    return out


def merge(bgp: list[Item], flows: list[Item], bgp_wins_ties: bool = True) -> list[Item]:
    """Quix's alignment: repeatedly take the head with the smaller timestamp."""
    a, b, out = list(bgp), list(flows), []
    while a or b:
        if not b or (a and (a[0][1] < b[0][1] or (a[0][1] == b[0][1] and bgp_wins_ties))):
            out.append(a.pop(0))
        else:
            out.append(b.pop(0))
    return out


def run(items: list[Item], window: Window | None = None, partition: int = 0, **kw: Any) -> Any:
    pit, out, _ = timeline(window or Window(T0, T0 + 600_000), **kw)
    for topic, ts, key, value in items:
        if topic == "bgp":
            pit.on_bgp(partition, key, value, ts)
        else:
            pit.on_flows(partition, key, value, ts)
    pit.finish()
    return pit, out


def paths(out: Any) -> dict[int, str]:
    return {r["port_src"]: r["as_path"] for r in out.records()}


@pytest.mark.parametrize("bgp_wins_ties", [True, False])
def test_flows_see_the_route_of_their_own_time_whatever_the_tie_order(bgp_wins_ties: bool) -> None:
    times = [MOVE - 30_000, MOVE - 1, MOVE, MOVE + 1, MOVE + 30_000]
    pit, out = run(merge(bgp_history(), flows_at(times), bgp_wins_ties))
    # a change stamped MOVE applies to flows stamped after MOVE
    assert paths(out) == {1000: X, 1001: X, 1002: X, 1003: Y, 1004: Y}
    st = pit.stats()[R]
    assert (st.flows, st.enriched, st.unverified, st.late_flows, st.late_bgp) == (5, 5, 0, 0, 0)


def test_all_bgp_delivered_before_the_flows_is_still_point_in_time() -> None:
    """Even when the merge hands over every BGP message first, nothing newer than a flow leaks
    into its enrichment (BGP waits in the router's queue)."""
    times = [MOVE - 5000, MOVE + 5000]
    _, out = run(bgp_history() + flows_at(times))
    assert paths(out) == {1000: X, 1001: Y}


def test_flows_out_of_order_within_the_lateness_are_exact() -> None:
    times = [MOVE - 10_000, MOVE + 300, MOVE - 200, MOVE + 20_000]  # third lands late
    pit, out = run(merge(bgp_history(), flows_at(times)), lateness_ms=2000)
    assert paths(out) == {1000: X, 1001: Y, 1002: X, 1003: Y}
    assert pit.stats()[R].unverified == 0
    # written in time order: the late-landing flow comes before the one it landed after
    assert [r["port_src"] for r in out.records()] == [1000, 1002, 1001, 1003]


def test_flows_later_than_the_lateness_are_counted_unverified() -> None:
    # MOVE+5000 releases MOVE+3000 (1 s lateness); MOVE-200 then lands behind a written flow
    times = [MOVE - 10_000, MOVE + 3000, MOVE + 5000, MOVE - 200, MOVE + 20_000]
    pit, out = run(merge(bgp_history(), flows_at(times)), lateness_ms=1000)
    st = pit.stats()[R]
    assert (st.late_flows, st.unverified) == (1, 1)
    assert paths(out)[1003] == Y  # what it got is wrong, and the summary says so


def test_a_bgp_event_landing_after_later_flows_is_counted() -> None:
    bgp = bgp_history()
    move = bgp.pop()  # the move lands in its topic after flows stamped well after it
    items = [*merge(bgp, flows_at([MOVE - 5000, MOVE + 5000, MOVE + 9000]), True), move]
    pit, _ = run(items, lateness_ms=1000)
    assert pit.stats()[R].late_bgp == 1
    assert not pit.stats()[R].unverified  # the flows were fine by what had arrived...
    from ribflow.replay.stats import Totals

    assert not Totals.of(pit.stats()).guarantee_held  # ...but the guarantee is not claimed


def test_router_without_bgp_history_is_written_unenriched_and_counted() -> None:
    flows = flows_at([T0 + 1000, T0 + 2000], router="192.0.2.99")
    pit, out = run(merge(bgp_history(), flows))
    recs = out.records()
    assert len(recs) == 2 and {r["as_path"] for r in recs} == {""}
    assert {r["as_dst"] for r in recs} == {0}
    st = pit.stats()["192.0.2.99"]
    assert (st.flows, st.no_history, st.enriched) == (2, 2, 0)


def test_history_starting_mid_window_counts_the_flows_before_it() -> None:
    late_start = T0 + 50_000
    bgp = bgp_history(start=late_start)
    pit, _ = run(merge(bgp, flows_at([T0 + 10_000, MOVE + 1000])))
    st = pit.stats()[R]
    assert (st.no_history, st.enriched) == (1, 1)
    assert st.first_bgp_ms == late_start + 1


def test_incomplete_history_is_unverified_until_the_session_resets() -> None:
    s = Stream(R, epoch=T0, time_ms=T0)
    partial = [s.update(["203.0.113.0/24"], attrs=attrs(65010, 65020))]  # no session up seen
    s.time_ms = T0 + 20_000
    reset = [s.session("up"), s.update(["203.0.113.0/24"], attrs=attrs(65030, 65040))]
    bgp = [("bgp", m["time_ms"], R.encode(), orjson.dumps(m)) for m in partial + reset]
    pit, out = run(merge(bgp, flows_at([T0 + 10_000, T0 + 30_000])), complete=False)
    st = pit.stats()[R]
    assert st.unverified == 1 and st.history_complete
    assert paths(out) == {1000: X, 1001: Y}


def test_pending_limit_applies_the_oldest_early_and_says_so() -> None:
    s = Stream(R, epoch=T0, time_ms=T0 + 100_000)
    many = [s.update([f"10.{i}.0.0/16"], attrs=attrs(65001)) for i in range(1005)]
    bgp = [("bgp", m["time_ms"], R.encode(), orjson.dumps(m)) for m in many]
    pit, _ = run(bgp, max_pending=1000)
    assert pit.stats()[R].forced_bgp == 5


def test_flows_outside_the_window_are_skipped() -> None:
    window = Window(MOVE - 1000, MOVE + 1000)
    pit, out = run(merge(bgp_history(), flows_at([MOVE - 5000, MOVE - 10, MOVE + 10])), window)
    assert sorted(paths(out)) == [1001, 1002]
    assert pit.outside_window == 1


def test_each_flow_goes_to_the_output_partition_of_its_input_partition() -> None:
    pit, out, _ = timeline(Window(T0, T0 + 600_000))
    for partition, router in ((0, R), (3, "127.0.0.5")):
        for _, ts, key, value in merge(bgp_history(router), flows_at([MOVE + 1], router=router)):
            if key and ts:
                handler = pit.on_flows if b"records" in value else pit.on_bgp
                handler(partition, key, value, ts)
    pit.finish()
    parts = {orjson.loads(m.value)["peer_ip_src"]: m.partition for m in out.messages}
    assert parts == {R: 0, "127.0.0.5": 3}


def test_unkeyed_messages_go_to_the_dead_letter_topic() -> None:
    pit, out, _ = timeline(Window(T0, T0 + 600_000))
    value = flows_at([T0 + 1])[0][3]
    pit.on_flows(0, None, value, T0 + 1)
    pit.on_bgp(0, None, bgp_history()[0][3], T0 + 1)
    assert pit.unkeyed == 2
    assert [m.topic for m in out.messages] == [DLQ, DLQ]


def test_bgp_of_a_router_without_flows_follows_the_partitions_flows() -> None:
    """A router that exports no flows does not queue its BGP for the whole window."""
    quiet = bgp_history(router="127.0.0.77", move=T0 + 30_000)
    pit, _, enricher = timeline(Window(T0, T0 + 600_000))
    for _, ts, key, value in merge(quiet, flows_at([T0 + 10_000, T0 + 40_000, T0 + 90_000])):
        handler = pit.on_flows if b"records" in value else pit.on_bgp
        handler(0, key, value, ts)
    late = Stream("127.0.0.77", epoch=T0, seq=10, time_ms=T0 + 95_000)
    msg = late.update(["198.51.100.0/24"], attrs=attrs(65050))
    pit.on_bgp(0, b"127.0.0.77", orjson.dumps(msg), msg["time_ms"])
    # every message stamped before the partition's newest flow (minus the lateness) is applied
    assert pit.stats()["127.0.0.77"].bgp_events == 4
    state = enricher.routers["127.0.0.77"]
    assert state.meta.seq == 4 and len(state.rib) == 1
