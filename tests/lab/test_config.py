"""Lab settings and rendered configurations, checked by the tools that read them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from ribflow.agentmap import AgentMap, parse_agent_map
from ribflow.lab.components import LabPaths, agent_map_text, app_env
from ribflow.lab.exabgp import render_bridge_script, speaker_env
from ribflow.lab.router import render_gobgpd
from ribflow.lab.settings import LabSettings


def test_defaults_are_the_fixed_lab_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("Quix__Broker__Address", "LAB_ROUTER_ADDRESS", "LAB_NETFLOW_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = LabSettings()
    assert s.broker_address == "127.0.0.1:9092"
    assert (s.router_address, s.router_as, s.grpc_target) == ("127.0.0.3", 65001, "127.0.0.3:50051")
    assert s.exabgp_address == "127.0.0.2"
    assert (s.collector_address, s.netflow_port, s.sflow_port) == ("127.0.0.1", 2055, 6343)
    assert s.exporter_address == "127.0.0.1" and s.table == "ris"


def test_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_ROUTER_ADDRESS", "127.0.0.93")
    monkeypatch.setenv("LAB_TOPIC_PREFIX", "t1-")
    s = LabSettings(LAB_NETFLOW_PORT=30055)
    assert s.router_address == "127.0.0.93" and s.netflow_port == 30055
    assert s.topic(s.flows_enriched_topic) == "t1-flows-enriched"
    assert s.group_prefix == "t1-ribflow-lab"


@pytest.mark.parametrize(
    "bad",
    [
        {"LAB_ROUTER_ADDRESS": "127.0.0.2"},  # same as ExaBGP
        {"LAB_NETFLOW_PORT": 6343},  # same as sFlow
        {"LAB_ROUTER_ADDRESS": "not-an-ip"},
        {"LAB_TOPIC_PREFIX": "bad prefix"},
        {"LAB_TRAFFIC_INTERVAL": 0},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LabSettings(**bad)


def test_app_env_prefixes_topics_and_configures_the_collector(tmp_path: Path) -> None:
    s = LabSettings(LAB_TOPIC_PREFIX="p-", LAB_COLLECTOR_ADDRESS="127.0.0.94",
                         LAB_NETFLOW_PORT=31000, LAB_SFLOW_PORT=31001, LAB_DIR=tmp_path)
    paths = LabPaths(tmp_path)
    env = app_env(s, paths, "collector")
    assert env["FLOWS_TOPIC"] == "p-flows" and env["BGP_UPDATES_TOPIC"] == "p-bgp-updates"
    assert env["LISTEN_HOSTS"] == "127.0.0.94" and env["LISTEN_PORTS"] == "31000,31001"
    assert env["AGENT_MAP_FILE"] == str(paths.agent_map)
    assert env["Quix__Consumer__Group"] == "p-ribflow-lab"
    # every app reads its env with its own settings class: the values must validate there
    from ribflow.flow.settings import CollectorSettings

    cs = CollectorSettings(**env)
    assert cs.ports() == [31000, 31001] and cs.flows_topic == "p-flows"


def test_agent_map_maps_the_exporter_to_the_router() -> None:
    s = LabSettings(LAB_ROUTER_ADDRESS="127.0.0.95", LAB_EXPORTER_ADDRESS="127.0.0.1")
    amap = AgentMap(parse_agent_map(agent_map_text(s)))
    assert amap.lookup("127.0.0.1") == "127.0.0.95"
    assert amap.lookup("127.0.0.7") is None


@pytest.mark.integration
def test_gobgpd_accepts_the_router_config(tmp_path: Path) -> None:
    s = LabSettings(LAB_ROUTER_ADDRESS="127.0.0.96", LAB_ROUTER_GRPC_PORT=50196)
    text = render_gobgpd(s)
    conf = tomllib.loads(text)
    assert conf["global"]["config"]["as"] == 65001
    assert conf["global"]["config"]["local-address-list"] == ["127.0.0.96"]
    (nbr,) = conf["neighbors"]
    assert nbr["config"]["neighbor-address"] == s.exabgp_address
    assert nbr["route-reflector"]["config"]["route-reflector-client"] is True
    path = tmp_path / "gobgpd.toml"
    path.write_text(text)
    dry = subprocess.run(["gobgpd", "-f", str(path), "-d"], capture_output=True, text=True,
                         timeout=30)
    assert dry.returncode == 0, dry.stdout + dry.stderr


@pytest.mark.integration
def test_exabgp_accepts_the_speaker_config(tmp_path: Path) -> None:
    s = LabSettings(LAB_ROUTER_ADDRESS="127.0.0.96", LAB_EXABGP_ADDRESS="127.0.0.97")
    script = tmp_path / "bridge.sh"
    script.write_text(render_bridge_script(tmp_path / "bridge.pid", tmp_path / "bridge.log"))
    script.chmod(0o755)
    env = {**speaker_env(s, tmp_path / "exabgp", script), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "ribflow", "exabgp", "validate", "--out", str(tmp_path / "ex")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf = (tmp_path / "ex" / "exabgp-0.conf").read_text()
    assert "neighbor 127.0.0.96" in conf and "local-address 127.0.0.97" in conf
    assert f"run {script}" in conf


def test_bridge_wrapper_records_its_pid_and_execs(tmp_path: Path) -> None:
    text = render_bridge_script(tmp_path / "b.pid", tmp_path / "b.log", python="/bin/echo")
    script = tmp_path / "b.sh"
    script.write_text(text)
    script.chmod(0o755)
    out = subprocess.run([str(script), "--instance", "0"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "-m ribflow bridge --instance 0"
    assert int((tmp_path / "b.pid").read_text()) > 0


def test_app_env_hands_the_kafka_security_settings_to_every_app(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-\n")
    secure = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
              "KAFKA_SASL_USERNAME": "lab", "KAFKA_SASL_PASSWORD": "lab-secret",
              "KAFKA_SSL_CA_LOCATION": str(ca)}  # fmt: skip
    s = LabSettings(LAB_DIR=tmp_path, **secure)
    from ribflow.enrich.settings import EnricherSettings

    for app in ("collector", "enricher", "aggregator", "bridge"):
        env = app_env(s, LabPaths(tmp_path), app)
        assert {k: env[k] for k in secure} == secure, app
    es = EnricherSettings(**app_env(s, LabPaths(tmp_path), "enricher"))
    assert es.sasl_password is not None and es.sasl_password.get_secret_value() == "lab-secret"
