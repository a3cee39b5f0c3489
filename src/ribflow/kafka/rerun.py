"""Run a Quix Streams application again, in the same process, after Kafka failed under it.

Quix ends ``Application.run`` with an exception when a checkpoint cannot be committed because
the broker is away (``CheckpointConsumerCommitError: Waiting for coordinator`` after a ~10 s
outage, measured in tests/outage). Nothing is lost at that point: the unfinished checkpoint's
offsets were not committed (exactly-once: its transaction is aborted), so a new application
reads those messages again. :func:`run_until_stopped` does what a supervisor restarting the
process would do, without the process exiting: it counts the failure, waits until the broker
answers again, builds a fresh application and runs it. Other exceptions are not caught.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from confluent_kafka import KafkaException
from prometheus_client import Counter
from quixstreams.checkpointing.exceptions import (
    CheckpointConsumerCommitError,
    CheckpointProducerTimeout,
)
from quixstreams.kafka.exceptions import BaseKafkaException, KafkaBrokerUnavailableError

from ribflow.kafka.client import KafkaTarget, kafka_settings
from ribflow.kafka.local import broker_answers

log = logging.getLogger(__name__)

KAFKA_FAILURES: tuple[type[BaseException], ...] = (
    CheckpointConsumerCommitError,
    CheckpointProducerTimeout,
    BaseKafkaException,
    KafkaBrokerUnavailableError,
    KafkaException,
)
RESTARTS = Counter(
    "ribflow_app_restarts_total",
    "Quix applications run again in the same process after Kafka failed under them",
    ["app", "reason"],
)
QUICK_S = 60.0  # a run shorter than this after a restart counts as a quick failure
MAX_DELAY_S = 30.0


def run_until_stopped(
    app: str,
    broker: KafkaTarget,
    run_once: Callable[[], None],
    *,
    delay_s: float = 1.0,
    answers: Callable[[KafkaTarget], bool] = broker_answers,
) -> int:
    """Call ``run_once`` (build and run one application) until it returns; returns the restarts.

    Between runs, SIGTERM/SIGINT end the loop (Quix's own handlers belong to the finished
    application). Quick repeated failures back off exponentially up to ``MAX_DELAY_S``.
    """
    stop = threading.Event()
    restarts = 0
    quick = 0
    while True:
        started = time.monotonic()
        try:
            run_once()
            return restarts
        except KAFKA_FAILURES as exc:
            reason = type(exc).__name__
            RESTARTS.labels(app, reason).inc()
            restarts += 1
            quick = quick + 1 if time.monotonic() - started < QUICK_S else 0
            log.warning(
                "%s: Kafka failed under the application (%s: %s); running it again once "
                "%s answers (uncommitted input is read again)",
                app, reason, exc, kafka_settings(broker).broker_address,
            )  # fmt: skip
        _stop_on_signals(stop)
        wait = min(MAX_DELAY_S, delay_s * 2 ** max(0, quick - 1))
        if stop.wait(wait) or not _wait_for(broker, stop, answers):
            log.info("%s: stopped while waiting for Kafka", app)
            return restarts


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _wait_for(
    broker: KafkaTarget, stop: threading.Event, answers: Callable[[KafkaTarget], bool]
) -> bool:
    """Wait until ``broker`` answers (True) or ``stop`` is set (False)."""
    while not stop.is_set():
        if answers(broker):
            return True
        stop.wait(1.0)
    return False
