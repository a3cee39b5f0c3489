"""The lab's Kafka: reuse a broker that answers; otherwise start the managed one, and stop it in
`lab down` only when the lab started it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ribflow.kafka.local import broker_answers
from ribflow.lab.errors import LabError
from ribflow.lab.lab import Lab
from ribflow.lab.procs import pid_alive
from ribflow.lab.settings import LabSettings
from ribflow.lab.state import LabState, settings_snapshot
from tests.fixtures.ports import free_port_pair

pytestmark = pytest.mark.integration


def test_an_answering_broker_is_reused_and_never_stopped(tmp_path: Path, kafka_broker: str) -> None:
    s = LabSettings(Quix__Broker__Address=kafka_broker, LAB_DIR=tmp_path)
    lab = Lab(s, out=io.StringIO())
    plan = lab._kafka_plan()
    assert not plan.started_by_lab
    LabState(settings_snapshot(s), plan).save(tmp_path)
    lab.down()
    assert broker_answers(kafka_broker, timeout=10)


def test_external_mode_refuses_to_start_one(tmp_path: Path) -> None:
    s = LabSettings(Quix__Broker__Address=f"127.0.0.1:{free_port_pair()}",
                         LAB_DIR=tmp_path, LAB_KAFKA="external")
    with pytest.raises(LabError, match="no Kafka broker answers"):
        Lab(s, out=io.StringIO())._kafka_plan()


def test_the_managed_broker_is_started_and_stopped_by_the_lab(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port_pair()}"
    s = LabSettings(Quix__Broker__Address=address, LAB_DIR=tmp_path)
    out = io.StringIO()
    lab = Lab(s, out=out)
    plan = lab._kafka_plan()
    assert plan.started_by_lab and plan.data_dir == str(tmp_path / "kafka")
    state = LabState(settings_snapshot(s), plan)
    state.save(tmp_path)
    try:
        lab._start_kafka(state)
        assert broker_answers(address, timeout=10)
        pid = LabState.load(tmp_path).kafka.pid  # type: ignore[union-attr]
        assert pid_alive(pid)
    finally:
        lab.down()
    assert not pid_alive(pid)
    assert not broker_answers(address, timeout=3)
    assert "kafka (pid" in out.getvalue()
