"""One /metrics endpoint for several collector workers: each worker's series with a worker label.

Every worker process keeps its own Prometheus registry and serves it on its own port
(METRICS_PORT+1+i). The parent serves METRICS_PORT with :class:`WorkerMetrics`, which reads the
workers' endpoints at scrape time and re-exposes every sample with ``worker="<i>"`` added, plus
``ribflow_collector_worker_up`` per worker. Sums across workers are a ``sum without (worker)``
away; nothing is double counted because the parent itself counts nothing.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)
FETCH_TIMEOUT_S = 2.0


def worker_metrics_port(base: int, index: int) -> int:
    """Port of worker ``index``'s own endpoint (0 when metrics are off)."""
    return base + 1 + index if base > 0 else 0


def _local(host: str) -> str:
    """An address to reach a server bound to ``host`` from this machine."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class WorkerMetrics:
    """A prometheus_client collector relabelling the workers' own endpoints."""

    def __init__(self, host: str, ports: list[int]) -> None:
        self.urls = [f"http://{_local(host)}:{p}/metrics" for p in ports]

    def describe(self) -> Iterable[Metric]:
        return []  # unknown until scraped: never collected at registration

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        up = GaugeMetricFamily(
            "ribflow_collector_worker_up",
            "1 when the worker's own /metrics endpoint answered this scrape",
            labels=["worker"],
        )
        for i, url in enumerate(self.urls):
            try:
                with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as resp:
                    text = resp.read().decode("utf-8", "replace")
            except OSError as exc:
                log.debug("worker %d metrics not readable: %s", i, exc)
                up.add_metric([str(i)], 0)
                continue
            up.add_metric([str(i)], 1)
            for fam in text_string_to_metric_families(text):
                out = families.get(fam.name)
                if out is None:
                    out = families[fam.name] = Metric(fam.name, fam.documentation, fam.type)
                for s in fam.samples:
                    out.add_sample(s.name, {**s.labels, "worker": str(i)}, s.value, s.timestamp)
        yield from families.values()
        yield up


def serve_worker_metrics(port: int, host: str, worker_ports: list[int]) -> bool:
    """Serve the relabelled workers' metrics on ``host:port`` (0: not served)."""
    if port <= 0:
        return False
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerMetrics(host, worker_ports))  # type: ignore[arg-type]
    start_http_server(port, addr=host, registry=registry)
    log.info("metrics of %d workers on http://%s:%d/metrics", len(worker_ports), host, port)
    return True
