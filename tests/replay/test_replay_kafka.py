"""Replays against a real Kafka broker.

The scenario (tests/replay/scenario.py): each router's route for 203.0.113.0/24 moves from AS
path X to AS path Y at its own time T; flows to it are stamped before and after T. Expected
paths follow from the scenario alone (X when stamped at or before T, else Y), outputs are read
back with kcat.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.replay import checkpoint_store, checkpointer, runner
from ribflow.replay.kafkaio import Reader
from ribflow.replay.window import Window, format_time
from tests.replay import scenario as S
from tests.replay.conftest import ReplayTopics
from tests.replay.kafka_io import Record, delete_records, kcat, live_enricher, run_cli, write

pytestmark = pytest.mark.integration
Make = Callable[[int], ReplayTopics]


def _base() -> int:
    """Two hours ago, whole seconds: recent enough for any retention, fixed within a test."""
    return (int(time.time()) - 7200) * 1000


def _replay(t: ReplayTopics, window: Window, **env: str) -> runner.Outcome:
    settings = t.settings(REPLAY_PROGRESS="never", **env)
    return runner.run(runner.Request(window), settings, io.StringIO())


def _records(rows: list[Record]) -> dict[tuple[str, int], dict[str, Any]]:
    return S.records_by_port([r.value for r in rows])


def _check_expected(sc: S.Scenario, recs: dict[tuple[str, int], dict[str, Any]],
                    window: Window | None = None) -> None:  # fmt: skip
    expected = {
        k: v for k, v in sc.expected.items() if window is None or k in _in_window(sc, window)
    }
    got = {k: recs[k]["as_path"] for k in expected if k in recs}
    assert got == expected
    assert set(recs) == set(expected)


def _in_window(sc: S.Scenario, window: Window) -> set[tuple[str, int]]:
    return {
        (m.key, r["src_port"])
        for m in sc.of("flows")
        if m.ts in window
        for r in orjson.loads(m.value)["records"]
    }


@pytest.mark.parametrize("layout", ["flows_first", "bgp_first", "shuffled", "router_blocks"])
def test_point_in_time_whatever_the_layout_on_disk(replay_topics: Make, layout: str) -> None:
    t = replay_topics(3)
    base = _base()
    sc = S.standard(base)
    write(t.broker, t.bgp, t.flows, S.layout(sc, layout))
    outcome = _replay(t, Window(base, base + 200_000))
    rows = kcat(t.broker, outcome.output, len(sc.expected))
    recs = _records(rows)
    _check_expected(sc, recs)
    # every record sits in the output partition of its router's input partition
    part_of = {rp.router: rp.partition for rp in sc.routers}
    assert all(part_of[orjson.loads(r.value)["peer_ip_src"]] == r.partition for r in rows)
    assert outcome.complete and outcome.totals.guarantee_held
    assert outcome.totals.flows == len(sc.expected) == outcome.totals.enriched
    assert outcome.output == f"{t.tag}-out.{Window(base, base + 200_000).label}"


def test_live_enricher_over_the_same_data_agrees(replay_topics: Make, tmp_path: Path) -> None:
    t = replay_topics(3)
    base = _base()
    sc = S.standard(base)
    write(t.broker, t.bgp, t.flows, S.layout(sc, "shuffled"))
    outcome = _replay(t, Window(base, base + 200_000))
    replayed = _records(kcat(t.broker, outcome.output, len(sc.expected)))

    live_topic = f"{t.tag}-live-enriched"
    env = {
        **t.env(),
        "Quix__Consumer__Group": f"{t.tag}-live",
        "Quix__State__Dir": str(tmp_path / "state"),
        "FLOWS_ENRICHED_TOPIC": live_topic,
        "BGP_RIB_DUMP_TOPIC": f"{t.tag}-live-dump",
        "RIB_TABLE": "false",
        "RIB_DUMP_INTERVAL": "0",
        "COMMIT_INTERVAL": "1",
        "LOG_LEVEL": "INFO",
    }
    with live_enricher(env, tmp_path / "enricher.log") as proc:
        rows = kcat(t.broker, live_topic, len(sc.expected), timeout=120)
        assert proc.poll() is None, (tmp_path / "enricher.log").read_text()[-3000:]
    live = _records(rows)
    assert set(live) == set(replayed)
    # the one message written out of time order is where only the replay can be exact
    skip = S.out_of_order_ports(sc)
    assert skip
    for k in set(live) - skip:
        a = {n: v for n, v in live[k].items() if n != "writer_id"}
        b = {n: v for n, v in replayed[k].items() if n != "writer_id"}
        assert a == b, k
        assert a["as_path"] == sc.expected[k]


def test_same_window_twice_gives_identical_output(replay_topics: Make) -> None:
    t = replay_topics(3)
    base = _base()
    sc = S.standard(base)
    write(t.broker, t.bgp, t.flows, S.layout(sc, "shuffled"))
    window = Window(base + 20_000, base + 80_000)
    runs = []
    for _ in range(2):
        outcome = _replay(t, window)
        n = len(_in_window(sc, window))
        runs.append((outcome.output_status, kcat(t.broker, outcome.output, n)))
    assert [status for status, _ in runs] == ["created", "recreated"]
    assert runs[0][1] == runs[1][1]  # partitions, offsets, timestamps, keys, values
    _check_expected(sc, _records(runs[0][1]), window)


def test_router_without_bgp_history_is_reported_and_written_unenriched(
    replay_topics: Make,
) -> None:
    t = replay_topics(3)
    base = _base()
    orphan = S.RouterPlan("192.0.2.99", 1, 0, [base + 30_000, base + 45_000], bgp=False)
    routers = [*S.standard(base).routers, orphan]
    sc = S.build(base, routers)
    write(t.broker, t.bgp, t.flows, S.layout(sc, "bgp_first"))
    start, end = format_time(base), format_time(base + 200_000)
    done = run_cli(t.env(REPLAY_PROGRESS="always"), "--from", start, "--to", end)
    assert done.returncode == 0, done.stderr[-3000:]
    err = done.stderr
    assert (
        "router 192.0.2.99: no BGP history in window (no checkpoint entry and no bgp-updates "
        "before its flows): 6 flows written unenriched"
    ) in err
    assert "no BGP history 6" in err and "replay 100.0%" in err and "ETA" in err
    assert "flows written" in err and "point-in-time: every flow" in err
    output = f"{t.tag}-out.{Window(base, base + 200_000).label}"
    recs = _records(kcat(t.broker, output, len(sc.expected)))
    _check_expected(sc, recs)
    orphans = [r for (router, _), r in recs.items() if router == "192.0.2.99"]
    assert len(orphans) == 6 and all(r["as_dst"] == 0 and r["as_path"] == "" for r in orphans)

    # an explicit output that already holds data needs --append; bad windows are refused
    refused = run_cli(t.env(), "--from", start, "--to", end, "--output", output)
    assert refused.returncode == 2 and "--append" in refused.stderr
    assert run_cli(t.env(), "--from", end, "--to", start).returncode == 2


def test_checkpoint_lets_a_replay_do_without_deleted_history(replay_topics: Make) -> None:
    t = replay_topics(3)
    base = _base()
    sc = S.standard(base)  # tables at base+1..4 ms, moves at base+40..75 s
    write(t.broker, t.bgp, t.flows, S.layout(sc, "bgp_first"))
    cut = base + 30_000
    done = run_cli(t.env(), "checkpoint", "--at", format_time(cut))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("checkpoint partition") == 3

    # retention: delete every bgp-updates message the checkpoint already covers
    with Reader(t.broker) as reader:
        found = [checkpoint_store.find(reader, t.checkpoints, p, cut) for p in range(3)]
    assert all(f is not None and f.header.cut_ms == cut for f in found)
    offsets = [(t.bgp, p, f.header.bgp_offset) for p, f in enumerate(found) if f]
    delete_records(t.broker, offsets)
    with Reader(t.broker) as reader:
        lows = [reader.watermarks(t.bgp, p)[0] for p in range(3)]
    assert lows == [o for _, _, o in offsets] and all(lows)

    window = Window(cut + 5000, base + 200_000)
    outcome = _replay(t, window)
    assert {p.history for p in outcome.plan.partitions} == {"checkpoint"}
    n = len(_in_window(sc, window))
    _check_expected(sc, _records(kcat(t.broker, outcome.output, n)), window)
    assert outcome.totals.guarantee_held

    # without the checkpoint the same replay cannot be exact, and says so
    blind = _replay(t, window, CHECKPOINT_TOPIC=f"{t.tag}-none")
    assert {p.history for p in blind.plan.partitions} == {"truncated"}
    assert not blind.totals.guarantee_held and blind.totals.no_history > 0
    assert any("were deleted" in note for note in blind.notes)

    # the next checkpoint continues from this one: only the events since are applied
    settings = t.settings()
    later = checkpointer.write_all(settings, 3, base + 120_000)
    moves = {p: sum(1 for m in sc.of("bgp") if m.partition == p and m.ts >= cut) for p in range(3)}
    assert [(w.status, w.events, w.from_start) for w in later] == [
        ("written", moves[p], True) for p in range(3)
    ]
    again = checkpointer.write_all(settings, 3, base + 120_000)
    assert [w.status for w in again] == ["exists"] * 3
