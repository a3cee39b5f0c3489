"""Per configured neighbour session gauges of the bridge (ribflow.bgp.metrics.BridgeMetrics)."""

from __future__ import annotations

from ribflow.bgp.metrics import NEIGHBOR_DOWN_SECONDS, NEIGHBOR_UP, BridgeMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def gauges(address: str) -> tuple[float, float]:
    up = NEIGHBOR_UP.labels(neighbor=address)._value.get()
    down = NEIGHBOR_DOWN_SECONDS.labels(neighbor=address)._value.get()
    return float(up), float(down)


def test_a_neighbour_that_never_comes_up_shows_its_down_time() -> None:
    clock = Clock()
    metrics = BridgeMetrics(clock=clock)
    metrics.configured(["192.0.2.61", "192.0.2.62"])
    state = {"192.0.2.61": "down", "192.0.2.62": "down"}
    clock.now += 3
    metrics.neighbors(state.get)
    assert gauges("192.0.2.61") == (0, 3) and gauges("192.0.2.62") == (0, 3)

    state["192.0.2.61"] = "connected"  # TCP up, OPEN not done: not up yet
    clock.now += 2
    metrics.neighbors(state.get)
    assert gauges("192.0.2.61") == (0, 5)

    state["192.0.2.61"] = "up"
    clock.now += 1
    metrics.neighbors(state.get)
    assert gauges("192.0.2.61") == (1, 0) and gauges("192.0.2.62") == (0, 6)

    state["192.0.2.61"] = "down"  # went down: counted from when it was last seen up
    clock.now += 4
    metrics.neighbors(state.get)
    assert gauges("192.0.2.61") == (0, 4) and gauges("192.0.2.62") == (0, 10)

