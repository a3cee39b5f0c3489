"""The replay has one settings object, and it formats records exactly as the live enricher does
from the same environment (only writer_id, the dumps and the topics differ)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ribflow.enrich.pipeline import config_of
from ribflow.enrich.settings import EnricherSettings
from ribflow.replay.ribs import replay_config
from ribflow.replay.settings import ReplaySettings

FORMATTING = {
    "AS_PATH_AS_ARRAY": "true",
    "COMMS_AS_ARRAY": "true",
    "TIMESTAMPS_SINCE_EPOCH": "true",
    "TIMESTAMPS_USEC": "true",
    "FWD_STATUS_ENCODE_AS_STRING": "true",
    "MPLS_LABEL_STACK_ENCODE_AS_ARRAY": "true",
    "PRE_TAG_LABEL_ENCODE_AS_MAP": "true",
    "OUTPUT_FIELDS": "peer_ip_src,as_path,bytes",
    "ENRICHED_BATCH": "true",
    "WRITER_NAME": "edge",
    "BGP_UPDATES_TOPIC": "bgp-in",
    "FLOWS_TOPIC": "flows-in",
}


@pytest.mark.parametrize("env", [{}, FORMATTING])
def test_the_replay_formats_as_the_live_enricher(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("Quix__State__Dir", str(tmp_path))
    replay = ReplaySettings()  # type: ignore[call-arg]
    live = config_of(EnricherSettings())  # type: ignore[call-arg]
    got = replay_config(replay, "out", "out-dlq", "w/replay")
    assert got.formatting == dataclasses.replace(live.formatting, writer_id="w/replay")
    assert got.batch == live.batch
    assert (got.topics.bgp_in, got.topics.flows_in) == (live.topics.bgp_in, live.topics.flows_in)
    assert got.dump_interval == 0 and got.topics.rib_table is None
    assert replay.writer_name == env.get("WRITER_NAME", "ribflow-enricher")


def test_every_formatting_setting_reaches_its_pmacct_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each FormatOptions switch is read from the setting of its name: set, it is on."""
    monkeypatch.setenv("Quix__State__Dir", str(tmp_path))
    default = config_of(EnricherSettings()).formatting  # type: ignore[call-arg]
    switches = [f.name for f in dataclasses.fields(default) if isinstance(f.default, bool)]
    assert len(switches) == 7 and not any(getattr(default, name) for name in switches)
    for name in switches:
        with monkeypatch.context() as m:
            m.setenv(name.upper(), "true")
            got = config_of(EnricherSettings()).formatting  # type: ignore[call-arg]
        assert {n for n in switches if getattr(got, n)} == {name}
    assert default.fields is None and default.writer_id.startswith("ribflow-enricher/")
