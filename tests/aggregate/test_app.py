"""`ribflow aggregator` and apps/aggregator: the seed's line is understood, bad settings are
refused clearly, and main.py runs with exactly the environment `quix run` would give it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from ribflow.aggregate.settings import SEED_AGGREGATE, AggregatorSettings
from ribflow.settings import AppSettings
from tests.aggregate.fixtures import TopicReader, delete_topics_containing, produce, wait_consumed
from tests.aggregate.flows import closers, output_sums, stamp, totals
from tests.fixtures.kafka import TopicFactory

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "apps" / "aggregator"


def ribflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k.upper() not in {"AGGREGATE", "HISTORY"}}
    return subprocess.run(
        [sys.executable, "-m", "ribflow", "aggregator", *args],
        env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_check_shows_the_seed_line_working() -> None:
    done = ribflow("--check", AGGREGATE=SEED_AGGREGATE, REFRESH_TIME="10")
    assert done.returncode == 0, done.stderr
    for line in ("src_host               -> ip_src", "in_iface               -> iface_in",
                 "peer_dst_ip            -> peer_ip_dst", "tcpflags               -> tcp_flags",
                 "window (flush) 10s, bin (stamp_inserted) 10s"):  # fmt: skip
        assert line in done.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGGREGATE": "src_host, dst_hots"}, "did you mean dst_host"),
        ({"AGGREGATE": "sum_host"}, "count every flow twice"),
        ({"HISTORY": "1w"}, "weekly/monthly"),
        ({"REFRESH_TIME": "45", "HISTORY": "1m"}, "must divide"),
        ({"TIME_SOURCE": "sometime"}, "TIME_SOURCE"),
    ],
)
def test_bad_settings_are_refused_clearly(env: dict[str, str], message: str) -> None:
    done = ribflow("--check", **env)
    assert done.returncode == 2
    assert message in done.stderr


def quix_env(tmp: Path, **overrides: str) -> Path:
    """The .env `quix run` writes from app.yaml's variables (their defaults), in a work dir."""
    spec = yaml.safe_load((APP / "app.yaml").read_text())
    values = {v["name"]: str(v.get("defaultValue", "")) for v in spec["variables"]}
    values.update(overrides)
    (tmp / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return tmp


def test_app_yaml_declares_every_setting_of_the_stage() -> None:
    spec = yaml.safe_load((APP / "app.yaml").read_text())
    declared = {v["name"] for v in spec["variables"]}
    own = {f.alias for n, f in AggregatorSettings.model_fields.items()
           if n not in AppSettings.model_fields}  # fmt: skip
    assert own <= declared
    assert (APP / spec["runEntryPoint"]).exists() and (APP / spec["dockerfile"]).exists()


@pytest.mark.integration
def test_app_folder_main_runs_with_the_quix_run_environment(
    kafka_broker: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    source, sink = topic_factory("app-in", 2), topic_factory("app-out", 2)
    work = quix_env(tmp_path, FLOWS_ENRICHED_TOPIC=source, FLOWS_AGGREGATED_TOPIC=sink,
                    AUTO_OFFSET_RESET="earliest", PARTITIONS="2", COMMIT_INTERVAL="1")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("Quix__")}
    env.update({"Quix__Broker__Address": kafka_broker, "Quix__Consumer__Group": source,
                "Quix__State__Dir": str(tmp_path / "state")})  # fmt: skip
    for name in ("FLOWS_ENRICHED_TOPIC", "FLOWS_AGGREGATED_TOPIC", "AGGREGATE", "HISTORY"):
        env.pop(name, None)
    # a minute boundary: one 60 s window (REFRESH_TIME's default); an hour ago, so that the
    # Kafka timestamps are inside the topics' retention
    base = int(time.time()) // 60 * 60 - 3600
    recs: list[dict[str, Any]] = [
        {
            "ip_src": "10.0.0.1",
            "ip_dst": "10.0.0.2",
            "peer_ip_src": "192.0.2.1",
            "packets": 2,
            "bytes": 100 + i,
            "timestamp_arrival": base + i,
        }
        for i in range(30)
    ]
    produce(kafka_broker, source, [(b"r", orjson.dumps(r), (base + 1) * 1000) for r in recs])
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(APP / "main.py")], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    reader = TopicReader(kafka_broker, sink)
    try:
        wait_consumed(kafka_broker, f"{source}-aggregator", source,
                      alive=lambda: proc.poll() is None,
                      log_tail=lambda: (tmp_path / "app.log").read_text())  # fmt: skip
        produce(kafka_broker, source, closers(base + 3600))
        got = reader.read_until(lambda r: totals(output_sums(r, ["ip_src"])[0])[0] >= 30,
                                timeout=90, what="the app's aggregate")  # fmt: skip
    finally:
        reader.close()
        proc.terminate()
        proc.wait(30)
        delete_topics_containing(kafka_broker, [source, f"{sink}-dlq"])
    purge = next(r for r in got if r["event_type"] == "purge")
    assert purge["ip_src"] == "10.0.0.1" and purge["peer_ip_src"] == "192.0.2.1"
    assert (purge["flows"], purge["packets"]) == (30, 60)
    assert purge["bytes"] == sum(r["bytes"] for r in recs)
    assert purge["stamp_inserted"] == stamp(base)
    assert purge["writer_id"] == f"ribflow-aggregator/{proc.pid}"
