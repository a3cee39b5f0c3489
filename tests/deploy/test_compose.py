"""compose.yaml: accepted by Docker Compose, and everything it runs exists in this repository."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ribflow.agentmap import AgentMap, parse_agent_map
from ribflow.cli import COMMANDS
from ribflow.settings import AppSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
IMAGE = "ribflow:latest"
LAB_INTERNAL = {"exporter", "router", "probe", "up", "status", "tail", "down"}


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose (Debian package docker-compose) is needed to validate compose.yaml"
    return subprocess.run([exe, "-f", str(path), "config"], capture_output=True, text=True,
                          timeout=120, cwd=path.parent)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    out = compose_config(COMPOSE)
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = yaml.safe_load(out.stdout)
    return data


@pytest.mark.integration
def test_docker_compose_rejects_what_is_wrong(tmp_path: Path) -> None:
    # the validator is real: an unknown key and a wrong type are refused
    good = yaml.safe_load(COMPOSE.read_text())
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(good))
    assert compose_config(path).returncode == 0  # the copy itself is fine
    for mutate in (
        lambda d: d["services"]["collector"].__setitem__("restarts", "always"),
        lambda d: d["services"]["enricher"].__setitem__("volumes", "enricher-state"),
    ):
        bad = yaml.safe_load(yaml.safe_dump(good))
        mutate(bad)
        path.write_text(yaml.safe_dump(bad))
        out = compose_config(path)
        assert out.returncode != 0 and "is invalid" in out.stderr, out.stderr


def ports(svc: dict[str, Any]) -> set[tuple[str | None, int, int]]:
    """(host ip, published, target) of a service, long or short syntax."""
    out: set[tuple[str | None, int, int]] = set()
    for p in svc.get("ports", []):
        if isinstance(p, dict):
            out.add((p.get("host_ip"), int(p["published"]), int(p["target"])))
        else:
            host, published, target = str(p).split("/")[0].rsplit(":", 2)
            out.add((host or None, int(published), int(target)))
    return out


def mounts(svc: dict[str, Any]) -> dict[str, str]:
    """volume source -> container path, long or short syntax."""
    out = {}
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            out[v["source"]] = v["target"]
        else:
            source, target = str(v).split(":")[:2]
            out[source] = target
    return out


@pytest.mark.integration
def test_topology(config: dict[str, Any]) -> None:
    services = config["services"]
    assert {"kafka", "topics", "router", "bgp-bridge", "collector", "enricher", "aggregator",
            "exporter"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert ("127.0.0.1", 9092, 9092) in ports(kafka)  # tests/fixtures/kafka.py connects here
    assert mounts(kafka)["kafka-data"] == kafka["environment"]["KAFKA_LOG_DIRS"]
    for app in ("enricher", "aggregator"):
        env = services[app]["environment"]
        assert mounts(services[app])[f"{app}-state"] == env["Quix__State__Dir"]  # RocksDB
    assert {"kafka-data", "enricher-state", "aggregator-state"} <= set(config["volumes"])
    for name, svc in services.items():
        if name in ("tail", "top"):
            continue
        assert "healthcheck" in svc or name == "topics", f"{name} has no healthcheck"


@pytest.mark.integration
def test_one_image_built_from_the_repo(config: dict[str, Any]) -> None:
    built = {n: s for n, s in config["services"].items() if "build" in s}
    assert built
    for svc in built.values():
        assert svc["image"] == IMAGE
        assert Path(svc["build"]["context"]) == REPO
        assert (REPO / svc["build"]["dockerfile"]).resolve() == DOCKERFILE
    text = DOCKERFILE.read_text()
    assert re.search(r'^ENTRYPOINT \["ribflow"\]$', text, re.M)
    check_copies(DOCKERFILE)
    users = {s.get("image") for s in config["services"].values()}
    assert users <= {IMAGE} | {config["services"]["kafka"]["image"]}


def check_copies(dockerfile: Path) -> None:
    """Every COPY takes a file of the repository, or (``--from=``) a stage defined before it."""
    stages: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        if m := re.match(r"^FROM \S+ AS (\S+)", line, re.I):
            stages.add(m[1])
        elif m := re.match(r"^COPY --from=(\S+) ", line):
            assert m[1] in stages, f"{dockerfile}: COPY from {m[1]}, no such stage before it"
        elif m := re.match(r"^COPY (\S+)", line):
            src = m[1]
            assert (REPO / src).exists(), f"{dockerfile} copies {src}, not in the repository"


def _check_ribflow_command(argv: list[str], where: str) -> None:
    """``ribflow ARGV`` must be a registered command whose module exists; our own commands'
    options are parsed with their real argument parsers."""
    assert argv and argv[0] in COMMANDS, f"{where}: `ribflow {argv[0]}` is not a command"
    module_name = COMMANDS[argv[0]][0]
    assert importlib.util.find_spec(module_name) is not None, f"{where}: {module_name} missing"
    if argv[0] == "lab":
        assert argv[1] in LAB_INTERNAL, f"{where}: `ribflow lab {argv[1]}` does not exist"
        module_name = {"exporter": "ribflow.lab.exporter", "router": "ribflow.lab.foreground",
                       "probe": "ribflow.lab.probes"}.get(argv[1], "ribflow.lab.cli")
        args = argv[2:] if module_name != "ribflow.lab.cli" else argv[1:]
    else:
        args = argv[1:]
    module = importlib.import_module(module_name)
    parser = getattr(module, "_parser", None)
    if argv[:2] == ["lab", "router"]:
        return  # its parser is local to router_main; its options are checked below
    if argv[:2] == ["lab", "probe"]:
        assert args[0] in ("udp", "tcp", "http"), where
        return
    if parser is not None:
        parser().parse_args(args)  # SystemExit on an unknown option or a bad value


@pytest.mark.integration
def test_every_command_exists_in_the_repo(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        if svc.get("image") != IMAGE:
            continue
        _check_ribflow_command(list(svc["command"]), f"service {name}")
        test = svc.get("healthcheck", {}).get("test")
        if test and test[0] == "CMD" and test[1] == "ribflow":
            _check_ribflow_command(list(test[2:]), f"healthcheck of {name}")
        elif test:
            assert test[0] == "CMD" and test[1] in ("test",), f"{name}: healthcheck {test}"
    router = config["services"]["router"]["command"]
    assert router[:2] == ["lab", "router"] and "--workdir" in router and "--api-host" in router


def _settings_classes() -> dict[str, type[AppSettings]]:
    from ribflow.aggregate.settings import AggregatorSettings
    from ribflow.bgp.settings import BridgeSettings
    from ribflow.enrich.settings import EnricherSettings
    from ribflow.flow.settings import CollectorSettings
    from ribflow.lab.settings import LabSettings

    return {
        "topics": AppSettings, "router": LabSettings, "exporter": LabSettings,
        "bgp-bridge": BridgeSettings, "collector": CollectorSettings,
        "enricher": EnricherSettings, "aggregator": AggregatorSettings,
    }


@pytest.mark.integration
def test_environments_validate_with_each_apps_settings(config: dict[str, Any]) -> None:
    for name, cls in _settings_classes().items():
        env = config["services"][name].get("environment", {})
        known = {f.alias for f in cls.model_fields.values()}
        unknown = set(env) - known
        assert not unknown, f"{name}: variables its settings do not know: {sorted(unknown)}"
        cls(**env)  # pydantic: every value of the right type and range


@pytest.mark.integration
def test_fixed_addresses_agree(config: dict[str, Any]) -> None:
    s = config["services"]

    def ip(name: str) -> str:
        return str(s[name]["networks"]["default"]["ipv4_address"])

    assert s["router"]["environment"]["LAB_ROUTER_ADDRESS"] == ip("router")
    assert s["router"]["environment"]["LAB_EXABGP_ADDRESS"] == ip("bgp-bridge")
    bridge = s["bgp-bridge"]["environment"]
    assert bridge["BGP_LOCAL_ADDRESS"] == ip("bgp-bridge")
    assert bridge["BGP_NEIGHBORS"] == ip("router")
    target = s["exporter"]["command"][s["exporter"]["command"].index("--target") + 1]
    assert target == f"{ip('collector')}:2055"
    assert "2055" in s["collector"]["environment"]["LISTEN_PORTS"].split(",")
    amap = AgentMap(parse_agent_map((REPO / "docker" / "bgp_agent.map").read_text()))
    assert amap.lookup(ip("exporter")) == ip("router")
    assert s["collector"]["environment"]["AGENT_MAP_FILE"] == "/etc/ribflow/bgp_agent.map"
    assert "COPY docker/bgp_agent.map /etc/ribflow/bgp_agent.map" in DOCKERFILE.read_text()


# The Compose specification's JSON Schema as Debian's docker-compose package ships it (read in
# place, not copied into this repository).
COMPOSE_SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")


def _spec_errors(document: dict[str, Any]) -> list[str]:
    import jsonschema

    assert COMPOSE_SPEC.exists(), f"{COMPOSE_SPEC} missing: apt-get install docker-compose"
    schema = json.loads(COMPOSE_SPEC.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]  # fmt: skip


@pytest.mark.integration
def test_compose_yaml_is_valid_against_the_compose_spec_schema() -> None:
    assert _spec_errors(yaml.safe_load(COMPOSE.read_text())) == []


@pytest.mark.integration
def test_compose_spec_schema_rejects_a_broken_file() -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    service = next(iter(broken["services"].values()))
    service["restart_policy"] = "always"  # not a service key
    service["ports"] = {"9092": "9092"}  # a list, not a mapping
    errors = _spec_errors(broken)
    assert any("restart_policy" in e for e in errors), errors
    assert any("ports" in e for e in errors), errors
