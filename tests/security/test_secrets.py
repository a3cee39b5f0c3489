"""No secret in what ``ribflow lab status`` prints or keeps: its state file holds no password,
and the status it shows (read over SASL_SSL with the password from the environment) neither.
The apps' logs, stderr and /metrics are checked in test_sasl_ssl_pipeline.py, their refusals
in test_refusals.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ribflow.lab.settings import LabSettings
from ribflow.lab.state import KafkaState, LabState, settings_snapshot
from tests.security.secure_io import SecureKafka, ribflow, ribflow_env

pytestmark = pytest.mark.integration


def test_lab_status_reads_kafka_over_sasl_ssl_without_showing_the_password(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    settings = LabSettings(**secure_kafka.env(), LAB_DIR=str(lab_dir))
    LabState(settings_snapshot(settings), KafkaState(address=secure_kafka.secure)).save(lab_dir)
    saved = LabState.path_in(lab_dir).read_text()
    assert secure_kafka.password not in saved
    assert json.loads(saved)["settings"]["KAFKA_SASL_USERNAME"] == secure_kafka.user
    env = ribflow_env(secure_kafka)
    text = ribflow("lab", "status", "--dir", str(lab_dir), env=env, cwd=tmp_path)
    as_json = ribflow("lab", "status", "--json", "--dir", str(lab_dir), env=env, cwd=tmp_path)
    for done in (text, as_json):
        out = done.stdout + done.stderr
        assert secure_kafka.password not in out
        assert "cannot read topics" not in out, out  # it did read Kafka, over SASL_SSL
    status = json.loads(as_json.stdout)
    assert status["kafka_answers"] is True, status
