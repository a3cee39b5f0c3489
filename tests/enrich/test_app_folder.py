"""apps/enricher: thin main.py, app.yaml variables that are settings, a README line per setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ribflow.enrich.settings import EnricherSettings

APP = Path(__file__).resolve().parents[2] / "apps" / "enricher"


def test_readme_documents_every_setting() -> None:
    readme = (APP / "README.md").read_text()
    for field in EnricherSettings.model_fields.values():
        assert f"| `{field.alias}` |" in readme, field.alias


def test_app_yaml_variables_are_enricher_settings() -> None:
    data = yaml.safe_load((APP / "app.yaml").read_text())
    aliases = {f.alias for f in EnricherSettings.model_fields.values()}
    names = [v["name"] for v in data["variables"]]
    assert set(names) <= aliases and len(names) == len(set(names))
    defaults = {v["name"]: str(v["defaultValue"]) for v in data["variables"]}
    EnricherSettings(**defaults)  # every default validates
    assert (APP / data["runEntryPoint"]).read_text().count("\n") < 15  # only wiring


def test_main_py_runs_the_enricher_command() -> None:
    done = subprocess.run(
        [sys.executable, str(APP / "main.py"), "--settings"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "`RIB_DUMP_INTERVAL`" in done.stdout


@pytest.mark.parametrize(
    "bad",
    [
        {"PROCESSING_GUARANTEE": "maybe-once"},
        {"PROCESSING_GUARANTEE": "exactly-once", "COMMIT_INTERVAL": "900"},
        {"SESSION_TIMEOUT_MS": "100"},
        {"RIB_DUMP_INTERVAL": "-1"},
        {"OUTPUT_FIELDS": "as_dst;rm -rf"},
        {"CONSUMER_QUEUED_MIN_MESSAGES": "10"},
        {"CONSUMER_QUEUED_MIN_MESSAGES": "many"},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        EnricherSettings(**bad)


def test_transactional_id_is_stable_per_state_dir(tmp_path: Path) -> None:
    a = EnricherSettings(**{"Quix__State__Dir": str(tmp_path / "a")})
    b = EnricherSettings(**{"Quix__State__Dir": str(tmp_path / "b")})
    again = EnricherSettings(**{"Quix__State__Dir": str(tmp_path / "a")})
    assert a.resolved_transactional_id() == again.resolved_transactional_id()
    assert a.resolved_transactional_id() != b.resolved_transactional_id()


def test_group_instance_id_is_stable_per_state_dir_and_can_be_off(tmp_path: Path) -> None:
    a = EnricherSettings(**{"Quix__State__Dir": str(tmp_path / "a")})
    b = EnricherSettings(**{"Quix__State__Dir": str(tmp_path / "b")})
    again = EnricherSettings(**{"Quix__State__Dir": str(tmp_path / "a")})
    assert a.resolved_group_instance_id() == again.resolved_group_instance_id()
    assert a.resolved_group_instance_id() != b.resolved_group_instance_id()
    fixed = EnricherSettings(GROUP_INSTANCE_ID="enricher-7")
    assert fixed.resolved_group_instance_id() == "enricher-7"
    assert EnricherSettings(GROUP_INSTANCE_ID="off").resolved_group_instance_id() is None


def test_read_ahead_and_session_settings_reach_the_consumer(tmp_path: Path) -> None:
    from ribflow.enrich.pipeline import consumer_config

    settings = EnricherSettings(
        **{"CONSUMER_QUEUED_MIN_MESSAGES": "1234", "SESSION_TIMEOUT_MS": "6000",
           "FETCH_WAIT_MAX_MS": "70"}
    )  # fmt: skip
    assert consumer_config(settings) == {
        "queued.min.messages": 1234,
        "fetch.wait.max.ms": 70,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1500,
        "group.instance.id": settings.resolved_group_instance_id(),
    }
