"""Kafka unavailable with real ExaBGP and a real router: back-pressure until the hold timer.

What apps/bgp-bridge/README.md promises, checked end to end: with Kafka frozen, the bridge stops
reading once its (small) budget is spent, ExaBGP blocks writing to it and stops talking BGP, the
router expires its hold timer (9 s here) and closes the session; when Kafka is back the topic says
`down`, then `up`, then the whole table again, in one epoch with no gap in `seq`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ribflow.kafka.local import BrokerConfig, LocalKafka
from ribflow.schemas import validate
from tests.bgp.lab import (
    GOBGP,
    Daemon,
    gobgp,
    kcat_read,
    speaker_env,
    start_gobgpd,
    start_speaker,
    wait_for,
)
from tests.fixtures.kafka import free_port

pytestmark = pytest.mark.integration

GEN_MRT = Path(__file__).resolve().parents[1] / "data" / "enrich" / "gen_mrt.py"
HOLD = 9


def table(events: list[dict[str, Any]]) -> set[str]:
    return {
        n["prefix"]
        for e in events
        if e["type"] == "update"
        for g in e["announce"]
        for n in g["nlri"]
    }


def session_state() -> str:
    out = gobgp("neighbor", check=False).stdout
    line = next((ln for ln in out.splitlines() if "127.0.0.20" in ln), "")
    cols = line.split()  # Peer AS Up/Down State |#Received Accepted
    return cols[3] if len(cols) > 3 else ""


def test_kafka_outage_holds_exabgp_until_the_hold_timer_then_everything_is_relearnt(
    tmp_path: Path,
) -> None:
    if not GEN_MRT.exists():
        pytest.fail(f"missing {GEN_MRT}")
    bulk = tmp_path / "bulk.mrt"
    subprocess.run(
        [sys.executable, str(GEN_MRT), str(bulk), "20000", "0"], check=True, capture_output=True
    )
    cfg = BrokerConfig(
        port=free_port(), controller_port=free_port(), data_dir=tmp_path / "kafka", heap="384m"
    )
    kafka = LocalKafka(cfg)
    daemons: list[Daemon] = []
    frozen = False
    kafka.up()
    try:
        gobgpd = start_gobgpd(tmp_path, hold=HOLD)
        daemons.append(gobgpd)
        gobgp(
            "global",
            "rib",
            "-a",
            "ipv4",
            "add",
            "198.18.0.0/15",
            "nexthop",
            "192.0.2.1",
            "aspath",
            "65010",
        )
        env = speaker_env(
            cfg.address,
            "bgp-updates",
            tmp_path,
            BGP_NEIGHBORS=GOBGP,
            BGP_HOLD_TIME=str(HOLD),
            BRIDGE_BUFFER_MESSAGES="100",
            BRIDGE_BUFFER_MB="1",
            PARTITIONS="1",
        )
        speaker = start_speaker(env, tmp_path)
        daemons.append(speaker)
        wait_for(
            "the first route in Kafka",
            lambda: (
                "198.18.0.0/15"
                in table([m["value"] for m in kcat_read(cfg.address, "bgp-updates")])
            ),
            90,
        )
        broker_pid = kafka.running_pid()
        assert broker_pid
        os.killpg(broker_pid, signal.SIGSTOP)  # Kafka stops answering
        frozen = True
        gobgp("mrt", "inject", "global", str(bulk))  # 20k live updates towards ExaBGP
        # the bridge's budget fills, ExaBGP blocks, the router's hold timer runs out
        wait_for(
            "the router to drop the blocked session",
            lambda: session_state() not in ("", "Establ"),
            HOLD * 6,
        )
        os.killpg(broker_pid, signal.SIGCONT)  # Kafka is back
        frozen = False
        total = 20001

        def relearnt() -> list[dict[str, Any]] | None:
            evs = [m["value"] for m in kcat_read(cfg.address, "bgp-updates")]
            ups = [i for i, e in enumerate(evs) if e["type"] == "session" and e["state"] == "up"]
            if len(ups) < 2:
                return None
            again = evs[ups[-1] :]
            return (
                evs
                if len(table(again)) >= total and any(e["type"] == "eor" for e in again)
                else None
            )

        events = wait_for("the session back and the whole table again", relearnt, 240, every=2)
    finally:
        pid = kafka.running_pid()
        if frozen and pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
        for d in reversed(daemons):
            d.stop()
        kafka.down()
    for e in events:
        validate("bgp-updates.v1", e)
    assert len({e["epoch"] for e in events}) == 1, "the bridge itself never restarted"
    assert [e["seq"] for e in events] == list(range(len(events))), "no gap, nothing dropped"
    sessions = [
        (e["state"], e["reason"]) for e in events if e["type"] == "session" and e["router"] == GOBGP
    ]
    first_up = sessions.index(("up", None))
    down = next(s for s in sessions[first_up:] if s[0] == "down")
    assert down[1], "the down says why"
    assert sessions[-1] == ("up", None)
