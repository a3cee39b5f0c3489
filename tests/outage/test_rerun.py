"""ribflow.kafka.rerun with in-process fakes: which failures run the application again."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from quixstreams.checkpointing.exceptions import CheckpointConsumerCommitError

from ribflow.kafka import rerun


def test_a_kafka_failure_runs_the_application_again_and_is_counted() -> None:
    runs: list[int] = []
    probes: list[str] = []

    def run_once() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            waiting = KafkaError(KafkaError._WAIT_COORD, "Commit failed: Waiting for coordinator")
            raise CheckpointConsumerCommitError(waiting)

    def answers(address: str) -> bool:
        probes.append(address)
        return len(probes) > 1  # the broker is back at the second probe

    label = rerun.RESTARTS.labels("test-app", "CheckpointConsumerCommitError")
    before = label._value.get()
    restarts = rerun.run_until_stopped(
        "test-app", "127.0.0.140:1", run_once, delay_s=0.01, answers=answers
    )
    assert restarts == 2 and len(runs) == 3
    assert label._value.get() - before == 2
    assert probes[0] == "127.0.0.140:1"


def test_other_errors_are_not_swallowed() -> None:
    def run_once() -> None:
        raise ValueError("a bug is not an outage")

    with pytest.raises(ValueError):
        rerun.run_until_stopped("test-app", "x:1", run_once, answers=lambda _a: True)
