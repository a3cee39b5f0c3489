"""apps/collector: the Quix app folder is consistent with the settings, and runs as `quix run`
would run it (main.py with a .env made from app.yaml's variables)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from ribflow.flow.app import main as app_main
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.settings import CollectorSettings
from ribflow.settings import settings_rows
from tests.fixtures.ports import free_port
from tests.flow.collector_harness import DATA, kcat, stop

APP = Path(__file__).resolve().parents[2] / "apps" / "collector"
TOPIC_SETTINGS = {
    "FLOWS_TOPIC",
    "SFLOW_COUNTERS_TOPIC",
    "FLOW_TEMPLATES_TOPIC",
    "BGP_UPDATES_TOPIC",
}


def app_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((APP / "app.yaml").read_text())
    return data


def test_readme_lists_every_setting() -> None:
    readme = (APP / "README.md").read_text()
    for env, default, _desc in settings_rows(CollectorSettings):
        assert f"| `{env}` | `{default}` |" in readme, env


def test_app_yaml_matches_the_settings() -> None:
    spec = app_yaml()
    assert spec["runEntryPoint"] == "main.py" and (APP / "main.py").exists()
    assert (APP / spec["dockerfile"]).exists()
    aliases = {env for env, _d, _t in settings_rows(CollectorSettings)}
    for var in spec["variables"]:
        assert var["name"] in aliases, var["name"]
        assert var["inputType"] in ("InputTopic", "OutputTopic", "FreeText"), var
        topic = var["inputType"] in ("InputTopic", "OutputTopic")
        assert topic == (var["name"] in TOPIC_SETTINGS), var["name"]
    docker = (APP / "dockerfile").read_text()
    assert "COPY apps/collector/main.py" in docker
    # ribflow itself and the wheel of the compiled core built from rust/ribflow-lpm
    assert "pip install /tmp/wheels/*.whl ." in docker and "COPY rust/ribflow-lpm" in docker


def test_settings_flag_and_bad_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exited:
        app_main(["--settings"])
    assert exited.value.code == 0
    assert "`BACKPRESSURE`" in capsys.readouterr().out
    monkeypatch.setenv("LISTEN_PORTS", "not-a-port")
    with pytest.raises(SystemExit) as exited:
        app_main([])
    assert exited.value.code == 2
    assert "LISTEN_PORTS='not-a-port': not a list of ports" in capsys.readouterr().err
    monkeypatch.setenv("LISTEN_PORTS", "0")
    monkeypatch.setenv("AGENT_MAP_FILE", str(APP / "README.md"))  # not a map: refused
    assert app_main([]) == 2


@pytest.mark.integration
def test_main_py_runs_with_the_quix_env(
    tmp_path: Path, kafka_broker: str, topic_factory: Any
) -> None:
    """What `quix run` does: .env from app.yaml (broker injected by Quix), then main.py.

    Only the listen address/port, the metrics port and the topic names are changed from the
    app.yaml defaults: the test must use 127.0.0.1, ports from binding port 0 and its own topics.
    """
    flows = topic_factory("flows")
    env = {v["name"]: str(v.get("defaultValue", "")) for v in app_yaml()["variables"]}
    env.update(
        Quix__Broker__Address=kafka_broker,
        LISTEN_HOSTS="127.0.0.1",
        LISTEN_PORTS=str(free_port(kind="udp")),
        METRICS_PORT=str(free_port()),
        METRICS_HOST="127.0.0.1",
        FLOWS_TOPIC=flows,
        SFLOW_COUNTERS_TOPIC=topic_factory("sflow-counters"),
        FLOW_TEMPLATES_TOPIC=topic_factory("flow-templates", config={"cleanup.policy": "compact"}),
        BGP_UPDATES_TOPIC=topic_factory("bgp-updates"),
    )
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    shutil.copy(APP / "main.py", tmp_path / "main.py")
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(APP.parents[1] / "src")},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "collector ready" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        payload = next(iter(iter_datagrams(DATA / "lab-flows-sflow.pcap"))).payload
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, ("127.0.0.1", int(env["LISTEN_PORTS"])))
        (msg,) = kcat(kafka_broker, flows, 1)
        assert json.loads(msg["payload"])["exporter"] == "127.0.0.1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        dlq = flows + "-dlq"  # created by the app itself (CREATE_TOPICS): remove it
        admin = AdminClient({"bootstrap.servers": kafka_broker})
        for fut in admin.delete_topics([dlq], operation_timeout=30).values():
            fut.result(30)
    finally:
        stop(proc)
