"""Each setting is declared once: an env name two apps share comes from AppSettings or a group."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from ribflow.aggregate.settings import AggregatorSettings
from ribflow.enrich.settings import EnricherSettings
from ribflow.settings import AppSettings
from ribflow.settings_doc import settings_classes, settings_groups
from ribflow.settings_groups import RouterKeySettings, StreamingSettings


def _aliases(cls: type) -> set[str]:
    return {str(f.alias) for f in cls.model_fields.values()}


def test_an_env_name_two_apps_share_is_declared_once() -> None:
    apps = settings_classes()[1:]
    groups = settings_groups()
    assert RouterKeySettings in groups and StreamingSettings in groups
    for a, b in itertools.combinations(apps, 2):
        shared = (_aliases(a) & _aliases(b)) - _aliases(AppSettings)
        common = [g for g in groups if issubclass(a, g) and issubclass(b, g)]
        undeclared = shared - set().union(*(_aliases(g) for g in common))
        # the replay reads the enricher's formatting settings, it does not declare them
        assert not undeclared, f"{a.__name__} and {b.__name__} both declare {sorted(undeclared)}"


def test_an_app_keeps_its_own_defaults_of_a_group() -> None:
    enricher, aggregator = EnricherSettings(), AggregatorSettings()
    assert (enricher.processing_guarantee, enricher.auto_offset_reset) == (
        "at-least-once",
        "earliest",
    )
    assert (aggregator.processing_guarantee, aggregator.auto_offset_reset) == (
        "exactly-once",
        "latest",
    )


@pytest.mark.parametrize("cls", [EnricherSettings, AggregatorSettings])
def test_the_group_checks_hold_in_every_app(cls: type[StreamingSettings]) -> None:
    with pytest.raises(ValidationError, match="COMMIT_INTERVAL must be <= 450"):
        cls(PROCESSING_GUARANTEE="exactly-once", COMMIT_INTERVAL=900)
    assert cls(PROCESSING_GUARANTEE="at-least-once", COMMIT_INTERVAL=900).commit_interval == 900
