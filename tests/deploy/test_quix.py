"""quix.yaml and apps/<name>/app.yaml follow Quix's conventions, and each app starts the way
`quix run` starts it: main.py in the app folder with a .env of app.yaml's variable defaults plus
Quix__Broker__Address (the Quix CLI itself cannot be installed here)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ribflow.settings import AppSettings
from ribflow.settings_doc import settings_classes as all_settings_classes
from ribflow.topics import catalogue

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "apps"
INPUT_TYPES = {"InputTopic", "OutputTopic", "FreeText", "Secret", "HiddenText"}
TOPIC_TYPES = {"InputTopic", "OutputTopic"}
COPARTITIONED = ("bgp-updates", "flows", "bgp-rib")
COMPACTED = ("bgp-rib", "flow-templates")


def app_dirs() -> list[Path]:
    return sorted(p.parent for p in APPS.glob("*/app.yaml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def quix() -> dict[str, Any]:
    return load(REPO / "quix.yaml")


def test_the_four_apps_have_their_folders() -> None:
    names = {p.name for p in app_dirs()}
    assert {"collector", "bgp-bridge", "enricher", "aggregator"} <= names, names


@pytest.mark.parametrize("app", app_dirs(), ids=lambda p: p.name)
def test_app_yaml(app: Path) -> None:
    data = load(app / "app.yaml")
    assert data["name"] and data["language"].lower() == "python"
    for key in ("runEntryPoint", "defaultFile", "dockerfile"):
        assert (app / data[key]).is_file(), f"{app.name}: {key} {data[key]} missing"
    assert data["runEntryPoint"] == "main.py"
    aliases = {f.alias for cls in all_settings_classes() for f in cls.model_fields.values()}
    seen = set()
    for var in data.get("variables", []):
        assert set(var) <= {"name", "inputType", "description", "defaultValue", "required",
                            "multiline", "secret"}, var
        assert var["inputType"] in INPUT_TYPES, var
        assert isinstance(var.get("required", False), bool), var
        assert var["name"] not in seen, f"{app.name}: {var['name']} twice"
        seen.add(var["name"])
        assert var["name"] in aliases, f"{app.name}: {var['name']} is no ribflow setting"
        if var["inputType"] in TOPIC_TYPES:
            assert var["name"].endswith("_TOPIC") and var.get("defaultValue"), var
        if var["inputType"] == "Secret":
            assert not var.get("defaultValue"), f"{app.name}: a secret with a default"


def test_quix_yaml_deploys_every_app_with_declared_topics() -> None:
    q = quix()
    assert str(q["metadata"]["version"]) in ("1.0", "1")
    topics = {t["name"]: t.get("configuration", {}) for t in q["topics"]}
    deployed = set()
    for dep in q["deployments"]:
        app = APPS / dep["application"]
        assert (app / "app.yaml").is_file(), f"{dep['name']}: no app {app}"
        deployed.add(dep["application"])
        assert dep["deploymentType"] in ("Service", "Job")
        assert all(isinstance(v, int) and v > 0 for v in dep["resources"].values())
        app_vars = {v["name"]: v for v in load(app / "app.yaml").get("variables", [])}
        for var in dep.get("variables", []):
            assert var["name"] in app_vars, f"{dep['name']}: {var['name']} not in its app.yaml"
            assert var["inputType"] == app_vars[var["name"]]["inputType"], var
            if var["inputType"] in TOPIC_TYPES:
                assert var["value"] in topics, f"topic {var['value']} not declared"
        for var in app_vars.values():  # topics the apps use by default are declared too
            if var["inputType"] in TOPIC_TYPES:
                assert var["defaultValue"] in topics, f"{app.name}: {var['defaultValue']}"
    assert deployed == {p.name for p in app_dirs()}
    counts = {topics[n]["partitions"] for n in COPARTITIONED}
    assert len(counts) == 1, "router-keyed topics must share one partition count"
    for name in COMPACTED:
        assert topics[name]["cleanupPolicy"] == "Compact"


def test_quix_yaml_topics_are_the_catalogues() -> None:
    """Quix creates the declared topics itself: with the catalogue's partitions and configs."""
    declared = {t["name"]: t.get("configuration", {}) for t in quix()["topics"]}
    cat = catalogue(AppSettings(PARTITIONS=4))
    for name, conf in declared.items():
        spec = cat[name]
        assert conf["partitions"] == spec.partitions, name
        if spec.config.get("cleanup.policy") == "compact":
            assert conf.get("cleanupPolicy") == "Compact" and "retentionInMinutes" not in conf, name
        else:
            assert conf.get("cleanupPolicy", "Delete") == "Delete", name
            assert conf["retentionInMinutes"] * 60_000 == int(spec.config["retention.ms"]), name
    # every topic but the dead-letter ones is declared
    assert {n for n in cat if not n.endswith("-dlq")} <= set(declared)


# what a user must type in for required variables that have no default (as `quix run` asks)
USER_VALUES = {"BGP_NEIGHBORS": "127.0.0.98"}  # a router address nobody answers on


def quix_run_env(app: Path, broker: str) -> dict[str, str]:
    """The .env `quix run` writes: each app.yaml variable's default, plus the broker; required
    variables without a default get the value a user would have to give."""
    env = {}
    for var in load(app / "app.yaml").get("variables", []):
        default = var.get("defaultValue")
        if var.get("required") and default in (None, ""):
            assert var["name"] in USER_VALUES, f"{app.name}: no test value for {var['name']}"
            default = USER_VALUES[var["name"]]
        if default is not None:
            env[var["name"]] = str(default)
    env["Quix__Broker__Address"] = broker
    return env


@pytest.mark.integration
@pytest.mark.parametrize("app", app_dirs(), ids=lambda p: p.name)
def test_app_starts_as_quix_run_starts_it(app: Path, kafka_broker: str, tmp_path: Path) -> None:
    run_dir = tmp_path / app.name
    shutil.copytree(app, run_dir)
    dotenv = quix_run_env(app, kafka_broker)
    (run_dir / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    # a clean environment: nothing of ours leaks in, only what .env says
    names = {f.alias for cls in all_settings_classes() for f in cls.model_fields.values()}
    base = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("Quix__")}
    log = run_dir / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py"], cwd=run_dir, env=base, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.PIPE, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert proc.poll() is None, f"{app.name} exited ({proc.returncode}):\n{log.read_text()}"
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
        text = log.read_text()
        assert code == 0, f"{app.name} stopped with {code}:\n{text}"
        assert "Traceback" not in text, text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

