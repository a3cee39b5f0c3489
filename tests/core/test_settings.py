from __future__ import annotations

import pytest
from pydantic import ValidationError

from ribflow.settings import AppSettings, settings_table


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
