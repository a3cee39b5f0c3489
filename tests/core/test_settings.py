from __future__ import annotations

import pytest
from pydantic import ValidationError

from ribflow.settings import AppSettings, load, settings_table


def test_quix_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Quix__Broker__Address", "10.1.1.1:9092")
    monkeypatch.setenv("Quix__Consumer__Group", "grp")
    monkeypatch.setenv("PARTITIONS", "8")
    s = AppSettings()
    assert (s.broker_address, s.consumer_group, s.partitions) == ("10.1.1.1:9092", "grp", 8)
    assert s.dlq_topic(s.flows_topic) == "flows-dlq"


def test_defaults_follow_design() -> None:
    s = AppSettings()
    assert s.broker_address == "127.0.0.1:9092" and s.partitions == 4
    assert [
        s.bgp_updates_topic,
        s.flows_topic,
        s.flows_enriched_topic,
        s.bgp_rib_dump_topic,
        s.bgp_rib_topic,
    ] == ["bgp-updates", "flows", "flows-enriched", "bgp-rib-dump", "bgp-rib"]


@pytest.mark.parametrize(
    ("env", "value"),
    [("PARTITIONS", "0"), ("METRICS_PORT", "70000"), ("LOG_LEVEL", "LOUD"), ("PARTITIONS", "four")],
)
def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError):
        AppSettings()


def test_settings_table_lists_every_field() -> None:
    table = settings_table(AppSettings)
    for field in AppSettings.model_fields.values():
        assert f"`{field.alias}`" in table


def test_load_applies_overrides_by_env_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTITIONS", "8")
    assert load(AppSettings, "ribflow test").partitions == 8
    assert load(AppSettings, "ribflow test", PARTITIONS=2).partitions == 2


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("PARTITIONS", "0", "greater than or equal to 1"),
        ("PARTITIONS", "four", "valid integer"),
        ("LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("METRICS_HOST", "localhost", "not an IP address"),
    ],
)
def test_load_explains_a_bad_value_and_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SystemExit) as exited:
        load(AppSettings, "ribflow test")
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    # the env name, the value given, what is expected, and what the setting is
    assert line.startswith(f"ribflow test: {env}={value!r}: "), line
    assert expected in line
    about = AppSettings.model_fields[
        next(n for n, f in AppSettings.model_fields.items() if f.alias == env)
    ].description
    assert about is not None and " ".join(about.split()).split(". ")[0].rstrip(".") in line


def test_load_names_every_bad_setting_and_never_prints_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "hunter2-secret")
    with pytest.raises(SystemExit) as exited:
        load(AppSettings, "ribflow test", PARTITIONS=0, REPLICATION_FACTOR=9)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "PARTITIONS=0: " in err and "REPLICATION_FACTOR=9: " in err
    assert "hunter2" not in err
    # a problem of several settings together: the model check's own message
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "")
    with pytest.raises(SystemExit):
        load(AppSettings, "ribflow test")
    err = capsys.readouterr().err
    assert "ribflow test: KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD required with SASL_SSL" in err


def test_the_readme_example_is_what_load_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    from ribflow.flow.settings import CollectorSettings

    monkeypatch.setenv("LISTEN_PORTS", "2055,x")
    with pytest.raises(SystemExit):
        load(CollectorSettings, "ribflow collector")
    (line,) = capsys.readouterr().err.splitlines()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"`{line}`" in " ".join(readme.split())
