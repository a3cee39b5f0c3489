"""BridgeMetrics.publish: each tally kind adds its increment to its counter, once."""

from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY

from ribflow.bgp.metrics import BridgeMetrics


def sample(metric: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def test_publish_adds_each_kind_to_its_counter_once() -> None:
    wanted = {
        "lines": ("ribflow_bridge_lines_total", {}),
        "messages": ("ribflow_bridge_messages_total", {}),
        "rd-type-guessed": ("ribflow_bridge_rd_type_guessed_total", {}),
        "event:update": ("ribflow_bridge_events_total", {"type": "update"}),
        "nlri:announce": ("ribflow_bridge_nlri_total", {"action": "announce"}),
        "ignored:keepalive": ("ribflow_bridge_ignored_total", {"kind": "keepalive"}),
        "attr-raw:med": ("ribflow_bridge_attr_raw_total", {"name": "med"}),
        "repaired:t-bm9": ("ribflow_bridge_repaired_total", {"fault": "t-bm9"}),
        "attr-dropped:aigp": ("ribflow_bridge_attr_dropped_total", {"name": "aigp"}),
        "error:t-bm9-json": ("ribflow_bridge_errors_total", {"reason": "t-bm9-json"}),
        "delivery-failed:t-bm9": ("ribflow_bridge_delivery_failed_total", {"error": "t-bm9"}),
    }
    bad = {
        reason: sample("ribflow_bad_input_total", {"component": "bridge", "reason": reason})
        for reason in ("attr-raw", "attr-dropped", "t-bm9-json")
    }
    before = {k: sample(metric, labels) for k, (metric, labels) in wanted.items()}
    metrics, tally = BridgeMetrics(), Counter({k: 3 for k in wanted})
    metrics.publish(tally)
    tally.update({k: 2 for k in wanted})
    metrics.publish(tally)
    metrics.publish(tally)  # nothing new: nothing added
    for key, (metric, labels) in wanted.items():
        assert sample(metric, labels) - before[key] == 5, key
    for reason, was in bad.items():
        now = sample("ribflow_bad_input_total", {"component": "bridge", "reason": reason})
        assert now - was == 5, reason
